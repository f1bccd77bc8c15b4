import { randomUUID } from 'node:crypto';
import { createSelfSignedCertificate, type SelfSignedCertificate } from '../../cli/self-signed-certificate';
import { parseNotificationBody } from '../../shared/graph/change-notification';
import { decryptContent, type EncryptedContent } from '../../shared/rich/encrypted-content';
import { createValidationTokenVerifier } from '../../shared/rich/validation-tokens';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { formatRetryAfter, SlidingWindowLimiter } from '../../testkit/graph-fake/rate-limiter';
import { createClientAssertion, createTestCertificate, type TestCertificate } from '../../testkit/graph-fake/test-credentials';
import { startTestEndpoint, type TestEndpoint } from '../../testkit/graph-fake/test-endpoint';

const SECRET_APP = { clientId: randomUUID(), clientSecret: 'secret-app-value~0123456789abcdef' };
const CERT_APP_ID = randomUUID();
const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
const MINUTE = 60_000;

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, any>;
}

async function call(url: string, init: { method?: string; token?: string; body?: unknown; rawBody?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers['authorization'] = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.rawBody !== undefined || init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = init.rawBody ?? JSON.stringify(init.body);
  }
  const response = await fetch(url, { method: init.method ?? 'GET', headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === '' ? {} : (JSON.parse(text) as Record<string, any>) };
}

async function requestToken(fake: GraphFake, tenantId: string, fields: Record<string, string>): Promise<Reply> {
  const response = await fetch(fake.tokenUrl(tenantId), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: GRAPH_SCOPE, ...fields }).toString(),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
}

function subscriptionBody(endpoint: TestEndpoint, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    changeType: 'updated,deleted',
    notificationUrl: `${endpoint.url}/echo/${randomUUID()}`,
    resource: 'users',
    expirationDateTime: new Date(Date.now() + 24 * 60 * MINUTE).toISOString(),
    clientState: 'client-state-0123456789',
    ...overrides,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let certificate: TestCertificate;
let endpoint: TestEndpoint;
let fake: GraphFake;

beforeAll(async () => {
  certificate = createTestCertificate();
  endpoint = await startTestEndpoint();
  fake = await startGraphFake({
    apps: [SECRET_APP, { clientId: CERT_APP_ID, certificate: certificate.certificatePem }],
    validationTimeoutMs: 300,
  });
});

afterAll(async () => {
  await fake?.close();
  await endpoint?.close();
});

/** A fresh tenant with a token of the secret app, so tests share no subscriptions or rate-limit windows. */
function tenantWithToken(target: GraphFake = fake): { tenantId: string; token: string } {
  const tenantId = randomUUID();
  return { tenantId, token: target.issueToken(tenantId, SECRET_APP.clientId) };
}

describe('token endpoint', () => {
  it('issues a Graph token for a client secret, shaped like the identity platform\'s', async () => {
    // Prepare
    const tenantId = randomUUID();
    // Act
    const reply = await requestToken(fake, tenantId, { client_id: SECRET_APP.clientId, client_secret: SECRET_APP.clientSecret });
    const list = await call(`${fake.graphUrl}/subscriptions`, { token: reply.json['access_token'] });
    // Assess
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: expect.any(String) });
    expect(list.status).toBe(200);
  });

  it.each([
    ['RS256', 'x5t#S256'],
    ['RS256', 'x5t'],
    ['PS256', 'both'],
  ] as const)('issues a token for a %s certificate assertion identified by %s', async (alg, thumbprintHeader) => {
    // Prepare
    const tenantId = randomUUID();
    const assertion = createClientAssertion({ clientId: CERT_APP_ID, audience: fake.tokenUrl(tenantId), certificate, alg, thumbprintHeader });
    // Act
    const reply = await requestToken(fake, tenantId, {
      client_id: CERT_APP_ID,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    // Assess
    expect(reply.status).toBe(200);
    expect(reply.json['token_type']).toBe('Bearer');
    expect((await call(`${fake.graphUrl}/subscriptions`, { token: reply.json['access_token'] })).status).toBe(200);
  });

  it('refuses a wrong client secret with invalid_client AADSTS7000215', async () => {
    // Prepare
    const tenantId = randomUUID();
    // Act
    const reply = await requestToken(fake, tenantId, { client_id: SECRET_APP.clientId, client_secret: 'not-the-secret' });
    // Assess
    expect(reply.status).toBe(401);
    expect(reply.json).toEqual({
      error: 'invalid_client',
      error_description: expect.stringMatching(/^AADSTS7000215: Invalid client secret provided\. .* Trace ID: \S+ Correlation ID: \S+ Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      error_codes: [7000215],
      timestamp: expect.any(String),
      trace_id: expect.any(String),
      correlation_id: expect.any(String),
      error_uri: 'https://login.microsoftonline.com/error?code=7000215',
    });
  });

  it.each([
    ['signed with another key', { signingKey: createTestCertificate({ modulusLength: 1024 }).privateKey }, 700027],
    ['for another audience', { audience: 'https://login.microsoftonline.com/common/oauth2/v2.0/token' }, 50012],
    ['expired', { nowSeconds: Math.floor(Date.now() / 1000) - 7200, lifetimeSeconds: 600 }, 700024],
    ['without a thumbprint header', { thumbprintHeader: 'none' as const }, 50027],
    ['whose subject is another app', { claims: { sub: randomUUID() } }, 50027],
  ])('refuses an assertion %s with invalid_client', async (_case, overrides, aadsts) => {
    // Prepare
    const tenantId = randomUUID();
    const assertion = createClientAssertion({ clientId: CERT_APP_ID, audience: fake.tokenUrl(tenantId), certificate, ...overrides });
    // Act
    const reply = await requestToken(fake, tenantId, {
      client_id: CERT_APP_ID,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    // Assess
    expect(reply.status).toBe(401);
    expect(reply.json['error']).toBe('invalid_client');
    expect(reply.json['error_codes']).toEqual([aadsts]);
    expect(reply.json['error_description']).toMatch(new RegExp(`^AADSTS${aadsts}: `));
  });

  it('refuses a scope without /.default with invalid_scope', async () => {
    // Prepare
    const tenantId = randomUUID();
    // Act
    const reply = await requestToken(fake, tenantId, { client_id: SECRET_APP.clientId, client_secret: SECRET_APP.clientSecret, scope: 'https://graph.microsoft.com/User.Read.All' });
    // Assess
    expect(reply.status).toBe(400);
    expect(reply.json['error']).toBe('invalid_scope');
    expect(reply.json['error_codes']).toEqual([1002012]);
  });

  it('answers AADSTS700016 once consent is revoked at the token endpoint, and issues tokens again once restored', async () => {
    // Prepare
    const tenantId = randomUUID();
    const credentials = { client_id: SECRET_APP.clientId, client_secret: SECRET_APP.clientSecret };
    fake.revokeConsent(tenantId);
    // Act
    const refused = await requestToken(fake, tenantId, credentials);
    fake.restoreConsent(tenantId);
    const restored = await requestToken(fake, tenantId, credentials);
    // Assess
    expect(refused.status).toBe(400);
    expect(refused.json['error']).toBe('unauthorized_client');
    expect(refused.json['error_codes']).toEqual([700016]);
    expect(restored.status).toBe(200);
  });

  it('keeps issuing tokens but Graph answers 403 when consent is revoked in graph mode', async () => {
    // Prepare
    const tenantId = randomUUID();
    fake.revokeConsent(tenantId, { mode: 'graph' });
    // Act
    const token = await requestToken(fake, tenantId, { client_id: SECRET_APP.clientId, client_secret: SECRET_APP.clientSecret });
    const create = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token: token.json['access_token'], body: subscriptionBody(endpoint) });
    // Assess
    expect(token.status).toBe(200);
    expect(create.status).toBe(403);
    expect(create.json['error']['message']).toBe('Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]');
  });

  it('answers 503 while down and recovers when back up', async () => {
    // Prepare
    const tenantId = randomUUID();
    const credentials = { client_id: SECRET_APP.clientId, client_secret: SECRET_APP.clientSecret };
    fake.setDown({ token: true, retryAfterSeconds: 3 });
    // Act
    const down = await requestToken(fake, tenantId, credentials);
    fake.setDown(false);
    const up = await requestToken(fake, tenantId, credentials);
    // Assess
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('3');
    expect(down.json['error']).toBe('temporarily_unavailable');
    expect(up.status).toBe(200);
  });
});

describe('Graph authentication and error shape', () => {
  it('answers 401 InvalidAuthenticationToken without a token, in Graph\'s error shape with a request-id', async () => {
    // Act
    const reply = await call(`${fake.graphUrl}/subscriptions`);
    // Assess
    expect(reply.status).toBe(401);
    expect(reply.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(reply.json).toEqual({
      error: {
        code: 'InvalidAuthenticationToken',
        message: 'Access token is empty.',
        innerError: { date: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/), 'request-id': reply.headers.get('request-id'), 'client-request-id': expect.any(String) },
      },
    });
  });

  it('refuses a token once it has expired by the fake\'s clock', async () => {
    // Prepare
    const local = await startGraphFake({ apps: [SECRET_APP], clock: { frozen: true } });
    const { token } = tenantWithToken(local);
    try {
      // Act
      const before = await call(`${local.graphUrl}/subscriptions`, { token });
      local.clock.advance(3599 * 1000);
      const after = await call(`${local.graphUrl}/subscriptions`, { token });
      // Assess
      expect(before.status).toBe(200);
      expect(after.status).toBe(401);
      expect(after.json['error']['code']).toBe('InvalidAuthenticationToken');
    } finally {
      await local.close();
    }
  });

  it('answers bad JSON with 400 BadRequest and unknown routes with 404', async () => {
    // Prepare
    const { token } = tenantWithToken();
    // Act
    const badJson = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, rawBody: '{"changeType":' });
    const arrayBody = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, rawBody: '[]' });
    const unknown = await call(`${fake.url}/v1.0/me/messages`, { token });
    const badEscape = await call(`${fake.graphUrl}/subscriptions/%E0%A4%A`, { token });
    // Assess
    expect(badJson.status).toBe(400);
    expect(badJson.json['error']['code']).toBe('BadRequest');
    expect(arrayBody.status).toBe(400);
    expect(unknown.status).toBe(404);
    expect(badEscape.status).toBe(404);
    expect(fake.internalErrors()).toEqual([]);
  });
});

describe('create: the validation handshake', () => {
  it('validates the notification URL exactly as Graph does, then answers 201 with the subscription', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    const body = subscriptionBody(endpoint);
    // Act
    const reply = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, body });
    // Assess
    expect(reply.status).toBe(201);
    const [validation] = endpoint.requestsTo(new URL(String(body['notificationUrl'])).pathname);
    expect(validation?.method).toBe('POST');
    expect(validation?.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(validation?.body).toBe('');
    expect(validation?.rawUrl).toMatch(/\?validationToken=Validation%3A%20Testing%20client%20application%20reachability%20for%20subscription%20Request-Id%3A%20[0-9a-f-]{36}$/);
    expect(validation?.query.get('validationToken')).toMatch(/^Validation: Testing client application reachability for subscription Request-Id: [0-9a-f-]{36}$/);
    expect(reply.json).toEqual({
      '@odata.context': `${fake.graphUrl}/$metadata#subscriptions/$entity`,
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      resource: 'users',
      applicationId: SECRET_APP.clientId,
      changeType: 'updated,deleted',
      clientState: 'client-state-0123456789',
      notificationUrl: body['notificationUrl'],
      notificationQueryOptions: null,
      lifecycleNotificationUrl: null,
      expirationDateTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/),
      creatorId: expect.any(String),
      includeResourceData: false,
      latestSupportedTlsVersion: 'v1_2',
      encryptionCertificate: null,
      encryptionCertificateId: null,
      notificationUrlAppId: null,
    });
    expect(fake.subscriptions(tenantId).map((s) => s.id)).toEqual([reply.json['id']]);
  });

  it('fails with ValidationError when the endpoint echoes something else', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    // Act
    const reply = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint, { notificationUrl: `${endpoint.url}/wrong` }) });
    // Assess
    expect(reply.status).toBe(400);
    expect(reply.json['error']['code']).toBe('ValidationError');
    expect(reply.json['error']['message']).toBe('Subscription validation request failed. Response must exactly match validationToken query parameter.');
    expect(fake.subscriptions(tenantId)).toEqual([]);
  });

  it('fails with ValidationError when the endpoint does not answer 200', async () => {
    // Prepare
    const { token } = tenantWithToken();
    // Act
    const reply = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint, { notificationUrl: `${endpoint.url}/refuse` }) });
    // Assess
    expect(reply.status).toBe(400);
    expect(reply.json['error']['message']).toBe('Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.');
  });

  it('fails with "timed out" when the endpoint does not answer within the timeout', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    // Act
    const reply = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint, { notificationUrl: `${endpoint.url}/hang` }) });
    // Assess
    expect(reply.status).toBe(400);
    expect(reply.json['error']).toMatchObject({ code: 'InvalidRequest', message: 'Subscription validation request timed out.' });
    expect(fake.subscriptions(tenantId)).toEqual([]);
    expect(fake.validationRequests().filter((v) => v.url === `${endpoint.url}/hang`).map((v) => v.outcome)).toEqual(['timeout']);
  });

  it('sends two validation requests when notificationUrl and lifecycleNotificationUrl are the same', async () => {
    // Prepare
    const { token } = tenantWithToken();
    const url = `${endpoint.url}/echo/${randomUUID()}`;
    // Act
    const reply = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint, { notificationUrl: url, lifecycleNotificationUrl: url }) });
    // Assess
    expect(reply.status).toBe(201);
    const validations = endpoint.requestsTo(new URL(url).pathname);
    expect(validations).toHaveLength(2);
    expect(new Set(validations.map((v) => v.query.get('validationToken'))).size).toBe(2);
  });
});

describe('create: Graph\'s rules', () => {
  let frozen: GraphFake;
  beforeAll(async () => {
    frozen = await startGraphFake({ apps: [SECRET_APP], clock: { frozen: true }, maxSubscriptionsPerAppPerTenant: 2 });
  });
  afterAll(async () => {
    await frozen?.close();
  });
  const createIn = (target: GraphFake, token: string, overrides: Record<string, unknown>) =>
    call(`${target.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint, overrides) });
  const inMinutes = (minutes: number) => new Date(frozen.clock.now() + minutes * MINUTE).toISOString();

  it('accepts a users subscription of exactly 41,760 minutes and refuses 41,761', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    // Act
    const atMax = await createIn(frozen, token, { resource: 'users', expirationDateTime: inMinutes(41_760) });
    const overMax = await createIn(frozen, token, { resource: 'groups', expirationDateTime: inMinutes(41_761) });
    // Assess
    expect(atMax.status).toBe(201);
    expect(Date.parse(atMax.json['expirationDateTime'])).toBe(frozen.clock.now() + 41_760 * MINUTE);
    expect(overMax.status).toBe(400);
    expect(overMax.json['error']).toMatchObject({ code: 'ExtensionError', message: 'Subscription expiration can only be 41760 minutes in the future.' });
  });

  it('raises an expiry below 45 minutes to 45 minutes', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    // Act
    const reply = await createIn(frozen, token, { expirationDateTime: inMinutes(10) });
    // Assess
    expect(reply.status).toBe(201);
    expect(Date.parse(reply.json['expirationDateTime'])).toBe(frozen.clock.now() + 45 * MINUTE);
  });

  it('refuses an unsupported resource', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    // Act
    const reply = await createIn(frozen, token, { resource: 'me/drive/items/123/permissions' });
    // Assess
    expect(reply.status).toBe(400);
    expect(reply.json['error']['code']).toBe('InvalidRequest');
  });

  it('requires a lifecycleNotificationUrl for a Teams subscription longer than an hour', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const teams = { resource: `teams/${randomUUID()}/channels/${randomUUID()}/messages`, changeType: 'created', expirationDateTime: inMinutes(61) };
    // Act
    const withoutLifecycle = await createIn(frozen, token, teams);
    const withLifecycle = await createIn(frozen, token, { ...teams, lifecycleNotificationUrl: `${endpoint.url}/echo/lifecycle` });
    // Assess
    expect(withoutLifecycle.status).toBe(400);
    expect(withoutLifecycle.json['error']['message']).toBe('lifecycleNotificationUrl is required for subscription creation on this resource when the expirationDateTime value exceeds 1 hour.');
    expect(withLifecycle.status).toBe(201);
  });

  it('refuses a second subscription for the same changeType and resource with 409', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const first = await createIn(frozen, token, { resource: 'users', changeType: 'updated' });
    // Act
    const second = await createIn(frozen, token, { resource: 'users', changeType: 'updated' });
    // Assess
    expect(first.status).toBe(201);
    expect(second.status).toBe(409);
    expect(second.json['error']['message']).toContain(`Subscription Id ${first.json['id']} already exists for the requested combination`);
  });

  it('refuses subscriptions over the quota with 403', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    await createIn(frozen, token, { resource: 'users' });
    await createIn(frozen, token, { resource: 'groups' });
    // Act
    const third = await createIn(frozen, token, { resource: 'devices' });
    // Assess
    expect(third.status).toBe(403);
    expect(third.json['error']['code']).toBe('ExtensionError');
  });
});

describe('renew, reauthorize, expire, delete, list', () => {
  let frozen: GraphFake;
  beforeAll(async () => {
    frozen = await startGraphFake({ apps: [SECRET_APP], clock: { frozen: true }, listPageSize: 2 });
  });
  afterAll(async () => {
    await frozen?.close();
  });
  const create = async (token: string, overrides: Record<string, unknown> = {}) => {
    const reply = await call(`${frozen.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint, { expirationDateTime: new Date(frozen.clock.now() + 60 * MINUTE).toISOString(), ...overrides }) });
    if (reply.status !== 201) throw new Error(`create failed: ${JSON.stringify(reply.json)}`);
    return reply.json['id'] as string;
  };

  it('renews with PATCH: 200 with the new expiry', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const id = await create(token);
    const newExpiry = frozen.clock.now() + 2 * 24 * 60 * MINUTE;
    // Act
    const reply = await call(`${frozen.graphUrl}/subscriptions/${id}`, { method: 'PATCH', token, body: { expirationDateTime: new Date(newExpiry).toISOString() } });
    // Assess
    expect(reply.status).toBe(200);
    expect(Date.parse(reply.json['expirationDateTime'])).toBe(newExpiry);
    expect(frozen.subscription(id)).toMatchObject({ expiresAt: newExpiry, renewals: 1 });
  });

  it('answers 404 ResourceNotFound once the subscription has expired by the clock', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken(frozen);
    const id = await create(token);
    frozen.clock.advance(60 * MINUTE);
    const fresh = frozen.issueToken(tenantId, SECRET_APP.clientId);
    // Act
    const get = await call(`${frozen.graphUrl}/subscriptions/${id}`, { token: fresh });
    const patch = await call(`${frozen.graphUrl}/subscriptions/${id}`, { method: 'PATCH', token: fresh, body: { expirationDateTime: new Date(frozen.clock.now() + 60 * MINUTE).toISOString() } });
    // Assess
    expect(get.status).toBe(404);
    expect(get.json['error']).toMatchObject({ code: 'ResourceNotFound', message: 'The object was not found.' });
    expect(patch.status).toBe(404);
    expect(frozen.subscription(id)?.state).toBe('expired');
  });

  it('deletes with 204, after which the subscription is 404', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const id = await create(token);
    // Act
    const deleted = await call(`${frozen.graphUrl}/subscriptions/${id}`, { method: 'DELETE', token });
    const get = await call(`${frozen.graphUrl}/subscriptions/${id}`, { token });
    // Assess
    expect(deleted.status).toBe(204);
    expect(get.status).toBe(404);
  });

  it('lists only this app\'s subscriptions in the tenant, paged by @odata.nextLink, without clientState', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const other = tenantWithToken(frozen);
    const ids = [await create(token, { resource: 'users' }), await create(token, { resource: 'groups' }), await create(token, { resource: 'devices' })];
    await create(other.token, { resource: 'users' });
    // Act
    const first = await call(`${frozen.graphUrl}/subscriptions`, { token });
    const second = await call(String(first.json['@odata.nextLink']), { token });
    // Assess
    expect(first.status).toBe(200);
    expect(first.json['value']).toHaveLength(2);
    expect(first.json['@odata.nextLink']).toMatch(new RegExp(`^${frozen.graphUrl.replace(/\./g, '\\.')}/subscriptions\\?\\$skiptoken=`));
    expect(second.json['@odata.nextLink']).toBeUndefined();
    const listed = [...first.json['value'], ...second.json['value']] as Record<string, unknown>[];
    expect(listed.map((s) => s['id'])).toEqual(ids);
    expect(listed.map((s) => s['clientState'])).toEqual([null, null, null]);
  });

  it('reauthorizes with 204 and records when', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const id = await create(token, { lifecycleNotificationUrl: `${endpoint.url}/echo/lifecycle` });
    await frozen.pushLifecycle(id, 'reauthorizationRequired');
    const paused = await frozen.pushChange(id, { changeType: 'updated' });
    // Act
    const reply = await call(`${frozen.graphUrl}/subscriptions/${id}/reauthorize`, { method: 'POST', token });
    const resumed = await frozen.pushChange(id, { changeType: 'updated' });
    // Assess
    expect(reply.status).toBe(204);
    expect(paused.delivered).toBe(false);
    expect(frozen.subscription(id)).toMatchObject({ reauthorizedAt: frozen.clock.now(), reauthorizations: 1 });
    expect(frozen.subscription(id)?.reauthorizationRequiredSince).toBeUndefined();
    expect(resumed.status).toBe(202);
  });
});

describe('rate limits', () => {
  it('answers 429 TooManyRequests with a scaled Retry-After, then succeeds once it has passed', async () => {
    // Prepare
    const scaled = await startGraphFake({ apps: [SECRET_APP], timeScale: 0.1, rateLimits: { writesPerAppPerTenant: 3 } });
    const { token } = tenantWithToken(scaled);
    const missing = `${scaled.graphUrl}/subscriptions/${randomUUID()}`;
    try {
      for (let i = 0; i < 3; i += 1) await call(missing, { method: 'DELETE', token });
      // Act
      const throttled = await call(missing, { method: 'DELETE', token });
      const retryAfterSeconds = Number.parseFloat(throttled.headers.get('retry-after') ?? 'NaN');
      await sleep(retryAfterSeconds * 1000);
      const afterWaiting = await call(missing, { method: 'DELETE', token });
      // Assess
      expect(throttled.status).toBe(429);
      expect(throttled.json['error']).toMatchObject({ code: 'TooManyRequests', message: 'Please retry again later.', innerError: { code: '429', status: '429' } });
      expect(retryAfterSeconds).toBeGreaterThan(0);
      expect(retryAfterSeconds).toBeLessThanOrEqual(2);
      expect(Number(throttled.headers.get('x-graph-fake-retry-after-ms'))).toBe(Math.round(retryAfterSeconds * 1000));
      expect(afterWaiting.status).toBe(404);
      expect(scaled.stats()['subscriptions.delete']).toEqual({ '404': 4, '429': 1 });
    } finally {
      await scaled.close();
    }
  });

  it('limits lists to 25 per window per app per tenant, with an integer Retry-After at real time scale', async () => {
    // Prepare
    const real = await startGraphFake({ apps: [SECRET_APP] });
    const { token } = tenantWithToken(real);
    const other = tenantWithToken(real);
    try {
      for (let i = 0; i < 25; i += 1) await call(`${real.graphUrl}/subscriptions`, { token });
      // Act
      const throttled = await call(`${real.graphUrl}/subscriptions`, { token });
      const otherTenant = await call(`${real.graphUrl}/subscriptions`, { token: other.token });
      // Assess
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toMatch(/^([1-9]|1\d|20)$/);
      expect(otherTenant.status).toBe(200);
    } finally {
      await real.close();
    }
  });
});

describe('rate limits across tenants and the limiter itself', () => {
  it('limits writes per app across tenants', async () => {
    // Prepare
    const local = await startGraphFake({ apps: [SECRET_APP], rateLimits: { writesPerApp: 2 } });
    const tenants = [tenantWithToken(local), tenantWithToken(local), tenantWithToken(local)];
    try {
      // Act
      const statuses: number[] = [];
      const limits: (string | null)[] = [];
      for (const { token } of tenants) {
        const reply = await call(`${local.graphUrl}/subscriptions/${randomUUID()}`, { method: 'DELETE', token });
        statuses.push(reply.status);
        limits.push(reply.headers.get('x-graph-fake-limit'));
      }
      // Assess
      expect(statuses).toEqual([404, 404, 429]);
      expect(limits[2]).toBe('writesPerApp');
    } finally {
      await local.close();
    }
  });

  it.each([
    [false, [0, 100, 200], 1000, 0],
    [true, [0, 100, 200], 1000, 100],
  ])('computes Retry-After as the time until a slot frees (throttled requests count: %s)', (countThrottled, arrivals, windowMs, expectedExtraWait) => {
    // Prepare
    let now = 0;
    const limiter = new SlidingWindowLimiter(windowMs, countThrottled, () => now);
    const rule = [{ name: 'test', key: 'k', limit: 3 }];
    for (const t of arrivals) {
      now = t;
      limiter.take(rule);
    }
    now = 300;
    // Act
    const throttled = limiter.take(rule);
    now = 300 + (throttled.allowed ? 0 : throttled.retryAfterMs);
    const afterWaiting = limiter.take(rule);
    // Assess
    expect(throttled).toEqual({ allowed: false, retryAfterMs: 700 + expectedExtraWait, name: 'test' });
    expect(afterWaiting).toEqual({ allowed: true });
  });

  it.each([
    [1500, 'auto', 1, '2'],
    [200, 'auto', 1, '1'],
    [137.2, 'auto', 0.01, '0.138'],
    [137, 'integer', 0.01, '1'],
    [2128, 'decimal', 1, '2.128'],
  ] as const)('formats %s ms as Retry-After (%s, time scale %s) → %s', (ms, format, timeScale, expected) => {
    // Act
    const value = formatRetryAfter(ms, format, timeScale);
    // Assess
    expect(value).toBe(expected);
  });
});

describe('https requirement', () => {
  it('refuses an http notificationUrl when https is required, as real Graph does', async () => {
    // Prepare
    const strict = await startGraphFake({ apps: [SECRET_APP], requireHttps: true });
    const { token } = tenantWithToken(strict);
    try {
      // Act
      const reply = await call(`${strict.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint) });
      // Assess
      expect(reply.status).toBe(400);
      expect(reply.json['error']['code']).toBe('InvalidRequest');
      expect(strict.validationRequests()).toEqual([]);
    } finally {
      await strict.close();
    }
  });
});

describe('notifications', () => {
  it('pushes a change notification in Graph\'s shape, with the subscription\'s clientState, that the intake\'s parser accepts', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    const create = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint) });
    const id = create.json['id'] as string;
    const path = new URL(String(create.json['notificationUrl'])).pathname;
    // Act
    const result = await fake.pushChange(id, { changeType: 'updated', resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': 'Users/u-1', id: 'u-1' } });
    // Assess
    expect(result).toMatchObject({ delivered: true, status: 202 });
    const delivery = endpoint.requestsTo(path).find((r) => !r.query.has('validationToken'));
    expect(delivery?.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(delivery?.body ?? '{}')).toEqual({
      value: [
        {
          subscriptionId: id,
          subscriptionExpirationDateTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00$/),
          changeType: 'updated',
          resource: 'users/u-1',
          resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': 'Users/u-1', id: 'u-1' },
          clientState: 'client-state-0123456789',
          tenantId,
        },
      ],
    });
    expect(parseNotificationBody(delivery?.body ?? '').refused).toEqual([]);
  });

  it('pushes subscriptionRemoved to the lifecycle URL, after which the subscription is gone', async () => {
    // Prepare
    const { tenantId, token } = tenantWithToken();
    const lifecycleUrl = `${endpoint.url}/echo/${randomUUID()}`;
    const create = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token, body: subscriptionBody(endpoint, { lifecycleNotificationUrl: lifecycleUrl }) });
    const id = create.json['id'] as string;
    // Act
    const result = await fake.pushLifecycle(id, 'subscriptionRemoved');
    const patch = await call(`${fake.graphUrl}/subscriptions/${id}`, { method: 'PATCH', token, body: { expirationDateTime: new Date(Date.now() + 120 * MINUTE).toISOString() } });
    // Assess
    expect(result.status).toBe(202);
    const delivery = endpoint.requestsTo(new URL(lifecycleUrl).pathname).find((r) => !r.query.has('validationToken'));
    expect(JSON.parse(delivery?.body ?? '{}')).toEqual({
      value: [{ lifecycleEvent: 'subscriptionRemoved', subscriptionId: id, subscriptionExpirationDateTime: expect.any(String), clientState: 'client-state-0123456789', tenantId }],
    });
    expect(patch.status).toBe(404);
    expect(fake.subscriptions(tenantId)).toEqual([]);
  });
});

describe('fault injection', () => {
  it('fails the next calls of a route with the injected status, then answers normally', async () => {
    // Prepare
    const { token } = tenantWithToken();
    fake.failNext('subscriptions.list', 503, 2, { retryAfterSeconds: 1 });
    // Act
    const first = await call(`${fake.graphUrl}/subscriptions`, { token });
    const second = await call(`${fake.graphUrl}/subscriptions`, { token });
    const third = await call(`${fake.graphUrl}/subscriptions`, { token });
    // Assess
    expect([first.status, second.status, third.status]).toEqual([503, 503, 200]);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(first.json['error']['code']).toBe('serviceNotAvailable');
  });
});

describe('subscriptions with resource data (rich notifications)', () => {
  const MESSAGES = `users/${randomUUID()}/messages`;
  let frozen: GraphFake;
  let encryption: SelfSignedCertificate;
  let rotated: SelfSignedCertificate;
  beforeAll(async () => {
    frozen = await startGraphFake({ apps: [SECRET_APP], clock: { frozen: true } });
    encryption = createSelfSignedCertificate({ commonName: 'graph-relay encryption' });
    rotated = createSelfSignedCertificate({ commonName: 'graph-relay encryption 2' });
  });
  afterAll(async () => {
    await frozen?.close();
  });
  const inMinutes = (minutes: number) => new Date(frozen.clock.now() + minutes * MINUTE).toISOString();
  const richBody = (overrides: Record<string, unknown> = {}) =>
    subscriptionBody(endpoint, {
      resource: MESSAGES,
      changeType: 'created',
      expirationDateTime: inMinutes(1_440),
      includeResourceData: true,
      encryptionCertificate: encryption.certificateDer.toString('base64'),
      encryptionCertificateId: 'enc-1',
      ...overrides,
    });
  const create = (token: string, overrides: Record<string, unknown> = {}) => call(`${frozen.graphUrl}/subscriptions`, { method: 'POST', token, body: richBody(overrides) });

  it('creates a rich Outlook subscription of exactly 1,440 minutes with its certificate, and refuses 1,441', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    // Act
    const atMax = await create(token);
    const overMax = await create(token, { changeType: 'updated', expirationDateTime: inMinutes(1_441) });
    // Assess
    expect(atMax.status).toBe(201);
    expect(atMax.json).toMatchObject({ includeResourceData: true, encryptionCertificateId: 'enc-1', encryptionCertificate: encryption.certificateDer.toString('base64') });
    expect(Date.parse(atMax.json['expirationDateTime'])).toBe(frozen.clock.now() + 1_440 * MINUTE);
    expect(overMax.status).toBe(400);
    expect(overMax.json['error']).toMatchObject({ code: 'ExtensionError', message: 'Subscription expiration can only be 1440 minutes in the future.' });
  });

  it.each([
    ['no certificate', { encryptionCertificate: undefined }, 'encryptionCertificate and encryptionCertificateId are required when includeResourceData is true.'],
    ['no certificate id', { encryptionCertificateId: undefined }, 'encryptionCertificate and encryptionCertificateId are required when includeResourceData is true.'],
    ['a certificate id over 128 characters', { encryptionCertificateId: 'x'.repeat(129) }, 'encryptionCertificateId is too long: the maximum length is 128 characters.'],
    ['a PEM certificate', { encryptionCertificate: 'PEM' }, 'encryptionCertificate must be a base64-encoded DER X.509 certificate.'],
    ['base64 that is not a certificate', { encryptionCertificate: Buffer.from('not a certificate').toString('base64') }, 'encryptionCertificate must be a base64-encoded DER X.509 certificate.'],
    ['a 1024-bit key', { encryptionCertificate: 'SMALL' }, 'encryptionCertificate must hold an RSA key of 2048 to 4096 bits.'],
  ])('refuses %s with 400 like Graph', async (_label, overrides, message) => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const replaced: Record<string, unknown> = { ...overrides };
    if (replaced['encryptionCertificate'] === 'PEM') replaced['encryptionCertificate'] = encryption.certificatePem;
    if (replaced['encryptionCertificate'] === 'SMALL') replaced['encryptionCertificate'] = createSelfSignedCertificate({ commonName: 'small', modulusLength: 1024 }).certificateDer.toString('base64');
    // Act
    const reply = await create(token, replaced);
    // Assess
    expect(reply.status).toBe(400);
    expect(reply.json['error']).toMatchObject({ code: 'InvalidRequest', message });
  });

  it('refuses resource data for a kind Graph v1.0 does not include it for (users), naming the kinds that have it', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    // Act
    const reply = await create(token, { resource: 'users', expirationDateTime: inMinutes(60) });
    // Assess
    expect(reply.status).toBe(400);
    expect(reply.json['error']['message']).toMatch(/^includeResourceData is not supported for resource 'users': rich notifications are available for .*Outlook message\/event\/contact/);
  });

  it('rotates the certificate by PATCH, keeps the shorter lifetime, and validates the new certificate', async () => {
    // Prepare
    const { token } = tenantWithToken(frozen);
    const id = (await create(token)).json['id'] as string;
    const patch = (body: Record<string, unknown>) => call(`${frozen.graphUrl}/subscriptions/${id}`, { method: 'PATCH', token, body });
    // Act
    const tooLong = await patch({ expirationDateTime: inMinutes(1_441) });
    const invalid = await patch({ expirationDateTime: inMinutes(600), encryptionCertificate: rotated.certificatePem, encryptionCertificateId: 'enc-2' });
    const rotatedReply = await patch({ expirationDateTime: inMinutes(1_440), encryptionCertificate: rotated.certificateDer.toString('base64'), encryptionCertificateId: 'enc-2' });
    // Assess
    expect(tooLong.status).toBe(400);
    expect(invalid.status).toBe(400);
    expect(rotatedReply.status).toBe(200);
    expect(rotatedReply.json).toMatchObject({ encryptionCertificateId: 'enc-2' });
    expect(frozen.subscription(id)).toMatchObject({ encryptionCertificateId: 'enc-2', previousEncryptionCertificates: [{ id: 'enc-1', certificate: encryption.certificateDer.toString('base64') }] });
  });
});

describe('rich notifications pushed', () => {
  const MESSAGES = `users/${randomUUID()}/messages`;
  let encryption: SelfSignedCertificate;
  beforeAll(() => {
    encryption = createSelfSignedCertificate({ commonName: 'graph-relay encryption' });
  });

  async function richSubscription(): Promise<{ id: string; tenantId: string; path: string }> {
    const { tenantId, token } = tenantWithToken();
    const reply = await call(`${fake.graphUrl}/subscriptions`, {
      method: 'POST',
      token,
      body: subscriptionBody(endpoint, {
        resource: MESSAGES,
        changeType: 'created',
        expirationDateTime: new Date(fake.clock.now() + 600 * MINUTE).toISOString(),
        includeResourceData: true,
        encryptionCertificate: encryption.certificateDer.toString('base64'),
        encryptionCertificateId: 'enc-1',
      }),
    });
    expect(reply.status).toBe(201);
    return { id: reply.json['id'] as string, tenantId, path: new URL(String(reply.json['notificationUrl'])).pathname };
  }

  function delivered(path: string): { value: Record<string, any>[]; validationTokens?: string[] } {
    const deliveries = endpoint.requestsTo(path).filter((r) => !r.query.has('validationToken'));
    return JSON.parse(deliveries.at(-1)?.body ?? '{}') as { value: Record<string, any>[]; validationTokens?: string[] };
  }

  it('encrypts the resource with the subscription\'s certificate and adds one validation token the product verifies', async () => {
    // Prepare
    const { id, tenantId, path } = await richSubscription();
    const message = { '@odata.type': '#Microsoft.Graph.Message', id: 'm-1', subject: 'Quarterly numbers' };
    const verifier = createValidationTokenVerifier({ jwksUrl: fake.jwksUrl });
    // Act
    const result = await fake.pushChange(id, { changeType: 'created', resourceData: { '@odata.type': '#Microsoft.Graph.Message', id: 'm-1' }, content: message });
    // Assess
    expect(result).toMatchObject({ delivered: true });
    const body = delivered(path);
    const content = body.value[0]?.['encryptedContent'] as EncryptedContent;
    expect(content).toMatchObject({ encryptionCertificateId: 'enc-1', encryptionCertificateThumbprint: encryption.thumbprint });
    expect(decryptContent(content, encryption.privateKey)).toEqual(message);
    expect(body.validationTokens).toHaveLength(1);
    expect(await verifier.verify(body.validationTokens ?? [], { audiences: [SECRET_APP.clientId], tenantIds: [tenantId] })).toEqual({ valid: true, tenantIds: [tenantId] });
  });

  it.each([
    ['bad-signature', /signature/i],
    ['wrong-audience', /aud/i],
    ['expired', /exp/i],
  ] as const)('spoils the tokens on request (%s), so the product refuses them', async (tokens, reason) => {
    // Prepare
    const { id, tenantId, path } = await richSubscription();
    const verifier = createValidationTokenVerifier({ jwksUrl: fake.jwksUrl });
    // Act
    await fake.pushChange(id, { changeType: 'created' }, { rich: { tokens } });
    // Assess
    const result = await verifier.verify(delivered(path).validationTokens ?? [], { audiences: [SECRET_APP.clientId], tenantIds: [tenantId] });
    expect(result).toMatchObject({ valid: false, reason: expect.stringMatching(reason) });
  });

  it('sends no tokens, or a content whose signature does not match, on request', async () => {
    // Prepare
    const { id, path } = await richSubscription();
    // Act
    await fake.pushChange(id, { changeType: 'created' }, { rich: { tokens: 'none', content: 'bad-data-signature' } });
    // Assess
    const body = delivered(path);
    expect(body).not.toHaveProperty('validationTokens');
    expect(() => decryptContent(body.value[0]?.['encryptedContent'] as EncryptedContent, encryption.privateKey)).toThrow(/signature/i);
  });

  it('sends one token per (app, tenant) in a batch, and none for plain subscriptions', async () => {
    // Prepare
    const first = await richSubscription();
    const plainTenant = tenantWithToken();
    const shared = `${endpoint.url}/echo/${randomUUID()}`;
    const richCreate = await call(`${fake.graphUrl}/subscriptions`, {
      method: 'POST',
      token: fake.issueToken(first.tenantId, SECRET_APP.clientId),
      body: subscriptionBody(endpoint, {
        notificationUrl: shared,
        resource: `users/${randomUUID()}/events`,
        changeType: 'created',
        expirationDateTime: new Date(fake.clock.now() + 600 * MINUTE).toISOString(),
        includeResourceData: true,
        encryptionCertificate: encryption.certificateDer.toString('base64'),
        encryptionCertificateId: 'enc-1',
      }),
    });
    const richCreate2 = await call(`${fake.graphUrl}/subscriptions`, {
      method: 'POST',
      token: fake.issueToken(first.tenantId, SECRET_APP.clientId),
      body: subscriptionBody(endpoint, {
        notificationUrl: shared,
        resource: `users/${randomUUID()}/contacts`,
        changeType: 'created',
        expirationDateTime: new Date(fake.clock.now() + 600 * MINUTE).toISOString(),
        includeResourceData: true,
        encryptionCertificate: encryption.certificateDer.toString('base64'),
        encryptionCertificateId: 'enc-1',
      }),
    });
    const plainCreate = await call(`${fake.graphUrl}/subscriptions`, { method: 'POST', token: plainTenant.token, body: subscriptionBody(endpoint, { notificationUrl: shared }) });
    // Act
    const batch = await fake.pushBatch([
      { subscriptionId: richCreate.json['id'] as string, change: { changeType: 'created' } },
      { subscriptionId: richCreate2.json['id'] as string, change: { changeType: 'created' } },
      { subscriptionId: plainCreate.json['id'] as string, change: { changeType: 'updated' } },
    ]);
    // Assess
    expect(batch.payload.validationTokens).toHaveLength(1);
    expect(batch.payload.value.map((n) => 'encryptedContent' in n)).toEqual([true, true, false]);
  });

  it('encrypts with a certificate a PATCH replaced when asked, as Graph may for a while after a rotation', async () => {
    // Prepare
    const { id, tenantId, path } = await richSubscription();
    const next = createSelfSignedCertificate({ commonName: 'graph-relay encryption next' });
    const patch = await call(`${fake.graphUrl}/subscriptions/${id}`, {
      method: 'PATCH',
      token: fake.issueToken(tenantId, SECRET_APP.clientId),
      body: { expirationDateTime: new Date(fake.clock.now() + 600 * MINUTE).toISOString(), encryptionCertificate: next.certificateDer.toString('base64'), encryptionCertificateId: 'enc-2' },
    });
    // Act
    await fake.pushChange(id, { changeType: 'created', content: { id: 'new' } });
    const current = delivered(path).value[0]?.['encryptedContent'] as EncryptedContent;
    await fake.pushChange(id, { changeType: 'created', content: { id: 'old' } }, { rich: { certificateId: 'enc-1' } });
    const previous = delivered(path).value[0]?.['encryptedContent'] as EncryptedContent;
    // Assess
    expect(patch.status).toBe(200);
    expect([current.encryptionCertificateId, decryptContent(current, next.privateKey)]).toEqual(['enc-2', { id: 'new' }]);
    expect([previous.encryptionCertificateId, decryptContent(previous, encryption.privateKey)]).toEqual(['enc-1', { id: 'old' }]);
  });
});
