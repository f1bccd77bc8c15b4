/**
 * DynamoDbConnectionsStore against DynamoDB Local: a connection marked needs-consent and made active again, never
 * recreated once removed, and the other writes of the item leaving the status as it is.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { ConnectionExistsError } from '../../shared/store/connections-store';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { keys, STATUS_REASON_MAX_LENGTH } from '../../shared/store/items';
import { changeNotification } from '../support/fakes';
import { routeThroughTable } from '../support/table-routes';

const REGION = 'us-east-1';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TABLE = `consent-connections-${randomUUID().slice(0, 8)}`;
const TABLES = { connectionsTable: TABLE, deliveriesTable: `${TABLE}-deliveries` };
const REFUSED = "AADSTS700016: Application with identifier 'x' was not found in the directory 'y'.";

let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let store: DynamoDbConnectionsStore;
let seconds = 0;
/** Each write one second after the previous, so the timestamps tell writes apart. */
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
  await ensureTables(dynamodb, TABLES);
  store = new DynamoDbConnectionsStore(doc, TABLE, now);
  await store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
});

afterAll(async () => {
  for (const name of Object.values(TABLES)) await dynamodb?.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
  dynamodb?.destroy();
});

describe('DynamoDbConnectionsStore needs-consent', () => {
  it('marks a connection needs-consent with the reason and the time, and clears all three attributes again', async () => {
    // Prepare
    const added = await store.addConnection({ integrationId: 'contoso', connectionId: 'marked', tenantId: TENANT });

    // Act
    const marked = await store.markNeedsConsent('contoso', 'marked', REFUSED);
    const whileMarked = await store.getConnection('contoso', 'marked');
    const cleared = await store.clearNeedsConsent('contoso', 'marked');
    const clearedAgain = await store.clearNeedsConsent('contoso', 'marked');

    // Assess
    expect(added.status).toBe('active');
    expect(marked).toBe(true);
    expect(whileMarked).toEqual({ ...added, status: 'needs-consent', statusReason: REFUSED, statusChangedAt: expect.stringMatching(/^2026-01-01T/) });
    expect(cleared).toBe(true);
    expect(clearedAgain).toBe(false);
    expect(await store.getConnection('contoso', 'marked')).toEqual(added);
    expect(await rawItem('marked')).not.toHaveProperty('status');
    expect(await rawItem('marked')).not.toHaveProperty('statusReason');
    expect(await rawItem('marked')).not.toHaveProperty('statusChangedAt');
  });

  it('keeps the time a connection first needed consent when it is marked again, with the latest reason', async () => {
    // Prepare
    await store.addConnection({ integrationId: 'contoso', connectionId: 'twice', tenantId: TENANT });
    await store.markNeedsConsent('contoso', 'twice', 'first refusal');
    const first = await store.getConnection('contoso', 'twice');

    // Act
    await store.markNeedsConsent('contoso', 'twice', 'second refusal');

    // Assess
    expect(await store.getConnection('contoso', 'twice')).toMatchObject({ status: 'needs-consent', statusReason: 'second refusal', statusChangedAt: first?.statusChangedAt });
  });

  it('stores the reason as one line of bounded length', async () => {
    // Prepare
    await store.addConnection({ integrationId: 'contoso', connectionId: 'long-reason', tenantId: TENANT });

    // Act
    await store.markNeedsConsent('contoso', 'long-reason', `Forbidden\n  Trace ID: 1\r\nCorrelation ID: 2 ${'x'.repeat(2000)}`);

    // Assess
    const reason = (await store.getConnection('contoso', 'long-reason'))?.statusReason ?? '';
    expect(reason).toMatch(/^Forbidden Trace ID: 1 Correlation ID: 2 x+…$/);
    expect(reason).toHaveLength(STATUS_REASON_MAX_LENGTH);
  });

  it('returns false and writes nothing for a connection that does not exist or was removed', async () => {
    // Prepare
    await store.addConnection({ integrationId: 'contoso', connectionId: 'removed', tenantId: TENANT });
    await store.removeConnection('contoso', 'removed');

    // Act
    const removed = await store.markNeedsConsent('contoso', 'removed', REFUSED);
    const neverExisted = await store.markNeedsConsent('contoso', 'never-existed', REFUSED);
    const clearMissing = await store.clearNeedsConsent('contoso', 'never-existed');

    // Assess
    expect([removed, neverExisted, clearMissing]).toEqual([false, false, false]);
    expect(await rawItem('removed')).toBeUndefined();
    expect(await rawItem('never-existed')).toBeUndefined();
  });

  it('reads an item written before the status existed as active', async () => {
    // Prepare
    await doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...keys.connection('contoso', 'old'),
          type: 'connection',
          integrationId: 'contoso',
          connectionId: 'old',
          tenantId: TENANT,
          createdAt: '2025-06-01T00:00:00.000Z',
          updatedAt: '2025-06-01T00:00:00.000Z',
        },
      }),
    );

    // Act
    const read = await store.getConnection('contoso', 'old');
    const listed = await store.listConnections('contoso');

    // Assess
    expect(read).toEqual({ integrationId: 'contoso', connectionId: 'old', tenantId: TENANT, subscriptions: [], status: 'active', createdAt: '2025-06-01T00:00:00.000Z', updatedAt: '2025-06-01T00:00:00.000Z' });
    expect(listed.connections.find((c) => c.connectionId === 'old')?.status).toBe('active');
    expect(listed.invalidItems).toEqual([]);
  });

  it('leaves the status alone when declarations are edited, and still routes to a needs-consent connection', async () => {
    // Prepare
    const added = await store.addConnection({ integrationId: 'contoso', connectionId: 'edited', tenantId: TENANT });
    await store.markNeedsConsent('contoso', 'edited', REFUSED);

    // Act
    const edited = await store.setSubscriptions('contoso', 'edited', ['users:created'], { ifUpdatedAt: added.updatedAt });
    const duplicate = store.addConnection({ integrationId: 'contoso', connectionId: 'edited', tenantId: TENANT });
    const routing = await routeThroughTable(doc, TABLES, 'contoso', [changeNotification({ tenantId: TENANT })]);

    // Assess
    expect(edited).toMatchObject({ subscriptions: ['users:created'], status: 'needs-consent', statusReason: REFUSED });
    await expect(duplicate).rejects.toThrow(ConnectionExistsError);
    expect(await store.getConnection('contoso', 'edited')).toMatchObject({ status: 'needs-consent', subscriptions: ['users:created'] });
    expect(routing.routes[0]).toContain('edited');
    expect(routing.invalidItems).toEqual([]);
  });
});
