import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RouteKey } from '../routing/route-plan';
import { routeItemId } from '../routing/route-plan';
import { chunk, retryWithBackoff } from '../util/batching';
import { DeliveriesStoreError } from './deliveries-store';

/** What one request reads: the routes it does not have cached, and the redelivery markers of its notifications. */
export interface IntakeReadInput {
  routeKeys: readonly RouteKey[];
  idempotencyKeys: readonly string[];
}

export interface IntakeReadResult {
  /** Route items found, by `routeItemId` (absent keys: no such item). */
  routeItems: ReadonlyMap<string, Record<string, unknown>>;
  /** The idempotency keys already published within the redelivery window. */
  published: Set<string>;
  /** Read capacity units DynamoDB reported for the round. */
  readUnits: number;
}

export interface IntakeReads {
  /** One round of BatchGetItem calls, sent concurrently, whatever the number of keys. */
  read(input: IntakeReadInput): Promise<IntakeReadResult>;
}

/** DynamoDB's cap: 100 keys per BatchGetItem, across all its tables. */
const BATCH_GET_LIMIT = 100;
const UNPROCESSED_ATTEMPTS = 5;

/** Only what routing reads of a subscription or tenant route item. */
const ROUTE_PROJECTION = 'pk, sk, #type, subscriptionId, connectionId, tenantId, connectionIds';

/**
 * The intake's single read round: route items (connections table) and redelivery markers (deliveries table) share
 * BatchGetItem calls, since one call takes keys of several tables.
 */
export class DynamoDbIntakeReads implements IntakeReads {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: { connectionsTable: string; deliveriesTable: string },
    private readonly now: () => number = Date.now,
  ) {}

  async read(input: IntakeReadInput): Promise<IntakeReadResult> {
    const { connectionsTable, deliveriesTable } = this.tables;
    const routeItems = new Map<string, Record<string, unknown>>();
    const published = new Set<string>();
    const nowSeconds = Math.floor(this.now() / 1000);
    let readUnits = 0;
    const wanted = [
      ...input.routeKeys.map((key) => ({ table: connectionsTable, key: { pk: key.pk, sk: key.sk } as Record<string, unknown> })),
      ...[...new Set(input.idempotencyKeys)].map((idempotencyKey) => ({ table: deliveriesTable, key: { idempotencyKey } as Record<string, unknown> })),
    ];
    await Promise.all(
      chunk(wanted, BATCH_GET_LIMIT).map(async (batch) => {
        let pending = batch;
        await retryWithBackoff(
          UNPROCESSED_ATTEMPTS,
          async () => {
            const routes = pending.filter((w) => w.table === connectionsTable).map((w) => w.key);
            const markers = pending.filter((w) => w.table === deliveriesTable).map((w) => w.key);
            const result = await this.client.send(
              new BatchGetCommand({
                RequestItems: {
                  ...(routes.length === 0
                    ? {}
                    : { [connectionsTable]: { Keys: routes, ProjectionExpression: ROUTE_PROJECTION, ExpressionAttributeNames: { '#type': 'type' } } }),
                  // Strongly consistent: Graph may redeliver within seconds of a failed attempt, and an eventually
                  // consistent read could miss the marker written then and publish the notification twice. Routes
                  // need no such guarantee: a change reaches them within the stream's delay anyway.
                  ...(markers.length === 0
                    ? {}
                    : { [deliveriesTable]: { Keys: markers, ProjectionExpression: 'idempotencyKey, expiresAt', ConsistentRead: true } }),
                },
                ReturnConsumedCapacity: 'TOTAL',
              }),
            );
            for (const consumed of result.ConsumedCapacity ?? []) readUnits += consumed.CapacityUnits ?? 0;
            for (const item of result.Responses?.[connectionsTable] ?? []) {
              if (typeof item['pk'] === 'string' && typeof item['sk'] === 'string') routeItems.set(routeItemId({ pk: item['pk'], sk: item['sk'] }), item);
            }
            for (const item of result.Responses?.[deliveriesTable] ?? []) {
              // TTL deletion lags: an expired marker still in the table no longer counts.
              const expiresAt = item['expiresAt'];
              if (typeof item['idempotencyKey'] === 'string' && typeof expiresAt === 'number' && expiresAt > nowSeconds) published.add(item['idempotencyKey']);
            }
            pending = [
              ...((result.UnprocessedKeys?.[connectionsTable]?.Keys ?? []) as Record<string, unknown>[]).map((key) => ({ table: connectionsTable, key })),
              ...((result.UnprocessedKeys?.[deliveriesTable]?.Keys ?? []) as Record<string, unknown>[]).map((key) => ({ table: deliveriesTable, key })),
            ];
            return pending.length === 0;
          },
          () => new DeliveriesStoreError(`DynamoDB left ${pending.length} lookups unprocessed`),
        );
      }),
    );
    return { routeItems, published, readUnits };
  }
}
