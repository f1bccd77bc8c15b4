/**
 * The safety net users of Graph webhooks run by hand today ("run a daily sync"): every `;resync` declaration whose
 * last catch-up finished longer ago than the stage's interval gets a `periodic` one. An incremental round with
 * nothing to report costs one delta request, and each run renews the delta link, which Graph lets expire (directory
 * objects after 7 days; Outlook sooner, https://learn.microsoft.com/graph/delta-query-overview): without the net, a
 * `missed` after a quiet week would mean a full resync.
 *
 * The sweep reads the resync states page by page (one Query per 100 declarations of an integration) and asks in
 * batches; it runs on a schedule more often than the interval, so the work spreads out instead of landing at once.
 */
import type { ConnectionsStore } from '../store/connections-store';
import type { PageKey } from '../store/page-key';
import type { ResyncState, ResyncStateStore } from '../store/resync-checkpoints';
import { resyncJob, type ResyncJob, type ResyncRequests } from './resync-job';

export interface PeriodicSweepPorts {
  connections: Pick<ConnectionsStore, 'listIntegrations'>;
  states: Pick<ResyncStateStore, 'list'>;
  requests: ResyncRequests;
  logger: { warn(message: string, fields: Record<string, unknown>): void };
}

export interface PeriodicSweepReport {
  integrations: number;
  /** Resync states read. */
  declarations: number;
  /** Catch-ups asked for. */
  requested: number;
  /** States in the middle of a run, or run recently enough. */
  notDue: number;
  /** Unreadable state items (skipped, logged). */
  invalid: number;
  /** The deadline came before every integration was swept; the next sweep starts over (asking is idempotent). */
  stoppedEarly: boolean;
}

/** Due: no run in progress, and the last finished run (or the baseline) is older than `everyMs`. */
export function periodicDue(state: ResyncState, now: number, everyMs: number): boolean {
  if (state.run !== undefined) return false;
  const last = Math.max(Date.parse(state.lastRun?.finishedAt ?? '') || 0, Date.parse(state.deltaLinkAt ?? '') || 0);
  return now - last >= everyMs;
}

export async function sweepPeriodicResyncs(ports: PeriodicSweepPorts, options: { now: number; everyMs: number; deadline: number; clock: { now(): number } }): Promise<PeriodicSweepReport> {
  const report: PeriodicSweepReport = { integrations: 0, declarations: 0, requested: 0, notDue: 0, invalid: 0, stoppedEarly: false };
  const { integrations } = await ports.connections.listIntegrations();
  for (const { integrationId } of integrations) {
    report.integrations += 1;
    let startKey: PageKey | undefined;
    do {
      if (options.clock.now() >= options.deadline) {
        report.stoppedEarly = true;
        return report;
      }
      const page = await ports.states.list(integrationId, { limit: 100, ...(startKey === undefined ? {} : { startKey }) });
      report.declarations += page.states.length;
      report.invalid += page.invalid.length;
      for (const invalid of page.invalid) ports.logger.warn('resync state skipped: it does not parse', { integrationId, ...invalid });
      const due: ResyncJob[] = page.states
        .filter((state) => periodicDue(state, options.now, options.everyMs))
        .map((state) => resyncJob(state.integrationId, state.subscriptionId, 'periodic', new Date(options.now)));
      report.notDue += page.states.length - due.length;
      if (due.length > 0) await ports.requests.request(due);
      report.requested += due.length;
      startKey = page.lastKey;
    } while (startKey !== undefined);
  }
  return report;
}
