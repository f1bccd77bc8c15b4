import type { RoutingSnapshot } from '../store/connections-store';

export interface RoutingCacheOptions {
  load: (integrationId: string) => Promise<RoutingSnapshot | undefined>;
  /** How long a loaded snapshot routes notifications before it is read again. */
  maxAgeSeconds: number;
  /**
   * For how long after its max age a snapshot may still route while a fresh one loads in the background, so a
   * warm intake never waits on a reload. Past it, the request waits for the read.
   */
  staleWhileRevalidateSeconds: number;
  /** How long "no such integration" is remembered (shorter: a new integration should start working soon). */
  negativeMaxAgeSeconds: number;
  now?: () => number;
}

interface Entry {
  /** When the value stops being fresh; +∞ while its first load is in flight. */
  freshUntil: number;
  value: Promise<RoutingSnapshot | undefined>;
  /** The settled snapshot, once loaded, for serving while stale. */
  snapshot?: RoutingSnapshot;
  refreshing?: Promise<void>;
}

/**
 * Per-instance cache of each integration's routing snapshot. Concurrent requests share one load, and a snapshot
 * past its max age keeps routing while it is re-read, so a warm intake routes with no DynamoDB read at all.
 */
export class RoutingCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: RoutingCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get(integrationId: string): Promise<RoutingSnapshot | undefined> {
    const cached = this.entries.get(integrationId);
    const now = this.now();
    if (cached !== undefined) {
      if (cached.freshUntil > now) return cached.value;
      if (cached.snapshot !== undefined && now < cached.freshUntil + this.options.staleWhileRevalidateSeconds * 1000) {
        cached.refreshing ??= this.refresh(integrationId, cached);
        return cached.value;
      }
    }
    return this.loadInto(integrationId);
  }

  private loadInto(integrationId: string): Promise<RoutingSnapshot | undefined> {
    const value = this.options.load(integrationId);
    const entry: Entry = { freshUntil: Number.POSITIVE_INFINITY, value };
    this.entries.set(integrationId, entry);
    value.then(
      (snapshot) => {
        entry.snapshot = snapshot;
        entry.freshUntil = this.expiry(snapshot);
      },
      // A failed load is never cached: the next request tries again.
      () => {
        if (this.entries.get(integrationId) === entry) this.entries.delete(integrationId);
      },
    );
    return value;
  }

  /** Replaces a stale entry when the re-read succeeds; on failure the stale snapshot keeps serving until its grace ends. */
  private async refresh(integrationId: string, stale: Entry): Promise<void> {
    try {
      const snapshot = await this.options.load(integrationId);
      if (this.entries.get(integrationId) !== stale) return;
      this.entries.set(integrationId, { freshUntil: this.expiry(snapshot), value: Promise.resolve(snapshot), snapshot });
    } catch {
      delete stale.refreshing;
    }
  }

  private expiry(snapshot: RoutingSnapshot | undefined): number {
    const ageSeconds = snapshot === undefined ? this.options.negativeMaxAgeSeconds : this.options.maxAgeSeconds;
    return this.now() + ageSeconds * 1000;
  }
}
