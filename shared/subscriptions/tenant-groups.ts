/**
 * Groups by (integration, tenant): Graph's write limits and the token cache are per app per tenant, so renewal and
 * reconcile pace their calls one group at a time. Tenant ids compare in any case.
 */
export function groupByTenant<T extends { integrationId: string; tenantId: string }>(items: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = `${item.integrationId}\n${item.tenantId.toLowerCase()}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return [...groups.values()];
}
