/**
 * What Microsoft Graph really sends (test/fixtures/graph-real/, payloads reported in public issue threads) parses into
 * notifications, none refused: explicit nulls dropped, unknown fields kept, `resource: ""` kept, and the tenant
 * taken from `tenantId`, else `organizationId` (then also written to `tenantId`).
 *
 * An item naming no tenant at all takes the tenant recorded for its subscription, which only the intake can read:
 * parsing alone may refuse it for want of a tenant, never give it a made-up one. The end-to-end test
 * (test/integration/graph-real-corpus.test.ts) proves it is accepted once the subscription is recorded.
 */
import { kindOf, parseNotificationBody } from '../../shared/graph/change-notification';
import { expectedNotification, loadCorpus } from '../fixtures/graph-real/corpus';

const corpus = loadCorpus();

describe('the corpus of real Graph payloads', () => {
  it('holds a fixture for every distinct shape, each with its source', () => {
    // Assess: a corpus that failed to load or lost its files would make the tests below pass vacuously
    expect(corpus.length).toBeGreaterThanOrEqual(8);
    for (const fixture of corpus) expect(fixture.source).toMatch(/^https:\/\/github\.com\//);
  });
});

describe.each(corpus.map((fixture) => [fixture.name, fixture] as const))('parseNotificationBody: %s', (_name, fixture) => {
  it('accepts every item, none refused, and keeps the validation tokens', () => {
    // Prepare
    const body = JSON.stringify(fixture.body);

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    const needRecord = fixture.items.flatMap((item, index) => (item.expect.tenantFrom === 'subscription' ? [index] : []));
    const refusedForTenant = parsed.refused.filter((r) => needRecord.includes(r.index) && /tenantId/.test(r.reason));
    expect(parsed.refused).toEqual(refusedForTenant);
    expect([...parsed.notifications.map((n) => n.index), ...refusedForTenant.map((r) => r.index)].sort()).toEqual(fixture.items.map((_item, index) => index));
    expect(parsed.validationTokens).toEqual(fixture.body.validationTokens ?? []);
  });

  it.each(fixture.items.map((item, index) => [index, item] as const))('item %i normalizes as the fixture expects', (index, item) => {
    // Prepare
    const body = JSON.stringify(fixture.body);

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    const notification = parsed.notifications.find((n) => n.index === index)?.notification;
    if (notification === undefined && item.expect.tenantFrom === 'subscription') {
      expect(parsed.refused).toEqual([{ index, reason: expect.stringMatching(/tenantId/) }]);
      return;
    }
    expect(notification).toBeDefined();
    if (notification === undefined) return;
    expect(kindOf(notification)).toBe(item.expect.kind);
    expect(notification.changeType).toBe(item.expect.changeType);
    expect(notification.lifecycleEvent).toBe(item.expect.lifecycleEvent);
    // The tenant as sent (the intake lower-cases it for routing); the parser alone cannot know a recorded tenant.
    expect(notification.tenantId).toBe(item.expect.tenant);
    for (const field of item.expect.nullsDropped) expect(notification).not.toHaveProperty(field);
    for (const field of item.expect.unknownKept) expect(notification).toHaveProperty([field], item.sent[field]);
    // Everything else exactly as sent: nothing added, nothing reshaped.
    expect(notification).toEqual(expectedNotification(item.sent, item.expect));
  });
});
