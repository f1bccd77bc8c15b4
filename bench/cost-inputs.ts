/**
 * What the cost model takes from the deployed stack. Stage settings come from the prod stage config itself; the
 * counts and memory sizes below are checked against the synthesized prod template by
 * test/infra/observability.test.ts, so this file cannot drift from the stack unnoticed.
 */
import { parseStageConfig } from '../infra/stage-config';

const prod = parseStageConfig('prod');

/** RetentionDays values are day counts; a month is 30 days here. */
const months = (days: number) => Math.max(1, Math.round(days / 30));

export const DEPLOYED = {
  intakeMemoryMb: prod.intakeMemoryMb,
  renewalMemoryMb: 512,
  resyncMemoryMb: 512,
  /** The resync function's timeout: how long one job runs before it checkpoints and continues. */
  resyncTimeoutSeconds: 300,
  renewalIntervalMinutes: prod.renewalIntervalMinutes,
  reconcileIntervalMinutes: prod.reconcileIntervalMinutes,
  /** The resync safety net's sweep (infra/constructs/resync.ts RESYNC_SWEEP_INTERVAL_MINUTES). */
  resyncSweepIntervalMinutes: 60,
  archiveMonths: months(prod.archiveRetentionDays),
  logMonths: months(Number(prod.logRetention)),
  alarms: 19,
  dashboards: 1,
  kmsKeys: 1,
  /**
   * 30 named metrics + 7 intake outcomes + about 5 lifecycle counts + 10 resync counts (functions/resync/runtime.ts),
   * each with its `service` dimension (counted in code).
   */
  customMetrics: 52,
} as const;
