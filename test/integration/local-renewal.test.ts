/**
 * `npm start`'s renewal: the renewal function's handler and runtime, run in process by the local stack against a
 * Graph fake, DynamoDB Local and the local bus. Runs are triggered through the stack's handle, not a timer.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { SUBSCRIPTION_DETAIL_TYPES } from '../../shared/events/subscription-events';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'local-renewal-app-secret~0123456789' };
const MINUTE = 60_000;

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  t = await startTestStack({ renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: d.dynamodbEndpoint });
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
});

afterAll(async () => {
  dynamodb?.destroy();
  secrets?.destroy();
  await t?.stop();
  await fake?.close();
});

describe('local stack: scheduled renewal', () => {
  it('renews a due subscription with one PATCH when a run is triggered, and publishes Renewed', async () => {
    // Prepare: a subscription created at the fake through the real handshake, recorded as expiring soon
    const d = t.stack.descriptor;
    const { integrationId, webhookSecret } = await t.seedIntegration({});
    await t.putSecret(integrationId, { webhookSecret, ...APP });
    const graphs = new IntegrationGraphs({
      config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
      readSecret: async (id) => {
        const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
        return JSON.parse(SecretString ?? 'null') as unknown;
      },
    });
    const tenantId = randomUUID();
    const created = await (await graphs.graphFor(integrationId)).createSubscription(tenantId, {
      changeType: 'updated',
      notificationUrl: `${d.webhookBaseUrl}${integrationId}`,
      lifecycleNotificationUrl: `${d.webhookBaseUrl}${integrationId}`,
      resource: 'users',
      expirationDateTime: new Date(Date.now() + 24 * 60 * MINUTE),
      clientState: webhookSecret,
    });
    const store = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
    // Within the renewal safety margin of its expiry, so due now.
    const recordedExpiry = new Date(Date.now() + 30 * MINUTE).toISOString();
    await store.put({ integrationId, subscriptionId: created.id, connectionId: 'conn-1', tenantId, resource: 'users', changeTypes: ['updated'], expiresAt: recordedExpiry, status: 'active' });
    fake.resetStats();

    // Act
    const report = await t.stack.renewal.runNow();

    // Assess
    expect(report).toMatchObject({ due: 1, renewed: 1, recreated: 0, needsConsent: 0, failed: 0, deferred: 0, unpublishedEvents: 0 });
    expect(fake.stats()).toEqual({ token: { '200': 1 }, 'subscriptions.update': { '200': 1 } });
    const renewed = await store.get(integrationId, created.id);
    expect(renewed?.expiresAt).toBe(new Date(fake.subscription(created.id)?.expirationDateTime ?? '').toISOString());
    expect(Date.parse(renewed?.expiresAt ?? '')).toBeGreaterThan(Date.parse(recordedExpiry));
    const events = t.stack.emulator
      .events(d.eventBusName)
      .filter((e) => e['detail-type'] === SUBSCRIPTION_DETAIL_TYPES.renewed && e.detail['providerConfigKey'] === integrationId);
    expect(events.map((e) => e.detail['subscriptionId'])).toEqual([created.id]);
  });
});
