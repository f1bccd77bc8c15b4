/**
 * The route index: keeps each tenant's route item (`TENANT#<tenantId>`: the ids of the tenant's connections) in
 * step with the connection items, from the connections table's stream. So a connection added or edited by hand in
 * the console routes like one the CLI wrote, with no second item to keep in step.
 *
 * Per batch, the records of one connection collapse to their net effect: removed from every tenant an old image
 * named (unless it is also the final one), added to the final image's tenant; nothing at all when every image names
 * the same tenant (an edit of the declarations or the status). Set ADD and DELETE are idempotent and
 * concern one connection id each, so a batch handed over again, or the CLI's own writes, change nothing more. Each
 * integration whose routes changed gets its `routesVersion` bumped once, which running intakes read within one
 * registry refresh and then drop its cached routes.
 */
import type { AttributeValue, DynamoDBBatchItemFailure, DynamoDBRecord } from 'aws-lambda';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionItemSchema, keys } from '../store/items';
import { plainImage } from '../store/stream-image';
import { bumpRoutesVersion, removeFromTenantRoute, tenantRouteUpdates } from '../store/tenant-routes';
import { mapConcurrent } from '../util/batching';

/** How the table's stream feeds the route index, as deployed (infra/constructs/route-index.ts) and locally. */
export const ROUTE_INDEX_STREAM = {
  /** Each record is one or two small UpdateItems: large batches keep up with a bulk load of connections. */
  batchSize: 100,
  /** A batch handed over again is harmless (set ADD/DELETE), so retries are generous. */
  retryAttempts: 10,
} as const;

export interface RouteIndexPorts {
  client: DynamoDBDocumentClient;
  tableName: string;
  now: () => Date;
  logger: { info(message: string, fields: Record<string, unknown>): void; warn(message: string, fields: Record<string, unknown>): void };
}

/** One connection's membership of one tenant route. */
export interface RouteChange {
  action: 'add' | 'remove';
  integrationId: string;
  tenantId: string;
  connectionId: string;
}

interface ConnectionState {
  integrationId: string;
  tenantId: string;
  connectionId: string;
}

/** The net route changes of a batch of stream records, each with the sequence numbers it came from. */
export function routeChangesOf(records: readonly DynamoDBRecord[]): { changes: (RouteChange & { sequenceNumbers: string[] })[]; ignored: number } {
  const byConnection = new Map<string, { oldStates: ConnectionState[]; final: ConnectionState | undefined; sequenceNumbers: string[] }>();
  let ignored = 0;
  for (const record of records) {
    const sk = record.dynamodb?.Keys?.['sk']?.S;
    const pk = record.dynamodb?.Keys?.['pk']?.S;
    const sequenceNumber = record.dynamodb?.SequenceNumber;
    if (pk === undefined || sk === undefined || !sk.startsWith(keys.connectionPrefix) || sequenceNumber === undefined) {
      ignored += 1;
      continue;
    }
    const id = `${pk}\n${sk}`;
    const entry = byConnection.get(id) ?? { oldStates: [], final: undefined, sequenceNumbers: [] };
    const before = stateOf(record.dynamodb?.OldImage);
    if (before !== undefined) entry.oldStates.push(before);
    // A REMOVE (or an image no longer valid) leaves the connection in no route.
    entry.final = record.eventName === 'REMOVE' ? undefined : stateOf(record.dynamodb?.NewImage);
    entry.sequenceNumbers.push(sequenceNumber);
    byConnection.set(id, entry);
  }
  const changes: (RouteChange & { sequenceNumbers: string[] })[] = [];
  for (const { oldStates, final, sequenceNumbers } of byConnection.values()) {
    // An edit that kept the connection's tenant (its declarations, its status): the route is as it was, and the
    // integration's cached routes stay valid.
    if (final !== undefined && oldStates.length > 0 && oldStates.every((state) => stateKey(state) === stateKey(final))) continue;
    const seen = new Set<string>();
    for (const state of oldStates) {
      const key = stateKey(state);
      if (seen.has(key) || (final !== undefined && key === stateKey(final))) continue;
      seen.add(key);
      changes.push({ action: 'remove', ...state, sequenceNumbers });
    }
    if (final !== undefined) changes.push({ action: 'add', ...final, sequenceNumbers });
  }
  return { changes, ignored };
}

/** A connection image that routes: the whole item parses, as the CLI and the reconciler read it. */
function stateOf(image: Record<string, AttributeValue> | undefined): ConnectionState | undefined {
  const parsed = connectionItemSchema.safeParse(plainImage(image));
  if (!parsed.success) return undefined;
  const { integrationId, tenantId, connectionId } = parsed.data;
  return { integrationId, tenantId, connectionId };
}

function stateKey(state: ConnectionState): string {
  return `${state.integrationId}\n${state.tenantId}\n${state.connectionId}`;
}

export interface RouteIndexOutcome {
  batchItemFailures: DynamoDBBatchItemFailure[];
  added: number;
  removed: number;
  ignored: number;
}

/** Writes concurrently in flight: a batch of 100 records finishes in a few round trips. */
const WRITE_CONCURRENCY = 10;

/**
 * Applies a batch. A change that fails reports its records, so the stream hands them over again (idempotent);
 * the versions are bumped only for integrations whose changes all went through, and a failed bump reports them too.
 */
export async function indexRouteChanges(ports: RouteIndexPorts, records: readonly DynamoDBRecord[]): Promise<RouteIndexOutcome> {
  const { changes, ignored } = routeChangesOf(records);
  const at = ports.now().toISOString();
  const failed = new Set<string>();
  const failedIntegrations = new Set<string>();
  let added = 0;
  let removed = 0;
  await mapConcurrent(changes, WRITE_CONCURRENCY, async (change) => {
    const input = { integrationId: change.integrationId, tenantId: change.tenantId, connectionIds: [change.connectionId], at };
    try {
      if (change.action === 'add') await ports.client.send(new UpdateCommand(tenantRouteUpdates.add(ports.tableName, input)));
      else await removeFromTenantRoute(ports.client, ports.tableName, input);
      if (change.action === 'add') added += 1;
      else removed += 1;
    } catch (error) {
      ports.logger.warn('tenant route not updated; the stream retries it', { ...input, action: change.action, error: String(error) });
      failedIntegrations.add(change.integrationId);
      for (const sequenceNumber of change.sequenceNumbers) failed.add(sequenceNumber);
    }
  });
  const integrations = [...new Set(changes.map((change) => change.integrationId))].filter((id) => !failedIntegrations.has(id));
  await mapConcurrent(integrations, WRITE_CONCURRENCY, async (integrationId) => {
    try {
      await bumpRoutesVersion(ports.client, ports.tableName, integrationId);
    } catch (error) {
      ports.logger.warn('routes version not bumped; the stream retries it', { integrationId, error: String(error) });
      for (const change of changes) if (change.integrationId === integrationId) change.sequenceNumbers.forEach((n) => failed.add(n));
    }
  });
  // Lambda retries from the first failed record on: report them in stream order.
  const batchItemFailures = records
    .map((record) => record.dynamodb?.SequenceNumber)
    .filter((n): n is string => n !== undefined && failed.has(n))
    .map((itemIdentifier) => ({ itemIdentifier }));
  return { batchItemFailures, added, removed, ignored };
}
