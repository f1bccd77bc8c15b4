import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { RESYNC_DEFAULTS } from '../../shared/config/resync-config';
import type { PeriodicSweepReport } from '../../shared/resync/periodic';
import { handleResyncMessage } from '../../shared/resync/resync-message';
import { createResyncRuntime, type ResyncRuntime } from './runtime';

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type ResyncContext = Pick<Context, 'getRemainingTimeInMillis'>;

let runtime: ResyncRuntime | undefined;

/**
 * Two entries. The safety net's hourly schedule (any event without `Records`) sweeps for `;resync` declarations due
 * a periodic catch-up and asks for them on the queue. The resync queue (an SQS event source, batches of one: each
 * message is a whole run) runs them, reporting in `batchItemFailures` the messages to deliver again.
 */
export async function handler(event: SQSEvent, context: ResyncContext): Promise<SQSBatchResponse>;
export async function handler(event: ScheduledSweep, context: ResyncContext): Promise<PeriodicSweepReport | { sweep: 'off' }>;
export async function handler(event: SQSEvent | ScheduledSweep, context: ResyncContext): Promise<SQSBatchResponse | PeriodicSweepReport | { sweep: 'off' }> {
  runtime ??= createResyncRuntime();
  if (isSqsEvent(event)) return runResyncBatch(runtime, event, context);
  return runPeriodicSweep(runtime, context);
}

/** The schedule's event (EventBridge `Scheduled Event`): sweep for declarations due a periodic catch-up. */
export type ScheduledSweep = { 'detail-type'?: string };

function isSqsEvent(event: SQSEvent | ScheduledSweep): event is SQSEvent {
  return Array.isArray((event as Partial<SQSEvent>).Records);
}

/** The safety net: asks for a `periodic` catch-up of every `;resync` declaration not caught up within the interval. */
export async function runPeriodicSweep(runtime: ResyncRuntime, context: ResyncContext): Promise<PeriodicSweepReport | { sweep: 'off' }> {
  const { sweep, logger, metrics } = runtime;
  if (sweep === undefined) return { sweep: 'off' };
  try {
    const report = await sweep(deadlineOf(runtime, context));
    metrics.count('PeriodicRequested', report.requested);
    logger.info('periodic resync sweep', { ...report });
    return report;
  } finally {
    metrics.flush();
  }
}

function deadlineOf(runtime: ResyncRuntime, context: ResyncContext): number {
  return runtime.ports.clock.now() + context.getRemainingTimeInMillis() - RESYNC_DEFAULTS.deadlineMarginMs;
}

export async function runResyncBatch(runtime: ResyncRuntime, event: SQSEvent, context: ResyncContext): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  try {
    for (const record of event.Records) {
      if (!(await handleResyncMessage(runtime, record.body, deadlineOf(runtime, context)))) batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  } finally {
    runtime.metrics.flush();
  }
  return { batchItemFailures };
}
