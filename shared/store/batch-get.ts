import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { chunk, retryWithBackoff } from '../util/batching';

/** Keys to read from one table, and how. */
export interface TableRead {
  tableName: string;
  keys: readonly Record<string, unknown>[];
  consistentRead?: boolean;
  projection?: string;
  names?: Record<string, string>;
}

export interface BatchGetResult {
  /** Items found, by table. */
  items: Map<string, Record<string, unknown>[]>;
  /** Read capacity units DynamoDB reported. */
  readUnits: number;
}

/** DynamoDB's cap: 100 keys per BatchGetItem, across all its tables. */
const BATCH_GET_LIMIT = 100;
const UNPROCESSED_ATTEMPTS = 5;

/**
 * One round of BatchGetItem calls, sent concurrently: keys of several tables share calls (100 keys each), and keys
 * DynamoDB leaves unprocessed are asked again with backoff; `onExhausted` makes the error when they stay so.
 */
export async function batchGetRound(
  client: Pick<DynamoDBDocumentClient, 'send'>,
  reads: readonly TableRead[],
  onExhausted: (unprocessed: number) => Error,
): Promise<BatchGetResult> {
  const byTable = new Map(reads.map((read) => [read.tableName, read]));
  const items = new Map<string, Record<string, unknown>[]>(reads.map((read) => [read.tableName, []]));
  let readUnits = 0;
  const wanted = reads.flatMap((read) => read.keys.map((key) => ({ tableName: read.tableName, key })));
  await Promise.all(
    chunk(wanted, BATCH_GET_LIMIT).map(async (batch) => {
      let pending = batch;
      await retryWithBackoff(
        UNPROCESSED_ATTEMPTS,
        async () => {
          const requestItems: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead?: boolean; ProjectionExpression?: string; ExpressionAttributeNames?: Record<string, string> }> = {};
          for (const { tableName, key } of pending) {
            const read = byTable.get(tableName) as TableRead;
            requestItems[tableName] ??= {
              Keys: [],
              ...(read.consistentRead === undefined ? {} : { ConsistentRead: read.consistentRead }),
              ...(read.projection === undefined ? {} : { ProjectionExpression: read.projection }),
              ...(read.names === undefined ? {} : { ExpressionAttributeNames: read.names }),
            };
            requestItems[tableName].Keys.push(key);
          }
          const result = await client.send(new BatchGetCommand({ RequestItems: requestItems, ReturnConsumedCapacity: 'TOTAL' }));
          for (const consumed of result.ConsumedCapacity ?? []) readUnits += consumed.CapacityUnits ?? 0;
          for (const [tableName, found] of Object.entries(result.Responses ?? {})) items.get(tableName)?.push(...found);
          pending = Object.entries(result.UnprocessedKeys ?? {}).flatMap(([tableName, unprocessed]) =>
            ((unprocessed.Keys ?? []) as Record<string, unknown>[]).map((key) => ({ tableName, key })),
          );
          return pending.length === 0;
        },
        () => onExhausted(pending.length),
      );
    }),
  );
  return { items, readUnits };
}
