import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetRound, type TableRead } from './batch-get';
import { chunk, retryWithBackoff } from '../util/batching';

/** Redelivery markers: one item per published notification, expiring after the redelivery window. */
export interface DeliveriesStore {
  /** The subset of `idempotencyKeys` already published within the window. One round of batched reads. */
  findPublished(idempotencyKeys: readonly string[]): Promise<Set<string>>;
  /** Records `idempotencyKeys` as published. One round of batched writes. */
  markPublished(idempotencyKeys: readonly string[]): Promise<void>;
}

/** DynamoDB's cap: 25 puts per BatchWriteItem. */
const BATCH_WRITE_LIMIT = 25;
const UNPROCESSED_ATTEMPTS = 5;

export class DeliveriesStoreError extends Error {
  override readonly name = 'DeliveriesStoreError';
}

/**
 * How the markers of `idempotencyKeys` are read: strongly consistent, since Graph may redeliver within seconds of a
 * failed attempt, and an eventually consistent read could miss the marker written then and publish twice.
 */
export function markerRead(deliveriesTable: string, idempotencyKeys: readonly string[]): TableRead {
  return { tableName: deliveriesTable, keys: [...new Set(idempotencyKeys)].map((idempotencyKey) => ({ idempotencyKey })), projection: 'idempotencyKey, expiresAt', consistentRead: true };
}

/** The idempotency keys of markers still inside their window: TTL deletion lags, so an expired one may still be read. */
export function publishedMarkers(items: readonly Record<string, unknown>[], nowMs: number): Set<string> {
  const nowSeconds = Math.floor(nowMs / 1000);
  const published = new Set<string>();
  for (const item of items) {
    const expiresAt = item['expiresAt'];
    if (typeof item['idempotencyKey'] === 'string' && typeof expiresAt === 'number' && expiresAt > nowSeconds) published.add(item['idempotencyKey']);
  }
  return published;
}

export class DynamoDbDeliveriesStore implements DeliveriesStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly windowSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  async findPublished(idempotencyKeys: readonly string[]): Promise<Set<string>> {
    const { items } = await batchGetRound(this.client, [markerRead(this.tableName, idempotencyKeys)], (unprocessed) => new DeliveriesStoreError(`DynamoDB left ${unprocessed} redelivery lookups unprocessed`));
    return publishedMarkers(items.get(this.tableName) ?? [], this.now());
  }

  async markPublished(idempotencyKeys: readonly string[]): Promise<void> {
    const publishedAt = new Date(this.now()).toISOString();
    const expiresAt = Math.floor(this.now() / 1000) + this.windowSeconds;
    const unique = [...new Set(idempotencyKeys)];
    await Promise.all(
      chunk(unique, BATCH_WRITE_LIMIT).map(async (batch) => {
        let pending = batch.map((idempotencyKey) => ({ PutRequest: { Item: { idempotencyKey, publishedAt, expiresAt } } }));
        await retryWithBackoff(UNPROCESSED_ATTEMPTS, async () => {
          const result = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
          pending = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
          return pending.length === 0;
        }, () => new DeliveriesStoreError(`DynamoDB left ${pending.length} redelivery markers unwritten`));
      }),
    );
  }
}
