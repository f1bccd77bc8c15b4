import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { RESYNC_DEFAULTS } from '../../shared/config/resync-config';
import { InvalidResyncJobError, parseResyncJob, type ResyncJob } from '../../shared/resync/resync-job';
import type { PeriodicSweepReport } from '../../shared/resync/periodic';
import { runResync } from '../../shared/resync/run-resync';
import { createResyncRuntime, type ResyncRuntime } from './runtime';

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type ResyncContext = Pick<Context, 'getRemainingTimeInMillis'>;

let runtime: ResyncRuntime | undefined;

/**
 * Two entries. The safety net's hourly schedule (any event without `Records`) sweeps for `;resync` declarations due
 * a periodic catch-up and asks for them on the queue. The resync queue (an SQS event source, batches of one: each
 * message is a whole run) runs them. A message whose run
 * should be tried again (a transient failure) is reported in `batchItemFailures`, so SQS redelivers it after the
 * visibility timeout and the run goes on from its checkpoint; after the queue's maxReceiveCount it goes to the
 * dead-letter queue, which alarms. A run stopped by its deadline or by Graph's throttling is asked again at once
 * (or after Retry-After) as a new message, and this one succeeds.
 */
export async function handler(event: SQSEvent, context: ResyncContext): Promise<SQSBatchResponse>;
export async function handler(event: ScheduledSweep, context: ResyncContext): Promise<PeriodicSweepReport | { sweep: 'off' }>;
export async function handler(event: SQSEvent | ScheduledSweep, context: ResyncContext): Promise<SQSBatchResponse | PeriodicSweepReport | { sweep: 'off' }> {
  runtime ??= createResyncRuntime();
  if (isSqsEvent(event)) return runResyncBatch(runtime, event, context);
  return runPeriodicSweep(runtime, context);
}

/** The schedule's event (EventBridge `Scheduled Event`): sweep for declarations due a periodic catch-up. */
export interface ScheduledSweep {
  'detail-type'?: string;
}

function isSqsEvent(event: SQSEvent | ScheduledSweep): event is SQSEvent {
  return Array.isArray((event as Partial<SQSEvent>).Records);
}

/** The safety net: asks for a `periodic` catch-up of every `;resync` declaration not caught up within the interval. */
export async function runPeriodicSweep(runtime: ResyncRuntime, context: ResyncContext): Promise<PeriodicSweepReport | { sweep: 'off' }> {
  const { sweep, logger, metrics, ports } = runtime;
  if (sweep === undefined) return { sweep: 'off' };
  try {
    const report = await sweep(ports.clock.now() + context.getRemainingTimeInMillis() - RESYNC_DEFAULTS.deadlineMarginMs);
    metrics.count('PeriodicRequested', report.requested);
    logger.info('periodic resync sweep', { ...report });
    return report;
  } finally {
    metrics.flush();
  }
}

export async function runResyncBatch(runtime: ResyncRuntime, event: SQSEvent, context: ResyncContext): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  try {
    for (const record of event.Records) {
      if (!(await runOne(runtime, record.body, context))) batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  } finally {
    runtime.metrics.flush();
  }
  return { batchItemFailures };
}

/** True when the message is done with (whatever the outcome); false to have SQS deliver it again. */
async function runOne(runtime: ResyncRuntime, body: string, context: ResyncContext): Promise<boolean> {
  const { ports, requests, logger, metrics } = runtime;
  let job: ResyncJob;
  try {
    job = parseResyncJob(body);
  } catch (error) {
    if (!(error instanceof InvalidResyncJobError)) throw error;
    metrics.count('Invalid');
    logger.error('resync message refused: it is dropped, every retry would fail the same way', { error: error.message });
    return true;
  }
  const fields = { integrationId: job.integrationId, subscriptionId: job.subscriptionId, trigger: job.trigger };
  const deadline = ports.clock.now() + context.getRemainingTimeInMillis() - RESYNC_DEFAULTS.deadlineMarginMs;
  try {
    const result = await runResync(ports, job, { deadline });
    metrics.record(result);
    // The run's mode and trigger are in its checkpoint: the continuation only has to name the subscription.
    const again = (): ResyncJob => ({ integrationId: job.integrationId, subscriptionId: job.subscriptionId, trigger: 'continued', requestedAt: new Date(ports.clock.now()).toISOString() });
    switch (result.outcome) {
      case 'completed':
        return true;
      case 'continued':
        await requests.request([again()]);
        return true;
      case 'throttled':
        await requests.request([again()], { delaySeconds: Math.ceil(result.retryAfterMs / 1000) });
        return true;
      case 'busy':
        // Another run of this declaration is under way; this trigger may have come after its round began.
        await requests.request([{ ...job, requestedAt: new Date(ports.clock.now()).toISOString() }], { delaySeconds: RESYNC_DEFAULTS.busyRetrySeconds });
        return true;
      case 'skipped':
        logger.info('resync not run', { ...fields, reason: result.reason, detail: result.detail });
        return true;
      case 'failed':
        return !result.retry;
    }
  } catch (error) {
    metrics.count('Failed');
    logger.error('resync run failed: SQS delivers it again and it goes on from its checkpoint', { ...fields, error: error instanceof Error ? error.stack : String(error) });
    return false;
  }
}
