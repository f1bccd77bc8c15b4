import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { loadRenewalConfig, RENEWAL_DEFAULTS } from '../../shared/config/renewal-config';
import { EventBridgePublisher } from '../../shared/events/publisher';
import type { SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import type { RenewalPorts, RenewalReport } from '../../shared/subscriptions/renew-due';
import { AWS_REQUEST_HANDLER, createSubscriptionClients } from '../commons/subscription-clients';

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
  const config = loadRenewalConfig();
  const graphConfig = loadGraphConfig();
  const logger = new Logger({ serviceName: 'graph-relay-renewal' });
  const { connections, subscriptions, graphs, notificationUrlFor } = createSubscriptionClients(config, graphConfig, logger);
  const ports: RenewalPorts = {
    store: subscriptions,
    graphFor: (id) => graphs.graphFor(id),
    providerOf: async (id) => (await connections.getIntegration(id))?.provider,
    webhookSecretOf: (id) => graphs.webhookSecretOf(id),
    notificationUrlFor,
    publisher: new EventBridgePublisher<SubscriptionEventEntry>(new EventBridgeClient({ requestHandler: AWS_REQUEST_HANDLER }), config.eventBusName, {
      maxAttempts: RENEWAL_DEFAULTS.publishMaxAttempts,
      concurrency: RENEWAL_DEFAULTS.publishConcurrency,
    }),
    eventSource: config.eventSource,
    logger,
    clock: { now: () => Date.now() },
  };
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
