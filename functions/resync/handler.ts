import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { asWriter, type NotWriter } from '../../shared/leadership/writer-gate';
import type { PeriodicSweepReport } from '../../shared/resync/periodic';
import { createResyncRuntime, handOffResyncBatch, runPeriodicSweep, runResyncBatch, type ResyncContext, type ResyncRuntime } from './runtime';

export { runPeriodicSweep, runResyncBatch, type ResyncContext } from './runtime';

let runtime: ResyncRuntime | undefined;

/**
 * Two entries. The safety net's hourly schedule (any event without `Records`) sweeps for `;resync` declarations due
 * a periodic catch-up and asks for them on the queue. The resync queue (an SQS event source, batches of one: each
 * message is a whole run) runs them, reporting in `batchItemFailures` the messages to deliver again.
 */
export async function handler(event: SQSEvent, context: ResyncContext): Promise<SQSBatchResponse>;
export async function handler(event: ScheduledSweep, context: ResyncContext): Promise<PeriodicSweepReport | { sweep: 'off' } | NotWriter>;
export async function handler(event: SQSEvent | ScheduledSweep, context: ResyncContext): Promise<SQSBatchResponse | PeriodicSweepReport | { sweep: 'off' } | NotWriter> {
  runtime ??= createResyncRuntime();
  return resyncIfWriter(runtime, event, context);
}

/** The schedule's event (EventBridge `Scheduled Event`): sweep for declarations due a periodic catch-up. */
export type ScheduledSweep = { 'detail-type'?: string };

function isSqsEvent(event: SQSEvent | ScheduledSweep): event is SQSEvent {
  return Array.isArray((event as Partial<SQSEvent>).Records);
}

/**
 * Runs and sweeps only in the Graph writer's region. Elsewhere the queue's jobs are handed off to the writer (a job
 * not stored is delivered again by SQS), and the sweep is the writer's.
 */
export async function resyncIfWriter(runtime: ResyncRuntime, event: SQSEvent | ScheduledSweep, context: ResyncContext): Promise<SQSBatchResponse | PeriodicSweepReport | { sweep: 'off' } | NotWriter> {
  const gate = runtime.writer?.gate;
  if (isSqsEvent(event)) return asWriter(gate, runtime.logger, 'resync batch', () => runResyncBatch(runtime, event, context), () => handOffResyncBatch(runtime, event));
  return asWriter(gate, runtime.logger, 'periodic resync sweep', () => runPeriodicSweep(runtime, context));
}
