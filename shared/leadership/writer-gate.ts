/**
 * Whether this region may write to Graph now, and the fence every Graph request of a writing run goes through.
 * Single-region (the lease off): always the writer, nothing read. With the lease on: the writer is the region holding
 * an unexpired lease; a Graph request is sent only if the lease (as last read, re-read when older than 10 s) still
 * holds for longer than the request can take, and one still running at the lease's expiry is aborted. A region cut
 * off from the table therefore sends nothing past its expiry, and a new holder starts only the grace later.
 */
import { GRAPH_DEFAULTS, RequestNotSentError, type FetchFn } from '../graph/graph-config';
import type { WriterLeaseRecord } from './writer-lease';

export interface WriterView {
  writer: boolean;
  /** This region. */
  region: string;
  /** The region holding the lease (this one when single-region); undefined when nobody does. */
  holder?: string;
  epoch?: number;
  /** When the lease ends (absent single-region: it never does). */
  expiresAtMs?: number;
  /**
   * When the holder took the lease (the record's `acquiredAt`; unchanged by its renewals). Absent single-region, and
   * when nobody holds it. Renewal checks Graph first for a while after this region took it over
   * (shared/subscriptions/renew-due.ts).
   */
  acquiredAtMs?: number;
}

export interface WriterGate {
  /** A fresh view: the lease read now. */
  isWriter(): Promise<WriterView>;
  /**
   * The view a request of `budgetMs` may be sent under.
   * @throws WriterLeaseLostError unless this region holds the lease for longer than `budgetMs` from now.
   */
  fence(budgetMs: number): Promise<WriterView>;
}

/** This region does not hold the writer lease (or not for long enough): the Graph request was not sent. */
export class WriterLeaseLostError extends RequestNotSentError {
  override readonly name = 'WriterLeaseLostError';
}

/** The lease off: one region, always the writer, no reads. */
export function singleRegionGate(region = 'single-region'): WriterGate {
  const view: WriterView = { writer: true, region, holder: region };
  return { isWriter: async () => view, fence: async () => view };
}

/** A view older than this is read again before a Graph request. */
export const WRITER_VIEW_MAX_AGE_MS = 10_000;

export class LeaseWriterGate implements WriterGate {
  private view: { at: number; view: WriterView } | undefined;

  constructor(
    private readonly lease: { read(): Promise<WriterLeaseRecord | undefined> },
    private readonly region: string,
    private readonly now: () => number = () => Date.now(),
  ) {}

  async isWriter(): Promise<WriterView> {
    const at = this.now();
    const lease = await this.lease.read();
    const view: WriterView = {
      writer: lease !== undefined && lease.holder === this.region && at < lease.expiresAtMs,
      region: this.region,
      ...(lease === undefined ? {} : { holder: lease.holder, epoch: lease.epoch, expiresAtMs: lease.expiresAtMs, ...acquiredAt(lease) }),
    };
    this.view = { at, view };
    return view;
  }

  async fence(budgetMs: number): Promise<WriterView> {
    const holds = (view: WriterView) => view.writer && view.expiresAtMs !== undefined && this.now() + budgetMs < view.expiresAtMs;
    const cached = this.view;
    if (cached !== undefined && this.now() - cached.at < WRITER_VIEW_MAX_AGE_MS && holds(cached.view)) return cached.view;
    // Older than the max age, or short of the budget: the heartbeat may have renewed it since.
    const view = await this.isWriter();
    if (holds(view)) return view;
    throw new WriterLeaseLostError(
      view.holder === this.region
        ? `the writer lease of ${this.region} ends at ${new Date(view.expiresAtMs ?? 0).toISOString()}, before a Graph request of up to ${budgetMs} ms could end: not sent`
        : `${this.region} does not hold the Graph writer lease (${view.holder === undefined ? 'nobody does' : `${view.holder} does`}): Graph request not sent`,
    );
  }
}

function acquiredAt(lease: WriterLeaseRecord): { acquiredAtMs?: number } {
  const ms = Date.parse(lease.acquiredAt);
  return Number.isNaN(ms) ? {} : { acquiredAtMs: ms };
}

/**
 * How long a fenced Graph request may take: the longest a Graph call waits (a create, which Graph validates), or a
 * third of the lease's TTL when that is shorter (local drills with leases of a few seconds).
 */
export function fenceBudgetMs(ttlSeconds: number): number {
  return Math.min(GRAPH_DEFAULTS.createSubscriptionTimeoutMs, Math.floor((ttlSeconds * 1000) / 3));
}

/**
 * A fetch that sends a request to Graph (`<apiUrl>/<version>/…`) only under the fence, aborting it if it is still
 * running when the lease ends; other requests (tokens, even from a fake serving both at one origin) go as they are.
 * @throws WriterLeaseLostError (before anything is sent)
 */
export function fencedFetch(gate: WriterGate, options: { apiUrl: string; budgetMs: number; fetch?: FetchFn; now?: () => number }): FetchFn {
  const send: FetchFn = options.fetch ?? ((url, init) => fetch(url, init));
  const now = options.now ?? (() => Date.now());
  const graphBase = `${options.apiUrl.replace(/\/+$/, '')}/${GRAPH_DEFAULTS.apiVersion}/`;
  return async (url, init) => {
    if (!url.startsWith(graphBase)) return send(url, init);
    const view = await gate.fence(options.budgetMs);
    if (view.expiresAtMs === undefined) return send(url, init);
    const untilExpiry = AbortSignal.timeout(Math.max(0, view.expiresAtMs - now()));
    return send(url, { ...init, signal: init.signal ? AbortSignal.any([init.signal, untilExpiry]) : untilExpiry });
  };
}

/** The answer of a run skipped because another region is the writer. */
export interface NotWriter {
  skipped: 'not-writer';
  /** The region holding the lease, if any. */
  writer: string | undefined;
}

/**
 * Runs `work` when this region is the writer (always, single-region), given the view it was found the writer in
 * (none without a gate); otherwise logs one line, runs `instead` (a hand-off) and answers `NotWriter` with what
 * `instead` returned.
 */
export async function asWriter<T, E extends object = object>(
  gate: WriterGate | undefined,
  logger: { info(message: string, fields: Record<string, unknown>): void },
  what: string,
  work: (view?: WriterView) => Promise<T>,
  instead?: (view: WriterView) => Promise<E>,
): Promise<T | (NotWriter & E)> {
  if (gate === undefined) return work();
  const view = await gate.isWriter();
  if (view.writer) return work(view);
  const extra = instead === undefined ? ({} as E) : await instead(view);
  const answer = { skipped: 'not-writer' as const, writer: view.holder === view.region ? undefined : view.holder, ...extra };
  logger.info(`${what} skipped: ${view.region} is not the Graph writer`, { region: view.region, ...answer });
  return answer;
}
