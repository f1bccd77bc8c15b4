/**
 * Rebuilds the tenant route items from the connection items: the upgrade path for a table written before route
 * items existed (`graph-relay migrate`), and a repair after the route index gave up on a change. Idempotent: a
 * second run changes nothing. Memory stays at one page whatever the number of connections.
 *
 * 1. Every valid connection is added to its tenant's route where it is missing.
 * 2. Every route membership whose connection item is gone, invalid or of another tenant is removed (checked
 *    against the connection item read again, so a connection added meanwhile is never removed).
 * 3. The integration's routes version is bumped if anything changed, so running intakes drop their cached routes.
 */
import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetRound } from '../batch-get';
import { connectionItemSchema, integrationItemSchema, keys, tenantRouteItemSchema } from '../items';
import { bumpRoutesVersion, removeFromTenantRoute, tenantRouteUpdates } from '../tenant-routes';
import { mapConcurrent } from '../../util/batching';

export interface RouteBackfillProgress {
  integrationId: string;
  connectionsScanned: number;
  routeItemsScanned: number;
  added: number;
  removed: number;
}

export interface RouteBackfillReport {
  integrations: number;
  connectionsScanned: number;
  /** Connection items that do not parse: they route nowhere (as in the intake). */
  invalidConnections: number;
  routeItemsScanned: number;
  /** Memberships added (or, with dryRun, that would be). */
  added: number;
  /** Memberships removed (or, with dryRun, that would be). */
  removed: number;
  dryRun: boolean;
}

export interface RouteBackfillOptions {
  dryRun: boolean;
  /** Items per page: memory is bounded by this. */
  pageSize?: number;
  onProgress?: (progress: RouteBackfillProgress) => void;
  now?: () => Date;
  /** Only this integration. */
  integrationId?: string;
}

/** Writes in flight: each is one small UpdateItem on its own tenant item, so they never contend. */
const WRITE_CONCURRENCY = 32;

export async function backfillRoutes(client: DynamoDBDocumentClient, tableName: string, options: RouteBackfillOptions): Promise<RouteBackfillReport> {
  const now = options.now ?? (() => new Date());
  const pageSize = options.pageSize ?? 500;
  const report: RouteBackfillReport = { integrations: 0, connectionsScanned: 0, invalidConnections: 0, routeItemsScanned: 0, added: 0, removed: 0, dryRun: options.dryRun };
  const integrationIds: string[] = [];
  for await (const item of pages(client, { TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.integrationsPartition } }, pageSize)) {
    const parsed = integrationItemSchema.safeParse(item);
    if (parsed.success && (options.integrationId === undefined || parsed.data.integrationId === options.integrationId)) integrationIds.push(parsed.data.integrationId);
  }
  for (const integrationId of integrationIds) {
    report.integrations += 1;
    const progress: RouteBackfillProgress = { integrationId, connectionsScanned: 0, routeItemsScanned: 0, added: 0, removed: 0 };
    const partition = keys.integrationPartition(integrationId);

    // 1. Connections → routes.
    for await (const page of pagesOf(client, byPrefix(tableName, partition, keys.connectionPrefix), pageSize)) {
      const wanted = new Map<string, Set<string>>();
      for (const item of page) {
        progress.connectionsScanned += 1;
        const parsed = connectionItemSchema.safeParse(item);
        if (!parsed.success) {
          report.invalidConnections += 1;
          continue;
        }
        wanted.set(parsed.data.tenantId, (wanted.get(parsed.data.tenantId) ?? new Set()).add(parsed.data.connectionId));
      }
      const routes = await batchGet(client, tableName, [...wanted.keys()].map((tenantId) => keys.tenantRoute(integrationId, tenantId)));
      const additions: { tenantId: string; connectionIds: string[] }[] = [];
      for (const [tenantId, connectionIds] of wanted) {
        const existing = routes.get(keys.tenantRoute(integrationId, tenantId).sk);
        const parsed = existing === undefined ? undefined : tenantRouteItemSchema.safeParse(existing);
        const present = new Set(parsed?.success === true ? parsed.data.connectionIds : []);
        const missing = [...connectionIds].filter((id) => !present.has(id));
        if (missing.length > 0) additions.push({ tenantId, connectionIds: missing });
      }
      progress.added += additions.reduce((n, a) => n + a.connectionIds.length, 0);
      if (!options.dryRun) {
        const at = now().toISOString();
        await mapConcurrent(additions, WRITE_CONCURRENCY, (a) => client.send(new UpdateCommand(tenantRouteUpdates.add(tableName, { integrationId, ...a, at }))).then(() => undefined));
      }
      options.onProgress?.({ ...progress });
    }

    // 2. Routes → connections: memberships no connection backs any more.
    for await (const page of pagesOf(client, byPrefix(tableName, partition, keys.tenantRoutePrefix), pageSize)) {
      const memberships: { tenantId: string; connectionId: string }[] = [];
      for (const item of page) {
        progress.routeItemsScanned += 1;
        const parsed = tenantRouteItemSchema.safeParse(item);
        if (!parsed.success) continue;
        for (const connectionId of parsed.data.connectionIds) memberships.push({ tenantId: parsed.data.tenantId, connectionId });
      }
      const connections = await batchGet(
        client,
        tableName,
        [...new Set(memberships.map((m) => m.connectionId))].map((connectionId) => keys.connection(integrationId, connectionId)),
        { consistent: true },
      );
      const stale = memberships.filter(({ tenantId, connectionId }) => {
        const parsed = connectionItemSchema.safeParse(connections.get(keys.connection(integrationId, connectionId).sk));
        return !parsed.success || parsed.data.tenantId !== tenantId;
      });
      progress.removed += stale.length;
      if (!options.dryRun) {
        const at = now().toISOString();
        await mapConcurrent(stale, WRITE_CONCURRENCY, (m) => removeFromTenantRoute(client, tableName, { integrationId, tenantId: m.tenantId, connectionIds: [m.connectionId], at }));
      }
      options.onProgress?.({ ...progress });
    }

    if (!options.dryRun && progress.added + progress.removed > 0) await bumpRoutesVersion(client, tableName, integrationId);
    report.connectionsScanned += progress.connectionsScanned;
    report.routeItemsScanned += progress.routeItemsScanned;
    report.added += progress.added;
    report.removed += progress.removed;
  }
  return report;
}

function byPrefix(tableName: string, pk: string, prefix: string) {
  return { TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix } };
}

type QueryInput = ConstructorParameters<typeof QueryCommand>[0];

async function* pagesOf(client: DynamoDBDocumentClient, input: QueryInput, pageSize: number): AsyncGenerator<Record<string, unknown>[]> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new QueryCommand({ ...input, Limit: pageSize, ExclusiveStartKey }));
    yield page.Items ?? [];
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey !== undefined);
}

async function* pages(client: DynamoDBDocumentClient, input: QueryInput, pageSize: number): AsyncGenerator<Record<string, unknown>> {
  for await (const page of pagesOf(client, input, pageSize)) yield* page;
}

/** Items by `sk` (all keys share the integration's partition). */
async function batchGet(
  client: DynamoDBDocumentClient,
  tableName: string,
  itemKeys: readonly { pk: string; sk: string }[],
  options: { consistent?: boolean } = {},
): Promise<Map<string, Record<string, unknown>>> {
  const { items } = await batchGetRound(
    client,
    [{ tableName, keys: itemKeys.map((key) => ({ ...key })), consistentRead: options.consistent === true }],
    (unprocessed) => new Error(`DynamoDB left ${unprocessed} keys unprocessed`),
  );
  return new Map((items.get(tableName) ?? []).map((item) => [String(item['sk']), item]));
}
