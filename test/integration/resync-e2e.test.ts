/**
 * Catch-up end to end on the local stack (intake over HTTP, DynamoDB Local, the AWS emulator's bus and SQS, the
 * reconcile, lifecycle and resync functions' handlers) against the Graph fake: a `;resync` declaration → the
 * reconciler creates the subscription (real handshake) and asks for a baseline → changes whose notifications Graph
 * drops → Graph's `missed` → lifecycle → resync queue → resync function → the changes on the bus → a full resync
 * asked on the queue → an expired delta token → a full resync. And: `subscriptionRemoved` → recreation → a catch-up
 * under the new subscription id; a webhook notification's event says where it came from.
 *
 * The stack is waited for with its own drains (lifecycle.idle, resync.idle), never with sleeps.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { RESYNC_DETAIL_TYPE, SUBSCRIPTION_DETAIL_TYPES } from '../../shared/events/subscription-events';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { resyncJob } from '../../shared/resync/resync-job';
import { declarationOf } from '../../shared/resync/run-resync';
import { SqsResyncRequests } from '../../shared/resync/sqs-resync-requests';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbResyncStateStore } from '../../shared/store/resync-checkpoints';
import { DynamoDbSubscriptionsStore, type SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'resync-e2e-app-secret~0123456789' };
const USERS = 120;
const DAY = 24 * 60 * 60_000;

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let sqs: SQSClient;
let secrets: SecretsManagerClient;
let subscriptions: DynamoDbSubscriptionsStore;
let states: DynamoDbResyncStateStore;
let graphs: IntegrationGraphs;

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  t = await startTestStack({ resync: true, lifecycle: true, renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: d.dynamodbEndpoint });
  sqs = new SQSClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  const doc = DynamoDBDocumentClient.from(dynamodb);
  subscriptions = new DynamoDbSubscriptionsStore(doc, d.connectionsTable);
  states = new DynamoDbResyncStateStore(doc, d.connectionsTable);
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  graphs = new IntegrationGraphs({
    config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
    readSecret: async (id) => {
      const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
      return JSON.parse(SecretString ?? 'null') as unknown;
    },
  });
});

afterAll(async () => {
  dynamodb?.destroy();
  sqs?.destroy();
  secrets?.destroy();
  await t?.stop();
  await fake?.close();
});

/** Everything the stack set in motion is done: lifecycle events handled, the resync queue drained (continuations too). */
async function settled(): Promise<void> {
  const resync = t.stack.resync;
  if (resync === undefined) throw new Error('the test stack was started without its resync queue');
  await t.stack.lifecycle.idle();
  await resync.idle();
  await t.stack.lifecycle.idle();
}

/**
 * An integration with app credentials and one connection declaring `users:updated,deleted;resync`, its tenant
 * holding `users` users at the fake, and the reconciler's scheduled run done: the subscription created at the fake
 * through the real handshake and recorded.
 */
async function reconciledResyncConnection(users: number) {
  const tenantId = randomUUID();
  const connectionId = `conn-${randomUUID().slice(0, 8)}`;
  const objects = fake.objects(tenantId);
  for (let i = 1; i <= users; i += 1) objects.upsert('users', { id: userId(i), displayName: `User ${i}` });
  const { integrationId, webhookSecret } = await t.seedIntegration({});
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  await t.store.addConnection({ integrationId, connectionId, tenantId, subscriptions: ['users:updated,deleted;resync'] });
  const summary = await t.stack.reconcile.runNow();
  const { subscriptions: records } = await subscriptions.listByIntegration(integrationId);
  const record = records[0] as SubscriptionRecord;
  const key = { integrationId, connectionId, declaration: declarationOf(record) };
  const busEvents = (detailType: string) =>
    t.stack.emulator
      .events(t.stack.descriptor.eventBusName)
      .filter((e) => e['detail-type'] === detailType && e.detail['providerConfigKey'] === integrationId)
      .map((e) => e.detail as Record<string, any>);
  return { integrationId, tenantId, connectionId, objects, summary, records, record, key, busEvents };
}

function userId(i: number): string {
  return `user-${String(i).padStart(4, '0')}`;
}

function expectValid(detailType: keyof typeof detailSchemas, details: readonly unknown[]): void {
  for (const detail of details) expect(detailSchemas[detailType].safeParse(detail).error).toBeUndefined();
}

const resourcesOf = (events: readonly Record<string, any>[]): string[] => events.map((e) => e['payload'].value[0].resource as string).sort();

describe('resync end to end: local stack + Graph fake', () => {
  it('baselines a ;resync declaration, catches up after missed, resyncs in full when asked and when the delta token expired', async () => {
    // Prepare: the reconciler creates the declared subscription, and the resync function takes its baseline
    const c = await reconciledResyncConnection(USERS);
    await settled();

    // Assert: one subscription through the real handshake, a delta link stored, nothing published
    expect(c.summary).toMatchObject({ created: 1, failed: 0, deferred: 0, invalidDeclarations: 0 });
    expect(c.records.map((r) => [r.connectionId, r.resource, r.changeTypes, r.status])).toEqual([[c.connectionId, 'users', ['updated', 'deleted'], 'active']]);
    expect(fake.subscriptions(c.tenantId).map((s) => [s.id, s.resource, s.changeType])).toEqual([[c.record.subscriptionId, 'users', 'updated,deleted']]);
    const baseline = await states.get(c.key);
    expect(baseline?.deltaLink).toMatch(/deltatoken=/);
    expect(baseline).toMatchObject({ subscriptionId: c.record.subscriptionId, lastRun: { trigger: 'created', mode: 'baseline', outcome: 'completed', objects: 0 } });
    expect(baseline?.run).toBeUndefined();
    expect(c.busEvents(DETAIL_TYPES.change)).toEqual([]);
    expect(c.busEvents(RESYNC_DETAIL_TYPE)).toEqual([]);

    // Act: users change at Graph, whose notifications are dropped (never pushed), then Graph reports them missed
    for (const i of [3, 42, 99]) c.objects.upsert('users', { id: userId(i), displayName: `Renamed ${i}` });
    c.objects.remove('users', userId(7), { permanent: true });
    const missed = await fake.pushLifecycle(c.record.subscriptionId, 'missed');
    await settled();

    // Assert: exactly the changed and deleted users, as ordinary change notifications from a resync
    expect(missed).toMatchObject({ delivered: true, status: 202 });
    expect(c.busEvents(DETAIL_TYPES.lifecycle).map((e) => e['payload'].value[0].lifecycleEvent)).toEqual(['missed']);
    const changes = c.busEvents(DETAIL_TYPES.change);
    expectValid(DETAIL_TYPES.change, changes);
    expect(resourcesOf(changes)).toEqual(['Users/user-0003', 'Users/user-0007', 'Users/user-0042', 'Users/user-0099']);
    for (const event of changes) {
      const notification = event['payload'].value[0];
      expect(event['connectionId']).toBe(c.connectionId);
      expect(event['metadata']).toMatchObject({ origin: 'resync', subscriptionId: c.record.subscriptionId, tenantId: c.tenantId });
      expect(notification).toMatchObject({ subscriptionId: c.record.subscriptionId, tenantId: c.tenantId });
      expect(notification.changeType).toBe(notification.resource === 'Users/user-0007' ? 'deleted' : 'updated');
      expect(notification.resourceData.id).toBe(notification.resource.slice('Users/'.length));
    }
    expect(changes.find((e) => e['payload'].value[0].resource === 'Users/user-0042')?.['payload'].value[0].resourceData.displayName).toBe('Renamed 42');
    const afterMissed = c.busEvents(RESYNC_DETAIL_TYPE);
    expectValid(RESYNC_DETAIL_TYPE, afterMissed);
    expect(afterMissed).toEqual([
      expect.objectContaining({ subscriptionId: c.record.subscriptionId, connectionId: c.connectionId, trigger: 'missed', mode: 'incremental', objects: 4, changed: 3, deleted: 1 }),
    ]);

    // Act: an operator asks for a full resync on the resync queue
    const queueUrl = t.stack.descriptor.resyncQueueUrl ?? '';
    await new SqsResyncRequests(sqs, queueUrl).request([resyncJob(c.integrationId, c.record.subscriptionId, 'operator', new Date(), true)]);
    await settled();

    // Assert: every current user once more (the deleted one no longer), each once
    const afterFull = c.busEvents(DETAIL_TYPES.change).slice(changes.length);
    expectValid(DETAIL_TYPES.change, afterFull);
    const everyone = Array.from({ length: USERS }, (_, i) => `Users/${userId(i + 1)}`).filter((r) => r !== 'Users/user-0007');
    expect(resourcesOf(afterFull)).toEqual(everyone);
    expect(afterFull.every((e) => e['metadata'].origin === 'resync' && e['payload'].value[0].changeType === 'updated')).toBe(true);
    expect(c.busEvents(RESYNC_DETAIL_TYPE).slice(1)).toEqual([expect.objectContaining({ trigger: 'operator', mode: 'full', fullReason: 'requested', objects: USERS - 1 })]);

    // Act: Graph forgets the delta token; a user changes; Graph reports missed notifications again, byte-identical
    // to the first (Graph's `missed` carries no id and no time): the intake publishes it all the same.
    fake.expireDeltaTokens(c.tenantId);
    c.objects.upsert('users', { id: userId(1), displayName: 'After expiry' });
    const missedAgain = await fake.pushLifecycle(c.record.subscriptionId, 'missed');
    await settled();

    // Assert: a full resync for the expired state, and a fresh delta link
    expect(missedAgain).toMatchObject({ delivered: true, status: 202 });
    const afterExpiry = c.busEvents(DETAIL_TYPES.change).slice(changes.length + afterFull.length);
    expect(resourcesOf(afterExpiry)).toEqual(everyone);
    expect(afterExpiry.find((e) => e['payload'].value[0].resource === 'Users/user-0001')?.['payload'].value[0].resourceData.displayName).toBe('After expiry');
    const summaries = c.busEvents(RESYNC_DETAIL_TYPE);
    expectValid(RESYNC_DETAIL_TYPE, summaries);
    expect(summaries.map((s) => [s['trigger'], s['mode'], s['fullReason']])).toEqual([
      ['missed', 'incremental', undefined],
      ['operator', 'full', 'requested'],
      ['missed', 'full', 'expired'],
    ]);
    const after = await states.get(c.key);
    expect(after?.deltaLink).toMatch(/deltatoken=/);
    expect(after?.deltaLink).not.toBe(baseline?.deltaLink);
    expect(after?.lastRun).toMatchObject({ trigger: 'missed', mode: 'full', outcome: 'completed' });
    expect(fake.internalErrors()).toEqual([]);
  });

  it('catches up under the recreated subscription after subscriptionRemoved, and marks webhook events as such', async () => {
    // Prepare: a baselined ;resync subscription; one change notification delivered by Graph as usual
    const c = await reconciledResyncConnection(10);
    await settled();
    const firstId = c.record.subscriptionId;
    c.objects.upsert('users', { id: userId(2), displayName: 'Pushed' });
    const pushed = await fake.pushChange(firstId, { changeType: 'updated', resource: `Users/${userId(2)}`, resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': `Users/${userId(2)}`, id: userId(2) } });

    // Act: users change while Graph removes the subscription
    c.objects.upsert('users', { id: userId(5), displayName: 'Changed while removed' });
    c.objects.remove('users', userId(9), { permanent: true });
    const removed = await fake.pushLifecycle(firstId, 'subscriptionRemoved');
    await settled();

    // Assert: the webhook event says webhook; the subscription recreated; a catch-up under its new id
    expect(pushed).toMatchObject({ delivered: true, status: 202 });
    expect(removed).toMatchObject({ delivered: true, status: 202 });
    const [webhook, ...caughtUp] = c.busEvents(DETAIL_TYPES.change);
    expectValid(DETAIL_TYPES.change, [webhook]);
    expect(webhook).toMatchObject({ connectionId: c.connectionId, metadata: { origin: 'webhook', subscriptionId: firstId } });
    expect(webhook?.['payload'].value[0]).toMatchObject({ subscriptionId: firstId, changeType: 'updated', resource: `Users/${userId(2)}` });
    const atGraph = fake.subscriptions(c.tenantId);
    expect(atGraph).toHaveLength(1);
    const secondId = atGraph[0]?.id ?? '';
    expect(secondId).not.toBe(firstId);
    expect(await subscriptions.get(c.integrationId, secondId)).toMatchObject({ connectionId: c.connectionId, status: 'active' });
    expect(c.busEvents(SUBSCRIPTION_DETAIL_TYPES.recreated)).toEqual([expect.objectContaining({ subscriptionId: secondId, previousSubscriptionId: firstId })]);
    expectValid(DETAIL_TYPES.change, caughtUp);
    // The delta round since the baseline: the pushed change too (Graph's delta query knows nothing of webhooks).
    expect(resourcesOf(caughtUp)).toEqual([`Users/${userId(2)}`, `Users/${userId(5)}`, `Users/${userId(9)}`]);
    for (const event of caughtUp) {
      expect(event['metadata']).toMatchObject({ origin: 'resync', subscriptionId: secondId });
      expect(event['payload'].value[0]).toMatchObject({ subscriptionId: secondId, changeType: event['payload'].value[0].resource === `Users/${userId(9)}` ? 'deleted' : 'updated' });
    }
    expect(c.busEvents(RESYNC_DETAIL_TYPE)).toEqual([expect.objectContaining({ subscriptionId: secondId, trigger: 'removed', mode: 'incremental', objects: 3 })]);
    expect(await states.get(c.key)).toMatchObject({ subscriptionId: secondId });
    expect(fake.internalErrors()).toEqual([]);
  });
});
