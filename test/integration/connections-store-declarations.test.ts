/**
 * DynamoDbConnectionsStore against DynamoDB Local: a connection's declared subscriptions written on add, and
 * replaced only when the item is unchanged since it was read.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { keys } from '../../shared/store/items';

const REGION = 'us-east-1';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TABLE = `declarations-connections-${randomUUID().slice(0, 8)}`;

let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let seconds = 0;
/** Each write one second after the previous, so updatedAt tells writes apart. */
const now = () => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds++));

function endpoint(): string {
  const value = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (value === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  return value;
}

async function rawItem(connectionId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await doc.send(new GetCommand({ TableName: TABLE, Key: keys.connection('contoso', connectionId), ConsistentRead: true }));
  return Item;
}

beforeAll(async () => {
  dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION, credentials: LOCAL_CREDENTIALS });
  doc = DynamoDBDocumentClient.from(dynamodb);
  await ensureTables(dynamodb, { connectionsTable: TABLE, deliveriesTable: `${TABLE}-deliveries` });
  await new DynamoDbConnectionsStore(doc, TABLE, now).putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
});

afterAll(async () => {
  for (const name of [TABLE, `${TABLE}-deliveries`]) await dynamodb?.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
  dynamodb?.destroy();
});

describe('DynamoDbConnectionsStore declarations', () => {
  it('stores declarations given on add, and no attribute at all when there are none', async () => {
    // Prepare
    const store = new DynamoDbConnectionsStore(doc, TABLE, now);

    // Act
    const declaring = await store.addConnection({ integrationId: 'contoso', connectionId: 'declaring', tenantId: TENANT, subscriptions: ['users:created'] });
    const plain = await store.addConnection({ integrationId: 'contoso', connectionId: 'plain', tenantId: TENANT });

    // Assess
    expect(declaring.subscriptions).toEqual(['users:created']);
    expect(await store.getConnection('contoso', 'declaring')).toEqual(declaring);
    expect(plain.subscriptions).toEqual([]);
    expect(await rawItem('plain')).not.toHaveProperty('subscriptions');
  });

  it('replaces declarations only while the item is as it was read, and never brings back a removed connection', async () => {
    // Prepare
    const store = new DynamoDbConnectionsStore(doc, TABLE, now);
    const read = await store.addConnection({ integrationId: 'contoso', connectionId: 'edited', tenantId: TENANT });

    // Act
    const first = await store.setSubscriptions('contoso', 'edited', ['groups:updated'], { ifUpdatedAt: read.updatedAt });
    const stale = await store.setSubscriptions('contoso', 'edited', ['users:deleted'], { ifUpdatedAt: read.updatedAt });
    await store.removeConnection('contoso', 'edited');
    const gone = await store.setSubscriptions('contoso', 'edited', ['users:deleted']);

    // Assess
    expect(first).toMatchObject({ connectionId: 'edited', subscriptions: ['groups:updated'] });
    expect(first?.updatedAt).not.toBe(read.updatedAt);
    expect(stale).toBeUndefined();
    expect(gone).toBeUndefined();
    expect(await rawItem('edited')).toBeUndefined();
  });
});
