import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { loadReconcileConfig } from '../../shared/config/reconcile-config';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import type { ReconcilePorts, ReconcileReport } from '../../shared/subscriptions/reconcile';
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
        metrics.addMetric('ReconcileCreated', MetricUnit.Count, report.counts.created);
        metrics.addMetric('ReconcileDeleted', MetricUnit.Count, report.counts.deleted);
        metrics.addMetric('ReconcileFailed', MetricUnit.Count, report.counts.failed);
        metrics.addMetric('ReconcileSkippedNeedsConsent', MetricUnit.Count, report.counts.skipped);
        metrics.addMetric('ReconcileDeferred', MetricUnit.Count, report.counts.deferred);
        metrics.addMetric('ReconcileInvalidDeclarations', MetricUnit.Count, report.counts.invalidDeclarations);
        metrics.addMetric('ReconcileGraphCalls', MetricUnit.Count, report.graphCalls);
        metrics.addMetric('SubscriptionsExpiringWithin24h', MetricUnit.Count, report.inventory.expiringWithin24h);
        metrics.addMetric('SubscriptionsExpiringWithin6h', MetricUnit.Count, report.inventory.expiringWithin6h);
        metrics.addMetric('SubscriptionsNeedsConsent', MetricUnit.Count, report.inventory.byStatus['needs-consent']);
        metrics.addMetric('SubscriptionsFailedStatus', MetricUnit.Count, report.inventory.byStatus.failed);
      },
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
