/**
 * The rate governor: paces one app's Graph calls under Graph's throttling limits instead of bouncing them off a
 * 429, with one bucket per app (across tenants) and one per (app, tenant) for each limit that applies to a kind of
 * call. Renewal, reconcile, lifecycle handling and resync all send through the integration's GraphClient
 * (shared/subscriptions/integration-graphs.ts), so within a process they draw on the same buckets.
 *
 * The buckets. Graph states its limits as "N requests per W seconds" over a sliding window
 * (https://learn.microsoft.com/en-us/graph/throttling-limits). A bucket therefore holds N tokens and gives each spent
 * token back one window after the answer to the call that spent it: the call reached Graph before its answer came,
 * so the process alone can never put N + 1 calls into any window Graph counts, whatever the network's latency.
 * A bucket refilling continuously at N / W could not do better than N / W on average; this one also spends a full
 * window's worth at once, which is what "N per W" allows (10,000 renewals at 2,000 per window take 4 windows, not 5).
 *
 * Learning (AIMD). A 429 holds the call's kind back for its tenant until Retry-After (no request is sent meanwhile,
 * so calls queued behind it do not each collect a 429), and halves the tenant buckets of that kind. Graph does not
 * say which limit was hit, so when another tenant is held for the same kind at that moment, the limit is taken to
 * be the app's: the app is held and its buckets halved too. Every run of successes as long as a bucket's current
 * size gives it back a tenth of its documented ceiling, never more than the ceiling. A ceiling that is too high
 * (another app of the tenant sharing Graph's per-tenant limit, or a limit Microsoft lowered) is thus learnt within
 * a few 429s; one that is right is never left.
 *
 * Sharing across functions. Renewal, reconciler, lifecycle and resync are separate Lambda functions, each with its
 * own governor (renewal and reconciler run one at a time: reserved concurrency 1). They are not given fixed shares of
 * the limits, and no store carries 429s between them:
 * - They mostly spend different limits: renewal, reconcile and lifecycle handling spend the subscription service's
 *   (writes, lists); resync spends the directory's and Outlook's (delta queries). A fixed share would slow the
 *   renewal, whose deadline is subscription expiry, on every run to reserve room for work that is idle nearly always.
 * - Renewal and reconcile do meet on subscription writes, but reconcile writes little (recreations only). When they
 *   collide, Graph's first 429 holds the function that saw it until Retry-After and halves its buckets: a handful of
 *   429s per collision (the calls in flight), not a herd, and the AIMD shares the limit between them as TCP does.
 * - A store shared by every call (a DynamoDB read before each Graph call) would cost as much as the Graph call and
 *   add its latency; one read per run would learn too late to matter. The cheap honest answer is the AIMD above.
 * - Lifecycle handling and resync may run several copies at once, one governor each: lifecycle's calls are a few per
 *   event, and resync's delta pages are sequential per subscription, so copies stay far below the limits; when they
 *   do not, the AIMD above applies between the copies as between the functions.
 * `share` scales every ceiling when an operator wants a function to leave room for another anyway.
 *
 * Deterministic under test: time comes only from the injected Clock (`now()` and `sleep()`).
 */
import type { Clock } from './graph-config';

/**
 * What a call is, as far as Graph's limits tell calls apart: subscription writes (POST, PATCH, PUT, DELETE on
 * /subscriptions), other subscription requests (GET), and everything else (delta queries and other reads).
 */
export type CallKind = 'subscription-write' | 'subscription-read' | 'other';

export const CALL_KINDS: readonly CallKind[] = ['subscription-write', 'subscription-read', 'other'];

/** One of Graph's "N requests per W" limits, per app across tenants (`app`) or per app and tenant (`tenant`). */
export interface RateLimit {
  name: string;
  scope: 'app' | 'tenant';
  kinds: readonly CallKind[];
  requests: number;
  windowMs: number;
}

/**
 * Graph's documented limits that bound what graph-relay sends (https://learn.microsoft.com/en-us/graph/throttling-limits):
 * - global: 130,000 requests per 10 seconds per app across all tenants;
 * - subscription service, per app per tenant: 1,000 writes (POST, PUT, DELETE, PATCH) and 5,000 requests of any kind
 *   per 20 seconds (the per-tenant limits for all apps, 2,000 and 10,000, are twice those and shared with apps
 *   graph-relay cannot see: the AIMD learns them if other apps spend them);
 * - identity and access (directory: the users and groups delta queries resync sends): 3,500 resource units per
 *   10 seconds per app and tenant for the smallest tenants, and a GET on users costs 2 units: 1,750 requests.
 *   Outlook's own limit is per mailbox (10,000 per 10 minutes), which this per-tenant bucket stays well under.
 * Microsoft notes the limits are subject to change: this table is the one place to change them.
 */
export const GRAPH_RATE_LIMITS: readonly RateLimit[] = [
  { name: 'requests per app', scope: 'app', kinds: CALL_KINDS, requests: 130_000, windowMs: 10_000 },
  { name: 'subscription writes per app per tenant', scope: 'tenant', kinds: ['subscription-write'], requests: 1_000, windowMs: 20_000 },
  { name: 'subscription requests per app per tenant', scope: 'tenant', kinds: ['subscription-write', 'subscription-read'], requests: 5_000, windowMs: 20_000 },
  { name: 'directory requests per app per tenant', scope: 'tenant', kinds: ['other'], requests: 1_750, windowMs: 10_000 },
];

/** The AIMD's tunables: a 429 multiplies a bucket's size by `decrease`; a run of successes adds `increase` × ceiling. */
export const GOVERNOR_DEFAULTS = {
  decrease: 0.5,
  increase: 0.1,
} as const;

export interface RateGovernorOptions {
  /** The limits to pace under; empty: no pacing, only the hold-back after a 429. */
  limits: readonly RateLimit[];
  clock: Clock;
  /** Fraction of every ceiling this process may use (0 < share ≤ 1). Default 1. */
  share?: number;
}

export interface AcquireOptions {
  /** Epoch ms: a wait that would end past it is not started (GovernorWaitError). */
  deadline?: number | undefined;
  /** A wait longer than this is not started either, deadline or not. Default: no cap. */
  maxWaitMs?: number | undefined;
}

/** How a call went, for the governor to learn from. */
export interface CallOutcome {
  /** Graph answered 429: how long it asked to wait (Retry-After, or the client's backoff without one). */
  throttledForMs?: number;
}

/** A token for one call: `done` once it was answered (or failed on the way), `cancel` if it was never sent. */
export interface Permit {
  done(outcome?: CallOutcome): void;
  cancel(): void;
}

/**
 * No token (or a hold after a 429) within the caller's deadline or cap: the call was not sent. GraphClient turns it
 * into a GraphThrottledError with code `held-back`, which callers defer like a 429.
 */
export class GovernorWaitError extends Error {
  override readonly name = 'GovernorWaitError';
  constructor(
    /** How long the call would have had to wait. */
    readonly waitMs: number,
    /** `throttled`: Graph's Retry-After holds the tenant or the app; `paced`: the buckets have no token yet. */
    readonly reason: 'throttled' | 'paced',
    readonly scope: 'tenant' | 'app',
  ) {
    super(
      reason === 'throttled'
        ? `not sent: Graph throttled ${scope === 'tenant' ? 'this tenant' : 'the app'} for another ${waitMs} ms`
        : `not sent: the ${scope === 'tenant' ? "tenant's" : "app's"} rate limit has no room for another ${waitMs} ms`,
    );
  }
}

/** N tokens; each spent token comes back one window after its call was answered. */
class Bucket {
  /** The size the AIMD allows now (≤ ceiling). */
  size: number;
  private inFlight = 0;
  /** Epoch ms at which answered tokens come back, in order (answers arrive in time order). */
  private readonly returns: number[] = [];
  private head = 0;
  private successes = 0;

  constructor(
    readonly ceiling: number,
    readonly windowMs: number,
  ) {
    this.size = ceiling;
  }

  /** 0 when a token is free now; the ms until one comes back; undefined when every token is in flight. */
  waitMs(now: number): number | undefined {
    this.prune(now);
    const inWindow = this.returns.length - this.head;
    if (this.inFlight + inWindow < this.size) return 0;
    // Tokens beyond `size` (after a decrease) must come back before one is free: the (excess + 1)-th return.
    const index = this.head + (this.inFlight + inWindow - this.size);
    const at = this.returns[index];
    return at === undefined ? undefined : Math.max(1, at - now);
  }

  take(): void {
    this.inFlight += 1;
  }

  answered(now: number, throttled: boolean): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.returns.push(now + this.windowMs);
    if (throttled) return;
    this.successes += 1;
    if (this.successes >= this.size && this.size < this.ceiling) {
      this.successes = 0;
      this.size = Math.min(this.ceiling, this.size + Math.max(1, Math.ceil(this.ceiling * GOVERNOR_DEFAULTS.increase)));
    }
  }

  cancelled(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  decrease(): void {
    this.successes = 0;
    this.size = Math.max(1, Math.floor(this.size * GOVERNOR_DEFAULTS.decrease));
  }

  private prune(now: number): void {
    while (this.head < this.returns.length && (this.returns[this.head] ?? 0) <= now) this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.returns.length) {
      this.returns.splice(0, this.head);
      this.head = 0;
    }
  }
}

export interface GovernorStats {
  /** Calls that had to wait for a token, and the total time they waited (ms). */
  pacedCalls: number;
  pacedMs: number;
  /** 429s reported, and how many of them held the whole app. */
  throttled: number;
  appHolds: number;
  /** Bucket sizes below their ceiling now, by `limit name|tenant`. */
  lowered: Record<string, { size: number; ceiling: number }>;
}

export class RateGovernor {
  private readonly clock: Clock;
  private readonly limits: readonly RateLimit[];
  private readonly share: number;
  /** `limit index|tenant` (tenant scope) or `limit index` (app scope) → bucket. */
  private readonly buckets = new Map<string, Bucket>();
  /** Epoch ms before which nothing of a kind is sent: `kind|tenant` for a tenant, `kind` for the app. */
  private readonly holds = new Map<string, number>();
  private released: { promise: Promise<void>; resolve: () => void } = deferred();
  private readonly counters = { pacedCalls: 0, pacedMs: 0, throttled: 0, appHolds: 0 };

  constructor(options: RateGovernorOptions) {
    const share = options.share ?? 1;
    if (!(share > 0 && share <= 1)) throw new RangeError(`rate governor share must be in (0, 1], got ${share}`);
    for (const limit of options.limits) {
      if (!(limit.requests >= 1 && limit.windowMs > 0)) throw new RangeError(`rate limit "${limit.name}" needs requests ≥ 1 and windowMs > 0`);
    }
    this.clock = options.clock;
    this.limits = options.limits;
    this.share = share;
  }

  /**
   * Waits until a call of `kind` for the tenant may be sent, and takes its tokens.
   * @throws GovernorWaitError when the wait would pass the deadline or the cap (nothing is taken).
   */
  async acquire(tenantId: string, kind: CallKind, options: AcquireOptions = {}): Promise<Permit> {
    const tenant = tenantId.toLowerCase();
    let waited = 0;
    for (;;) {
      const now = this.clock.now();
      const tenantHold = this.heldUntil(`${kind}|${tenant}`, now);
      const appHold = this.heldUntil(kind, now);
      const hold = Math.max(tenantHold, appHold) - now;
      if (hold > 0) {
        this.check(hold, options, now, 'throttled', tenantHold >= appHold ? 'tenant' : 'app');
        await this.clock.sleep(hold);
        waited += hold;
        continue;
      }
      const buckets = this.bucketsFor(tenant, kind);
      let wait: number | undefined = 0;
      let scope: 'tenant' | 'app' = 'tenant';
      let minimum = 0;
      for (const { bucket, limit } of buckets) {
        const w = bucket.waitMs(now);
        if (w === 0) continue;
        // Every token in flight: none can come back before its answer, plus a window.
        const atLeast = w ?? bucket.windowMs;
        if (atLeast > minimum) {
          minimum = atLeast;
          scope = limit.scope;
        }
        wait = w === undefined || wait === undefined ? undefined : Math.max(wait, w);
      }
      if (wait === 0) {
        for (const { bucket } of buckets) bucket.take();
        if (waited > 0) {
          this.counters.pacedCalls += 1;
          this.counters.pacedMs += waited;
        }
        return this.permit(tenant, kind, buckets.map(({ bucket }) => bucket));
      }
      this.check(minimum, options, now, 'paced', scope);
      const before = this.clock.now();
      if (wait === undefined) await this.released.promise;
      else await this.clock.sleep(wait);
      waited += this.clock.now() - before;
    }
  }

  stats(): GovernorStats {
    const lowered: GovernorStats['lowered'] = {};
    for (const [key, bucket] of this.buckets) {
      if (bucket.size < bucket.ceiling) {
        const [index, tenant] = key.split('|');
        lowered[`${this.limits[Number(index)]?.name ?? index}${tenant === undefined ? '' : `|${tenant}`}`] = { size: bucket.size, ceiling: bucket.ceiling };
      }
    }
    return { ...this.counters, lowered };
  }

  private permit(tenant: string, kind: CallKind, buckets: readonly Bucket[]): Permit {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      const { resolve } = this.released;
      this.released = deferred();
      resolve();
    };
    return {
      done: (outcome = {}) =>
        settle(() => {
          const now = this.clock.now();
          const throttled = outcome.throttledForMs !== undefined;
          for (const bucket of buckets) bucket.answered(now, throttled);
          if (outcome.throttledForMs !== undefined) this.throttled(tenant, kind, now, outcome.throttledForMs);
        }),
      cancel: () => settle(() => buckets.forEach((bucket) => bucket.cancelled())),
    };
  }

  /** Graph said 429: hold the tenant's kind until Retry-After; the app's too when another tenant is held. */
  private throttled(tenant: string, kind: CallKind, now: number, waitMs: number): void {
    this.counters.throttled += 1;
    const until = now + waitMs;
    const prefix = `${kind}|`;
    const anotherHeld = [...this.holds].some(([key, at]) => key.startsWith(prefix) && key !== `${prefix}${tenant}` && at > now);
    this.hold(`${prefix}${tenant}`, until);
    for (const { bucket, limit } of this.bucketsFor(tenant, kind)) if (limit.scope === 'tenant') bucket.decrease();
    if (!anotherHeld) return;
    this.counters.appHolds += 1;
    this.hold(kind, until);
    for (const { bucket, limit } of this.bucketsFor(tenant, kind)) if (limit.scope === 'app') bucket.decrease();
  }

  private hold(key: string, until: number): void {
    if (until > (this.holds.get(key) ?? 0)) this.holds.set(key, until);
  }

  private heldUntil(key: string, now: number): number {
    const until = this.holds.get(key) ?? 0;
    if (until !== 0 && until <= now) this.holds.delete(key);
    return until;
  }

  private check(waitMs: number, options: AcquireOptions, now: number, reason: 'throttled' | 'paced', scope: 'tenant' | 'app'): void {
    if ((options.maxWaitMs !== undefined && waitMs > options.maxWaitMs) || (options.deadline !== undefined && now + waitMs > options.deadline)) {
      throw new GovernorWaitError(waitMs, reason, scope);
    }
  }

  private bucketsFor(tenant: string, kind: CallKind): { bucket: Bucket; limit: RateLimit }[] {
    const out: { bucket: Bucket; limit: RateLimit }[] = [];
    this.limits.forEach((limit, index) => {
      if (!limit.kinds.includes(kind)) return;
      const key = limit.scope === 'app' ? String(index) : `${index}|${tenant}`;
      let bucket = this.buckets.get(key);
      if (bucket === undefined) {
        bucket = new Bucket(Math.max(1, Math.floor(limit.requests * this.share)), limit.windowMs);
        this.buckets.set(key, bucket);
      }
      out.push({ bucket, limit });
    });
    return out;
  }
}

/** The kind of a Graph request, by method and path (relative to the version root, e.g. `/subscriptions/{id}`). */
export function callKindOf(method: string, path: string): CallKind {
  if (!/^\/subscriptions(\/|\?|$)/i.test(path)) return 'other';
  return method === 'GET' ? 'subscription-read' : 'subscription-write';
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
