/**
 * Sliding-window request limits ("N requests per 20 seconds", Microsoft Graph docs). Windows run on real monotonic
 * time multiplied by the time scale, not on the fake clock: advancing the clock by days to expire
 * subscriptions must not also empty every window, and a frozen clock must not throttle forever.
 */
import { performance } from 'node:perf_hooks';

export interface LimitRule {
  /** The option that sets the limit, reported on a 429 (x-graph-fake-limit). */
  name: string;
  key: string;
  limit: number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number; name: string };

export class SlidingWindowLimiter {
  private readonly windows = new Map<string, number[]>();

  constructor(
    private readonly windowMs: number,
    private readonly countThrottled: boolean,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Checks every rule; records the request in all of them when allowed (or always, when throttled requests count). */
  take(rules: readonly LimitRule[]): LimitDecision {
    const t = this.now();
    let worst: { retryAfterMs: number; name: string } | undefined;
    for (const rule of rules) {
      if (!Number.isFinite(rule.limit)) continue;
      const hits = this.prune(rule.key, t);
      if (hits.length >= rule.limit) {
        // The request that frees a slot: once it leaves the window, one more request fits.
        const extra = this.countThrottled ? 1 : 0;
        const freeing = hits[hits.length - rule.limit + extra] ?? t;
        const retryAfterMs = Math.max(1, freeing + this.windowMs - t);
        if (worst === undefined || retryAfterMs > worst.retryAfterMs) worst = { retryAfterMs, name: rule.name };
      }
    }
    if (worst === undefined || this.countThrottled) {
      for (const rule of rules) if (Number.isFinite(rule.limit)) this.prune(rule.key, t).push(t);
    }
    return worst === undefined ? { allowed: true } : { allowed: false, ...worst };
  }

  reset(): void {
    this.windows.clear();
  }

  private prune(key: string, t: number): number[] {
    const hits = this.windows.get(key) ?? [];
    let drop = 0;
    while (drop < hits.length && (hits[drop] ?? 0) <= t - this.windowMs) drop += 1;
    if (drop > 0) hits.splice(0, drop);
    this.windows.set(key, hits);
    return hits;
  }
}

/**
 * Retry-After as written on the wire. 'integer': whole seconds, at least 1, as HTTP specifies.
 * 'decimal': seconds with millisecond precision (never 0). 'auto': integer unless the time scale is < 1.
 */
export function formatRetryAfter(ms: number, format: 'auto' | 'decimal' | 'integer', timeScale: number): string {
  const integer = format === 'integer' || (format === 'auto' && timeScale === 1);
  if (integer) return String(Math.max(1, Math.ceil(ms / 1000)));
  const seconds = Math.max(0.001, Math.ceil(ms) / 1000);
  return String(Number(seconds.toFixed(3)));
}
