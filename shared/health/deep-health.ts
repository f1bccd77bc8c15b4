import { describeError } from '../util/errors';

/**
 * The intake's deep health (`GET /health`): whether this region can verify, route and publish, as Route 53's health
 * checkers ask it about once a second in all. Three checks, each bounded in time:
 * - `table`: the connections table is readable (the integration registry's one small Query);
 * - `secret`: the first integration's secret is readable, read now rather than served from a cache (`skipped` when
 *   there is no integration, or when the table could not say which one is first);
 * - `bus`: the bus accepts a probe event (a source no consumer rule on the relay's source matches).
 * The answer is reused for a cache period per instance and concurrent askers share one run, so a flood of requests
 * costs at most one run of the checks (three AWS calls) per period.
 */

export const HEALTH_CHECKS = ['table', 'secret', 'bus'] as const;
export type HealthCheckName = (typeof HEALTH_CHECKS)[number];
export type HealthCheckStatus = 'ok' | 'failed' | 'skipped';

/** What `GET /health` answers: names and statuses only, never an error message, ARN or secret name. */
export interface HealthReport {
  status: 'ok' | 'failed';
  region: string;
  checks: Record<HealthCheckName, HealthCheckStatus>;
  /** When the checks behind this answer ended (ISO 8601, UTC). */
  checkedAt: string;
}

/** The probe put on the bus: its source is not the relay's, so no consumer rule on the relay's source matches it. */
export const HEALTH_PROBE = { source: 'graph-relay.health', detailType: 'Graph Relay Health Probe' } as const;

export interface HealthPorts {
  /**
   * One read of the connections table: the ids of the integrations, in the order the registry reads them.
   * `signal` is aborted when the check has timed out.
   */
  integrations(signal: AbortSignal): Promise<readonly string[]>;
  /**
   * Reads this integration's secret from Secrets Manager now (a read already under way is joined, a cached copy is
   * never used); resolves only when it was read and holds a webhook secret.
   */
  readSecret(integrationId: string, signal: AbortSignal): Promise<void>;
  /** Puts one probe event on the bus; resolves only when the bus accepted it (no failed entry). */
  probeBus(signal: AbortSignal): Promise<void>;
}

/** A wait that can be cancelled: how checks time out (tests give their own, to time out on cue). */
export type Delay = (ms: number) => { elapsed: Promise<void>; cancel(): void };

export interface DeepHealthOptions {
  region: string;
  ports: HealthPorts;
  /** An answer is reused this long after its checks ended; 0: every request that finds none in flight runs them. */
  cacheSeconds: number;
  /** Each check fails after this long. */
  checkTimeoutMs: number;
  /** The run ends by this long after it started: the secret check, which waits for the table's, gets what is left. */
  deadlineMs: number;
  /** Told once per run that found a failure, with each failed check's cause (for the log, never the answer). */
  onFailed?: (report: HealthReport, causes: Partial<Record<HealthCheckName, string>>) => void;
  /** Told once when a run passes after one that failed. */
  onRecovered?: (report: HealthReport) => void;
  now?: () => number;
  delay?: Delay;
}

class CheckTimeoutError extends Error {
  override readonly name = 'CheckTimeoutError';
}

const timerDelay: Delay = (ms) => {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
    timer.unref?.();
  });
  return { elapsed, cancel: () => clearTimeout(timer) };
};

export class DeepHealth {
  private cached: { report: HealthReport; endedAt: number } | undefined;
  private inFlight: Promise<HealthReport> | undefined;
  private lastFailed = false;
  private readonly now: () => number;
  private readonly delay: Delay;

  /** Runs of the checks so far. */
  runs = 0;

  constructor(private readonly options: DeepHealthOptions) {
    this.now = options.now ?? Date.now;
    this.delay = options.delay ?? timerDelay;
  }

  /** The answer of the current period: cached, the run under way, or a new run. Never throws. */
  answer(): Promise<HealthReport> {
    const cached = this.cached;
    if (cached !== undefined && this.now() - cached.endedAt < this.options.cacheSeconds * 1000) return Promise.resolve(cached.report);
    this.inFlight ??= this.run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async run(): Promise<HealthReport> {
    this.runs += 1;
    const { ports, checkTimeoutMs, deadlineMs } = this.options;
    const startedAt = this.now();
    const causes: Partial<Record<HealthCheckName, string>> = {};
    const failed = (name: HealthCheckName) => (error: unknown) => {
      causes[name] = describeError(error);
      return 'failed' as const;
    };

    const bus = this.bounded((signal) => ports.probeBus(signal), checkTimeoutMs).then(() => 'ok' as const, failed('bus'));
    const tableAndSecret = (async (): Promise<[HealthCheckStatus, HealthCheckStatus]> => {
      let integrations: readonly string[];
      try {
        integrations = await this.bounded((signal) => ports.integrations(signal), checkTimeoutMs);
      } catch (error) {
        // Which secret to read is what the table would have said: that check is not run, not failed.
        return [failed('table')(error), 'skipped'];
      }
      const [first] = integrations;
      if (first === undefined) return ['ok', 'skipped'];
      const left = Math.min(checkTimeoutMs, startedAt + deadlineMs - this.now());
      const secret = await this.bounded((signal) => ports.readSecret(first, signal), left).then(() => 'ok' as const, failed('secret'));
      return ['ok', secret];
    })();
    const [[table, secret], busStatus] = await Promise.all([tableAndSecret, bus]);

    const checks = { table, secret, bus: busStatus };
    const ok = Object.values(checks).every((status) => status !== 'failed');
    const endedAt = this.now();
    const report: HealthReport = { status: ok ? 'ok' : 'failed', region: this.options.region, checks, checkedAt: new Date(endedAt).toISOString() };
    this.cached = { report, endedAt };
    if (!ok) this.options.onFailed?.(report, causes);
    else if (this.lastFailed) this.options.onRecovered?.(report);
    this.lastFailed = !ok;
    return report;
  }

  /** `check`, failed with CheckTimeoutError once `ms` have passed (its signal is aborted then). */
  private async bounded<T>(check: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
    const abort = new AbortController();
    if (ms <= 0) throw new CheckTimeoutError('no time left before the deadline');
    const timer = this.delay(ms);
    const timedOut = timer.elapsed.then(() => {
      abort.abort();
      throw new CheckTimeoutError(`no answer within ${ms} ms`);
    });
    try {
      return await Promise.race([check(abort.signal), timedOut]);
    } finally {
      timer.cancel();
      // The loser of the race is settled here so that neither ever becomes an unhandled rejection.
      timedOut.catch(() => undefined);
    }
  }
}
