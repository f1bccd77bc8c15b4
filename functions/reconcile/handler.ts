import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { asWriter, type NotWriter } from '../../shared/leadership/writer-gate';
import { connectionChangesOf } from '../../shared/subscriptions/connection-changes';
import type { ReconcileSummary } from '../../shared/subscriptions/reconcile';
import { createReconcileRuntime, reconcileStreamBatch, runScheduledReconcile, type ReconcileContext, type ReconcileRuntime } from './runtime';

export { reconcileStreamBatch, runScheduledReconcile, type ReconcileContext } from './runtime';

let runtime: ReconcileRuntime | undefined;

/**
 * Reconciler entry: a batch of connections-table stream records (reconcile the changed connections, report the
 * records to retry), or anything else — the schedule's event, or the writer lease's heartbeat after a takeover — for
 * a full reconcile of every integration.
 */
export async function handler(event: DynamoDBStreamEvent, context: ReconcileContext): Promise<DynamoDBBatchResponse>;
export async function handler(event: unknown, context: ReconcileContext): Promise<ReconcileSummary | NotWriter>;
export async function handler(event: unknown, context: ReconcileContext): Promise<DynamoDBBatchResponse | ReconcileSummary | NotWriter> {
  runtime ??= createReconcileRuntime();
  return reconcileIfWriter(runtime, event, context);
}

/**
 * The batch or the full run when this region is the Graph writer. Otherwise nothing is read or sent: a stream batch
 * is answered as done (the writer's own replica of the table streams the same changes to its reconciler), and the
 * full run is the writer's.
 */
export async function reconcileIfWriter(runtime: ReconcileRuntime, event: unknown, context: ReconcileContext): Promise<DynamoDBBatchResponse | ReconcileSummary | NotWriter> {
  if (isStreamEvent(event)) {
    // A batch of no connection changes (the lease's own heartbeats, say) asks nothing of Graph: no lease read for it.
    if (connectionChangesOf(event.Records).targets.length === 0) return reconcileStreamBatch(runtime, event, context);
    return asWriter(runtime.writer?.gate, runtime.logger, 'reconcile stream batch', () => reconcileStreamBatch(runtime, event, context), async () => ({ batchItemFailures: [] }));
  }
  return asWriter(runtime.writer?.gate, runtime.logger, 'scheduled reconcile', () => runScheduledReconcile(runtime, context));
}

function isStreamEvent(event: unknown): event is DynamoDBStreamEvent {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);
}
