/**
 * Upgrade step for the ByConnection index (shared/store/connection-index.ts): subscription items written before it
 * existed lack its key, so the reconciler's reads by connection miss them. This files every subscription item of
 * every integration under its connection, a page at a time.
 *
 * Idempotent: only items whose key is missing or does not match their connectionId are written, each on condition
 * that it still exists with that connectionId, so a record deleted or changed meanwhile is never brought back.
 * Items that do not parse are filed too when they name a connection; the reconciler reports them as before.
 */
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mapConcurrent } from '../../util/batching';
import { keys } from '../items';
import { pageKeyOf, type PageKey } from '../page-key';
import { DynamoDbSubscriptionsStore } from '../subscriptions-store';

/** Items read per Query; each page's writes go out before the next page is read. */
const PAGE_SIZE = 100;
/** Conditional writes in flight at once. */
const WRITE_CONCURRENCY = 8;

export interface BackfillProgress {
  /** Subscription items read so far. */
  scanned: number;
  /** Items filed so far (in a dry run: that would be). */
  updated: number;
}

export async function backfillSubscriptionConnectionKeys(
  client: DynamoDBDocumentClient,
  tableName: string,
  options: { dryRun: boolean; onProgress?: (p: BackfillProgress) => void },
): Promise<BackfillProgress> {
  const store = new DynamoDbSubscriptionsStore(client, tableName);
  const progress: BackfillProgress = { scanned: 0, updated: 0 };
  for (const integrationId of await integrationIds(client, tableName)) {
    let startKey: PageKey | undefined;
    do {
      const page = await store.listByIntegrationPage(integrationId, { limit: PAGE_SIZE, ...(startKey === undefined ? {} : { startKey }) });
      progress.scanned += page.subscriptions.length + page.invalidItems.length;
      if (options.dryRun) {
        progress.updated += page.unindexed.length;
      } else {
        const filed = await mapConcurrent(page.unindexed, WRITE_CONCURRENCY, ({ subscriptionId, connectionId }) =>
          store.setConnectionKey(integrationId, subscriptionId, connectionId),
        );
        progress.updated += filed.filter(Boolean).length;
      }
      options.onProgress?.({ ...progress });
      startKey = page.nextKey;
    } while (startKey !== undefined);
  }
  return progress;
}

/** Every integration item's id, from its key: an item that does not parse still owns its partition. */
async function integrationIds(client: DynamoDBDocumentClient, tableName: string): Promise<string[]> {
  const prefix = keys.integration('').sk;
  const ids: string[] = [];
  let startKey: PageKey | undefined;
  do {
    const page = await client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.integrationsPartition },
        ProjectionExpression: 'sk',
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      }),
    );
    for (const item of page.Items ?? []) {
      const sk = String(item['sk']);
      if (sk.startsWith(prefix) && sk.length > prefix.length) ids.push(sk.slice(prefix.length));
    }
    startKey = pageKeyOf(page.LastEvaluatedKey);
  } while (startKey !== undefined);
  return ids;
}
