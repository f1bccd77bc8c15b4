import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { DETAIL_TYPES, type EventEntry } from '../../shared/events/contract';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { EventBridgePublisher } from '../../shared/events/publisher';
import { RESYNC_DETAIL_TYPE, type ResyncedEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig, type Clock } from '../../shared/graph/graph-config';
import type { ResyncJob, ResyncTrigger } from '../../shared/resync/resync-job';
import { declarationOf, runResync, type ResyncPorts, type ResyncResult } from '../../shared/resync/run-resync';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbResyncStateStore } from '../../shared/store/resync-checkpoints';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'resync-app-secret~0123456789' };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let t: TestStack;
let dynamodb: DynamoDBClient;
let secrets: SecretsManagerClient;
let events: EventBridgeClient;
let fake: GraphFake;
const tables: string[] = [];

beforeAll(async () => {
  t = await startTestStack();
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint });
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  events = new EventBridgeClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  fake = await startGraphFake({ apps: [APP] });
});

afterAll(async () => {
  await Promise.all(tables.map((TableName) => dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => undefined)));
  dynamodb?.destroy();
  secrets?.destroy();
  events?.destroy();
  await fake?.close();
  await t?.stop();
});

/**
 * One tenant with `users` declared `;resync` on one connection, its subscription recorded (the runner never calls
 * Graph's subscriptions API), and the product's resync run wired as the function wires it: DynamoDB Local, the
 * Graph fake's delta queries, the local bus.
 */
async function world(options: { declaration?: string; users?: number } = {}) {
  const d = t.stack.descriptor;
  const suffix = randomUUID().slice(0, 8);
  const names = { connectionsTable: `resync-connections-${suffix}`, deliveriesTable: `resync-deliveries-${suffix}` };
  tables.push(names.connectionsTable, names.deliveriesTable);
  await ensureTables(dynamodb, names);
  const doc = DynamoDBDocumentClient.from(dynamodb);
  const connections = new DynamoDbConnectionsStore(doc, names.connectionsTable);
  const subscriptions = new DynamoDbSubscriptionsStore(doc, names.connectionsTable);
  const states = new DynamoDbResyncStateStore(doc, names.connectionsTable);

  const { integrationId, webhookSecret } = await t.seedIntegration({});
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  await connections.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
  const tenantId = randomUUID();
  const connectionId = `conn-${suffix}`;
  await connections.addConnection({ integrationId, connectionId, tenantId, subscriptions: [options.declaration ?? 'users:updated,deleted;resync'] });
  const subscriptionId = randomUUID();
  const record = { integrationId, subscriptionId, connectionId, tenantId, resource: 'users', changeTypes: ['updated' as const, 'deleted' as const], expiresAt: new Date(Date.now() + 86_400_000).toISOString(), status: 'active' as const };
  await subscriptions.put(record);

  const users = fake.objects(tenantId);
  for (let i = 1; i <= (options.users ?? 0); i += 1) users.upsert('users', { id: `user-${String(i).padStart(4, '0')}`, displayName: `User ${i}` });

  const clock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
  const readSecret = async (id: string): Promise<unknown> => {
    const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
    return JSON.parse(SecretString ?? 'null') as unknown;
  };
  const graphs = new IntegrationGraphs({ config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }), readSecret, clock });
  const ports: ResyncPorts = {
    subscriptions,
    connections,
    states,
    graphFor: (id: string) => graphs.graphClientFor(id),
    publisher: new EventBridgePublisher<EventEntry>(events, d.eventBusName, { maxAttempts: 3, concurrency: 4 }),
    summaries: new EventBridgePublisher<ResyncedEventEntry>(events, d.eventBusName, { maxAttempts: 3, concurrency: 1 }),
    eventSource: d.eventSource,
    logger: quiet,
    clock,
  };
  const job = (trigger: ResyncTrigger, extra: Partial<ResyncJob> = {}): ResyncJob => ({ integrationId, subscriptionId, trigger, requestedAt: new Date().toISOString(), ...extra });
  const run = (trigger: ResyncTrigger, extra: Partial<ResyncJob> = {}, more: Partial<ResyncPorts> = {}, deadlineMs = 120_000): Promise<ResyncResult> =>
    runResync({ ...ports, ...more }, job(trigger, extra), { deadline: Date.now() + deadlineMs });
  const busEvents = (detailType: string) =>
    t.stack.emulator
      .events(d.eventBusName)
      .filter((e) => e['detail-type'] === detailType && e.detail['providerConfigKey'] === integrationId)
      .map((e) => e.detail as Record<string, any>);
  const key = { integrationId, connectionId, declaration: declarationOf(record) };
  return { integrationId, tenantId, connectionId, subscriptionId, users, states, key, run, busEvents, connections };
}

function expectValid(detailType: keyof typeof detailSchemas, details: readonly unknown[]): void {
  for (const detail of details) expect(detailSchemas[detailType].safeParse(detail).error).toBeUndefined();
}

describe('a resync run against the Graph fake, DynamoDB Local and the local bus', () => {
  it('takes a baseline without publishing, then publishes exactly the changes since as change notifications', async () => {
    // Prepare: 150 users exist before the subscription
    const w = await world({ users: 150 });

    // Act: the subscription was created
    const baseline = await w.run('created');

    // Assert: a delta link, nothing published
    expect(baseline).toMatchObject({ outcome: 'completed', mode: 'baseline', changed: 0, deleted: 0 });
    const state = await w.states.get(w.key);
    expect(state?.deltaLink).toMatch(/deltatoken=/);
    expect(state?.run).toBeUndefined();
    expect(state?.lastRun).toMatchObject({ outcome: 'completed', mode: 'baseline', trigger: 'created' });
    expect(w.busEvents(DETAIL_TYPES.change)).toHaveLength(0);
    expect(w.busEvents(RESYNC_DETAIL_TYPE)).toHaveLength(0);

    // Act: three users change, one is deleted, then Graph reports missed notifications
    for (const id of ['user-0003', 'user-0042', 'user-0150']) w.users.upsert('users', { id, displayName: `Renamed ${id}` });
    w.users.remove('users', 'user-0007', { permanent: true });
    const missed = await w.run('missed');

    // Assert
    expect(missed).toMatchObject({ outcome: 'completed', mode: 'incremental', changed: 3, deleted: 1 });
    const changes = w.busEvents(DETAIL_TYPES.change);
    expectValid(DETAIL_TYPES.change, changes);
    expect(changes.map((e) => e['payload'].value[0].resource).sort()).toEqual(['Users/user-0003', 'Users/user-0007', 'Users/user-0042', 'Users/user-0150']);
    for (const event of changes) {
      const notification = event['payload'].value[0];
      expect(event['connectionId']).toBe(w.connectionId);
      // The region comes from the environment (the local stack's AWS_REGION) when the ports do not name one.
      expect(event['metadata']).toMatchObject({ origin: 'resync', subscriptionId: w.subscriptionId, tenantId: w.tenantId, region: t.stack.descriptor.region });
      expect(notification).toMatchObject({ subscriptionId: w.subscriptionId, tenantId: w.tenantId });
      expect(notification.changeType).toBe(notification.resource === 'Users/user-0007' ? 'deleted' : 'updated');
      expect(notification.resourceData.id).toBe(notification.resource.slice('Users/'.length));
    }
    expect(changes.find((e) => e['payload'].value[0].resource === 'Users/user-0042')?.['payload'].value[0].resourceData.displayName).toBe('Renamed user-0042');
    const summaries = w.busEvents(RESYNC_DETAIL_TYPE);
    expectValid(RESYNC_DETAIL_TYPE, summaries);
    expect(summaries).toEqual([expect.objectContaining({ trigger: 'missed', mode: 'incremental', objects: 4, changed: 3, deleted: 1, pages: 1, connectionId: w.connectionId })]);

    // Act: nothing changed since
    const again = await w.run('missed');

    // Assert: an empty round, no change events
    expect(again).toMatchObject({ outcome: 'completed', mode: 'incremental', changed: 0, deleted: 0 });
    expect(w.busEvents(DETAIL_TYPES.change)).toHaveLength(4);
  });

  it('publishes every current object on --full, and on an expired delta link', async () => {
    // Prepare
    const w = await world({ users: 230 });
    await w.run('created');

    // Act
    const full = await w.run('operator', { full: true });

    // Assert: 230 users over three pages, each once
    expect(full).toMatchObject({ outcome: 'completed', mode: 'full', fullReason: 'requested', changed: 230, pages: 3 });
    const published = w.busEvents(DETAIL_TYPES.change).map((e) => e['payload'].value[0].resource);
    expect(new Set(published).size).toBe(230);
    expect(published).toHaveLength(230);

    // Act: Graph forgets the delta link
    fake.expireDeltaTokens(w.tenantId);
    w.users.upsert('users', { id: 'user-0001', displayName: 'after expiry' });
    const expired = await w.run('missed');

    // Assert: a full round, then a fresh delta link that works
    expect(expired).toMatchObject({ outcome: 'completed', mode: 'full', fullReason: 'expired', changed: 230 });
    expect(w.busEvents(RESYNC_DETAIL_TYPE).map((e) => [e['mode'], e['fullReason']])).toEqual([
      ['full', 'requested'],
      ['full', 'expired'],
    ]);
    w.users.upsert('users', { id: 'user-0002', displayName: 'later' });
    expect(await w.run('missed')).toMatchObject({ outcome: 'completed', mode: 'incremental', changed: 1 });
  });

  it('goes on from its checkpoint after a crash: nothing lost, at most the page in flight sent twice', async () => {
    // Prepare: 450 users, five pages of 100 in a full round
    const w = await world({ users: 450 });
    await w.run('created');
    let pagesBeforeCrash = 0;
    const crashAfterThirdPage = () => {
      pagesBeforeCrash += 1;
      if (pagesBeforeCrash === 3) throw new Error('killed');
    };

    // Act: the run dies after publishing its third page, before checkpointing it
    await expect(w.run('operator', { full: true }, { onProgress: crashAfterThirdPage })).rejects.toThrow('killed');
    const between = await w.states.get(w.key);
    const resumed = await w.run('continued');

    // Assert
    expect(between?.run).toMatchObject({ mode: 'full', pages: 2, changed: 200 });
    expect(resumed).toMatchObject({ outcome: 'completed', mode: 'full', resumed: 1, pages: 5, changed: 450 });
    const published = w.busEvents(DETAIL_TYPES.change).map((e) => e['payload'].value[0].resource as string);
    const distinct = new Set(published);
    expect(distinct.size).toBe(450);
    expect(published.length - distinct.size).toBe(100);
  });

  it('stops at its deadline with a checkpoint and reports continued', async () => {
    // Prepare
    const w = await world({ users: 300 });
    await w.run('created');

    // Act: a deadline that leaves room for no page at all
    const stopped = await w.run('operator', { full: true }, {}, 1_000);
    const after = await w.run('continued');

    // Assert
    expect(stopped).toMatchObject({ outcome: 'continued', pages: 0 });
    expect((await w.states.get(w.key))?.run).toBeUndefined();
    expect(after).toMatchObject({ outcome: 'completed', mode: 'full', changed: 300, resumed: 1 });
  });

  it('runs one at a time per declaration, and skips what it must not run', async () => {
    // Prepare
    const w = await world({ users: 5 });
    await w.states.acquire(w.key, { subscriptionId: w.subscriptionId, tenantId: w.tenantId, resource: 'users' }, { owner: 'another-run', until: new Date(Date.now() + 60_000), now: new Date() });

    // Act / Assert
    expect(await w.run('missed')).toEqual({ outcome: 'busy' });
    await w.states.release(w.key, 'another-run');
    expect(await w.run('missed')).toMatchObject({ outcome: 'completed', mode: 'full', fullReason: 'no-baseline', changed: 5 });

    // Act: resync switched off on the declaration
    await w.connections.setSubscriptions(w.integrationId, w.connectionId, ['users:updated,deleted']);
    const off = await w.run('periodic');

    // Assert: nothing run, and the state of the declaration removed
    expect(off).toMatchObject({ outcome: 'skipped', reason: 'not-declared' });
    expect(await w.states.get(w.key)).toBeUndefined();

    const plain = await world({ declaration: 'users:updated,deleted', users: 5 });
    expect(await plain.run('missed')).toMatchObject({ outcome: 'skipped', reason: 'not-declared' });
    expect(plain.busEvents(DETAIL_TYPES.change)).toHaveLength(0);
  });
});
