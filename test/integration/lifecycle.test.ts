/**
 * Lifecycle handling against the Graph fake, DynamoDB Local and the local bus: the fake pushes a lifecycle
 * notification to the local intake, the intake publishes `Graph Lifecycle Notification`, and the product's
 * handleLifecycleEvent is given that very bus event (wired as the Lambda wires it).
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { EventBridgePublisher } from '../../shared/events/publisher';
import { SUBSCRIPTION_DETAIL_TYPES, type SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { handleLifecycleEvent } from '../../shared/subscriptions/lifecycle';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'lifecycle-app-secret~0123456789' };
const DAY = 24 * 60 * 60_000;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let secrets: SecretsManagerClient;
let events: EventBridgeClient;

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  t = await startTestStack();
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: d.dynamodbEndpoint });
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  events = new EventBridgeClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
});

afterAll(async () => {
  dynamodb?.destroy();
  secrets?.destroy();
  events?.destroy();
  await t?.stop();
  await fake?.close();
});

/** An integration with one connection whose subscription was created at the fake (real handshake) and recorded. */
async function world() {
  const d = t.stack.descriptor;
  const tenantId = randomUUID();
  const connectionId = `conn-${tenantId.slice(0, 8)}`;
  const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId, tenantId }] });
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  const graphs = new IntegrationGraphs({
    config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
    readSecret: async (id) => {
      const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
      return JSON.parse(SecretString ?? 'null') as unknown;
    },
  });
  const store = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
  const notificationUrl = `${d.webhookBaseUrl}${integrationId}`;
  const created = await (await graphs.graphFor(integrationId)).createSubscription(tenantId, {
    changeType: 'created',
    notificationUrl,
    lifecycleNotificationUrl: notificationUrl,
    resource: `users/${randomUUID()}/messages`,
    expirationDateTime: new Date(Date.now() + 2 * DAY),
    clientState: webhookSecret,
  });
  await store.put({ integrationId, subscriptionId: created.id, connectionId, tenantId, resource: created.resource, changeTypes: ['created'], expiresAt: created.expirationDateTime, status: 'active' });

  const ports = {
    store,
    connections: t.store,
    graphFor: (id: string) => graphs.graphFor(id),
    providerOf: async (id: string) => (await t.store.getIntegration(id))?.provider,
    webhookSecretOf: (id: string) => graphs.webhookSecretOf(id),
    notificationUrlFor: (id: string) => `${d.webhookBaseUrl}${id}`,
    publisher: new EventBridgePublisher<SubscriptionEventEntry>(events, d.eventBusName, { maxAttempts: 3, concurrency: 1 }),
    eventSource: d.eventSource,
    logger: quiet,
    clock: { now: () => Date.now() },
  };
  /** The bus events of this integration of one detail-type. */
  const busEvents = (detailType: string) =>
    t.stack.emulator.events(d.eventBusName).filter((e) => e['detail-type'] === detailType && e.detail['providerConfigKey'] === integrationId);
  /** Graph pushes the lifecycle event; the intake publishes it; this returns the one bus event it became. */
  const pushed = async (lifecycleEvent: 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed') => {
    const push = await fake.pushLifecycle(created.id, lifecycleEvent);
    expect(push).toMatchObject({ delivered: true, status: 202 });
    const [event] = busEvents(DETAIL_TYPES.lifecycle).filter((e) => JSON.stringify(e.detail).includes(lifecycleEvent));
    if (event === undefined) throw new Error(`the intake published no ${lifecycleEvent} event`);
    return event;
  };
  return { integrationId, tenantId, subscriptionId: created.id, store, ports, busEvents, pushed };
}

describe('lifecycle events against the Graph fake, DynamoDB Local and the local bus', () => {
  // The token obtained for the creation is still cached, so no token request is expected below.
  it('reauthorizes on reauthorizationRequired with one POST /reauthorize, after which Graph delivers changes again', async () => {
    // Prepare
    const w = await world();
    const event = await w.pushed('reauthorizationRequired');
    expect(await fake.pushChange(w.subscriptionId, { changeType: 'created' })).toMatchObject({ delivered: false });
    fake.resetStats();

    // Act
    const result = await handleLifecycleEvent(w.ports, event);

    // Assess
    expect(result).toMatchObject({ outcome: 'reauthorized', subscriptionId: w.subscriptionId });
    expect(fake.stats()).toEqual({ 'subscriptions.reauthorize': { '204': 1 } });
    expect(await fake.pushChange(w.subscriptionId, { changeType: 'created' })).toMatchObject({ delivered: true });
  });

  it('recreates on subscriptionRemoved: a new subscription at Graph, its record in place of the old, Recreated published', async () => {
    // Prepare
    const w = await world();
    const event = await w.pushed('subscriptionRemoved');
    fake.resetStats();

    // Act
    const result = await handleLifecycleEvent(w.ports, event);

    // Assess
    expect(fake.stats()).toEqual({ 'subscriptions.create': { '201': 1 } });
    const [recreated] = fake.subscriptions(w.tenantId);
    expect(recreated?.id).toBeDefined();
    expect(recreated?.id).not.toBe(w.subscriptionId);
    expect(result).toMatchObject({ outcome: 'recreated', newSubscriptionId: recreated?.id });
    expect(await w.store.get(w.integrationId, w.subscriptionId)).toBeUndefined();
    expect(await w.store.get(w.integrationId, recreated?.id ?? '')).toMatchObject({ status: 'active', tenantId: w.tenantId });
    expect(w.busEvents(SUBSCRIPTION_DETAIL_TYPES.recreated).map((e) => e.detail)).toEqual([
      expect.objectContaining({ subscriptionId: recreated?.id, previousSubscriptionId: w.subscriptionId }),
    ]);
  });

  it('makes no Graph call on missed', async () => {
    // Prepare
    const w = await world();
    const event = await w.pushed('missed');
    fake.resetStats();

    // Act
    const result = await handleLifecycleEvent(w.ports, event);

    // Assess
    expect(result.outcome).toBe('missed');
    expect(fake.stats()).toEqual({});
    expect((await w.store.get(w.integrationId, w.subscriptionId))?.status).toBe('active');
  });
});
