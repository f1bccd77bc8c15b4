/**
 * What a full reconcile reads a page at a time, against DynamoDB Local: pages of an integration's connections, which
 * connections still exist, and the checkpoint item where a run that ran out of time stopped.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { StoreDataError } from '../../shared/store/connections-store';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { keys } from '../../shared/store/items';
import type { PageKey } from '../../shared/store/page-key';
import { CHECKPOINT_KEY, DynamoDbReconcileCheckpointStore } from '../../shared/store/reconcile-checkpoint';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';

const REGION = 'us-east-1';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';

let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let table: string;
let deliveries: string;

beforeAll(() => {
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  dynamodb = new DynamoDBClient({ endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
  doc = DynamoDBDocumentClient.from(dynamodb);
});

beforeEach(async () => {
  const suffix = randomUUID().slice(0, 8);
  table = `reads-connections-${suffix}`;
  deliveries = `reads-deliveries-${suffix}`;
  await ensureTables(dynamodb, { connectionsTable: table, deliveriesTable: deliveries });
});

afterEach(async () => {
  await Promise.all([table, deliveries].map((TableName) => dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => undefined)));
});

afterAll(() => {
  dynamodb.destroy();
});

/** A connection item as an operator writes it in the console. */
async function putConnectionItem(integrationId: string, connectionId: string, overrides: Record<string, unknown> = {}): Promise<void> {
  const at = '2026-01-01T00:00:00.000Z';
  await doc.send(
    new PutCommand({
      TableName: table,
      Item: { ...keys.connection(integrationId, connectionId), type: 'connection', integrationId, connectionId, tenantId: TENANT, createdAt: at, updatedAt: at, ...overrides },
    }),
  );
}

describe('DynamoDbConnectionsStore: pages and existence', () => {
  it('pages through an integration\'s connections alone, in key order, reporting items that do not parse on their page', async () => {
    // Prepare: 5 connections (one unreadable) among a subscription record and another integration's connection
    const store = new DynamoDbConnectionsStore(doc, table);
    for (const id of ['conn-1', 'conn-2', 'conn-4', 'conn-5']) await putConnectionItem('contoso', id);
    await putConnectionItem('contoso', 'conn-3', { tenantId: 'not-a-guid' });
    await putConnectionItem('fabrikam', 'conn-9');
    await new DynamoDbSubscriptionsStore(doc, table).put({
      integrationId: 'contoso',
      subscriptionId: 'sub-1',
      connectionId: 'conn-1',
      tenantId: TENANT,
      resource: 'users',
      changeTypes: ['created'],
      expiresAt: '2026-01-20T00:00:00.000Z',
      status: 'active',
    });

    // Act
    const pages = [];
    let startKey: PageKey | undefined;
    do {
      const page = await store.listConnectionsPage('contoso', { limit: 2, ...(startKey === undefined ? {} : { startKey }) });
      pages.push(page);
      startKey = page.nextKey;
    } while (startKey !== undefined);

    // Assess
    expect(pages.map((page) => page.connections.map((c) => c.connectionId))).toEqual([['conn-1', 'conn-2'], ['conn-4'], ['conn-5']]);
    expect(pages.map((page) => page.invalidItems.map((item) => item.sk))).toEqual([[], ['CONNECTION#conn-3'], []]);
    expect(pages[0]?.nextKey).toEqual({ pk: 'INTEGRATION#contoso', sk: 'CONNECTION#conn-2' });
  });

  it('tells which connections have an item, unreadable ones included, over more keys than one BatchGetItem takes', async () => {
    // Prepare
    const store = new DynamoDbConnectionsStore(doc, table);
    await putConnectionItem('contoso', 'conn-7');
    await putConnectionItem('contoso', 'conn-142', { tenantId: 'not-a-guid' });
    await putConnectionItem('fabrikam', 'conn-8');
    const asked = Array.from({ length: 150 }, (_, i) => `conn-${i}`);

    // Act
    const existing = await store.existingConnectionIds('contoso', [...asked, 'conn-7']);
    const none = await store.existingConnectionIds('contoso', []);

    // Assess
    expect([...existing].sort()).toEqual(['conn-142', 'conn-7']);
    expect(none.size).toBe(0);
  });
});

describe('DynamoDbReconcileCheckpointStore', () => {
  it('keeps one readable item of where a run stopped, and removes it', async () => {
    // Prepare
    const checkpoint = new DynamoDbReconcileCheckpointStore(doc, table, () => new Date('2026-03-01T12:04:40.000Z'));
    const after = { pk: 'INTEGRATION#contoso', sk: 'CONNECTION#conn-0100' };

    // Act
    const before = await checkpoint.get();
    await checkpoint.put({ integrationId: 'contoso', phase: 'connections', after });
    const saved = await checkpoint.get();
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: CHECKPOINT_KEY }));
    await checkpoint.put({ integrationId: 'fabrikam', phase: 'subscriptions' });
    const atStart = await checkpoint.get();
    await checkpoint.clear();

    // Assess
    expect(before).toBeUndefined();
    expect(saved).toEqual({ integrationId: 'contoso', phase: 'connections', after, updatedAt: '2026-03-01T12:04:40.000Z' });
    expect(Item).toEqual({
      pk: 'RECONCILE',
      sk: 'CHECKPOINT',
      type: 'reconcile-checkpoint',
      integrationId: 'contoso',
      phase: 'connections',
      lastEvaluatedKey: '{"pk":"INTEGRATION#contoso","sk":"CONNECTION#conn-0100"}',
      updatedAt: '2026-03-01T12:04:40.000Z',
    });
    expect(atStart).toEqual({ integrationId: 'fabrikam', phase: 'subscriptions', updatedAt: '2026-03-01T12:04:40.000Z' });
    expect(await checkpoint.get()).toBeUndefined();
  });

  it('refuses an item edited into a key that would make every Query fail', async () => {
    // Prepare: a key of another integration's range
    const checkpoint = new DynamoDbReconcileCheckpointStore(doc, table);
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          ...CHECKPOINT_KEY,
          type: 'reconcile-checkpoint',
          integrationId: 'contoso',
          phase: 'subscriptions',
          lastEvaluatedKey: '{"pk":"INTEGRATION#fabrikam","sk":"SUBSCRIPTION#sub-1"}',
          updatedAt: '2026-03-01T12:00:00.000Z',
        },
      }),
    );

    // Act
    const read = checkpoint.get();

    // Assess
    await expect(read).rejects.toThrow(StoreDataError);
    await expect(checkpoint.get()).rejects.toThrow(/lastEvaluatedKey is not a key of the integration's range for that phase/);
  });
});
