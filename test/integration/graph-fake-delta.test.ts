import { randomUUID } from 'node:crypto';
import { messagesIn, startGraphFake, type GraphFake } from '../../testkit/graph-fake';

const APP = { clientId: randomUUID(), clientSecret: 'delta-app-secret~0123456789abcdef' };
const DAY = 24 * 60 * 60 * 1000;

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, any>;
}

async function get(url: string, token: string | undefined, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(url, { headers: { ...headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) } });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === '' ? {} : (JSON.parse(text) as Record<string, any>) };
}

/** Follows next links from `url` until a delta link; returns every page. */
async function round(url: string, token: string, headers: Record<string, string> = {}): Promise<{ pages: Reply[]; items: Record<string, any>[]; deltaLink: string }> {
  const pages: Reply[] = [];
  let next: string | undefined = url;
  while (next !== undefined) {
    const page = await get(next, token, headers);
    if (page.status !== 200) throw new Error(`delta page answered ${page.status}: ${JSON.stringify(page.json)}`);
    pages.push(page);
    next = page.json['@odata.nextLink'];
    if (next === undefined && typeof page.json['@odata.deltaLink'] !== 'string') throw new Error('a last page without @odata.deltaLink');
  }
  const last = pages[pages.length - 1];
  return { pages, items: pages.flatMap((p) => p.json['value'] as Record<string, any>[]), deltaLink: String(last?.json['@odata.deltaLink']) };
}

const ids = (items: Record<string, any>[]) => items.map((i) => i['id']);

let fake: GraphFake;

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP] });
});

afterAll(async () => {
  await fake?.close();
});

/** A fresh tenant and a token of the app in it, so tests share no objects, links or rate-limit windows. */
function tenantWithToken(target: GraphFake = fake): { tenantId: string; token: string } {
  const tenantId = randomUUID();
  return { tenantId, token: target.issueToken(tenantId, APP.clientId) };
}

function seedUsers(tenantId: string, count: number, target: GraphFake = fake): string[] {
  const made: string[] = [];
  for (let i = 1; i <= count; i += 1) {
    const id = `user-${String(i).padStart(3, '0')}`;
    target.objects(tenantId).upsert('users', { id, displayName: `User ${i}`, jobTitle: 'Engineer', mail: `${id}@contoso.example` });
    made.push(id);
  }
  return made;
}

describe('delta: the first round', () => {
  it('pages every current user with @odata.nextLink until the last page carries @odata.deltaLink', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    const users = seedUsers(tenantId, 5);
    fake.objects(tenantId).upsert('users', { id: 'gone-before', displayName: 'Removed before the first round' });
    fake.objects(tenantId).remove('users', 'gone-before');
    // Act
    const result = await round(`${fake.graphUrl}/users/delta`, token, { prefer: 'odata.maxpagesize=2' });
    // Assess
    expect(result.pages.map((p) => (p.json['value'] as unknown[]).length)).toEqual([2, 2, 1]);
    expect(result.pages.slice(0, 2).every((p) => typeof p.json['@odata.nextLink'] === 'string' && p.json['@odata.deltaLink'] === undefined)).toBe(true);
    expect(result.pages[0]?.json['@odata.nextLink']).toMatch(new RegExp(`^${fake.graphUrl}/users/delta\\?\\$skiptoken=`));
    expect(result.deltaLink).toMatch(new RegExp(`^${fake.graphUrl}/users/delta\\?\\$deltatoken=`));
    expect(result.pages[0]?.json['@odata.context']).toBe(`${fake.graphUrl}/$metadata#users`);
    expect(result.pages[0]?.headers.get('preference-applied')).toBe('odata.maxpagesize=2');
    expect(result.items).toEqual(users.map((id, i) => ({ id, displayName: `User ${i + 1}`, jobTitle: 'Engineer', mail: `${id}@contoso.example` })));
  });

  it('uses pages of 100 directory objects by default, caps odata.maxpagesize at 999 and ignores $top for users', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    seedUsers(tenantId, 250);
    // Act
    const byDefault = await round(`${fake.graphUrl}/users/delta?$top=5`, token);
    const capped = await get(`${fake.graphUrl}/users/delta`, token, { prefer: 'odata.maxpagesize=5000' });
    // Assess
    expect(byDefault.pages.map((p) => (p.json['value'] as unknown[]).length)).toEqual([100, 100, 50]);
    expect(capped.headers.get('preference-applied')).toBe('odata.maxpagesize=999');
    expect((capped.json['value'] as unknown[]).length).toBe(250);
    expect(capped.json['@odata.deltaLink']).toEqual(expect.any(String));
  });

  it('honours $select, keeps it in the links, and always returns id', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    seedUsers(tenantId, 3);
    // Act
    const first = await round(`${fake.graphUrl}/users/delta?$select=displayName`, token, { prefer: 'odata.maxpagesize=2' });
    // Assess
    expect(first.pages[0]?.json['@odata.context']).toBe(`${fake.graphUrl}/$metadata#users(displayName)`);
    expect(first.items).toEqual([
      { id: 'user-001', displayName: 'User 1' },
      { id: 'user-002', displayName: 'User 2' },
      { id: 'user-003', displayName: 'User 3' },
    ]);
    expect(first.deltaLink).not.toContain('select');
  });
});

describe('delta: following the delta link', () => {
  it('returns only users created, updated and removed since, removals as @removed changed (soft) or deleted (permanent)', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    seedUsers(tenantId, 4);
    const first = await round(`${fake.graphUrl}/users/delta`, token);
    const objects = fake.objects(tenantId);
    objects.upsert('users', { id: 'user-new', displayName: 'New user' });
    objects.upsert('users', { id: 'user-002', jobTitle: 'Manager' });
    objects.upsert('users', { id: 'user-001', displayName: 'User 1' });
    objects.remove('users', 'user-003');
    objects.remove('users', 'user-004', { permanent: true });
    // Act
    const second = await round(first.deltaLink, token);
    const third = await round(second.deltaLink, token);
    // Assess
    expect(second.items).toEqual([
      { id: 'user-new', displayName: 'New user' },
      { id: 'user-002', displayName: 'User 2', jobTitle: 'Manager', mail: 'user-002@contoso.example' },
      { id: 'user-003', '@removed': { reason: 'changed' } },
      { id: 'user-004', '@removed': { reason: 'deleted' } },
    ]);
    expect(third.items).toEqual([]);
    expect(ids(objects.list('users'))).toEqual(['user-001', 'user-new', 'user-002']);
  });

  it('with $select, reports a user only when a selected property changed', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    seedUsers(tenantId, 2);
    const first = await round(`${fake.graphUrl}/users/delta?$select=displayName,jobTitle`, token);
    fake.objects(tenantId).upsert('users', { id: 'user-001', mail: 'renamed@contoso.example' });
    fake.objects(tenantId).upsert('users', { id: 'user-002', jobTitle: null });
    // Act
    const second = await round(first.deltaLink, token);
    // Assess
    expect(second.items).toEqual([{ id: 'user-002', displayName: 'User 2', jobTitle: null }]);
  });

  it('pages the changes of a round and leaves a change made while paging to the next round', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    const first = await round(`${fake.graphUrl}/groups/delta`, token);
    for (const n of [1, 2, 3]) fake.objects(tenantId).upsert('groups', { id: `group-${n}`, displayName: `Group ${n}` });
    // Act
    const page1 = await get(first.deltaLink, token, { prefer: 'odata.maxpagesize=2' });
    fake.objects(tenantId).upsert('groups', { id: 'group-1', displayName: 'Group 1 renamed' });
    fake.objects(tenantId).upsert('groups', { id: 'group-4', displayName: 'Group 4' });
    const rest = await round(String(page1.json['@odata.nextLink']), token, { prefer: 'odata.maxpagesize=2' });
    const next = await round(rest.deltaLink, token);
    // Assess
    expect(ids(page1.json['value'])).toEqual(['group-1', 'group-2']);
    expect(rest.items).toEqual([{ id: 'group-3', displayName: 'Group 3' }]);
    expect(next.items).toEqual([
      { id: 'group-1', displayName: 'Group 1 renamed' },
      { id: 'group-4', displayName: 'Group 4' },
    ]);
  });

  it('serves messages per mail folder, typed, with removals as @removed deleted', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    const inbox = messagesIn('user-a', 'inbox');
    const objects = fake.objects(tenantId);
    for (const n of [1, 2, 3]) objects.upsert(inbox, { id: `msg-${n}`, subject: `Subject ${n}`, isRead: false });
    objects.upsert(messagesIn('user-a', 'archive'), { id: 'msg-elsewhere', subject: 'Another folder' });
    const url = `${fake.graphUrl}/users/user-a/mailFolders/inbox/messages/delta?$select=subject,isRead`;
    const first = await round(url, token, { prefer: 'odata.maxpagesize=2' });
    objects.upsert(inbox, { id: 'msg-2', isRead: true });
    objects.remove(inbox, 'msg-1');
    // Act
    const second = await round(first.deltaLink, token);
    // Assess
    expect(first.pages.length).toBe(2);
    expect(first.pages[0]?.json['@odata.context']).toBe(`${fake.graphUrl}/$metadata#Collection(message)`);
    expect(first.pages[0]?.json['@odata.nextLink']).toMatch(new RegExp(`^${fake.graphUrl}/users/user-a/mailFolders/inbox/messages/delta\\?\\$skiptoken=`));
    expect(ids(first.items)).toEqual(['msg-1', 'msg-2', 'msg-3']);
    expect(first.items[0]).toEqual({ '@odata.type': '#microsoft.graph.message', id: 'msg-1', subject: 'Subject 1', isRead: false });
    expect(second.items).toEqual([
      { '@odata.type': '#microsoft.graph.message', id: 'msg-2', subject: 'Subject 2', isRead: true },
      { '@odata.type': '#microsoft.graph.message', id: 'msg-1', '@removed': { reason: 'deleted' } },
    ]);
  });

  it('uses $top for messages and filters later rounds by the changeType option', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    const inbox = messagesIn('user-b', 'inbox');
    const objects = fake.objects(tenantId);
    for (const n of [1, 2, 3]) objects.upsert(inbox, { id: `msg-${n}`, subject: `Subject ${n}` });
    const first = await round(`${fake.graphUrl}/users/user-b/mailFolders/inbox/messages/delta?$top=1&changeType=created`, token);
    objects.upsert(inbox, { id: 'msg-4', subject: 'Created' });
    objects.upsert(inbox, { id: 'msg-2', subject: 'Updated' });
    objects.remove(inbox, 'msg-3');
    // Act
    const second = await round(first.deltaLink, token);
    // Assess
    expect(first.pages.length).toBe(3);
    expect(second.items).toEqual([{ '@odata.type': '#microsoft.graph.message', id: 'msg-4', subject: 'Created' }]);
  });
});

describe('delta: $deltatoken=latest', () => {
  it('answers no data and a delta link at the current position for users, and is refused for messages', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    seedUsers(tenantId, 3);
    // Act
    const latest = await get(`${fake.graphUrl}/users/delta?$deltaToken=latest`, token);
    fake.objects(tenantId).upsert('users', { id: 'user-after', displayName: 'After latest' });
    const changes = await round(String(latest.json['@odata.deltaLink']), token);
    const messages = await get(`${fake.graphUrl}/users/user-a/mailFolders/inbox/messages/delta?$deltatoken=latest`, token);
    // Assess
    expect(latest.status).toBe(200);
    expect(latest.json['value']).toEqual([]);
    expect(latest.json['@odata.nextLink']).toBeUndefined();
    expect(latest.json['@odata.deltaLink']).toMatch(new RegExp(`^${fake.graphUrl}/users/delta\\?\\$deltatoken=`));
    expect(changes.items).toEqual([{ id: 'user-after', displayName: 'After latest' }]);
    expect(messages.status).toBe(400);
  });
});

describe('delta: expiry and refusals', () => {
  it('answers 410 resyncRequired with a Location to restart from once a tenant\'s directory links are expired', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    seedUsers(tenantId, 3);
    const first = await round(`${fake.graphUrl}/users/delta?$select=displayName`, token);
    const midRound = await get(`${fake.graphUrl}/users/delta`, token, { prefer: 'odata.maxpagesize=1' });
    fake.expireDeltaTokens(tenantId);
    // Act
    const expired = await get(first.deltaLink, token);
    const expiredNext = await get(String(midRound.json['@odata.nextLink']), token);
    const restart = await round(String(expired.headers.get('location')), token);
    // Assess
    expect(expired.status).toBe(410);
    expect(expired.json['error']).toMatchObject({ code: 'resyncRequired', message: expect.stringContaining('reset the sync state') });
    expect(expired.json['error']['innerError']['request-id']).toBe(expired.headers.get('request-id'));
    expect(expired.headers.get('location')).toBe(`${fake.graphUrl}/users/delta?$deltatoken=&$select=displayName`);
    expect(expiredNext.status).toBe(410);
    expect(restart.items).toEqual([
      { id: 'user-001', displayName: 'User 1' },
      { id: 'user-002', displayName: 'User 2' },
      { id: 'user-003', displayName: 'User 3' },
    ]);
  });

  it('answers 410 SyncStateNotFound for an expired message link, and only in the folder expired', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    fake.objects(tenantId).upsert(messagesIn('user-c', 'inbox'), { id: 'msg-1', subject: 'Hello' });
    const inbox = await round(`${fake.graphUrl}/users/user-c/mailFolders/inbox/messages/delta`, token);
    const sent = await round(`${fake.graphUrl}/users/user-c/mailFolders/sentitems/messages/delta`, token);
    fake.expireDeltaTokens(tenantId, messagesIn('user-c', 'inbox'));
    // Act
    const expired = await get(inbox.deltaLink, token);
    const stillValid = await get(sent.deltaLink, token);
    // Assess
    expect(expired.status).toBe(410);
    expect(expired.json['error']).toMatchObject({ code: 'SyncStateNotFound', message: expect.stringMatching(/^The sync state generation is not found; generation=\d+;/) });
    expect(stillValid.status).toBe(200);
    expect(stillValid.json['value']).toEqual([]);
  });

  it('expires directory links after seven days on the fake\'s clock, and not before', async () => {
    // Prepare
    const local = await startGraphFake({ apps: [APP], clock: { frozen: true } });
    const { tenantId } = tenantWithToken(local);
    seedUsers(tenantId, 1, local);
    try {
      const first = await round(`${local.graphUrl}/users/delta`, local.issueToken(tenantId, APP.clientId));
      // Act
      local.clock.advance(7 * DAY);
      const atSevenDays = await get(first.deltaLink, local.issueToken(tenantId, APP.clientId));
      local.clock.advance(1);
      const afterSevenDays = await get(first.deltaLink, local.issueToken(tenantId, APP.clientId));
      // Assess
      expect(atSevenDays.status).toBe(200);
      expect(afterSevenDays.status).toBe(410);
      expect(afterSevenDays.json['error']['code']).toBe('resyncRequired');
    } finally {
      await local.close();
    }
  });

  it('refuses another tenant\'s link, a link on another collection, and an altered token with 400', async () => {
    // Prepare
    const mine = tenantWithToken();
    const theirs = tenantWithToken();
    seedUsers(mine.tenantId, 2);
    const first = await round(`${fake.graphUrl}/users/delta`, mine.token);
    const token = new URL(first.deltaLink).searchParams.get('$deltatoken') ?? '';
    const [payload = '', signature = ''] = token.split('.');
    const altered = `${Buffer.from(Buffer.from(payload, 'base64url').toString('utf8').replace('"since":2', '"since":0')).toString('base64url')}.${signature}`;
    // Act
    const otherTenant = await get(first.deltaLink, theirs.token);
    const otherCollection = await get(`${fake.graphUrl}/groups/delta?$deltatoken=${token}`, mine.token);
    const tampered = await get(`${fake.graphUrl}/users/delta?$deltatoken=${altered}`, mine.token);
    const own = await get(first.deltaLink, mine.token);
    // Assess
    expect(otherTenant.status).toBe(400);
    expect(otherTenant.json['error']['code']).toBe('BadRequest');
    expect(otherCollection.status).toBe(400);
    expect(tampered.status).toBe(400);
    expect(own.status).toBe(200);
  });

  it('requires the tenant\'s Bearer token like every Graph call', async () => {
    // Act
    const anonymous = await get(`${fake.graphUrl}/users/delta`, undefined);
    const forged = await get(`${fake.graphUrl}/groups/delta`, 'not-a-token');
    // Assess
    expect(anonymous.status).toBe(401);
    expect(anonymous.json['error']['code']).toBe('InvalidAuthenticationToken');
    expect(forged.status).toBe(401);
  });
});

describe('delta: rate limits, faults and stats', () => {
  it('throttles delta calls per app per tenant with 429 and Retry-After, counted under delta.*', async () => {
    // Prepare
    const limited = await startGraphFake({ apps: [APP], timeScale: 0.05, rateLimits: { deltaPerAppPerTenant: 2 } });
    const { tenantId, token } = tenantWithToken(limited);
    const other = tenantWithToken(limited);
    seedUsers(tenantId, 1, limited);
    try {
      await get(`${limited.graphUrl}/users/delta`, token);
      await get(`${limited.graphUrl}/groups/delta`, token);
      // Act
      const throttled = await get(`${limited.graphUrl}/users/user-a/mailFolders/inbox/messages/delta`, token);
      const otherTenant = await get(`${limited.graphUrl}/users/delta`, other.token);
      const retryAfterSeconds = Number.parseFloat(throttled.headers.get('retry-after') ?? 'NaN');
      await new Promise((resolve) => setTimeout(resolve, retryAfterSeconds * 1000));
      const afterWaiting = await get(`${limited.graphUrl}/users/delta`, token);
      // Assess
      expect(throttled.status).toBe(429);
      expect(throttled.json['error']).toMatchObject({ code: 'TooManyRequests', innerError: { code: '429', status: '429' } });
      expect(throttled.headers.get('x-graph-fake-limit')).toBe('deltaPerAppPerTenant');
      expect(retryAfterSeconds).toBeGreaterThan(0);
      expect(otherTenant.status).toBe(200);
      expect(afterWaiting.status).toBe(200);
      expect(limited.stats()).toMatchObject({ 'delta.users': { '200': 3 }, 'delta.groups': { '200': 1 }, 'delta.messages': { '429': 1 } });
    } finally {
      await limited.close();
    }
  });

  it('takes injected faults like any route, and answers 405 to anything but GET', async () => {
    // Prepare
    const { token } = tenantWithToken();
    fake.failNext('delta.groups', 503, 1, { retryAfterSeconds: 2 });
    // Act
    const failed = await get(`${fake.graphUrl}/groups/delta`, token);
    const recovered = await get(`${fake.graphUrl}/groups/microsoft.graph.delta()`, token);
    const post = await fetch(`${fake.graphUrl}/users/delta`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    // Assess
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('2');
    expect(recovered.status).toBe(200);
    expect(post.status).toBe(405);
    expect(fake.internalErrors()).toEqual([]);
  });
});
