import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { RECONCILE_DEFAULTS } from '../../shared/config/reconcile-config';
import { reconcileConnectionChanges } from '../../shared/subscriptions/connection-changes';
import { reconcile, summarizeReconcile, type ReconcileSummary } from '../../shared/subscriptions/reconcile';
import { errorStack } from '../../shared/util/errors';
import { createReconcileRuntime, type ReconcileRuntime } from './runtime';

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type ReconcileContext = Pick<Context, 'getRemainingTimeInMillis'>;

let runtime: ReconcileRuntime | undefined;

/**
 * Reconciler entry: a batch of connections-table stream records (reconcile the changed connections, report the
 * records to retry), or anything else — the schedule's event — for a full reconcile of every integration.
 */
export async function handler(event: DynamoDBStreamEvent, context: ReconcileContext): Promise<DynamoDBBatchResponse>;
export async function handler(event: unknown, context: ReconcileContext): Promise<ReconcileSummary>;
export async function handler(event: unknown, context: ReconcileContext): Promise<DynamoDBBatchResponse | ReconcileSummary> {
  runtime ??= createReconcileRuntime();
  return isStreamEvent(event) ? reconcileStreamBatch(runtime, event, context) : runScheduledReconcile(runtime, context);
}

function isStreamEvent(event: unknown): event is DynamoDBStreamEvent {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);
}

function deadlineOf(runtime: ReconcileRuntime, context: ReconcileContext): number {
  return runtime.ports.clock.now() + context.getRemainingTimeInMillis() - RECONCILE_DEFAULTS.deadlineMarginMs;
}

/** One stream batch; never throws, so the records that succeeded are not handed over again. */
export async function reconcileStreamBatch(runtime: ReconcileRuntime, event: DynamoDBStreamEvent, context: ReconcileContext): Promise<DynamoDBBatchResponse> {
  const outcome = await reconcileConnectionChanges(runtime.ports, event.Records, { deadline: deadlineOf(runtime, context) });
  runtime.logger.info('stream batch reconciled', {
    records: event.Records.length,
    reconciled: outcome.reconciled,
    ignored: outcome.ignored,
    failedRecords: outcome.batchItemFailures.length,
  });
  return { batchItemFailures: outcome.batchItemFailures };
}

/**
 * A full reconcile of every integration, page by page from where the last run stopped (the checkpoint), keeping
 * counts rather than lists. A failed run throws, so the invocation counts as an error.
 */
export async function runScheduledReconcile(runtime: ReconcileRuntime, context: ReconcileContext): Promise<ReconcileSummary> {
  const { ports, logger, metrics } = runtime;
  try {
    const report = await reconcile(ports, { dryRun: false, deadline: deadlineOf(runtime, context), tenantConcurrency: RECONCILE_DEFAULTS.tenantConcurrency, details: false });
    metrics.record(report);
    return summarizeReconcile(report);
  } catch (error) {
    logger.error('scheduled reconcile failed', { error: errorStack(error) });
    throw error;
  } finally {
    metrics.flush();
  }
}
