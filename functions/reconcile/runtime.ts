import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { loadReconcileConfig } from '../../shared/config/reconcile-config';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { summarizeReconcile, type ReconcilePorts, type ReconcileReport } from '../../shared/subscriptions/reconcile';
import { addCounts } from '../commons/run-metrics';
import { createSubscriptionClients } from '../commons/subscription-clients';

export interface ReconcileRuntime {
  ports: ReconcilePorts;
  logger: Logger;
  metrics: { record(report: ReconcileReport): void; flush(): void };
}

/** Built once per execution environment: a warm invocation reuses the secret cache and the tokens. */
export function createReconcileRuntime(): ReconcileRuntime {
  const config = loadReconcileConfig();
  const logger = new Logger({ serviceName: 'graph-relay-reconcile' });
  const { connections, subscriptions, reconcileCheckpoint, resyncStates, graphs, notificationUrlFor, resync } = createSubscriptionClients(config, loadGraphConfig(), logger);
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
