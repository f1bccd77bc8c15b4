import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RouteKey } from '../routing/route-plan';
import { routeItemId } from '../routing/route-plan';
import { batchGetRound } from './batch-get';
import { DeliveriesStoreError, markerRead, publishedMarkers } from './deliveries-store';

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
    const { items, readUnits } = await batchGetRound(
      this.client,
      [
        { tableName: connectionsTable, keys: input.routeKeys.map((key) => ({ pk: key.pk, sk: key.sk })), projection: ROUTE_PROJECTION, names: { '#type': 'type' } },
        // Routes are read eventually consistent: a change reaches them within the stream's delay anyway.
        markerRead(deliveriesTable, input.idempotencyKeys),
      ],
      (unprocessed) => new DeliveriesStoreError(`DynamoDB left ${unprocessed} lookups unprocessed`),
    );
    const routeItems = new Map<string, Record<string, unknown>>();
    for (const item of items.get(connectionsTable) ?? []) {
      if (typeof item['pk'] === 'string' && typeof item['sk'] === 'string') routeItems.set(routeItemId({ pk: item['pk'], sk: item['sk'] }), item);
    }
    return { routeItems, published: publishedMarkers(items.get(deliveriesTable) ?? [], this.now()), readUnits };
  }
}
