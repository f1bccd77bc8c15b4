import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { startDynamoDbProxy, type DynamoDbProxy } from '../../testkit/dynamodb-proxy';
import { ENV } from '../../shared/config/env-names';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { integrationSecretName } from '../../shared/secrets/integration-secret';

export interface TestStack {
  stack: LocalStack;
  proxy: DynamoDbProxy;
  store: DynamoDbConnectionsStore;
  dataDir: string;
  /** Creates an integration, its secret and its connections. */
  seedIntegration(input: {
    integrationId?: string;
    provider?: string;
    webhookSecret?: string;
    previousWebhookSecret?: string;
    connections?: { connectionId: string; tenantId: string }[];
  }): Promise<{ integrationId: string; webhookSecret: string }>;
  /** The integration secret's JSON: webhook secret(s) and, for Graph calls, the app credentials. */
  putSecret(integrationId: string, value: { webhookSecret: string; previousWebhookSecret?: string; clientId?: string; clientSecret?: string }): Promise<void>;
  post(integrationId: string, body: unknown, init?: { query?: string; method?: string; contentType?: string }): Promise<{ status: number; headers: Headers; text: string; json: () => unknown }>;
  stop(): Promise<void>;
}

/**
 * The real local stack (shared DynamoDB Local behind a counting proxy, the AWS emulator, the intake over HTTP)
 * with tables unique to the calling test file.
 */
export async function startTestStack(options: Pick<LocalStackOptions, 'renewal' | 'graph' | 'lifecycle' | 'resync' | 'connectionsStream' | 'log' | 'region' | 'writerLease'> = {}): Promise<TestStack> {
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest (test/setup/global-setup.ts)');
  // Tests seed an integration and post to it at once: an unknown id may refresh the registry on every request here.
  // The product's bound (one read per REGISTRY_MIN_REFRESH_SECONDS) is tested where a file sets it.
  process.env[ENV.registryMinRefreshSeconds] ??= '0';
  const dataDir = await mkdtemp(join(tmpdir(), 'graph-relay-test-'));
  const proxy = await startDynamoDbProxy(endpoint);
  const suffix = randomUUID().slice(0, 8);
  const stack = await startLocalStack({
    ...options,
    // Off unless a test asks: its DynamoDB reads would show in other tests' exact call counts.
    lifecycle: options.lifecycle ?? false,
    // Likewise the resync queue: renewal and lifecycle tests would start catch-up runs of their own.
    resync: options.resync ?? false,
    // Likewise the stream poller: its reads and the reconciles it runs would show in other tests' counts.
    connectionsStream: options.connectionsStream ?? false,
    dataDir,
    port: 0,
    dynamodbEndpoint: proxy.url,
    names: {
      connectionsTable: `connections-${suffix}`,
      deliveriesTable: `deliveries-${suffix}`,
      webhookSecretPrefix: `graph-relay/test-${suffix}/integrations/`,
      resyncQueue: `resync-${suffix}`,
    },
  });
  const d = stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  const ddb = new DynamoDBClient({ ...clientConfig, endpoint });
  const store = new DynamoDbConnectionsStore(DynamoDBDocumentClient.from(ddb), d.connectionsTable);
  const secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });

  const putSecret: TestStack['putSecret'] = async (integrationId, value) => {
    const name = integrationSecretName(d.webhookSecretPrefix, integrationId);
    try {
      await secrets.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }));
    } catch (error) {
      if ((error as Error).name !== 'ResourceExistsException') throw error;
      await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(value) }));
    }
  };

  return {
    stack,
    proxy,
    store,
    dataDir,
    putSecret,
    async seedIntegration(input) {
      const integrationId = input.integrationId ?? `int-${randomUUID().slice(0, 8)}`;
      const webhookSecret = input.webhookSecret ?? `secret-${randomUUID()}`;
      await store.putIntegration({ integrationId, provider: input.provider ?? 'microsoft-oauth2-cc' });
      await putSecret(integrationId, {
        webhookSecret,
        ...(input.previousWebhookSecret !== undefined ? { previousWebhookSecret: input.previousWebhookSecret } : {}),
      });
      for (const connection of input.connections ?? []) await store.addConnection({ integrationId, ...connection });
      return { integrationId, webhookSecret };
    },
    async post(integrationId, body, init = {}) {
      const url = `${stack.url}/webhook/${integrationId}${init.query ? `?${init.query}` : ''}`;
      const response = await fetch(url, {
        method: init.method ?? 'POST',
        headers: { 'content-type': init.contentType ?? 'application/json' },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as unknown };
    },
    async stop() {
      await stack.stop();
      await proxy.close();
      ddb.destroy();
      secrets.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
