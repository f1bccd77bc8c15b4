/**
 * The oracle and checks of the reliability suite's hostile phase (test/reliability/hostile-checks.ts): what counts
 * as publishable, forged, misrouted, reflected or a wrong handshake must itself be right.
 */
import { idempotencyKey } from '../../shared/events/contract';
import { parseNotificationBody } from '../../shared/graph/change-notification';
import { checkPublished, handshakeProblem, headerProblem, newTally, prototypeSnapshot, publishableKeys } from '../reliability/hostile-checks';

const SECRET = 'hostile-checks-secret-0123456789';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const item = (overrides: Record<string, unknown> = {}) => ({ subscriptionId: 's-1', tenantId: TENANT, changeType: 'created', clientState: SECRET, resource: 'r/1', ...overrides });
function keyOf(body: string, index = 0): string {
  const parsed = parseNotificationBody(body).notifications[index];
  if (parsed === undefined) throw new Error(`no notification at ${index}`);
  return idempotencyKey('contoso', parsed.notification);
}

describe('publishableKeys', () => {
  it('allows an item that carries the secret as its own clientState', () => {
    // Prepare
    const body = JSON.stringify({ value: [item(), item({ clientState: 'forged-client-state', resource: 'r/2' })] });

    // Act
    const keys = publishableKeys('contoso', body, SECRET);

    // Assess
    expect([...keys]).toEqual([keyOf(body)]);
  });

  it('allows nothing for a secret under __proto__, in a rich POST or in a body that is not a collection', () => {
    // Prepare
    const bodies = [
      `{"value":[{"subscriptionId":"s","tenantId":"${TENANT}","changeType":"created","__proto__":{"clientState":"${SECRET}"}}]}`,
      JSON.stringify({ value: [item()], validationTokens: ['x'] }),
      JSON.stringify({ value: [item({ encryptedContent: { data: 'x' } })] }),
      JSON.stringify([item()]),
      'not json',
    ];

    // Act
    const sizes = bodies.map((body) => publishableKeys('contoso', body, SECRET).size);

    // Assess
    expect(sizes).toEqual([0, 0, 0, 0, 0]);
  });

  it('gives an item that names no tenant the tenant recorded for its subscription, and nothing without a record', () => {
    // Prepare: the intake parses such an item with its subscription's tenant, so the key is that tenant's
    const tenantless = { subscriptionId: 's-1', changeType: 'created', clientState: SECRET, resource: 'r/1' };
    const body = JSON.stringify({ value: [tenantless, { ...tenantless, subscriptionId: 's-unknown', resource: 'r/2' }, { ...tenantless, clientState: 'forged', resource: 'r/3' }] });
    const recorded = (subscriptionId: string) => (subscriptionId === 's-1' ? TENANT : undefined);

    // Act
    const keys = publishableKeys('contoso', body, SECRET, recorded);
    const withoutRecords = publishableKeys('contoso', body, SECRET);

    // Assess
    expect([...keys]).toEqual([keyOf(JSON.stringify({ value: [{ ...tenantless, tenantId: TENANT }] }))]);
    expect(withoutRecords.size).toBe(0);
  });
});

describe('checkPublished', () => {
  it('counts an event never sent with the secret as forged and one on another tenant connection as misrouted', () => {
    // Prepare
    const tally = newTally();
    const detail = (key: string, connectionId: string | null) => ({ type: 'forward', providerConfigKey: 'contoso', connectionId, metadata: { idempotencyKey: key, tenantId: TENANT }, payload: { value: [{ tenantId: TENANT.toUpperCase() }] } });
    // A subscription function's own event (a lifecycle action that failed) is not a forwarded notification.
    const subscriptionEvent = { providerConfigKey: 'contoso', connectionId: 'a-1', tenantId: TENANT, failure: 'no credentials' };

    // Act
    checkPublished(tally, [detail('good', 'a-1'), detail('good', null), detail('unknown', 'a-1'), detail('good', 'b-1'), { ...detail('unknown', 'x'), providerConfigKey: 'other' }, subscriptionEvent], {
      integrationId: 'contoso',
      publishable: new Set(['good']),
      connectionsOf: (tenantId) => (tenantId === TENANT ? ['a-1'] : ['b-1']),
      secrets: [SECRET],
    });

    // Assess
    expect({ forged: tally.forgedPublished, misrouted: tally.misrouted }).toEqual({ forged: 1, misrouted: 1 });
  });
});

describe('handshakeProblem and headerProblem', () => {
  it('accepts the escaped token as text/plain with nosniff, and nothing else', () => {
    // Prepare
    const answer = (body: string, contentType = 'text/plain; charset=utf-8') => ({ status: 200, contentType, nosniff: 'nosniff', body });

    // Act
    const results = [
      handshakeProblem('<b>a\r\n', answer('&lt;b&gt;a\r\n')),
      handshakeProblem('<b>', answer('<b>')),
      handshakeProblem('a', answer('a', 'text/html')),
      handshakeProblem('\ud800', answer('\ufffd')),
    ];

    // Assess
    expect(results.map((r) => r === undefined)).toEqual([true, false, false, true]);
  });

  it('flags a header value with CR/LF and a header the product never sets', () => {
    // Prepare
    const headers = [{ 'content-type': 'text/plain' }, { 'content-type': 'a\r\nb' }, { 'set-cookie': 'x=1' }];

    // Act
    const problems = headers.map((h) => headerProblem(h));

    // Assess
    expect(problems.map((p) => p === undefined)).toEqual([true, false, false]);
  });
});

describe('prototypeSnapshot', () => {
  it('notices a key added to Object.prototype', () => {
    // Prepare
    const polluted = prototypeSnapshot();

    // Act
    (Object.prototype as Record<string, unknown>)['hostileChecksPolluted'] = true;
    const found = polluted();
    delete (Object.prototype as Record<string, unknown>)['hostileChecksPolluted'];

    // Assess
    expect(found).toMatch(/Object\.prototype/);
    expect(polluted()).toBeUndefined();
  });
});
