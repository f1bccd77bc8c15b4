/**
 * One heartbeat of a region (functions/writer-lease, every minute in every region; the local stack runs the same in
 * process): renew or take the writer lease; after a takeover, start one renewal and one full reconcile at once (a
 * catch-up, so nothing waits for the next schedule); and while this region is the writer, deliver what other regions
 * handed off — lifecycle events to the lifecycle function, resync jobs to the resync queue — deleting each once it
 * is delivered. A delivery that fails leaves its item for the next heartbeat.
 */
import * as z from 'zod';
import { ENV } from '../config/env-names';
import { connectionsTable, loadEnv, requiredName } from '../config/env-parsing';
import { describeError } from '../util/errors';
import type { Handoff, HandoffStore } from './handoffs';
import type { HeartbeatResult, WriterLease } from './writer-lease';

/** Hand-offs delivered per heartbeat at most; more wait for the next one. */
export const HANDOFFS_PER_HEARTBEAT = 100;
/**
 * How long a heartbeat goes on delivering hand-offs (the function's timeout is 30 s): the next heartbeat must come on
 * time, or the lease it renews would run out behind a backlog of hand-offs.
 */
export const HANDOFF_DRAIN_BUDGET_MS = 20_000;

export interface HeartbeatLogger {
  info(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

export interface HeartbeatPorts {
  lease: Pick<WriterLease, 'heartbeat'>;
  region: string;
  handoffs: HandoffStore;
  /** Starts a catch-up run (asynchronously: it is not waited for). */
  catchUp: { renewal(): Promise<void>; reconcile(): Promise<void> };
  /** Delivers a handed-off lifecycle event (parsed JSON) or resync job (the message body); absent: left in place. */
  deliver: { lifecycle?(event: unknown): Promise<void>; resync?(body: string): Promise<void> };
  logger: HeartbeatLogger;
  clock: { now(): number };
  /** Default HANDOFF_DRAIN_BUDGET_MS; the local stack's heartbeats, seconds apart, take less. */
  drainBudgetMs?: number;
}

export interface HeartbeatReport {
  outcome: HeartbeatResult['outcome'];
  region: string;
  holder: string;
  epoch?: number;
  expiresAt: string;
  takeover?: boolean;
  previousHolder?: string;
  /** After a takeover: the catch-up runs started, and those that could not be. */
  catchUp?: { started: string[]; failed: string[] };
  handoffs: { delivered: number; failed: number; left: number; invalid: number };
}

export async function runHeartbeat(ports: HeartbeatPorts): Promise<HeartbeatReport> {
  const { logger, region } = ports;
  const result = await ports.lease.heartbeat(region, ports.clock.now());
  const handoffs = { delivered: 0, failed: 0, left: 0, invalid: 0 };
  if (result.outcome === 'held-by-other') {
    const report: HeartbeatReport = { outcome: result.outcome, region, holder: result.holder, ...(result.lease === undefined ? {} : { epoch: result.lease.epoch }), expiresAt: result.expiresAt, handoffs };
    logger.info(`writer lease held by ${result.holder}`, { ...report });
    return report;
  }
  const { lease } = result;
  const report: HeartbeatReport = { outcome: result.outcome, region, holder: lease.holder, epoch: lease.epoch, expiresAt: lease.expiresAt, handoffs };
  if (result.outcome === 'acquired') {
    report.takeover = result.takeover;
    if (result.previousHolder !== undefined) report.previousHolder = result.previousHolder;
    report.catchUp = await startCatchUp(ports);
  }
  Object.assign(handoffs, await drainHandoffs(ports, ports.clock.now() + (ports.drainBudgetMs ?? HANDOFF_DRAIN_BUDGET_MS)));
  logger.info(result.outcome === 'acquired' ? `writer lease acquired by ${region}` : `writer lease renewed by ${region}`, { ...report });
  return report;
}

async function startCatchUp(ports: HeartbeatPorts): Promise<{ started: string[]; failed: string[] }> {
  const started: string[] = [];
  const failed: string[] = [];
  for (const [name, start] of [
    ['renewal', () => ports.catchUp.renewal()],
    ['reconcile', () => ports.catchUp.reconcile()],
  ] as const) {
    try {
      await start();
      started.push(name);
    } catch (error) {
      failed.push(name);
      ports.logger.error(`catch-up ${name} after the takeover not started: the next scheduled run does it`, { error: describeError(error) });
    }
  }
  return { started, failed };
}

async function drainHandoffs(ports: HeartbeatPorts, until: number): Promise<HeartbeatReport['handoffs']> {
  const { handoffs, invalid } = await ports.handoffs.list(HANDOFFS_PER_HEARTBEAT);
  const counts = { delivered: 0, failed: 0, left: 0, invalid: invalid.length };
  for (const problem of invalid) ports.logger.error('hand-off item does not parse: left in place', { problem });
  for (const handoff of handoffs) {
    const deliver = deliveryOf(ports, handoff);
    if (deliver === undefined || ports.clock.now() >= until) {
      counts.left += 1;
      continue;
    }
    try {
      await deliver();
      await ports.handoffs.delete(handoff);
      counts.delivered += 1;
    } catch (error) {
      counts.failed += 1;
      ports.logger.error('hand-off not delivered: left for the next heartbeat', { kind: handoff.kind, id: handoff.id, fromRegion: handoff.fromRegion, error: describeError(error) });
    }
  }
  return counts;
}

function deliveryOf(ports: HeartbeatPorts, handoff: Handoff): (() => Promise<void>) | undefined {
  const { lifecycle, resync } = ports.deliver;
  if (handoff.kind === 'lifecycle') return lifecycle === undefined ? undefined : () => lifecycle(JSON.parse(handoff.payload) as unknown);
  return resync === undefined ? undefined : () => resync(handoff.payload);
}

const heartbeatFields = {
  connectionsTable,
  renewalFunctionName: [ENV.renewalFunctionName, requiredName()],
  reconcileFunctionName: [ENV.reconcileFunctionName, requiredName()],
  lifecycleFunctionName: [ENV.lifecycleFunctionName, requiredName()],
  resyncQueueUrl: [ENV.resyncQueueUrl, z.string().trim().optional()],
} as const;

/** The heartbeat function's own variables (the lease's are read by loadWriterLeaseConfig). */
export function loadHeartbeatConfig(env: NodeJS.ProcessEnv = process.env) {
  const config = loadEnv('writer lease heartbeat', heartbeatFields, env);
  return { ...config, resyncQueueUrl: config.resyncQueueUrl || undefined };
}
