/**
 * The upgrade backfill of the ByConnection index key against DynamoDB Local: subscription items as versions before
 * the index wrote them get their key, once, and a record deleted or moved meanwhile is never written.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { keys } from '../../shared/store/items';
import { backfillSubscriptionConnectionKeys, type BackfillProgress } from '../../shared/store/migrations/subscription-connection-keys';
import { DynamoDbSubscriptionsStore, type SubscriptionInput } from '../../shared/store/subscriptions-store';

const REGION = 'us-east-1';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';

let endpoint: string;
let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let table: string;
let deliveries: string;
let store: DynamoDbSubscriptionsStore;

beforeAll(() => {
  const value = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (value === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  endpoint = value;
  dynamodb = new DynamoDBClient({ endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
  doc = DynamoDBDocumentClient.from(dynamodb);
});

beforeEach(async () => {
  const suffix = randomUUID().slice(0, 8);
  table = `backfill-connections-${suffix}`;
  deliveries = `backfill-deliveries-${suffix}`;
  await ensureTables(dynamodb, { connectionsTable: table, deliveriesTable: deliveries });
  store = new DynamoDbSubscriptionsStore(doc, table);
  const connections = new DynamoDbConnectionsStore(doc, table);
  for (const integrationId of ['contoso', 'fabrikam']) await connections.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
});

afterEach(async () => {
  await Promise.all([table, deliveries].map((TableName) => dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => undefined)));
});

afterAll(() => {
  dynamodb.destroy();
});

function subscription(overrides: Partial<SubscriptionInput> = {}): SubscriptionInput {
  return {
    integrationId: 'contoso',
    subscriptionId: randomUUID(),
    connectionId: 'conn-1',
    tenantId: TENANT,
    resource: 'users',
    changeTypes: ['created', 'updated'],
    expiresAt: '2026-01-30T00:00:00.000Z',
    status: 'active',
    ...overrides,
  };
}

/** A record as versions before the ByConnection index wrote it: without the key. */
async function oldRecord(overrides: Partial<SubscriptionInput> = {}): Promise<SubscriptionInput> {
  const input = subscription(overrides);
  await store.put(input);
  await doc.send(new UpdateCommand({ TableName: table, Key: keys.subscription(input.integrationId, input.subscriptionId), UpdateExpression: 'REMOVE connectionKey' }));
  return input;
}

async function connectionKeyOf(input: { integrationId: string; subscriptionId: string }): Promise<unknown> {
  const { Item } = await doc.send(new GetCommand({ TableName: table, Key: keys.subscription(input.integrationId, input.subscriptionId) }));
  return Item === undefined ? 'no item' : Item['connectionKey'];
}

describe('backfillSubscriptionConnectionKeys', () => {
  it('files every integration\'s records under their connection: missing and stale keys, unreadable items too; a dry run writes nothing', async () => {
    // Prepare: 120 old records over two integrations (more than a page), one with a stale key, one unreadable, two current
    const old = [];
    for (let i = 0; i < 110; i += 1) old.push(await oldRecord({ connectionId: `conn-${i % 7}` }));
    for (let i = 0; i < 10; i += 1) old.push(await oldRecord({ integrationId: 'fabrikam', connectionId: 'conn-f' }));
    const stale = subscription({ connectionId: 'conn-2' });
    await store.put(stale);
    await doc.send(new UpdateCommand({ TableName: table, Key: keys.subscription('contoso', stale.subscriptionId), UpdateExpression: 'SET connectionKey = :k', ExpressionAttributeValues: { ':k': 'contoso#conn-1' } }));
    await doc.send(new PutCommand({ TableName: table, Item: { ...keys.subscription('contoso', 'hand-made'), type: 'subscription', subscriptionId: 'hand-made', connectionId: 'conn-3' } }));
    const current = [await store.put(subscription()), await store.put(subscription({ integrationId: 'fabrikam' }))];
    const progress: BackfillProgress[] = [];

    // Act
    const dryRun = await backfillSubscriptionConnectionKeys(doc, table, { dryRun: true });
    const afterDryRun = await store.listByConnection('contoso', 'conn-0');
    const applied = await backfillSubscriptionConnectionKeys(doc, table, { dryRun: false, onProgress: (p) => progress.push(p) });
    const again = await backfillSubscriptionConnectionKeys(doc, table, { dryRun: false });

    // Assess
    expect(dryRun).toEqual({ scanned: 124, updated: 122 });
    expect(afterDryRun.subscriptions).toEqual([]);
    expect(applied).toEqual({ scanned: 124, updated: 122 });
    expect(again).toEqual({ scanned: 124, updated: 0 });
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.at(-1)).toEqual(applied);
    expect(progress.map((p) => p.scanned)).toEqual([...progress.map((p) => p.scanned)].sort((a, b) => a - b));
    for (const record of [...old, ...current]) expect(await connectionKeyOf(record)).toBe(`${record.integrationId}#${record.connectionId}`);
    expect(await connectionKeyOf(stale)).toBe('contoso#conn-2');
    expect(await connectionKeyOf({ integrationId: 'contoso', subscriptionId: 'hand-made' })).toBe('contoso#conn-3');
    expect((await store.listByConnection('contoso', 'conn-0')).subscriptions).toHaveLength(16);
    expect((await store.listByConnection('contoso', 'conn-3')).invalidItems).toEqual([expect.objectContaining({ sk: 'SUBSCRIPTION#hand-made' })]);
  });

  it('never brings back a record deleted, nor files one moved to another connection, after its page was read', async () => {
    // Prepare: the backfill's own client deletes one record and moves another as soon as it has read their page
    const [doomed, moved] = [await oldRecord(), await oldRecord({ resource: 'groups' })];
    const racing = new DynamoDBClient({ endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
    let raced = false;
    racing.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        if (!raced && JSON.stringify(args.input).includes(keys.subscriptionPrefix)) {
          raced = true;
          await doc.send(new DeleteCommand({ TableName: table, Key: keys.subscription('contoso', doomed.subscriptionId) }));
          await doc.send(new UpdateCommand({ TableName: table, Key: keys.subscription('contoso', moved.subscriptionId), UpdateExpression: 'SET connectionId = :c', ExpressionAttributeValues: { ':c': 'conn-2' } }));
        }
        return result;
      },
      { step: 'initialize', name: 'raceAfterRead' },
    );

    // Act
    const report = await backfillSubscriptionConnectionKeys(DynamoDBDocumentClient.from(racing), table, { dryRun: false });
    racing.destroy();

    // Assess
    expect(raced).toBe(true);
    expect(report).toEqual({ scanned: 2, updated: 0 });
    expect(await connectionKeyOf(doomed)).toBe('no item');
    expect(await connectionKeyOf(moved)).toBeUndefined();
  });
});
