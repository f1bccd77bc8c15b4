import type { Context } from 'aws-lambda';
import { RENEWAL_DEFAULTS } from '../../shared/config/renewal-config';
import { asWriter, type NotWriter, type WriterView } from '../../shared/leadership/writer-gate';
import { renewDue, type RenewalReport, type TakeoverWindow } from '../../shared/subscriptions/renew-due';
import { errorStack } from '../../shared/util/errors';
import { createRenewalRuntime, type RenewalRuntime } from './runtime';

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type RenewalContext = Pick<Context, 'getRemainingTimeInMillis'>;

let runtime: RenewalRuntime | undefined;

/**
 * Renewal entry, invoked by the schedule or by the writer lease's heartbeat after a takeover (the event carries
 * nothing it needs). A misconfiguration or a failed run throws, so the invocation counts as an error and the alarm
 * sees it; the next run starts afresh.
 */
export const handler = async (_event: unknown, context: RenewalContext): Promise<RenewalReport | NotWriter> => {
  runtime ??= createRenewalRuntime();
  return renewIfWriter(runtime, context);
};

/** A run when this region is the Graph writer; otherwise nothing is read or sent (the writer renews). */
export function renewIfWriter(runtime: RenewalRuntime, context: RenewalContext): Promise<RenewalReport | NotWriter> {
  return asWriter(runtime.writer?.gate, runtime.logger, 'renewal', (view) => runScheduledRenewal(runtime, context, view));
}

/**
 * One run: due subscriptions renewed until shortly before the invocation's time is up. `view`: the writer lease as
 * the run was let in under; with the runtime's takeover window, renewal checks Graph first while it lasts.
 */
export async function runScheduledRenewal(runtime: RenewalRuntime, context: RenewalContext, view?: WriterView): Promise<RenewalReport> {
  const { ports, logger, metrics, limit } = runtime;
  const deadline = ports.clock.now() + context.getRemainingTimeInMillis() - RENEWAL_DEFAULTS.deadlineMarginMs;
  const windowMs = runtime.writer?.takeoverWindowMs;
  const takeover: TakeoverWindow | undefined = windowMs === undefined || view === undefined ? undefined : { acquiredAtMs: view.acquiredAtMs, windowMs };
  try {
    const report = await renewDue(ports, { now: new Date(ports.clock.now()), deadline, limit, ...(takeover === undefined ? {} : { takeover }) });
    metrics.record(report);
    return report;
  } catch (error) {
    logger.error('renewal run failed', { error: errorStack(error) });
    throw error;
  } finally {
    metrics.flush();
  }
}
