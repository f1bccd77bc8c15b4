import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { INTAKE_DEFAULTS, loadIntakeConfig } from '../../shared/config/intake-config';
import { lazyPayloadStore } from '../../shared/events/payload-store';
import { awsHealthPorts } from '../../shared/health/aws-health-ports';
import { DeepHealth } from '../../shared/health/deep-health';
import { EventBridgePublisher, RetryCountingPublisher } from '../../shared/events/publisher';
import type { IntakeOutcome, IntakePorts } from '../../shared/intake/process-notifications';
import { IntegrationRegistry } from '../../shared/routing/integration-registry';
import { RouteCache } from '../../shared/routing/route-cache';
import { createValidationTokenVerifier, jwksUrlFromEnv } from '../../shared/rich/validation-tokens';
import { IntegrationSecretCache } from '../../shared/secrets/integration-secret-cache';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbDeliveriesStore } from '../../shared/store/deliveries-store';
import { DynamoDbIntakeReads } from '../../shared/store/intake-reads';
import { RefusalTally } from '../../shared/intake/refusal-tally';
import { DynamoDbRefusalStore, type RefusalStore } from '../../shared/store/refusal-store';

/** What the notification path uses (functions/intake/notifications.ts); tests build it with fakes. */
export interface NotificationRuntime {
  ports: IntakePorts;
  logger: Logger;
  /** Refused requests, tallied so that a flood of them is reported once per window. */
  refusals: RefusalTally;
  /** Where reported refusals are kept for `graph-relay doctor`. */
  refusalStore?: RefusalStore;
  metrics: { record(outcome: IntakeOutcome): void; flush(): void };
}

export interface IntakeRuntime extends NotificationRuntime {
  /** `GET /health`: the table, a secret and the bus, checked at most once per cache period. */
  health: DeepHealth;
}

/**
 * Clients and caches live for the life of the execution environment. Timeouts keep every call well inside
 * Graph's 10-second answer budget.
 */
const requestHandler = { connectionTimeout: 1000, requestTimeout: 3000 };

export function createIntakeRuntime(): IntakeRuntime {
  const config = loadIntakeConfig();
  const logger = new Logger({ serviceName: 'graph-relay-intake' });
  const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const secrets = new IntegrationSecretCache({
    client: new SecretsManagerClient({ requestHandler }),
    prefix: config.webhookSecretPrefix,
    maxAgeSeconds: config.secretMaxAgeSeconds,
    refreshIntervalSeconds: INTAKE_DEFAULTS.secretRefreshIntervalSeconds,
    staleIfErrorSeconds: INTAKE_DEFAULTS.secretStaleIfErrorSeconds,
    onStale: ({ integrationId, ageSeconds, error }) =>
      logger.warn('webhook secret could not be read; using the one read before', { integrationId, ageSeconds, error }),
  });
  const connections = new DynamoDbConnectionsStore(dynamodb, config.connectionsTable);
  const routes = new RouteCache({
    maxEntries: config.routeCacheMaxEntries,
    maxAgeSeconds: config.routeCacheMaxAgeSeconds,
    negativeMaxAgeSeconds: config.routeCacheNegativeMaxAgeSeconds,
  });
  const registry = new IntegrationRegistry({
    load: () => connections.loadRegistry(),
    refreshSeconds: config.registryRefreshSeconds,
    minRefreshSeconds: config.registryMinRefreshSeconds,
    // A new configuration version means the secret changed (integrations put, certificates); a new routes version
    // that a connection did. Either is read again on the next request that needs it.
    onChange: ({ integrationId, config: configChanged, routes: routesChanged }) => {
      if (configChanged) secrets.invalidate(integrationId);
      if (routesChanged) routes.invalidate(integrationId);
    },
    onRefreshError: (error) => logger.warn('integration registry not refreshed; the one read before stays in use', { error: String(error) }),
  });
  const { payloadBucket, region } = config;
  const events = new EventBridgeClient({ requestHandler });
  const publisher = new RetryCountingPublisher(
    new EventBridgePublisher(events, config.eventBusName, {
      maxAttempts: INTAKE_DEFAULTS.publishMaxAttempts,
      concurrency: INTAKE_DEFAULTS.publishConcurrency,
    }),
  );
  const ports: IntakePorts = {
    registry,
    secrets,
    routes,
    reads: new DynamoDbIntakeReads(dynamodb, { connectionsTable: config.connectionsTable, deliveriesTable: config.deliveriesTable }),
    deliveries: new DynamoDbDeliveriesStore(dynamodb, config.deliveriesTable, config.redeliveryWindowSeconds),
    publisher,
    source: config.eventSource,
    region,
    now: () => new Date(),
    logger,
    // The S3 client is loaded (its own chunk) on the first oversized event only: most requests never need it.
    ...(payloadBucket === undefined
      ? {}
      : {
          payloads: lazyPayloadStore(payloadBucket, async () => {
            const { S3PayloadStore } = await import('../../shared/events/s3-payload-store');
            return S3PayloadStore.create(payloadBucket, { requestHandler });
          }),
        }),
    rich: {
      // One verifier for the life of the execution environment: Microsoft's keys are fetched once, not per POST.
      tokens: createValidationTokenVerifier({ jwksUrl: jwksUrlFromEnv(process.env) }),
      configOf: (integrationId) => secrets.richConfig(integrationId),
    },
  };
  // Its own logger: the notification path sets each request's correlation id on the runtime's, which a health line
  // must not carry.
  const healthLogger = logger.createChild();
  const health = new DeepHealth({
    region,
    ports: awsHealthPorts({ loadRegistry: () => connections.loadRegistry(), secrets, events, eventBusName: config.eventBusName, region }),
    cacheSeconds: config.healthCacheSeconds,
    checkTimeoutMs: INTAKE_DEFAULTS.healthCheckTimeoutMs,
    deadlineMs: INTAKE_DEFAULTS.healthDeadlineMs,
    // One line per run that failed (at most one per cache period), with each cause; the answer names checks only.
    onFailed: ({ checks }, causes) => healthLogger.error('health check failed', { region, checks, causes }),
    onRecovered: ({ checks }) => healthLogger.info('health checks pass again', { region, checks }),
  });
  return {
    ports,
    health,
    logger,
    refusals: new RefusalTally({ windowSeconds: INTAKE_DEFAULTS.refusalReportSeconds }),
    refusalStore: new DynamoDbRefusalStore(dynamodb, config.deliveriesTable),
    metrics: intakeMetrics(new Metrics({ namespace: 'GraphRelay', serviceName: 'intake' }), publisher),
  };
}

/** One request's metrics; `PublishRetries` are the entries the publisher sent again during the request. */
export function intakeMetrics(metrics: Metrics, publisher: Pick<RetryCountingPublisher, 'takeRetried'>): IntakeRuntime['metrics'] {
  return {
    record(outcome) {
      metrics.addMetric(`Outcome_${outcome.kind}`, MetricUnit.Count, 1);
      metrics.addMetric('PublishRetries', MetricUnit.Count, publisher.takeRetried());
      if (!('counts' in outcome)) return;
      const { received, refused, rejected, unconfirmed, forged, duplicates, published, unrouted, events, readUnits } = outcome.counts;
      metrics.addMetric('NotificationsReceived', MetricUnit.Count, received);
      metrics.addMetric('NotificationsRefused', MetricUnit.Count, refused);
      metrics.addMetric('NotificationsRejected', MetricUnit.Count, rejected);
      metrics.addMetric('NotificationsUnconfirmed', MetricUnit.Count, unconfirmed);
      metrics.addMetric('NotificationsForged', MetricUnit.Count, forged);
      metrics.addMetric('NotificationsDuplicate', MetricUnit.Count, duplicates);
      metrics.addMetric('NotificationsPublished', MetricUnit.Count, published);
      metrics.addMetric('NotificationsUnrouted', MetricUnit.Count, unrouted);
      metrics.addMetric('EventsPublished', MetricUnit.Count, events);
      metrics.addMetric('ReadUnits', MetricUnit.Count, readUnits);
    },
    flush: () => metrics.publishStoredMetrics(),
  };
}
