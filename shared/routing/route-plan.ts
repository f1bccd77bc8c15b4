import { describeIssues, type ChangeNotification } from '../graph/change-notification';
import { keys, subscriptionRouteItemSchema, tenantRouteItemSchema } from '../store/items';
import { routeNotification } from './route';
import type { RouteCache, SubscriptionRoute } from './route-cache';

/** A connections-table key the intake reads to route: a subscription item or a tenant route item. */
export interface RouteKey {
  pk: string;
  sk: string;
}

/** How fetched items are looked up: by `pk` and `sk` joined with a newline. */
export function routeItemId(key: RouteKey): string {
  return `${key.pk}\n${key.sk}`;
}

/** An item read for routing that does not parse (edited by hand, say): routed around, reported, never fatal. */
export interface InvalidRouteItem {
  sk: string;
  reason: string;
}

export interface ResolvedRoutes {
  route(notification: ChangeNotification): readonly string[];
  invalidItems: readonly InvalidRouteItem[];
}

/**
 * The routes a request needs: what the cache already knows, and the keys to read for the rest (each once, whatever
 * the number of notifications that share it). `resolve` takes the items read, fills the cache (absent items become
 * negative entries) and routes every notification of the request.
 */
export class RoutePlan {
  /** Keys to read, in the same round as the redelivery markers. */
  readonly keys: RouteKey[] = [];
  private readonly subscriptions = new Map<string, SubscriptionRoute | null>();
  private readonly tenants = new Map<string, readonly string[]>();

  constructor(
    private readonly cache: RouteCache,
    private readonly integrationId: string,
    notifications: Iterable<ChangeNotification>,
  ) {
    for (const notification of notifications) {
      const { subscriptionId } = notification;
      const tenantId = notification.tenantId.toLowerCase();
      if (!this.subscriptions.has(subscriptionId)) {
        const cached = cache.subscription(integrationId, subscriptionId);
        if (cached === undefined) this.keys.push(keys.subscription(integrationId, subscriptionId));
        this.subscriptions.set(subscriptionId, cached ?? null);
      }
      if (!this.tenants.has(tenantId)) {
        const cached = cache.tenant(integrationId, tenantId);
        if (cached === undefined) this.keys.push(keys.tenantRoute(integrationId, tenantId));
        this.tenants.set(tenantId, cached ?? []);
      }
    }
  }

  resolve(items: ReadonlyMap<string, Record<string, unknown>>): ResolvedRoutes {
    const invalidItems: InvalidRouteItem[] = [];
    for (const key of this.keys) {
      const item = items.get(routeItemId(key));
      if (key.sk.startsWith(keys.subscriptionPrefix)) {
        const subscriptionId = key.sk.slice(keys.subscriptionPrefix.length);
        const route = storeSubscriptionRoute(this.cache, this.integrationId, subscriptionId, item, invalidItems);
        this.subscriptions.set(subscriptionId, route);
      } else {
        const tenantId = key.sk.slice(keys.tenantRoutePrefix.length);
        const parsed = item === undefined ? undefined : tenantRouteItemSchema.safeParse(item);
        if (parsed !== undefined && !parsed.success) invalidItems.push({ sk: key.sk, reason: describeIssues(parsed.error) });
        const connectionIds = parsed?.success === true ? parsed.data.connectionIds : [];
        this.tenants.set(tenantId, connectionIds);
        this.cache.storeTenant(this.integrationId, tenantId, connectionIds);
      }
    }
    return {
      invalidItems,
      route: (notification) =>
        routeNotification(
          {
            subscription: this.subscriptions.get(notification.subscriptionId) ?? null,
            tenantConnectionIds: this.tenants.get(notification.tenantId.toLowerCase()) ?? [],
          },
          notification,
        ),
    };
  }
}

/** Parses a subscription item read for routing (absent → null) and caches the result. */
function storeSubscriptionRoute(
  cache: RouteCache,
  integrationId: string,
  subscriptionId: string,
  item: Record<string, unknown> | undefined,
  invalidItems: InvalidRouteItem[],
): SubscriptionRoute | null {
  const parsed = item === undefined ? undefined : subscriptionRouteItemSchema.safeParse(item);
  if (parsed !== undefined && !parsed.success) invalidItems.push({ sk: keys.subscription(integrationId, subscriptionId).sk, reason: describeIssues(parsed.error) });
  const route = parsed?.success === true ? { connectionId: parsed.data.connectionId, tenantId: parsed.data.tenantId } : null;
  cache.storeSubscription(integrationId, subscriptionId, route);
  return route;
}

/**
 * The tenants recorded for subscriptions, for notifications that name none (Graph sends some lifecycle
 * notifications without `tenantId` or `organizationId`): from the cache, the rest in one read. A subscription
 * graph-relay did not record has no entry.
 */
export async function recordedTenants(
  cache: RouteCache,
  integrationId: string,
  subscriptionIds: Iterable<string>,
  read: (routeKeys: RouteKey[]) => Promise<ReadonlyMap<string, Record<string, unknown>>>,
): Promise<{ tenants: Map<string, string>; invalidItems: InvalidRouteItem[] }> {
  const tenants = new Map<string, string>();
  const invalidItems: InvalidRouteItem[] = [];
  const missing: string[] = [];
  for (const subscriptionId of new Set(subscriptionIds)) {
    const cached = cache.subscription(integrationId, subscriptionId);
    if (cached === undefined) missing.push(subscriptionId);
    else if (cached !== null) tenants.set(subscriptionId, cached.tenantId);
  }
  if (missing.length === 0) return { tenants, invalidItems };
  const routeKeys = missing.map((subscriptionId) => keys.subscription(integrationId, subscriptionId));
  const items = await read(routeKeys);
  for (const [i, subscriptionId] of missing.entries()) {
    const key = routeKeys[i];
    const route = storeSubscriptionRoute(cache, integrationId, subscriptionId, key === undefined ? undefined : items.get(routeItemId(key)), invalidItems);
    if (route !== null) tenants.set(subscriptionId, route.tenantId);
  }
  return { tenants, invalidItems };
}
