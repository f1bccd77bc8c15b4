/**
 * What Graph and Route 53 do together during a regional failover, compressed: a resolver that health-checks each
 * region's deep `/health` and answers with the primary while it is healthy, else the secondary (Route 53 failover
 * records: `failureThreshold` consecutive results flip a region's status, as Route 53's default of 3 does); and a
 * Graph-like sender that posts each webhook body to the region the resolver names at the time, retrying every
 * failure (no answer, or non-2xx) with backoff until it is accepted, as Graph redelivers for about 4 hours.
 */
import { backoffMs, type RetryPolicy } from './graph-load';
import type { WebhookBody } from './workload';

export type RegionName = string;

export interface RegionEndpoint {
  region: RegionName;
  /** The region's intake base URL now (a restarted local stack listens on a new port); undefined: not running. */
  url(): string | undefined;
}

export interface HealthResolver {
  /** The region DNS answers with now. */
  current(): RegionName;
  /** Each change of answer: when, and to which region. */
  readonly changes: { at: number; region: RegionName }[];
  stop(): Promise<void>;
}

/** Route 53's failover routing over deep health checks, every `intervalMs`; `[primary, secondary]`. */
export function startHealthResolver(regions: readonly [RegionEndpoint, RegionEndpoint], options: { intervalMs: number; failureThreshold: number; timeoutMs: number }): HealthResolver {
  const [primary, secondary] = regions;
  const state = new Map<RegionName, { healthy: boolean; streak: number }>(regions.map((r) => [r.region, { healthy: true, streak: 0 }]));
  const changes: { at: number; region: RegionName }[] = [{ at: Date.now(), region: primary.region }];
  let answer = primary.region;
  let stopped = false;
  const probe = async (endpoint: RegionEndpoint): Promise<boolean> => {
    const url = endpoint.url();
    if (url === undefined) return false;
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(options.timeoutMs) });
      await response.arrayBuffer();
      return response.status === 200;
    } catch {
      return false;
    }
  };
  const loop = (async () => {
    while (!stopped) {
      const results = await Promise.all(regions.map(probe));
      regions.forEach((endpoint, i) => {
        const s = state.get(endpoint.region) as { healthy: boolean; streak: number };
        const ok = results[i] as boolean;
        if (ok === s.healthy) s.streak = 0;
        else if (++s.streak >= options.failureThreshold) {
          s.healthy = ok;
          s.streak = 0;
        }
      });
      // Route 53 answers with the secondary only while the primary is unhealthy and the secondary is not.
      const next = state.get(primary.region)?.healthy === false && state.get(secondary.region)?.healthy === true ? secondary.region : primary.region;
      if (next !== answer) {
        answer = next;
        changes.push({ at: Date.now(), region: next });
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    }
  })();
  return {
    current: () => answer,
    changes,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** One attempt of a body: where it went, when, and what came back (0: no answer). */
export interface RegionAttempt {
  bodyId: number;
  region: RegionName;
  sentAt: number;
  answeredAt: number;
  status: number;
}

export interface SentBody {
  id: number;
  body: WebhookBody;
  state: 'pending' | 'accepted' | 'abandoned';
  failures: number;
  dueAt: number;
}

export interface RegionSender {
  readonly bodies: SentBody[];
  readonly attempts: RegionAttempt[];
  /** Attempts sent and not yet answered at this moment, by region. */
  inFlight(region: RegionName): RegionAttempt[];
  /** Stop taking fresh bodies; resolves once every body taken is accepted or abandoned. */
  drain(): Promise<void>;
}

/**
 * Sends fresh bodies at `perSecond` over `concurrency` workers, each attempt to the resolver's current region, until
 * `drain()`; failed bodies are retried with `retry`'s backoff (and abandoned only when its attempts are spent).
 */
export function startRegionSender(options: {
  resolver: HealthResolver;
  endpoints: readonly RegionEndpoint[];
  next: () => WebhookBody;
  perSecond: number;
  concurrency: number;
  retry: RetryPolicy;
  timeoutMs: number;
  log(line: string): void;
}): RegionSender {
  const bodies: SentBody[] = [];
  const attempts: RegionAttempt[] = [];
  const open = new Set<RegionAttempt>();
  const retries: SentBody[] = [];
  const startedAt = Date.now();
  let draining = false;

  const take = (): SentBody | undefined => {
    const now = Date.now();
    const index = retries.findIndex((b) => b.dueAt <= now);
    if (index >= 0) return retries.splice(index, 1)[0];
    if (draining) return undefined;
    // Paced: the n-th fresh body is due n / perSecond after the start.
    if (bodies.length >= ((now - startedAt) / 1000) * options.perSecond) return undefined;
    const sent: SentBody = { id: bodies.length, body: options.next(), state: 'pending', failures: 0, dueAt: now };
    bodies.push(sent);
    return sent;
  };

  const attempt = async (sent: SentBody): Promise<void> => {
    const region = options.resolver.current();
    const url = options.endpoints.find((e) => e.region === region)?.url();
    const record: RegionAttempt = { bodyId: sent.id, region, sentAt: Date.now(), answeredAt: 0, status: 0 };
    open.add(record);
    try {
      if (url === undefined) throw new Error('region not running');
      const response = await fetch(`${url}${sent.body.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: sent.body.body,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await response.arrayBuffer();
      record.status = response.status;
    } catch {
      record.status = 0;
    } finally {
      record.answeredAt = Date.now();
      open.delete(record);
      attempts.push(record);
    }
    if (record.status >= 200 && record.status < 300) {
      sent.state = 'accepted';
      return;
    }
    sent.failures += 1;
    if (sent.failures >= options.retry.maxAttempts) {
      sent.state = 'abandoned';
      options.log(`failover sender: body ${sent.id} abandoned after ${sent.failures} attempts`);
      return;
    }
    sent.dueAt = Date.now() + backoffMs(options.retry, sent.failures);
    retries.push(sent);
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const sent = take();
      if (sent !== undefined) {
        await attempt(sent);
        continue;
      }
      if (draining && retries.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const workers = Array.from({ length: options.concurrency }, () => worker());

  return {
    bodies,
    attempts,
    inFlight: (region) => [...open].filter((a) => a.region === region),
    async drain() {
      draining = true;
      await Promise.all(workers);
    },
  };
}
