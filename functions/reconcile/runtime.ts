import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { loadReconcileConfig, RECONCILE_DEFAULTS } from '../../shared/config/reconcile-config';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { reconcileConnectionChanges } from '../../shared/subscriptions/connection-changes';
import { reconcile, summarizeReconcile, type ReconcilePorts, type ReconcileReport, type ReconcileSummary } from '../../shared/subscriptions/reconcile';
import { errorStack } from '../../shared/util/errors';
import { addCounts } from '../commons/run-metrics';
import { createSubscriptionClients, type WriterGating } from '../commons/subscription-clients';

export interface ReconcileRuntime {
  ports: ReconcilePorts;
  logger: Logger;
  metrics: { record(report: ReconcileReport): void; flush(): void };
  /** The writer lease's gate: a region not holding it skips runs and batches. Absent: single-region. */
  writer?: Pick<WriterGating, 'gate'>;
}

/** What the handler reads of the Lambda context; the local stack passes its own. */
export type ReconcileContext = Pick<Context, 'getRemainingTimeInMillis'>;

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

/** Built once per execution environment: a warm invocation reuses the secret cache and the tokens. */
export function createReconcileRuntime(): ReconcileRuntime {
  const config = loadReconcileConfig();
  const logger = new Logger({ serviceName: 'graph-relay-reconcile' });
  const { connections, subscriptions, reconcileCheckpoint, resyncStates, graphs, notificationUrlFor, resync, writer } = createSubscriptionClients(config, loadGraphConfig(), logger);
  const ports: ReconcilePorts = {
    connections,
    createFailures: connections,
    store: subscriptions,
    checkpoint: reconcileCheckpoint,
    graphFor: (id) => graphs.graphFor(id),
    webhookSecretOf: (id) => graphs.webhookSecretOf(id),
    encryptionCertificateOf: (id) => graphs.encryptionCertificateOf(id),
    notificationUrlFor,
    ...(resync === undefined ? {} : { resync }),
    resyncStates,
    logger,
    clock: { now: () => Date.now() },
  };
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'reconcile' });
  return {
    ports,
    logger,
    writer,
    metrics: {
      record(report) {
        const summary = summarizeReconcile(report);
        addCounts(metrics, {
          ReconcileCreated: summary.created,
          ReconcileDeleted: summary.deleted,
          ReconcileFailed: summary.failed,
          ReconcileSkippedNeedsConsent: summary.skipped,
          ReconcileDeferred: summary.deferred,
          ReconcileInvalidDeclarations: summary.invalidDeclarations,
          ReconcileGraphCalls: summary.graphCalls,
          SubscriptionsExpiringWithin24h: summary.expiringWithin24h,
          SubscriptionsExpiringWithin6h: summary.expiringWithin6h,
          SubscriptionsNeedsConsent: summary.needsConsent,
          SubscriptionsFailedStatus: summary.failedStatus,
        });
      },
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
