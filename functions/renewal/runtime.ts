import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { RENEWAL_DEFAULTS } from '../../shared/config/renewal-config';
import type { RenewalPorts, RenewalReport } from '../../shared/subscriptions/renew-due';
import { createRenewalPortsFromEnv } from '../commons/subscription-clients';

export interface RenewalRuntime {
  ports: RenewalPorts;
  /** Due subscriptions taken per run. */
  limit: number;
  logger: Logger;
  metrics: { record(report: RenewalReport): void; flush(): void };
}

/**
 * Clients, the secret cache and the per-integration Graph clients (with their tokens) live for the life of the
 * execution environment, so a warm run reuses tokens obtained by an earlier one.
 */
export function createRenewalRuntime(): RenewalRuntime {
  const { config, logger, ports } = createRenewalPortsFromEnv('renewal', RENEWAL_DEFAULTS.publishConcurrency);
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'renewal' });
  return {
    ports,
    limit: config.runLimit,
    logger,
    metrics: {
      record(report) {
        metrics.addMetric('SubscriptionsDue', MetricUnit.Count, report.due);
        metrics.addMetric('SubscriptionsRenewed', MetricUnit.Count, report.renewed);
        metrics.addMetric('SubscriptionsRecreated', MetricUnit.Count, report.recreated);
        metrics.addMetric('SubscriptionsNeedsConsent', MetricUnit.Count, report.needsConsent);
        metrics.addMetric('SubscriptionsFailed', MetricUnit.Count, report.failed);
        metrics.addMetric('SubscriptionsDeferred', MetricUnit.Count, report.deferred);
        metrics.addMetric('RenewalEventsUnpublished', MetricUnit.Count, report.unpublishedEvents);
        metrics.addMetric('RenewalGraphCalls', MetricUnit.Count, report.graphCalls);
        metrics.addMetric('RenewalRunDuration', MetricUnit.Milliseconds, report.durationMs);
      },
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
