import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadRenewalConfig, RENEWAL_DEFAULTS, type RenewalConfig } from '../../shared/config/renewal-config';
import { resyncQueueUrlFrom } from '../../shared/config/resync-config';
import { EventBridgePublisher } from '../../shared/events/publisher';
import type { ResyncRequests } from '../../shared/resync/resync-job';
import { SqsResyncRequests } from '../../shared/resync/sqs-resync-requests';
import type { SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig, type FetchFn, type GraphConfig } from '../../shared/graph/graph-config';
import { IntegrationSecretCache } from '../../shared/secrets/integration-secret-cache';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbReconcileCheckpointStore } from '../../shared/store/reconcile-checkpoint';
import { DynamoDbResyncStateStore } from '../../shared/store/resync-checkpoints';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { DynamoDbHandoffStore, DynamoDbWriterLeaseStore } from '../../shared/leadership/dynamodb-leadership-store';
import type { HandoffStore } from '../../shared/leadership/handoffs';
import { fenceBudgetMs, fencedFetch, LeaseWriterGate, singleRegionGate, type WriterGate } from '../../shared/leadership/writer-gate';
import { loadWriterLeaseConfig, takeoverWindowMs } from '../../shared/leadership/writer-lease';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import type { LifecyclePorts } from '../../shared/subscriptions/lifecycle';
import { notificationUrl } from '../../shared/subscriptions/notification-url';
import type { RenewalPorts } from '../../shared/subscriptions/renew-due';

/** AWS calls are short; Graph calls have their own timeouts (shared/graph/graph-config.ts). */
export const AWS_REQUEST_HANDLER = { connectionTimeout: 1000, requestTimeout: 5000 };

export interface SubscriptionClientsConfig {
  connectionsTable: string;
  webhookSecretPrefix: string;
  secretMaxAgeSeconds: number;
  /** `<webhook API URL>webhook/`; the notificationUrl of an integration is this + its id. */
  webhookBaseUrl: string;
}

export interface SubscriptionClients {
  connections: DynamoDbConnectionsStore;
  subscriptions: DynamoDbSubscriptionsStore;
  /** Where the reconciler's scheduled full run goes on from. */
  reconcileCheckpoint: DynamoDbReconcileCheckpointStore;
  /** The `;resync` states, which the reconciler removes with the subscriptions it deletes. */
  resyncStates: DynamoDbResyncStateStore;
  graphs: IntegrationGraphs;
  notificationUrlFor(integrationId: string): string;
  /** The resync queue, when RESYNC_QUEUE_URL is set: catch-ups after missed notifications and recreations. */
  resync?: ResyncRequests;
  /** Whether this region writes to Graph (always, unless WRITER_LEASE is on); `graphs` is fenced by it. */
  writer: WriterGating;
}

export interface WriterGating {
  gate: WriterGate;
  /** This region's name (RELAY_REGION, else AWS_REGION). */
  region: string;
  /** Where work reaching a non-writer is handed off; absent single-region. */
  handoffs?: HandoffStore;
  /** The fetch Graph clients send through: fenced by the lease when it is on. */
  fetch?: FetchFn;
  /**
   * How long after taking the lease over renewal reads each due subscription from Graph before renewing it (twice
   * the lease's TTL, shared/leadership/writer-lease.ts takeoverWindowMs); absent single-region.
   */
  takeoverWindowMs?: number;
}

/**
 * The writer lease's gate for a function that writes to Graph, from WRITER_LEASE and the rest of its environment:
 * single-region (off), always the writer and nothing read; on, the lease item read from its table
 * (WRITER_LEASE_TABLE_NAME, default the connections table), the hand-off store in the connections table, and a
 * fenced fetch for the Graph clients.
 */
export function createWriterGating(dynamodb: DynamoDBDocumentClient, connectionsTable: string, graphConfig: GraphConfig, env: NodeJS.ProcessEnv = process.env): WriterGating {
  const config = loadWriterLeaseConfig(env);
  if (!config.enabled) return { gate: singleRegionGate(config.region), region: config.region ?? 'single-region' };
  const gate = new LeaseWriterGate(new DynamoDbWriterLeaseStore(dynamodb, config.leaseTable ?? connectionsTable), config.region);
  return {
    gate,
    region: config.region,
    handoffs: new DynamoDbHandoffStore(dynamodb, connectionsTable),
    fetch: fencedFetch(gate, { apiUrl: graphConfig.apiUrl, budgetMs: fenceBudgetMs(config.ttlSeconds) }),
    takeoverWindowMs: takeoverWindowMs(config),
  };
}

/**
 * What every function that manages Graph subscriptions (renewal, reconciler) builds once per execution
 * environment: the stores, the secret cache, and the per-integration Graph clients, so a warm run reuses tokens
 * obtained by an earlier one.
 */
export function createSubscriptionClients(config: SubscriptionClientsConfig, graphConfig: GraphConfig, logger: Logger): SubscriptionClients {
  const resyncQueueUrl = resyncQueueUrlFrom();
  const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler: AWS_REQUEST_HANDLER }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const secrets = new IntegrationSecretCache({
    client: new SecretsManagerClient({ requestHandler: AWS_REQUEST_HANDLER }),
    prefix: config.webhookSecretPrefix,
    maxAgeSeconds: config.secretMaxAgeSeconds,
  });
  const writer = createWriterGating(dynamodb, config.connectionsTable, graphConfig);
  return {
    writer,
    connections: new DynamoDbConnectionsStore(dynamodb, config.connectionsTable),
    subscriptions: new DynamoDbSubscriptionsStore(dynamodb, config.connectionsTable),
    reconcileCheckpoint: new DynamoDbReconcileCheckpointStore(dynamodb, config.connectionsTable),
    resyncStates: new DynamoDbResyncStateStore(dynamodb, config.connectionsTable),
    graphs: new IntegrationGraphs({ config: graphConfig, readSecret: (id) => secrets.document(id), logger, ...(writer.fetch === undefined ? {} : { fetch: writer.fetch }) }),
    notificationUrlFor: (id) => notificationUrl(config.webhookBaseUrl, id),
    ...(resyncQueueUrl === undefined ? {} : { resync: new SqsResyncRequests(new SQSClient({ requestHandler: AWS_REQUEST_HANDLER }), resyncQueueUrl) }),
  };
}

/**
 * The ports renewal and lifecycle handling both take: stores (the connections store marks a connection whose
 * subscription lost consent), Graph clients, the integration's provider and webhook secret, and a publisher of
 * subscription events.
 */
export function createSubscriptionPorts(
  config: SubscriptionClientsConfig & { eventBusName: string; eventSource: string },
  clients: SubscriptionClients,
  logger: Logger,
  publish: { maxAttempts: number; concurrency: number },
): RenewalPorts & LifecyclePorts {
  const { connections, subscriptions, graphs, notificationUrlFor, resync } = clients;
  return {
    ...(resync === undefined ? {} : { resync }),
    store: subscriptions,
    connections,
    graphFor: (id) => graphs.graphFor(id),
    providerOf: async (id) => (await connections.getIntegration(id))?.provider,
    webhookSecretOf: (id) => graphs.webhookSecretOf(id),
    encryptionCertificateOf: (id) => graphs.encryptionCertificateOf(id),
    notificationUrlFor,
    publisher: new EventBridgePublisher<SubscriptionEventEntry>(
      new EventBridgeClient({ requestHandler: AWS_REQUEST_HANDLER }),
      config.eventBusName,
      publish,
    ),
    eventSource: config.eventSource,
    logger,
    clock: { now: () => Date.now() },
  };
}

/**
 * What renewal and lifecycle handling build alike from their (shared) environment: the renewal configuration, the
 * function's logger and the subscription ports, publishing `concurrency` events at a time.
 */
export function createRenewalPortsFromEnv(service: 'renewal' | 'lifecycle', concurrency: number): { config: RenewalConfig; logger: Logger; ports: RenewalPorts & LifecyclePorts; writer: WriterGating } {
  const config = loadRenewalConfig();
  const logger = new Logger({ serviceName: `graph-relay-${service}` });
  const clients = createSubscriptionClients(config, loadGraphConfig(), logger);
  const ports = createSubscriptionPorts(config, clients, logger, {
    maxAttempts: RENEWAL_DEFAULTS.publishMaxAttempts,
    concurrency,
  });
  return { config, logger, ports, writer: clients.writer };
}
