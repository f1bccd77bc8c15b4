/**
 * The reconciler's stream event source on the local stack: DynamoDB Local's stream of the connections table,
 * polled and handed over as Lambda delivers it. First the poller alone (record shape, start position, retries of
 * reported failures, the table's stream), then the whole stack against a Graph fake (real validation handshake):
 * connection changes made through the store reach Graph without a scheduled or on-demand reconcile.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { startConnectionsStream, type ConnectionsStream, type ConnectionsStreamOptions } from '../../local/connections-stream';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { CONNECTION_INDEX } from '../../shared/store/connection-index';
import { RENEWAL_INDEX } from '../../shared/store/renewal-index';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { connectionChangesOf } from '../../shared/subscriptions/connection-changes';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const REGION = 'us-east-1';
/** How long a change may take to show; only a bound for giving up, never a measured expectation. */
const PATIENCE_MS = 45_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Probes until `done` holds, failing with the last value seen once PATIENCE_MS has passed. */
async function eventually<T>(what: string, probe: () => T | Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    await sleep(100);
  }
}

function endpoint(): string {
  const value = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (value === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest (test/setup/global-setup.ts)');
  return value;
}

describe('local connections stream poller (DynamoDB Local)', () => {
  let dynamodb: DynamoDBClient;
  let tableName: string;
  const running: ConnectionsStream[] = [];

  beforeAll(async () => {
    dynamodb = new DynamoDBClient({ region: REGION, credentials: LOCAL_CREDENTIALS, endpoint: endpoint() });
  });

  beforeEach(async () => {
    tableName = `stream-connections-${randomUUID().slice(0, 8)}`;
    await ensureTables(dynamodb, { connectionsTable: tableName, deliveriesTable: `stream-deliveries-${randomUUID().slice(0, 8)}` });
  });

  afterEach(async () => {
    for (const stream of running.splice(0)) await stream.stop();
  });

  afterAll(() => dynamodb?.destroy());

  /** A poller with a recording reconciler: `respond` decides each batch's failures. */
  async function startPoller(
    respond: (event: DynamoDBStreamEvent, call: number) => Promise<DynamoDBBatchResponse> | DynamoDBBatchResponse = () => ({ batchItemFailures: [] }),
    options: Partial<ConnectionsStreamOptions> = {},
  ) {
    const events: DynamoDBStreamEvent[] = [];
    const lines: string[] = [];
    const errors: string[] = [];
    const stream = await startConnectionsStream({
      endpoint: endpoint(),
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      tableName,
      pollIntervalMs: 50,
      maxIdleIntervalMs: 200,
      retryBaseDelayMs: 10,
      log: (line) => lines.push(line),
      logError: (line) => errors.push(line),
      invoke: async (event) => {
        // A copy: the poller hands a retry the same record objects.
        events.push({ Records: [...event.Records] });
        return respond(event, events.length);
      },
      ...options,
    });
    running.push(stream);
    return { stream, events, lines, errors };
  }

  const connectionKey = (integrationId: string, connectionId: string) => ({ pk: { S: `INTEGRATION#${integrationId}` }, sk: { S: `CONNECTION#${connectionId}` } });
  const putConnection = (integrationId: string, connectionId: string, extra: Record<string, AttributeValue> = {}) =>
    dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { ...connectionKey(integrationId, connectionId), type: { S: 'connection' }, ...extra } }));
  const sksOf = (events: DynamoDBStreamEvent[]) => events.map((event) => event.Records.map((record) => record.dynamodb?.Keys?.['sk']?.S));

  it('hands INSERT, MODIFY and REMOVE of connection items over as Lambda delivers them, and leaves out other items', async () => {
    // Prepare
    const { stream, events, errors } = await startPoller();

    // Act
    await putConnection('int-a', 'conn-1', {
      tenantId: { S: '84bd8158-6d4d-4958-8b9f-9d6445542f95' },
      subscriptions: { L: [{ S: 'users:created,updated' }] },
      attempts: { N: '2' },
      token: { B: new Uint8Array([1, 2, 255]) },
      enabled: { BOOL: true },
      note: { NULL: true },
      meta: { M: { tags: { SS: ['a', 'b'] } } },
    });
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: connectionKey('int-a', 'conn-1'),
        UpdateExpression: 'SET subscriptions = :subscriptions',
        ExpressionAttributeValues: { ':subscriptions': { L: [{ S: 'groups:deleted' }] } },
      }),
    );
    await dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'INTEGRATION#int-a' }, sk: { S: `SUBSCRIPTION#${randomUUID()}` } } }));
    await dynamodb.send(new DeleteItemCommand({ TableName: tableName, Key: connectionKey('int-a', 'conn-1') }));
    const records = await eventually('three records', () => events.flatMap((event) => event.Records), (seen) => seen.length >= 3);
    await stream.idle();

    // Assess
    const [inserted, modified, removed] = records;
    const keys = { pk: { S: 'INTEGRATION#int-a' }, sk: { S: 'CONNECTION#conn-1' } };
    const envelope = { eventID: expect.any(String), eventVersion: '1.1', eventSource: 'aws:dynamodb', awsRegion: expect.any(String), eventSourceARN: stream.streamArn };
    const streamRecord = { ApproximateCreationDateTime: expect.any(Number), Keys: keys, SequenceNumber: expect.stringMatching(/^\d+$/), SizeBytes: expect.any(Number), StreamViewType: 'NEW_AND_OLD_IMAGES' };
    const firstImage = {
      ...keys,
      type: { S: 'connection' },
      tenantId: { S: '84bd8158-6d4d-4958-8b9f-9d6445542f95' },
      subscriptions: { L: [{ S: 'users:created,updated' }] },
      attempts: { N: '2' },
      token: { B: 'AQL/' },
      enabled: { BOOL: true },
      note: { NULL: true },
      meta: { M: { tags: { SS: ['a', 'b'] } } },
    };
    const secondImage = { ...firstImage, subscriptions: { L: [{ S: 'groups:deleted' }] } };
    expect(records).toHaveLength(3);
    expect(inserted).toStrictEqual({ ...envelope, eventName: 'INSERT', dynamodb: { ...streamRecord, NewImage: firstImage } });
    expect(modified).toStrictEqual({ ...envelope, eventName: 'MODIFY', dynamodb: { ...streamRecord, OldImage: firstImage, NewImage: secondImage } });
    expect(removed).toStrictEqual({ ...envelope, eventName: 'REMOVE', dynamodb: { ...streamRecord, OldImage: secondImage } });
    expect(stream.streamArn).toContain(`table/${tableName}/stream/`);
    expect(errors).toEqual([]);
    // What the reconciler reads of them: one changed connection, nothing ignored.
    expect(connectionChangesOf(records as DynamoDBRecord[])).toEqual({
      targets: [{ integrationId: 'int-a', connectionId: 'conn-1', sequenceNumbers: records.map((record) => record.dynamodb?.SequenceNumber) }],
      ignored: [],
    });
  });

  it('starts at the end of the stream: changes written before it started are not handed over', async () => {
    // Prepare
    await putConnection('int-b', 'before-start');

    // Act
    const { stream, events } = await startPoller();
    await putConnection('int-b', 'after-start');
    await eventually('the change after the start', () => events.length, (count) => count >= 1);
    await stream.idle();

    // Assess
    expect(sksOf(events)).toEqual([['CONNECTION#after-start']]);
    expect(stream.stats()).toEqual({ batches: 1, records: 1, retriedRecords: 0, skippedRecords: 0 });
  });

  it('keeps reading a shard that was empty at the start when another stream takes sequence numbers first', async () => {
    // Prepare: DynamoDB Local numbers the records of all its streams from one counter, so this shard's first record
    // gets a higher number than its iterators (taken while it was empty) expect.
    const { stream, events, errors } = await startPoller();
    await ensureTables(dynamodb, { connectionsTable: `stream-other-${randomUUID().slice(0, 8)}`, deliveriesTable: `stream-other-d-${randomUUID().slice(0, 8)}` });

    // Act
    await putConnection('int-e', 'first');
    await putConnection('int-e', 'second');
    await eventually('both changes', () => events.flatMap((event) => event.Records).length, (count) => count >= 2);
    await stream.idle();

    // Assess
    expect(sksOf(events).flat()).toEqual(['CONNECTION#first', 'CONNECTION#second']);
    expect(errors).toEqual([]);
  });

  it('hands records over again from the first one reported failed, and gives up on them after the retries', async () => {
    // Prepare: the first batch is held until b and c are written, so they arrive together in the next one.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { stream, events, lines, errors } = await startPoller(
      async (event, call) => {
        if (call === 1) await held;
        const c = event.Records.find((record) => record.dynamodb?.Keys?.['sk']?.S === 'CONNECTION#c');
        return { batchItemFailures: c === undefined ? [] : [{ itemIdentifier: c.dynamodb?.SequenceNumber ?? '' }] };
      },
      { retryAttempts: 3 },
    );

    // Act
    await putConnection('int-c', 'a');
    await eventually('the first batch', () => events.length, (count) => count >= 1);
    await putConnection('int-c', 'b');
    await putConnection('int-c', 'c');
    release();
    await eventually('the retries', () => errors.length, (count) => count >= 1);
    await putConnection('int-c', 'd');
    await eventually('the batch after the given-up one', () => events.length, (count) => count >= 6);
    await stream.idle();

    // Assess
    expect(sksOf(events)).toEqual([
      ['CONNECTION#a'],
      ['CONNECTION#b', 'CONNECTION#c'],
      ['CONNECTION#c'],
      ['CONNECTION#c'],
      ['CONNECTION#c'],
      ['CONNECTION#d'],
    ]);
    expect(stream.stats()).toEqual({ batches: 6, records: 4, retriedRecords: 3, skippedRecords: 1 });
    expect(errors).toEqual([expect.stringMatching(/^reconcile \(stream\): gave up on 1 record\(s\) \(sequence \d+…\d+\) after 3 retries; the scheduled reconcile retries their connections$/)]);
    expect(lines[1]).toBe('reconcile (stream): 2 records, 1 connection reconciled, 1 record failed (retry 1 of 3 follows)');
    expect(lines[4]).toBe('reconcile (stream): 1 record, 0 connections reconciled, 1 record failed (no retries left)');
    expect(lines[5]).toBe('reconcile (stream): 1 record, 1 connection reconciled');
  });

  it('hands nothing over once stopped', async () => {
    // Prepare
    const { stream, events } = await startPoller();

    // Act
    await stream.stop();
    await putConnection('int-d', 'after-stop');
    await sleep(300);

    // Assess
    expect(events).toEqual([]);
    await expect(stream.idle()).resolves.toBeUndefined();
  });

  it('gives a connections table made by an older local run, without a stream, the stream production has', async () => {
    // Prepare: the table as local runs created it before the stream (with today's indexes: adding one to a table of
    // the shared DynamoDB Local can take longer than the test)
    const older = `older-connections-${randomUUID().slice(0, 8)}`;
    await dynamodb.send(
      new CreateTableCommand({
        TableName: older,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: RENEWAL_INDEX.partitionKey, AttributeType: 'S' },
          { AttributeName: RENEWAL_INDEX.sortKey, AttributeType: 'S' },
          { AttributeName: CONNECTION_INDEX.partitionKey, AttributeType: 'S' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: RENEWAL_INDEX.indexName,
            KeySchema: [
              { AttributeName: RENEWAL_INDEX.partitionKey, KeyType: 'HASH' },
              { AttributeName: RENEWAL_INDEX.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: CONNECTION_INDEX.indexName,
            KeySchema: [
              { AttributeName: CONNECTION_INDEX.partitionKey, KeyType: 'HASH' },
              { AttributeName: CONNECTION_INDEX.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    const names = { connectionsTable: older, deliveriesTable: `older-deliveries-${randomUUID().slice(0, 8)}` };

    // Act
    await ensureTables(dynamodb, names);
    const first = (await dynamodb.send(new DescribeTableCommand({ TableName: older }))).Table;
    await ensureTables(dynamodb, names);
    const second = (await dynamodb.send(new DescribeTableCommand({ TableName: older }))).Table;

    // Assess
    expect(first?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(first?.LatestStreamArn).toEqual(expect.any(String));
    expect(second?.LatestStreamArn).toBe(first?.LatestStreamArn);
  });
});

describe('local stack: reconciler on the connections stream', () => {
  const APP = { clientId: randomUUID(), clientSecret: 'local-stream-app-secret~0123456789' };
  let fake: GraphFake;
  let t: TestStack;
  let dynamodb: DynamoDBClient;
  let subscriptions: DynamoDbSubscriptionsStore;
  const lines: string[] = [];
  /** Called on each log line; a test may act on one as it is written. */
  let onLine: (line: string) => void = () => undefined;

  beforeAll(async () => {
    fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
    t = await startTestStack({
      // No scheduled runs, and no test calls reconcile.runNow(): only the stream can make these changes.
      renewal: { intervalSeconds: 0 },
      graph: { apiUrl: fake.url, loginUrl: fake.loginUrl },
      connectionsStream: { pollIntervalMs: 100, maxIdleIntervalMs: 250, retryBaseDelayMs: 200 },
      log: (line) => {
        lines.push(line);
        onLine(line);
      },
    });
    const d = t.stack.descriptor;
    dynamodb = new DynamoDBClient({ region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.dynamodbEndpoint });
    subscriptions = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
  });

  afterAll(async () => {
    dynamodb?.destroy();
    await t?.stop();
    await fake?.close();
  });

  async function integrationWithApp(): Promise<string> {
    const { integrationId, webhookSecret } = await t.seedIntegration({});
    await t.putSecret(integrationId, { webhookSecret, ...APP });
    return integrationId;
  }

  const atGraph = (tenantId: string) => () =>
    fake
      .subscriptions(tenantId, { includeEnded: true })
      .map((s) => `${s.resource} ${s.changeType} ${s.state}`)
      .sort();

  it('creates, replaces and deletes a connection\'s declared subscriptions at Graph as the connection changes', async () => {
    // Prepare
    const integrationId = await integrationWithApp();
    const tenantId = randomUUID();

    // Act: add
    await t.store.addConnection({ integrationId, connectionId: 'conn-1', tenantId, subscriptions: ['users:created,updated'] });
    const afterAdd = await eventually('the users subscription', atGraph(tenantId), (seen) => seen.length === 1 && seen[0] === 'users created,updated active');
    const recordsAfterAdd = await eventually('its record', async () => (await subscriptions.listByIntegration(integrationId)).subscriptions, (records) => records.length === 1);

    // Act: change the declaration
    await t.store.setSubscriptions(integrationId, 'conn-1', ['groups:deleted']);
    const afterChange = await eventually('groups instead of users', atGraph(tenantId), (seen) => seen.length === 2 && !seen.includes('users created,updated active') && seen.includes('groups deleted active'));

    // Act: remove
    await t.store.removeConnection(integrationId, 'conn-1');
    const afterRemove = await eventually('nothing active', atGraph(tenantId), (seen) => seen.length === 2 && seen.every((entry) => !entry.endsWith(' active')));
    const recordsAfterRemove = await eventually('no records', async () => (await subscriptions.listByIntegration(integrationId)).subscriptions, (records) => records.length === 0);

    // Assess
    expect(afterAdd).toEqual(['users created,updated active']);
    expect(recordsAfterAdd.map((r) => [r.connectionId, r.resource, r.status])).toEqual([['conn-1', 'users', 'active']]);
    expect(fake.subscription(recordsAfterAdd[0]!.subscriptionId)).toMatchObject({ notificationUrl: `${t.stack.descriptor.webhookBaseUrl}${integrationId}` });
    expect(afterChange).toEqual(['groups deleted active', 'users created,updated deleted']);
    expect(afterRemove).toEqual(['groups deleted deleted', 'users created,updated deleted']);
    expect(recordsAfterRemove).toEqual([]);
    expect(lines.filter((line) => line.startsWith('reconcile: '))).toEqual([]);
    expect(lines).toContain('reconcile (stream): 1 record, 1 connection reconciled');
    expect(t.stack.connectionsStream?.stats()).toMatchObject({ retriedRecords: 0, skippedRecords: 0 });
  }, 3 * PATIENCE_MS);

  it('hands a connection\'s change over again when Graph fails, and the retry creates the subscription', async () => {
    // Prepare: Graph fails every create until the stack reports the failed batch
    const integrationId = await integrationWithApp();
    const tenantId = randomUUID();
    fake.failNext('subscriptions.create', 500, 100);
    onLine = (line) => {
      if (line.includes('failed (retry 1 of 3 follows)')) fake.clearFaults();
    };

    // Act
    await t.store.addConnection({ integrationId, connectionId: 'conn-2', tenantId, subscriptions: ['users:deleted'] });
    const seen = await eventually('the users subscription', atGraph(tenantId), (entries) => entries.includes('users deleted active'));
    // Graph has it a moment before the reconciler records it.
    const records = await eventually('its record', async () => (await subscriptions.listByIntegration(integrationId)).subscriptions, (found) => found.length > 0);
    onLine = () => undefined;

    // Assess
    expect(seen).toEqual(['users deleted active']);
    expect(lines).toContain('reconcile (stream): 1 record, 0 connections reconciled, 1 record failed (retry 1 of 3 follows)');
    expect(records.map((r) => r.resource)).toEqual(['users']);
    expect(t.stack.connectionsStream?.stats()).toMatchObject({ skippedRecords: 0 });
  }, 2 * PATIENCE_MS);
});
