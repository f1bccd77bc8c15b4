import { routeNotification } from '../../shared/intake/route';
import { changeNotification, routingSnapshot, TENANT_A, TENANT_B, TENANT_C } from '../support/fakes';

const snapshot = routingSnapshot({
  connections: [
    { connectionId: 'a-1', tenantId: TENANT_A },
    { connectionId: 'a-2', tenantId: TENANT_A },
    { connectionId: 'b-1', tenantId: TENANT_B },
  ],
  subscriptions: [
    { subscriptionId: 'sub-a2', connectionId: 'a-2', tenantId: TENANT_A },
    { subscriptionId: 'sub-b1', connectionId: 'b-1', tenantId: TENANT_B },
    { subscriptionId: 'sub-gone', connectionId: 'a-removed', tenantId: TENANT_A },
  ],
});

describe('routeNotification', () => {
  it("routes to every connection of the notification's tenant when the subscription is unknown", () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'unknown' });

    // Act
    const targets = routeNotification(snapshot, n);

    // Assess
    expect([...targets].sort()).toEqual(['a-1', 'a-2']);
  });

  it('matches tenant ids case-insensitively', () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_B.toUpperCase(), subscriptionId: 'unknown' });

    // Act
    const targets = routeNotification(snapshot, n);

    // Assess
    expect(targets).toEqual(['b-1']);
  });

  it("routes to the subscription's own connection when the subscription is known", () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'sub-a2' });

    // Act
    const targets = routeNotification(snapshot, n);

    // Assess
    expect(targets).toEqual(['a-2']);
  });

  it('routes a known subscription with an upper-case tenant id to its connection', () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_A.toUpperCase(), subscriptionId: 'sub-a2' });

    // Act
    const targets = routeNotification(snapshot, n);

    // Assess
    expect(targets).toEqual(['a-2']);
  });

  it("never routes to another tenant's connection, even when the subscription id points there", () => {
    // Prepare: a notification claiming tenant A with tenant B's subscription id
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'sub-b1' });

    // Act
    const targets = routeNotification(snapshot, n);

    // Assess
    expect(targets).not.toContain('b-1');
    expect([...targets].sort()).toEqual(['a-1', 'a-2']);
  });

  it("falls back to the tenant's connections when the subscription's connection was removed", () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_A, subscriptionId: 'sub-gone' });

    // Act
    const targets = routeNotification(snapshot, n);

    // Assess
    expect([...targets].sort()).toEqual(['a-1', 'a-2']);
  });

  it('routes nowhere for a tenant without connections, even with a known subscription id', () => {
    // Prepare
    const n = changeNotification({ tenantId: TENANT_C, subscriptionId: 'sub-a2' });

    // Act
    const targets = routeNotification(snapshot, n);

    // Assess
    expect(targets).toEqual([]);
  });
});
