import { RouteCache } from '../../shared/routing/route-cache';
import { RoutePlan, routeItemId } from '../../shared/routing/route-plan';
import { keys } from '../../shared/store/items';
import { changeNotification, INTEGRATION_ID, routingSnapshot, TENANT_A, TENANT_B, TENANT_C, type SnapshotInput } from '../support/fakes';

function routeCache(): RouteCache {
  return new RouteCache({ maxEntries: 1000, maxAgeSeconds: 300, negativeMaxAgeSeconds: 30, now: () => 1_000_000 });
}

/** The route items a read round would return for these keys, out of a table holding `table`. */
function itemsFor(plan: RoutePlan, table: SnapshotInput): Map<string, Record<string, unknown>> {
  const { items } = routingSnapshot(table);
  const found = new Map<string, Record<string, unknown>>();
  for (const key of plan.keys) {
    const item = items.get(routeItemId(key));
    if (item !== undefined) found.set(routeItemId(key), item);
  }
  return found;
}

const sortedSks = (plan: RoutePlan) => plan.keys.map((key) => key.sk).sort();

/** Tenant A: a-1, a-2; tenant B: b-1. sub-a2 belongs to a-2, sub-b1 to b-1. */
const TABLE: SnapshotInput = {
  connections: [
    { connectionId: 'a-1', tenantId: TENANT_A },
    { connectionId: 'a-2', tenantId: TENANT_A },
    { connectionId: 'b-1', tenantId: TENANT_B },
  ],
  subscriptions: [
    { subscriptionId: 'sub-a2', connectionId: 'a-2', tenantId: TENANT_A },
    { subscriptionId: 'sub-b1', connectionId: 'b-1', tenantId: TENANT_B },
  ],
};

describe('RoutePlan', () => {
  it('asks for each subscription and tenant once, whatever the number of notifications sharing them', () => {
    // Prepare
    const notifications = [
      changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A }),
      changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A.toUpperCase() }),
      changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A }),
      changeNotification({ subscriptionId: 'sub-other', tenantId: TENANT_A }),
      changeNotification({ subscriptionId: 'sub-b1', tenantId: TENANT_B }),
    ];

    // Act
    const plan = new RoutePlan(routeCache(), INTEGRATION_ID, notifications);

    // Assess
    expect(sortedSks(plan)).toEqual(['SUBSCRIPTION#sub-a2', 'SUBSCRIPTION#sub-b1', 'SUBSCRIPTION#sub-other', `TENANT#${TENANT_A}`, `TENANT#${TENANT_B}`].sort());
    expect(plan.keys.every((key) => key.pk === `INTEGRATION#${INTEGRATION_ID}`)).toBe(true);
  });

  it('needs no key for routes the cache holds, and routes with them', () => {
    // Prepare
    const cache = routeCache();
    cache.storeSubscription(INTEGRATION_ID, 'sub-a2', { connectionId: 'a-2', tenantId: TENANT_A });
    cache.storeTenant(INTEGRATION_ID, TENANT_A, ['a-1', 'a-2']);
    const notification = changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A });

    // Act
    const plan = new RoutePlan(cache, INTEGRATION_ID, [notification]);
    const routes = plan.resolve(new Map());

    // Assess
    expect(plan.keys).toEqual([]);
    expect(routes.route(notification)).toEqual(['a-2']);
  });

  it('fills the cache from the items read, so the next request needs no key', () => {
    // Prepare
    const cache = routeCache();
    const first = changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A });
    const plan = new RoutePlan(cache, INTEGRATION_ID, [first]);

    // Act
    plan.resolve(itemsFor(plan, TABLE));
    const next = new RoutePlan(cache, INTEGRATION_ID, [changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A })]);

    // Assess
    expect(next.keys).toEqual([]);
    expect(cache.subscription(INTEGRATION_ID, 'sub-a2')).toEqual({ connectionId: 'a-2', tenantId: TENANT_A });
    expect(cache.tenant(INTEGRATION_ID, TENANT_A)).toEqual(['a-1', 'a-2']);
  });

  it('remembers items that are absent as negative entries', () => {
    // Prepare
    const cache = routeCache();
    const notification = changeNotification({ subscriptionId: 'sub-unknown', tenantId: TENANT_C });
    const plan = new RoutePlan(cache, INTEGRATION_ID, [notification]);

    // Act
    const routes = plan.resolve(itemsFor(plan, TABLE));
    const next = new RoutePlan(cache, INTEGRATION_ID, [changeNotification({ subscriptionId: 'sub-unknown', tenantId: TENANT_C })]);

    // Assess
    expect(routes.route(notification)).toEqual([]);
    expect(routes.invalidItems).toEqual([]);
    expect(cache.subscription(INTEGRATION_ID, 'sub-unknown')).toBeNull();
    expect(cache.tenant(INTEGRATION_ID, TENANT_C)).toEqual([]);
    expect(next.keys).toEqual([]);
  });

  it('reports items that do not parse and routes around them', () => {
    // Prepare: a subscription item edited by hand without its connection, and a tenant route with a bad connection id
    const subscriptionKey = keys.subscription(INTEGRATION_ID, 'sub-edited');
    const tenantKey = keys.tenantRoute(INTEGRATION_ID, TENANT_B);
    const table: SnapshotInput = {
      connections: [{ connectionId: 'a-1', tenantId: TENANT_A }],
      rawItems: [
        { ...subscriptionKey, type: 'subscription', subscriptionId: 'sub-edited', tenantId: TENANT_A },
        { ...tenantKey, type: 'tenant-route', tenantId: TENANT_B, connectionIds: ['not a connection id'] },
      ],
    };
    const edited = changeNotification({ subscriptionId: 'sub-edited', tenantId: TENANT_A });
    const ofB = changeNotification({ tenantId: TENANT_B });
    const plan = new RoutePlan(routeCache(), INTEGRATION_ID, [edited, ofB]);

    // Act
    const routes = plan.resolve(itemsFor(plan, table));

    // Assess
    expect(routes.invalidItems.map((item) => item.sk).sort()).toEqual([subscriptionKey.sk, tenantKey.sk]);
    expect(routes.invalidItems.every((item) => item.reason.length > 0)).toBe(true);
    expect(routes.route(edited)).toEqual(['a-1']);
    expect(routes.route(ofB)).toEqual([]);
  });

  it("never routes to another tenant's connection, even when the subscription belongs to that tenant", () => {
    // Prepare: a notification claiming tenant A with tenant B's subscription id
    const notification = changeNotification({ subscriptionId: 'sub-b1', tenantId: TENANT_A });
    const plan = new RoutePlan(routeCache(), INTEGRATION_ID, [notification]);

    // Act
    const routes = plan.resolve(itemsFor(plan, TABLE));

    // Assess
    expect([...routes.route(notification)].sort()).toEqual(['a-1', 'a-2']);
  });

  it("routes by subscription only when its connection is in the tenant's route", () => {
    // Prepare: sub-mixed claims tenant A for tenant B's connection; sub-gone's connection was removed
    const table: SnapshotInput = {
      ...TABLE,
      subscriptions: [
        ...(TABLE.subscriptions ?? []),
        { subscriptionId: 'sub-mixed', connectionId: 'b-1', tenantId: TENANT_A },
        { subscriptionId: 'sub-gone', connectionId: 'a-removed', tenantId: TENANT_A },
      ],
    };
    const own = changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A });
    const mixed = changeNotification({ subscriptionId: 'sub-mixed', tenantId: TENANT_A });
    const gone = changeNotification({ subscriptionId: 'sub-gone', tenantId: TENANT_A });
    const plan = new RoutePlan(routeCache(), INTEGRATION_ID, [own, mixed, gone]);

    // Act
    const routes = plan.resolve(itemsFor(plan, table));

    // Assess
    expect(routes.route(own)).toEqual(['a-2']);
    expect([...routes.route(mixed)].sort()).toEqual(['a-1', 'a-2']);
    expect([...routes.route(gone)].sort()).toEqual(['a-1', 'a-2']);
  });

  it('reads a tenant route stored as a String Set, as the DocumentClient returns it', () => {
    // Prepare
    const tenantKey = keys.tenantRoute(INTEGRATION_ID, TENANT_A);
    const notification = changeNotification({ tenantId: TENANT_A });
    const plan = new RoutePlan(routeCache(), INTEGRATION_ID, [notification]);
    const items = new Map([[routeItemId(tenantKey), { ...tenantKey, type: 'tenant-route', tenantId: TENANT_A, connectionIds: new Set(['a-2', 'a-1']) }]]);

    // Act
    const routes = plan.resolve(items);

    // Assess
    expect(routes.route(notification)).toEqual(['a-1', 'a-2']);
  });
});
