import { DETAIL_TYPES } from '../../shared/events/contract';
import { backoffMs } from '../reliability/graph-load';
import { duplicateBound } from '../reliability/faults';
import type { Delivery } from '../reliability/graph-load';
import { batchSize, bodyGenerator, countCheck, observedOf, planWorkload, seededRandom, type ExpectedEvent, type WebhookBody } from '../reliability/workload';

const shape = { prefix: 'w', integrations: 3, tenants: 12, doubleEvery: 4, unroutedTenants: 2 };

describe('planWorkload', () => {
  test('spreads tenants over the integrations, with two connections for every doubleEvery-th and none for the last ones', () => {
    // Prepare / Act
    const workload = planWorkload(shape, (id) => `secret-of-${id}`);

    // Assess
    expect(workload.integrations.map((i) => i.integrationId)).toEqual(['w-0', 'w-1', 'w-2']);
    expect(workload.integrations.map((i) => i.tenants.length)).toEqual([4, 4, 4]);
    expect(workload.tenants.map((t) => t.connectionIds.length)).toEqual([2, 1, 1, 1, 2, 1, 1, 1, 2, 1, 0, 0]);
    expect(new Set(workload.tenants.flatMap((t) => t.connectionIds)).size).toBe(13);
    expect(workload.integrations[1]?.clientState).toBe('secret-of-w-1');
  });
});

describe('batchSize', () => {
  test('stays within 1..maxBatch and reaches both ends', () => {
    // Prepare
    const random = seededRandom(7);

    // Act
    const sizes = Array.from({ length: 5000 }, () => batchSize(random, 100));

    // Assess
    expect(Math.min(...sizes)).toBe(1);
    expect(Math.max(...sizes)).toBe(100);
    expect(sizes.every((s) => Number.isInteger(s) && s >= 1 && s <= 100)).toBe(true);
  });
});

describe('bodyGenerator', () => {
  test('builds unique notifications and expects one event per connection of their tenant, or one Unrouted', () => {
    // Prepare
    const workload = planWorkload(shape);
    const next = bodyGenerator(workload, { seed: 42, maxBatch: 50 });

    // Act
    const bodies = Array.from({ length: 60 }, next);

    // Assess
    const keys = new Set<string>();
    const kinds = new Set<string>();
    for (const body of bodies) {
      const { value } = JSON.parse(body.body) as { value: Record<string, unknown>[] };
      expect(value).toHaveLength(body.notifications);
      const integration = workload.integrations.find((i) => body.path === `/webhook/${i.integrationId}`);
      expect(integration).toBeDefined();
      let events = 0;
      for (const item of value) {
        expect(item['clientState']).toBe(integration?.clientState);
        const tenant = workload.tenants.find((t) => t.tenantId === String(item['tenantId']).toLowerCase());
        expect(tenant?.integrationId).toBe(integration?.integrationId);
        events += Math.max(1, tenant?.connectionIds.length ?? 0);
        kinds.add(item['lifecycleEvent'] === undefined ? 'change' : 'lifecycle');
      }
      expect(body.expected).toHaveLength(events);
      for (const event of body.expected) keys.add(`${event.idempotencyKey}|${event.connectionId}`);
      for (const event of body.expected) {
        expect(event.connectionId === null).toBe(event.detailType === DETAIL_TYPES.unrouted);
      }
    }
    expect(keys.size).toBe(bodies.reduce((sum, b) => sum + b.expected.length, 0));
    expect([...kinds].sort()).toEqual(['change', 'lifecycle']);
  });
});

describe('countCheck', () => {
  const e = (key: string, connectionId: string | null, detailType: string = DETAIL_TYPES.change): ExpectedEvent => ({ idempotencyKey: key, connectionId, detailType });

  test('an exact match has nothing missing, extra or duplicated', () => {
    // Prepare
    const expected = [e('k1', 'a'), e('k1', 'b'), e('k2', null, DETAIL_TYPES.unrouted)];

    // Act
    const check = countCheck(expected, [...expected].reverse());

    // Assess
    expect(check).toMatchObject({ expected: 3, observed: 3, missing: 0, extra: 0, duplicates: 0, lostNotifications: 0 });
    expect(check.duplicatedNotifications.size).toBe(0);
  });

  test('counts missing events, lost notifications, surplus copies and events nobody expected', () => {
    // Prepare
    const expected = [e('k1', 'a'), e('k1', 'b'), e('k2', 'a'), e('k3', 'c')];
    const observed = [e('k1', 'a'), e('k1', 'a'), e('k1', 'a'), e('k2', 'a'), e('k2', 'b'), e('k3', 'c', DETAIL_TYPES.lifecycle), e('k9', 'a')];

    // Act
    const check = countCheck(expected, observed);

    // Assess
    expect(check).toMatchObject({ expected: 4, observed: 7, missing: 2, extra: 3, duplicates: 2, lostNotifications: 2 });
    expect([...check.duplicatedNotifications]).toEqual(['k1']);
  });

  test('refuses an expectation listing the same event twice', () => {
    // Prepare / Act / Assess
    expect(() => countCheck([e('k1', 'a'), e('k1', 'a')], [])).toThrow('listed twice');
  });
});

describe('observedOf', () => {
  test('takes key, connection and detail-type from an event as the intake publishes it', () => {
    // Prepare
    const event = { 'detail-type': DETAIL_TYPES.unrouted, detail: { providerConfigKey: 'i-1', connectionId: null, metadata: { idempotencyKey: 'k' } } };

    // Act / Assess
    expect(observedOf(event)).toEqual({ idempotencyKey: 'k', connectionId: null, detailType: DETAIL_TYPES.unrouted, integrationId: 'i-1' });
    expect(observedOf({ 'detail-type': 'x', detail: { other: true } })).toBeUndefined();
  });
});

describe('backoffMs', () => {
  test('doubles from the base up to the cap, with equal jitter', () => {
    // Prepare
    const policy = { baseMs: 100, capMs: 2000, maxAttempts: 10 };

    // Act / Assess
    expect(backoffMs(policy, 1, () => 0)).toBe(50);
    expect(backoffMs(policy, 1, () => 1)).toBe(100);
    expect(backoffMs(policy, 3, () => 1)).toBe(400);
    expect(backoffMs(policy, 10, () => 1)).toBe(2000);
    expect(backoffMs(policy, 10, () => 0)).toBe(1000);
  });
});

describe('duplicateBound', () => {
  test('allows k - 1 surplus events per failed attempt for each notification with k connections', () => {
    // Prepare
    const body = (expected: ExpectedEvent[]): WebhookBody => ({ path: '/webhook/i', body: '{}', integrationId: 'i', notifications: 0, expected });
    const delivery = (statuses: number[], expected: ExpectedEvent[]): Delivery => ({
      id: 0,
      body: body(expected),
      attempts: statuses.length,
      failures: statuses.filter((s) => s < 200 || s >= 300).length,
      dueAt: 0,
      state: 'accepted',
      statuses,
    });
    const double = [
      { idempotencyKey: 'k1', connectionId: 'a', detailType: DETAIL_TYPES.change },
      { idempotencyKey: 'k1', connectionId: 'b', detailType: DETAIL_TYPES.change },
      { idempotencyKey: 'k2', connectionId: 'a', detailType: DETAIL_TYPES.change },
    ];

    // Act
    const bound = duplicateBound([delivery([503, 0, 202], double), delivery([202], double), delivery([503, 202], [double[2] as ExpectedEvent])]);

    // Assess
    expect(bound).toBe(2);
  });
});
