import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { EventBridgePublisher } from '../../shared/events/publisher';
import { SUBSCRIPTION_DETAIL_TYPES, type SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig, type Clock, type GraphConfig } from '../../shared/graph/graph-config';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { ConnectionExistsError } from '../../shared/store/connections-store';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { renewDue, type RenewalReport } from '../../shared/subscriptions/renew-due';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const DAY = 24 * 60 * 60_000;
const APP = { clientId: randomUUID(), clientSecret: 'renewal-app-secret~0123456789' };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let t: TestStack;
let dynamodb: DynamoDBClient;
let secrets: SecretsManagerClient;
let events: EventBridgeClient;
const tables: string[] = [];
const fakes: GraphFake[] = [];

beforeAll(async () => {
  t = await startTestStack();
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint });
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  events = new EventBridgeClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
});

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  await Promise.all(tables.splice(0).map((TableName) => dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => undefined)));
});

afterAll(async () => {
  dynamodb?.destroy();
  secrets?.destroy();
  events?.destroy();
  await t?.stop();
});

/**
 * One isolated world per test: a Graph fake with its own clock, a fresh subscriptions table (so no other test's
 * records are due), an integration whose secret holds the webhook secret and the app credentials, and the
 * product's renewal wired as the Lambda will wire it, on the fake's clock.
 */
async function world() {
  const fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  fakes.push(fake);
  const suffix = randomUUID().slice(0, 8);
  const names = { connectionsTable: `renewal-connections-${suffix}`, deliveriesTable: `renewal-deliveries-${suffix}` };
  tables.push(names.connectionsTable, names.deliveriesTable);
  await ensureTables(dynamodb, names);

  const d = t.stack.descriptor;
  const { integrationId, webhookSecret } = await t.seedIntegration({});
  await t.putSecret(integrationId, { webhookSecret, ...APP });

  const clock: Clock = { now: () => fake.clock.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
  const store = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), names.connectionsTable, () => fake.clock.date());
  const connections = new DynamoDbConnectionsStore(DynamoDBDocumentClient.from(dynamodb), names.connectionsTable, () => fake.clock.date());
  await connections.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
  // The fake, like the identity platform, issues tokens for Graph's own resource id only.
  const config: GraphConfig = loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl });
  const readSecret = async (id: string): Promise<unknown> => {
    const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
    return JSON.parse(SecretString ?? 'null') as unknown;
  };
  const graphs = new IntegrationGraphs({ config, readSecret, clock });
  const publisher = new EventBridgePublisher<SubscriptionEventEntry>(events, d.eventBusName, { maxAttempts: 3, concurrency: 4 });
  const notificationUrl = `${d.webhookBaseUrl}${integrationId}`;

  /** Created at the fake through the real handshake (against the local intake) and recorded in the store. */
  const subscribe = async (tenantId: string, resource: string, changeTypes: ('created' | 'updated' | 'deleted')[]) => {
    const api = await graphs.graphFor(integrationId);
    const created = await api.createSubscription(tenantId, {
      changeType: changeTypes.join(','),
      notificationUrl,
      lifecycleNotificationUrl: notificationUrl,
      resource,
      expirationDateTime: new Date(fake.clock.now() + 2 * DAY),
      clientState: webhookSecret,
    });
    const connectionId = `conn-${tenantId.slice(0, 8)}`;
    await connections.addConnection({ integrationId, connectionId, tenantId }).catch((error: unknown) => {
      if (!(error instanceof ConnectionExistsError)) throw error;
    });
    await store.put({ integrationId, subscriptionId: created.id, connectionId, tenantId, resource, changeTypes, expiresAt: created.expirationDateTime, status: 'active' });
    return created.id;
  };

  const run = (): Promise<RenewalReport> =>
    renewDue(
      {
        store,
        connections,
        graphFor: (id) => graphs.graphFor(id),
        providerOf: async (id) => (await t.store.getIntegration(id))?.provider,
        webhookSecretOf: (id) => graphs.webhookSecretOf(id),
        notificationUrlFor: (id) => `${d.webhookBaseUrl}${id}`,
        publisher,
        eventSource: d.eventSource,
        logger: quiet,
        clock,
      },
      { now: fake.clock.date(), deadline: fake.clock.now() + 120_000, limit: 100 },
    );

  const busEvents = (detailType: string) =>
    t.stack.emulator
      .events(d.eventBusName)
      .filter((e) => e['detail-type'] === detailType && e.detail['providerConfigKey'] === integrationId)
      .map((e) => e.detail);

  return { fake, store, connections, integrationId, subscribe, run, busEvents };
}

/** Every subscription event on the bus matches the published schema. */
function expectValid(detailType: keyof typeof detailSchemas, details: readonly unknown[]): void {
  for (const detail of details) expect(detailSchemas[detailType].safeParse(detail).error).toBeUndefined();
}

describe('renewal against the Graph fake, DynamoDB Local and the local bus', () => {
  it('PATCHes each due subscription once, with one token per tenant, records the renewals and publishes Renewed', async () => {
    // Prepare
    const w = await world();
    const [tenantA, tenantB] = [randomUUID(), randomUUID()];
    const ids = [
      await w.subscribe(tenantA, 'users', ['updated', 'deleted']),
      await w.subscribe(tenantA, `users/${randomUUID()}/messages`, ['created']),
      await w.subscribe(tenantB, 'groups', ['updated']),
    ];
    w.fake.clock.advance(DAY + 60_000);
    w.fake.resetStats();
    // Act
    const report = await w.run();
    // Assess
    expect(report).toMatchObject({ due: 3, renewed: 3, recreated: 0, needsConsent: 0, failed: 0, deferred: 0, graphCalls: 3, stoppedEarly: false });
    expect(w.fake.stats()).toEqual({ token: { '200': 2 }, 'subscriptions.update': { '200': 3 } });
    for (const id of ids) {
      const atGraph = w.fake.subscription(id);
      const recorded = await w.store.get(w.integrationId, id);
      expect(recorded).toMatchObject({ status: 'active', expiresAt: new Date(atGraph?.expirationDateTime ?? '').toISOString() });
      expect(Date.parse(recorded?.expiresAt ?? '')).toBeGreaterThan(w.fake.clock.now() + 5 * DAY);
    }
    const renewed = w.busEvents(SUBSCRIPTION_DETAIL_TYPES.renewed);
    expect(renewed.map((detail) => detail['subscriptionId']).sort()).toEqual([...ids].sort());
    expectValid(SUBSCRIPTION_DETAIL_TYPES.renewed, renewed);
    expect((await w.run()).due).toBe(0);
  });

  it('recreates a subscription Graph no longer has, records the new id in place of the old and publishes Recreated', async () => {
    // Prepare
    const w = await world();
    const tenant = randomUUID();
    const kept = await w.subscribe(tenant, 'users', ['updated']);
    const gone = await w.subscribe(tenant, 'groups', ['updated', 'deleted']);
    w.fake.clock.advance(DAY + 60_000);
    w.fake.deleteSubscription(gone);
    w.fake.resetStats();
    // Act
    const report = await w.run();
    // Assess
    expect(report).toMatchObject({ due: 2, renewed: 1, recreated: 1, failed: 0, graphCalls: 3 });
    expect(w.fake.stats()).toEqual({ token: { '200': 1 }, 'subscriptions.update': { '200': 1, '404': 1 }, 'subscriptions.create': { '201': 1 } });
    const [recreated] = w.fake.subscriptions(tenant).filter((s) => s.id !== kept);
    expect(recreated).toMatchObject({ resource: 'groups', changeType: 'updated,deleted' });
    expect(await w.store.get(w.integrationId, gone)).toBeUndefined();
    expect(await w.store.get(w.integrationId, recreated?.id ?? '')).toMatchObject({ status: 'active', resource: 'groups', changeTypes: ['updated', 'deleted'], tenantId: tenant });
    const events = w.busEvents(SUBSCRIPTION_DETAIL_TYPES.recreated);
    expect(events).toEqual([expect.objectContaining({ subscriptionId: recreated?.id, previousSubscriptionId: gone })]);
    expectValid(SUBSCRIPTION_DETAIL_TYPES.recreated, events);
  });

  it('marks the subscriptions of a tenant whose consent was revoked needs-consent and publishes Renewal Failed', async () => {
    // Prepare
    const w = await world();
    const [revoked, fine] = [randomUUID(), randomUUID()];
    const lost = await w.subscribe(revoked, 'users', ['updated']);
    const kept = await w.subscribe(fine, 'users', ['updated']);
    w.fake.clock.advance(DAY + 60_000);
    w.fake.revokeConsent(revoked, { mode: 'graph' });
    w.fake.resetStats();
    // Act
    const report = await w.run();
    // Assess
    expect(report).toMatchObject({ due: 2, renewed: 1, needsConsent: 1, failed: 0, graphCalls: 2 });
    expect(w.fake.stats()).toEqual({ token: { '200': 2 }, 'subscriptions.update': { '200': 1, '403': 1 } });
    expect(await w.store.get(w.integrationId, lost)).toMatchObject({ status: 'needs-consent', lastError: expect.stringContaining('HTTP 403') });
    expect((await w.store.get(w.integrationId, kept))?.status).toBe('active');
    const failed = w.busEvents(SUBSCRIPTION_DETAIL_TYPES.renewalFailed);
    expect(failed).toEqual([expect.objectContaining({ subscriptionId: lost, failure: expect.objectContaining({ reason: 'needs-consent', status: 403 }) })]);
    expectValid(SUBSCRIPTION_DETAIL_TYPES.renewalFailed, failed);
    expect(await w.connections.getConnection(w.integrationId, `conn-${revoked.slice(0, 8)}`)).toMatchObject({
      status: 'needs-consent',
      statusReason: expect.stringContaining('HTTP 403'),
      statusChangedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect((await w.connections.getConnection(w.integrationId, `conn-${fine.slice(0, 8)}`))?.status).toBe('active');
    expect((await w.run()).due).toBe(0);
  });
});
