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
  const { connections, subscriptions, graphs, notificationUrlFor } = createSubscriptionClients(config, loadGraphConfig(), logger);
  const ports: ReconcilePorts = {
    connections,
    store: subscriptions,
    graphFor: (id) => graphs.graphFor(id),
    webhookSecretOf: (id) => graphs.webhookSecretOf(id),
    encryptionCertificateOf: (id) => graphs.encryptionCertificateOf(id),
    notificationUrlFor,
    logger,
    clock: { now: () => Date.now() },
  };
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'reconcile' });
  return {
    ports,
    logger,
    metrics: {
      record(report) {
        metrics.addMetric('ReconcileCreated', MetricUnit.Count, report.created.length);
        metrics.addMetric('ReconcileDeleted', MetricUnit.Count, report.deleted.length);
        metrics.addMetric('ReconcileFailed', MetricUnit.Count, report.failed.length);
        metrics.addMetric('ReconcileSkippedNeedsConsent', MetricUnit.Count, report.planned.skipped.length);
        metrics.addMetric('ReconcileDeferred', MetricUnit.Count, report.deferred.length);
        metrics.addMetric('ReconcileInvalidDeclarations', MetricUnit.Count, report.invalidDeclarations.length);
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
