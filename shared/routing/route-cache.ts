import { LruCache } from '../util/lru';

/** A known subscription's route: the connection that created it, and its tenant (lower-case). */
export interface SubscriptionRoute {
  connectionId: string;
  tenantId: string;
}

export interface RouteCacheOptions {
  /** Entries kept at most (subscriptions and tenants together); the least recently used go first. */
  maxEntries: number;
  /** How long a route read from the table routes notifications before it is read again. */
  maxAgeSeconds: number;
  /** How long "no such subscription" or "no connection for this tenant" is remembered. */
  negativeMaxAgeSeconds: number;
  now?: () => number;
}

/** `null`: known not to exist (a negative entry). */
type Cached = { kind: 'subscription'; route: SubscriptionRoute | null } | { kind: 'tenant'; connectionIds: readonly string[] };

/**
 * Per-instance cache of routes, bounded in entries whatever the number of tenants. Keys carry the integration's
 * generation: `invalidate` (a new routes version seen by the registry) makes every older entry of the integration
 * unreachable at once, and the LRU ages them out.
 */
export class RouteCache {
  private readonly lru: LruCache<Cached>;
  private readonly generations = new Map<string, number>();

  constructor(private readonly options: RouteCacheOptions) {
    this.lru = new LruCache(options.maxEntries, options.now);
  }

  get size(): number {
    return this.lru.size;
  }

  /** The route, `null` when known absent, `undefined` when not cached. */
  subscription(integrationId: string, subscriptionId: string): SubscriptionRoute | null | undefined {
    const cached = this.lru.get(this.key(integrationId, 's', subscriptionId));
    return cached?.kind === 'subscription' ? cached.route : undefined;
  }

  /** The tenant's connection ids ([] when it has none), `undefined` when not cached. */
  tenant(integrationId: string, tenantId: string): readonly string[] | undefined {
    const cached = this.lru.get(this.key(integrationId, 't', tenantId.toLowerCase()));
    return cached?.kind === 'tenant' ? cached.connectionIds : undefined;
  }

  storeSubscription(integrationId: string, subscriptionId: string, route: SubscriptionRoute | null): void {
    this.lru.set(this.key(integrationId, 's', subscriptionId), { kind: 'subscription', route }, this.ageMs(route !== null));
  }

  storeTenant(integrationId: string, tenantId: string, connectionIds: readonly string[]): void {
    this.lru.set(this.key(integrationId, 't', tenantId.toLowerCase()), { kind: 'tenant', connectionIds }, this.ageMs(connectionIds.length > 0));
  }

  /** Forgets every route of the integration (its connections changed, or it was removed). */
  invalidate(integrationId: string): void {
    this.generations.set(integrationId, (this.generations.get(integrationId) ?? 0) + 1);
  }

  private key(integrationId: string, kind: 's' | 't', id: string): string {
    return `${integrationId}\n${this.generations.get(integrationId) ?? 0}\n${kind}\n${id}`;
  }

  private ageMs(positive: boolean): number {
    return (positive ? this.options.maxAgeSeconds : this.options.negativeMaxAgeSeconds) * 1000;
  }
}
