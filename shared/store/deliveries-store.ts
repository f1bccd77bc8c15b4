import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { chunk, retryWithBackoff } from '../util/batching';

/** Redelivery markers: one item per published notification, expiring after the redelivery window. */
export interface DeliveriesStore {
  /** The subset of `idempotencyKeys` already published within the window. One round of batched reads. */
  findPublished(idempotencyKeys: readonly string[]): Promise<Set<string>>;
  /** Records `idempotencyKeys` as published. One round of batched writes. */
  markPublished(idempotencyKeys: readonly string[]): Promise<void>;
}

/** DynamoDB caps: 100 keys per BatchGetItem, 25 puts per BatchWriteItem. */
const BATCH_GET_LIMIT = 100;
const BATCH_WRITE_LIMIT = 25;
const UNPROCESSED_ATTEMPTS = 5;

export class DeliveriesStoreError extends Error {
  override readonly name = 'DeliveriesStoreError';
}

export class DynamoDbDeliveriesStore implements DeliveriesStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly windowSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  async findPublished(idempotencyKeys: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const nowSeconds = Math.floor(this.now() / 1000);
    const unique = [...new Set(idempotencyKeys)];
    await Promise.all(
      chunk(unique, BATCH_GET_LIMIT).map(async (batch) => {
        let pending: Record<string, unknown>[] = batch.map((idempotencyKey) => ({ idempotencyKey }));
        await retryWithBackoff(UNPROCESSED_ATTEMPTS, async () => {
          const result = await this.client.send(
            new BatchGetCommand({
              // Strongly consistent: Graph may redeliver within seconds of a failed attempt, and an eventually
              // consistent read could miss the marker written then and publish the notification twice.
              RequestItems: { [this.tableName]: { Keys: pending, ProjectionExpression: 'idempotencyKey, expiresAt', ConsistentRead: true } },
            }),
          );
          for (const item of result.Responses?.[this.tableName] ?? []) {
            // TTL deletion lags: an expired marker still in the table no longer counts.
            const expiresAt = item['expiresAt'];
            if (typeof item['idempotencyKey'] === 'string' && typeof expiresAt === 'number' && expiresAt > nowSeconds) {
              found.add(item['idempotencyKey']);
            }
          }
          pending = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
          return pending.length === 0;
        }, () => new DeliveriesStoreError(`DynamoDB left ${pending.length} redelivery lookups unprocessed`));
      }),
    );
    return found;
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
