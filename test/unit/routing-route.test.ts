import { routeNotification, type RouteFacts } from '../../shared/routing/route';
import { changeNotification, TENANT_A, TENANT_B, TENANT_C } from '../support/fakes';

/** The tenant route items as the connections table holds them (tenant ids lower-case). */
const TENANT_ROUTES = new Map<string, readonly string[]>([
  [TENANT_A, ['a-1', 'a-2']],
  [TENANT_B, ['b-1']],
]);

/** What RoutePlan hands routeNotification: the subscription's route, and the connections of the notification's tenant. */
function factsFor(tenantId: string, subscription: RouteFacts['subscription'] = null): RouteFacts {
  return { subscription, tenantConnectionIds: TENANT_ROUTES.get(tenantId.toLowerCase()) ?? [] };
}

describe('routeNotification', () => {
  it("routes to every connection of the notification's tenant when the subscription is unknown", () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'unknown' });

    // Act
    const targets = routeNotification(factsFor(TENANT_A), n);

    // Assess
    expect([...targets].sort()).toEqual(['a-1', 'a-2']);
  });

  it("routes to the subscription's own connection when the subscription is known", () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'sub-a2' });

    // Act
    const targets = routeNotification(factsFor(TENANT_A, { connectionId: 'a-2', tenantId: TENANT_A }), n);

    // Assess
    expect(targets).toEqual(['a-2']);
  });

  it('routes a known subscription with an upper-case tenant id to its connection', () => {
    // Prepare: Graph's tenant ids vary in case; subscription routes hold them lower-case
    const n = changeNotification({ tenantId: TENANT_A.toUpperCase(), subscriptionId: 'sub-a2' });

    // Act
    const targets = routeNotification(factsFor(TENANT_A, { connectionId: 'a-2', tenantId: TENANT_A }), n);

    // Assess
    expect(targets).toEqual(['a-2']);
  });

  it("never routes to another tenant's connection, even when the subscription id points there", () => {
    // Prepare: a notification claiming tenant A with tenant B's subscription id
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'sub-b1' });

    // Act
    const targets = routeNotification(factsFor(TENANT_A, { connectionId: 'b-1', tenantId: TENANT_B }), n);

    // Assess
    expect(targets).not.toContain('b-1');
    expect([...targets].sort()).toEqual(['a-1', 'a-2']);
  });

  it("ignores a subscription route that claims the tenant for a connection outside the tenant's route", () => {
    // Prepare: a subscription item edited to say tenant A while its connection belongs to tenant B
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'sub-mixed' });

    // Act
    const targets = routeNotification(factsFor(TENANT_A, { connectionId: 'b-1', tenantId: TENANT_A }), n);

    // Assess
    expect([...targets].sort()).toEqual(['a-1', 'a-2']);
  });

  it("falls back to the tenant's connections when the subscription's connection was removed", () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'sub-gone' });

    // Act
    const targets = routeNotification(factsFor(TENANT_A, { connectionId: 'a-removed', tenantId: TENANT_A }), n);

    // Assess
    expect([...targets].sort()).toEqual(['a-1', 'a-2']);
  });

  it('routes nowhere for a tenant without connections, even with a known subscription id', () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_C, subscriptionId: 'sub-a2' });

    // Act
    const targets = routeNotification(factsFor(TENANT_C, { connectionId: 'a-2', tenantId: TENANT_A }), n);

    // Assess
    expect(targets).toEqual([]);
  });
});
