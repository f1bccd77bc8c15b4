import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { loadReconcileConfig } from '../../shared/config/reconcile-config';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { summarizeReconcile, type ReconcilePorts, type ReconcileReport } from '../../shared/subscriptions/reconcile';
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
        metrics.addMetric('ReconcileCreated', MetricUnit.Count, summary.created);
        metrics.addMetric('ReconcileDeleted', MetricUnit.Count, summary.deleted);
        metrics.addMetric('ReconcileFailed', MetricUnit.Count, summary.failed);
        metrics.addMetric('ReconcileSkippedNeedsConsent', MetricUnit.Count, summary.skipped);
        metrics.addMetric('ReconcileDeferred', MetricUnit.Count, summary.deferred);
        metrics.addMetric('ReconcileInvalidDeclarations', MetricUnit.Count, summary.invalidDeclarations);
        metrics.addMetric('ReconcileGraphCalls', MetricUnit.Count, summary.graphCalls);
        metrics.addMetric('SubscriptionsExpiringWithin24h', MetricUnit.Count, summary.expiringWithin24h);
        metrics.addMetric('SubscriptionsExpiringWithin6h', MetricUnit.Count, summary.expiringWithin6h);
        metrics.addMetric('SubscriptionsNeedsConsent', MetricUnit.Count, summary.needsConsent);
        metrics.addMetric('SubscriptionsFailedStatus', MetricUnit.Count, summary.failedStatus);
      },
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
