/**
 * DynamoDbConnectionsStore against DynamoDB Local: the reconciler's create failures recorded on the connection item
 * (the first, a repeat, a second declaration), cleared once created, never writing a connection that is gone, and
 * leaving updatedAt (which guards edits of the declarations) alone.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';

const REGION = 'us-east-1';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TABLE = `create-failures-${randomUUID().slice(0, 8)}`;
const TABLES = { connectionsTable: TABLE, deliveriesTable: `${TABLE}-deliveries` };

let dynamodb: DynamoDBClient;
let store: DynamoDbConnectionsStore;
let seconds = 0;
/** Each write one second after the previous, so the timestamps tell writes apart. */
const now = () => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds++));
const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

beforeAll(async () => {
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  dynamodb = new DynamoDBClient({ endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
  await ensureTables(dynamodb, TABLES);
  store = new DynamoDbConnectionsStore(DynamoDBDocumentClient.from(dynamodb), TABLE, now);
  await store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
});

afterAll(async () => {
  for (const name of Object.values(TABLES)) await dynamodb?.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
  dynamodb?.destroy();
});

describe('DynamoDbConnectionsStore: create failures', () => {
  it('records the first failure, counts a repeat with its latest error, keeps a second declaration apart, and clears one', async () => {
    // Prepare
    const added = await store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created', 'groups:updated'] });
    const start = seconds;

    // Act
    const first = await store.recordCreateFailure('contoso', 'conn-1', 'users:created', 'Graph 400: validation\nfailed');
    await store.recordCreateFailure('contoso', 'conn-1', 'users:created', 'Graph 400: timed out');
    await store.recordCreateFailure('contoso', 'conn-1', 'groups:updated', 'AADSTS7000215: Invalid client secret provided.');
    const recorded = await store.getConnection('contoso', 'conn-1');
    const cleared = await store.clearCreateFailure('contoso', 'conn-1', 'users:created');
    const again = await store.clearCreateFailure('contoso', 'conn-1', 'users:created');
    const after = await store.getConnection('contoso', 'conn-1');

    // Assess
    expect(first).toBe(true);
    expect(recorded?.createFailures).toEqual({
      'users:created': { error: 'Graph 400: timed out', attempts: 2, at: at(start + 1) },
      'groups:updated': { error: 'AADSTS7000215: Invalid client secret provided.', attempts: 1, at: at(start + 2) },
    });
    expect(recorded?.updatedAt).toBe(added.updatedAt);
    expect([cleared, again]).toEqual([true, false]);
    expect(after?.createFailures).toEqual({ 'groups:updated': { error: 'AADSTS7000215: Invalid client secret provided.', attempts: 1, at: at(start + 2) } });
  });

  it('makes the error one line, and writes nothing for a connection that does not exist', async () => {
    // Prepare
    await store.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT, subscriptions: ['users:created'] });

    // Act
    await store.recordCreateFailure('contoso', 'conn-2', 'users:created', 'first line\nsecond line');
    const gone = await store.recordCreateFailure('contoso', 'no-such-connection', 'users:created', 'x');

    // Assess
    expect((await store.getConnection('contoso', 'conn-2'))?.createFailures?.['users:created']?.error).not.toContain('\n');
    expect(gone).toBe(false);
    expect(await store.getConnection('contoso', 'no-such-connection')).toBeUndefined();
  });
});
