/**
 * `npm start`'s lifecycle handling: the Graph fake pushes a lifecycle notification to the local intake, the intake
 * publishes it on the local bus, and the local stack hands the matching event to the lifecycle function's handler.
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

const APP = { clientId: randomUUID(), clientSecret: 'local-lifecycle-app-secret~0123456789' };

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  t = await startTestStack({ lifecycle: true, renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
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

describe('local stack: lifecycle events', () => {
  it('recreates a subscription Graph removed, from the pushed subscriptionRemoved through the intake and the bus', async () => {
    // Prepare: a subscription created at the fake through the real handshake and recorded for its connection
    const d = t.stack.descriptor;
    const tenantId = randomUUID();
    const connectionId = 'conn-lifecycle';
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId, tenantId }] });
    await t.putSecret(integrationId, { webhookSecret, ...APP });
    const graphs = new IntegrationGraphs({
      config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
      readSecret: async (id) => {
        const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
        return JSON.parse(SecretString ?? 'null') as unknown;
      },
    });
    const notificationUrl = `${d.webhookBaseUrl}${integrationId}`;
    const created = await (await graphs.graphFor(integrationId)).createSubscription(tenantId, {
      changeType: 'created',
      notificationUrl,
      lifecycleNotificationUrl: notificationUrl,
      resource: `users/${randomUUID()}/messages`,
      expirationDateTime: new Date(Date.now() + 24 * 60 * 60_000),
      clientState: webhookSecret,
    });
    const store = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
    await store.put({ integrationId, subscriptionId: created.id, connectionId, tenantId, resource: created.resource, changeTypes: ['created'], expiresAt: created.expirationDateTime, status: 'active' });

    // Act
    const push = await fake.pushLifecycle(created.id, 'subscriptionRemoved');
    await t.stack.lifecycle.idle();

    // Assess
    expect(push).toMatchObject({ delivered: true, status: 202 });
    const atGraph = fake.subscriptions(tenantId);
    expect(atGraph).toHaveLength(1);
    const [recreated] = atGraph;
    expect(recreated?.id).not.toBe(created.id);
    expect(recreated).toMatchObject({ resource: created.resource, changeType: 'created', notificationUrl });
    expect(await store.get(integrationId, created.id)).toBeUndefined();
    expect(await store.get(integrationId, recreated?.id ?? '')).toMatchObject({ connectionId, tenantId, status: 'active' });
    const events = t.stack.emulator
      .events(d.eventBusName)
      .filter((e) => e['detail-type'] === SUBSCRIPTION_DETAIL_TYPES.recreated && e.detail['providerConfigKey'] === integrationId);
    expect(events.map((e) => e.detail)).toEqual([expect.objectContaining({ subscriptionId: recreated?.id, previousSubscriptionId: created.id })]);
  });
});
