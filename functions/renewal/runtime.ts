import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadRenewalConfig, RENEWAL_DEFAULTS } from '../../shared/config/renewal-config';
import { EventBridgePublisher } from '../../shared/events/publisher';
import type { SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { IntegrationSecrets } from '../../shared/secrets/integration-secrets';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import type { RenewalPorts, RenewalReport } from '../../shared/subscriptions/renew-due';

export interface RenewalRuntime {
  ports: RenewalPorts;
  /** Due subscriptions taken per run. */
  limit: number;
  logger: Logger;
  metrics: { record(report: RenewalReport): void; flush(): void };
}

/** AWS calls are short; Graph calls have their own timeouts (shared/graph/graph-config.ts). */
const requestHandler = { connectionTimeout: 1000, requestTimeout: 5000 };

/**
 * Clients, the secret cache and the per-integration Graph clients (with their tokens) live for the life of the
 * execution environment, so a warm run reuses tokens obtained by an earlier one.
 */
export function createRenewalRuntime(): RenewalRuntime {
  const config = loadRenewalConfig();
  const graphConfig = loadGraphConfig();
  const logger = new Logger({ serviceName: 'graph-relay-renewal' });
  const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const secrets = new IntegrationSecrets({
    client: new SecretsManagerClient({ requestHandler }),
    prefix: config.webhookSecretPrefix,
    maxAgeSeconds: config.secretMaxAgeSeconds,
  });
  const graphs = new IntegrationGraphs({ config: graphConfig, readSecret: (id) => secrets.read(id), logger });
  const connections = new DynamoDbConnectionsStore(dynamodb, config.connectionsTable);
  const ports: RenewalPorts = {
    store: new DynamoDbSubscriptionsStore(dynamodb, config.connectionsTable),
    graphFor: (id) => graphs.graphFor(id),
    providerOf: async (id) => (await connections.getIntegration(id))?.provider,
    webhookSecretOf: (id) => graphs.webhookSecretOf(id),
    notificationUrlFor: (id) => `${config.webhookBaseUrl}${id}`,
    publisher: new EventBridgePublisher<SubscriptionEventEntry>(new EventBridgeClient({ requestHandler }), config.eventBusName, {
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
