/**
 * DynamoDbIntakeReads against DynamoDB Local: one read round returns route items (connections table) and live
 * redelivery markers (deliveries table) together, splitting more than 100 keys across concurrent BatchGetItem calls.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { routeItemId, type RouteKey } from '../../shared/routing/route-plan';
import { DynamoDbIntakeReads } from '../../shared/store/intake-reads';
import { keys } from '../../shared/store/items';
import { tenantRouteUpdates } from '../../shared/store/tenant-routes';

const REGION = 'us-east-1';
const INTEGRATION = 'contoso';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const NOW_SECONDS = Math.floor(NOW / 1000);
const suffix = randomUUID().slice(0, 8);
const TABLES = { connectionsTable: `reads-connections-${suffix}`, deliveriesTable: `reads-deliveries-${suffix}` };

let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;

function endpoint(): string {
  const value = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (value === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  return value;
}

/** The DocumentClient with every BatchGetItem recorded: its keys per table, and how many were in flight at once. */
function recordingClient() {
  const calls: { connections: number; deliveries: number }[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const client = {
    send: async (command: BatchGetCommand) => {
      const items = command.input.RequestItems ?? {};
      calls.push({ connections: items[TABLES.connectionsTable]?.Keys?.length ?? 0, deliveries: items[TABLES.deliveriesTable]?.Keys?.length ?? 0 });
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      try {
        return await doc.send(command);
      } finally {
        inFlight -= 1;
      }
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, calls, mostInFlight: () => mostInFlight };
}

const tenantId = (i: number) => `0000${String(i).padStart(4, '0')}-6d4d-4958-8b9f-9d6445542f95`;

async function putTenantRoute(tenant: string, connectionIds: string[]): Promise<void> {
  await doc.send(new UpdateCommand(tenantRouteUpdates.add(TABLES.connectionsTable, { integrationId: INTEGRATION, tenantId: tenant, connectionIds, at: new Date(NOW).toISOString() })));
}

async function putSubscription(subscriptionId: string, connectionId: string, tenant: string): Promise<void> {
  await doc.send(
    new PutCommand({
      TableName: TABLES.connectionsTable,
      Item: { ...keys.subscription(INTEGRATION, subscriptionId), type: 'subscription', subscriptionId, connectionId, tenantId: tenant, resource: 'users', status: 'active' },
    }),
  );
}

async function putMarker(idempotencyKey: string, expiresAt: number): Promise<void> {
  await doc.send(new PutCommand({ TableName: TABLES.deliveriesTable, Item: { idempotencyKey, publishedAt: new Date(NOW).toISOString(), expiresAt } }));
}

beforeAll(async () => {
  dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION, credentials: LOCAL_CREDENTIALS });
  doc = DynamoDBDocumentClient.from(dynamodb);
  await ensureTables(dynamodb, TABLES);
});

afterAll(async () => {
  for (const name of Object.values(TABLES)) await dynamodb?.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
  dynamodb?.destroy();
});

describe('DynamoDbIntakeReads', () => {
  it('returns route items and live markers of both tables in one round, over 100 keys split across concurrent calls', async () => {
    // Prepare: 30 tenants with a route, 30 subscriptions, 40 live markers; as many keys again that have no item
    const routeKeys: RouteKey[] = [];
    const presentRoutes: string[] = [];
    for (let i = 0; i < 30; i += 1) {
      await putTenantRoute(tenantId(i), [`conn-${i}`]);
      await putSubscription(`sub-${i}`, `conn-${i}`, tenantId(i));
      const tenantKey = keys.tenantRoute(INTEGRATION, tenantId(i));
      const subscriptionKey = keys.subscription(INTEGRATION, `sub-${i}`);
      routeKeys.push(tenantKey, subscriptionKey, keys.subscription(INTEGRATION, `sub-absent-${i}`));
      presentRoutes.push(routeItemId(tenantKey), routeItemId(subscriptionKey));
    }
    const live = Array.from({ length: 40 }, (_, i) => `live-${suffix}-${i}`);
    for (const key of live) await putMarker(key, NOW_SECONDS + 3600);
    const unpublished = Array.from({ length: 40 }, (_, i) => `unpublished-${suffix}-${i}`);
    const recording = recordingClient();
    const reads = new DynamoDbIntakeReads(recording.client, TABLES, () => NOW);

    // Act
    const result = await reads.read({ routeKeys, idempotencyKeys: [...live, ...unpublished] });

    // Assess
    expect([...result.routeItems.keys()].sort()).toEqual([...presentRoutes].sort());
    expect(result.routeItems.get(routeItemId(keys.tenantRoute(INTEGRATION, tenantId(7))))).toMatchObject({ type: 'tenant-route', tenantId: tenantId(7), connectionIds: new Set(['conn-7']) });
    expect(result.routeItems.get(routeItemId(keys.subscription(INTEGRATION, 'sub-7')))).toMatchObject({ type: 'subscription', connectionId: 'conn-7', tenantId: tenantId(7) });
    expect([...result.published].sort()).toEqual([...live].sort());
    expect(result.readUnits).toBeGreaterThan(0);
    // 90 route keys and 80 markers: two calls, each within DynamoDB's 100 keys, sent together.
    expect(recording.calls).toHaveLength(2);
    expect(recording.calls.every((call) => call.connections + call.deliveries <= 100)).toBe(true);
    expect(recording.calls.reduce((sum, call) => sum + call.connections, 0)).toBe(90);
    expect(recording.calls.reduce((sum, call) => sum + call.deliveries, 0)).toBe(80);
    expect(recording.mostInFlight()).toBe(2);
  });

  it('does not count a marker past its expiry that TTL has not deleted yet', async () => {
    // Prepare
    const expired = `expired-${suffix}`;
    const expiringNow = `expiring-now-${suffix}`;
    const live = `live-one-${suffix}`;
    await putMarker(expired, NOW_SECONDS - 60);
    await putMarker(expiringNow, NOW_SECONDS);
    await putMarker(live, NOW_SECONDS + 1);
    const reads = new DynamoDbIntakeReads(doc, TABLES, () => NOW);

    // Act
    const result = await reads.read({ routeKeys: [], idempotencyKeys: [expired, expiringNow, live] });

    // Assess
    expect([...result.published]).toEqual([live]);
  });

  it('asks for a repeated idempotency key once (BatchGetItem refuses duplicate keys)', async () => {
    // Prepare
    const key = `repeated-${suffix}`;
    await putMarker(key, NOW_SECONDS + 3600);
    const recording = recordingClient();
    const reads = new DynamoDbIntakeReads(recording.client, TABLES, () => NOW);

    // Act
    const result = await reads.read({ routeKeys: [], idempotencyKeys: [key, key, key] });

    // Assess
    expect([...result.published]).toEqual([key]);
    expect(recording.calls).toEqual([{ connections: 0, deliveries: 1 }]);
  });

  it('reads nothing and reports no read units when there is nothing to read', async () => {
    // Prepare
    const recording = recordingClient();
    const reads = new DynamoDbIntakeReads(recording.client, TABLES, () => NOW);

    // Act
    const result = await reads.read({ routeKeys: [], idempotencyKeys: [] });

    // Assess
    expect(result).toEqual({ routeItems: new Map(), published: new Set(), readUnits: 0 });
    expect(recording.calls).toEqual([]);
  });
});
