import type { RoutingSnapshot } from '../store/connections-store';

export interface RoutingCacheOptions {
  load: (integrationId: string) => Promise<RoutingSnapshot | undefined>;
  /** How long a loaded snapshot routes notifications before it is read again. */
  maxAgeSeconds: number;
  /** How long "no such integration" is remembered (shorter: a new integration should start working soon). */
  negativeMaxAgeSeconds: number;
  now?: () => number;
}

/**
 * Per-instance cache of each integration's routing snapshot. Concurrent requests share one load, so a warm
 * intake routes with no DynamoDB read at all; a stale snapshot is re-read once per max age.
 */
export class RoutingCache {
  private readonly entries = new Map<string, { expiresAt: number; value: Promise<RoutingSnapshot | undefined> }>();
  private readonly now: () => number;

  constructor(private readonly options: RoutingCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get(integrationId: string): Promise<RoutingSnapshot | undefined> {
    const cached = this.entries.get(integrationId);
    if (cached !== undefined && cached.expiresAt > this.now()) return cached.value;
    const value = this.options.load(integrationId);
    const entry = { expiresAt: Number.POSITIVE_INFINITY, value };
    this.entries.set(integrationId, entry);
    value.then(
      (snapshot) => {
        const ageSeconds = snapshot === undefined ? this.options.negativeMaxAgeSeconds : this.options.maxAgeSeconds;
        entry.expiresAt = this.now() + ageSeconds * 1000;
      },
      // A failed load is never cached: the next request tries again.
      () => {
        if (this.entries.get(integrationId) === entry) this.entries.delete(integrationId);
      },
    );
    return value;
  }
}
