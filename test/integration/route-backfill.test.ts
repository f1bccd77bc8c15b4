/**
 * The upgrade path (`graph-relay migrate`): route items rebuilt from connection items written before they existed,
 * stale memberships removed, idempotent, bounded pages, against DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { backfillRoutes, type RouteBackfillProgress } from '../../shared/store/migrations/tenant-routes';
import { keys } from '../../shared/store/items';

const AT = '2026-12-01T00:00:00.000Z';

describe('backfillRoutes (DynamoDB Local)', () => {
  let client: DynamoDBClient;
  let documents: DynamoDBDocumentClient;
  let table: string;

  beforeAll(() => {
    client = new DynamoDBClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS, endpoint: process.env['TEST_DYNAMODB_ENDPOINT'] as string });
    documents = DynamoDBDocumentClient.from(client);
  });

  beforeEach(async () => {
    table = `backfill-${randomUUID().slice(0, 8)}`;
    await ensureTables(client, { connectionsTable: table, deliveriesTable: `${table}-deliveries` });
  });

  afterAll(() => client?.destroy());

  const put = (item: Record<string, unknown>) => documents.send(new PutCommand({ TableName: table, Item: item }));
  const integration = (integrationId: string) =>
    put({ ...keys.integration(integrationId), type: 'integration', integrationId, provider: 'microsoft-oauth2-cc', createdAt: AT, updatedAt: AT });
  const connection = (integrationId: string, connectionId: string, tenantId: string) =>
    put({ ...keys.connection(integrationId, connectionId), type: 'connection', integrationId, connectionId, tenantId, createdAt: AT, updatedAt: AT });
  const route = async (integrationId: string, tenantId: string) =>
    (await documents.send(new GetCommand({ TableName: table, Key: keys.tenantRoute(integrationId, tenantId), ConsistentRead: true }))).Item;
  const routesVersion = async (integrationId: string) =>
    (await documents.send(new GetCommand({ TableName: table, Key: keys.integration(integrationId), ConsistentRead: true }))).Item?.['routesVersion'];

  it('counts without writing on a dry run, builds every route, then finds nothing to do', async () => {
    // Prepare: an old table: 25 tenants, one with two connections, one connection unparsable
    const tenants = Array.from({ length: 25 }, () => randomUUID());
    await integration('contoso');
    for (const [i, tenantId] of tenants.entries()) await connection('contoso', `c-${i}`, tenantId);
    await connection('contoso', 'c-extra', tenants[0] as string);
    await put({ ...keys.connection('contoso', 'broken'), type: 'connection', integrationId: 'contoso', connectionId: 'broken', tenantId: 'not-a-guid', createdAt: AT, updatedAt: AT });
    const progress: RouteBackfillProgress[] = [];

    // Act
    const dry = await backfillRoutes(documents, table, { dryRun: true, pageSize: 7 });
    const routeAfterDryRun = await route('contoso', tenants[0] as string);
    const applied = await backfillRoutes(documents, table, { dryRun: false, pageSize: 7, onProgress: (p) => progress.push(p) });
    const again = await backfillRoutes(documents, table, { dryRun: false, pageSize: 7 });

    // Assess
    expect(dry).toEqual(expect.objectContaining({ dryRun: true, integrations: 1, connectionsScanned: 27, invalidConnections: 1, added: 26, removed: 0 }));
    expect(routeAfterDryRun).toBeUndefined();
    expect(applied).toEqual(expect.objectContaining({ added: 26, removed: 0 }));
    expect(await route('contoso', tenants[0] as string)).toEqual(expect.objectContaining({ type: 'tenant-route', connectionIds: new Set(['c-0', 'c-extra']) }));
    expect(await route('contoso', tenants[24] as string)).toEqual(expect.objectContaining({ connectionIds: new Set(['c-24']) }));
    expect(await routesVersion('contoso')).toBe(1);
    // Pages of 7 connections: progress after each page, never the whole partition at once.
    expect(progress.length).toBeGreaterThanOrEqual(4);
    expect(again).toEqual(expect.objectContaining({ added: 0, removed: 0, routeItemsScanned: 25 }));
    expect(await routesVersion('contoso')).toBe(1);
  });

  it('removes memberships of connections that are gone or moved to another tenant, and deletes emptied route items', async () => {
    // Prepare: route items left behind by changes the route index never saw
    const [moved, kept, gone] = [randomUUID(), randomUUID(), randomUUID()];
    await integration('fabrikam');
    await connection('fabrikam', 'moving', kept);
    for (const [tenantId, ids] of [[moved, ['moving']], [kept, ['moving']], [gone, ['deleted']]] as const) {
      await documents.send(
        new UpdateCommand({
          TableName: table,
          Key: keys.tenantRoute('fabrikam', tenantId),
          UpdateExpression: 'SET #type = :type, tenantId = :t ADD connectionIds :ids',
          ExpressionAttributeNames: { '#type': 'type' },
          ExpressionAttributeValues: { ':type': 'tenant-route', ':t': tenantId, ':ids': new Set(ids) },
        }),
      );
    }

    // Act
    const report = await backfillRoutes(documents, table, { dryRun: false, integrationId: 'fabrikam' });

    // Assess
    expect(report).toEqual(expect.objectContaining({ added: 0, removed: 2 }));
    expect(await route('fabrikam', moved)).toBeUndefined();
    expect(await route('fabrikam', gone)).toBeUndefined();
    expect((await route('fabrikam', kept))?.['connectionIds']).toEqual(new Set(['moving']));
  });
});
