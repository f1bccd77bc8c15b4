import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { GraphConfig } from '../../shared/graph/graph-config';
import { IntegrationSecrets } from '../../shared/secrets/integration-secrets';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';

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
  graphs: IntegrationGraphs;
  notificationUrlFor(integrationId: string): string;
}

/**
 * What every function that manages Graph subscriptions (renewal, reconciler) builds once per execution
 * environment: the stores, the secret cache, and the per-integration Graph clients, so a warm run reuses tokens
 * obtained by an earlier one.
 */
export function createSubscriptionClients(config: SubscriptionClientsConfig, graphConfig: GraphConfig, logger: Logger): SubscriptionClients {
  const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler: AWS_REQUEST_HANDLER }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const secrets = new IntegrationSecrets({
    client: new SecretsManagerClient({ requestHandler: AWS_REQUEST_HANDLER }),
    prefix: config.webhookSecretPrefix,
    maxAgeSeconds: config.secretMaxAgeSeconds,
  });
  return {
    connections: new DynamoDbConnectionsStore(dynamodb, config.connectionsTable),
    subscriptions: new DynamoDbSubscriptionsStore(dynamodb, config.connectionsTable),
    graphs: new IntegrationGraphs({ config: graphConfig, readSecret: (id) => secrets.read(id), logger }),
    notificationUrlFor: (id) => `${config.webhookBaseUrl}${id}`,
  };
}
