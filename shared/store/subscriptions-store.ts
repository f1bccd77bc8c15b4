import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { describeIssues } from '../graph/change-notification';
import { RENEWAL_SHARDS, renewalDueAt, renewalShardOf } from '../subscriptions/renewal-policy';
import { CONNECTION_INDEX, connectionKeyOf } from './connection-index';
import { StoreDataError } from './connections-store';
import { keys } from './items';
import { pageKeyOf, type PageKey } from './page-key';
import { RENEWAL_INDEX } from './renewal-index';
import {
  subscriptionItemSchema,
  toSubscriptionItem,
  toSubscriptionRecord,
  type SubscriptionRecord,
} from './subscription-items';

export type { SubscriptionRecord, SubscriptionStatus } from './subscription-items';

/** What `put` takes: timestamps default to now (createdAt is kept when given, e.g. when rewriting a record). */
export type SubscriptionInput = Omit<SubscriptionRecord, 'createdAt' | 'updatedAt'> & { createdAt?: string };

/** An item that failed to parse (edited by hand, say): skipped and reported, never fatal. */
export interface InvalidSubscriptionItem {
  pk: string;
  sk: string;
  reason: string;
}

export interface SubscriptionsPage {
  subscriptions: SubscriptionRecord[];
  invalidItems: InvalidSubscriptionItem[];
  /**
   * Items of the page (readable or not) whose ByConnection index key is missing or does not match their
   * connectionId, so listByConnection misses them: setConnectionKey files them.
   */
  unindexed: { subscriptionId: string; connectionId: string }[];
  /** Undefined on the last page. */
  nextKey?: PageKey;
}

export interface FindDueOptions {
  /** At most this many subscriptions, the earliest due first. */
  limit: number;
  /** Shard keys to look in (`RENEWAL#<n>`); default all. Lets concurrent renewers split the work. */
  shards?: readonly string[];
}

export interface SubscriptionsStore {
  put(input: SubscriptionInput): Promise<SubscriptionRecord>;
  get(integrationId: string, subscriptionId: string): Promise<SubscriptionRecord | undefined>;
  /** Every record of the integration, read in one go: for listings; the reconciler pages (listByIntegrationPage). */
  listByIntegration(integrationId: string): Promise<{ subscriptions: SubscriptionRecord[]; invalidItems: InvalidSubscriptionItem[] }>;
  /** One page of the integration's records, in key order; `startKey` is the previous page's `nextKey`. */
  listByIntegrationPage(integrationId: string, options: { limit: number; startKey?: PageKey }): Promise<SubscriptionsPage>;
  /**
   * The connection's records, through the ByConnection index: one Query whatever the size of the integration.
   * The index is eventually consistent: a record written a moment ago may not be listed yet.
   */
  listByConnection(integrationId: string, connectionId: string): Promise<{ subscriptions: SubscriptionRecord[]; invalidItems: InvalidSubscriptionItem[] }>;
  /**
   * Files an item written before the ByConnection index existed (or edited by hand since) under its connection:
   * sets its index key from its `connectionId`, only if the item still exists with that connectionId. False
   * otherwise (gone or changed meanwhile): a deleted record is never brought back as a fragment.
   */
  setConnectionKey(integrationId: string, subscriptionId: string, connectionId: string): Promise<boolean>;
  delete(integrationId: string, subscriptionId: string): Promise<boolean>;
  /** Active subscriptions whose renewal is due at `now`, through the renewal index (never a scan). */
  findDue(now: Date, options: FindDueOptions): Promise<{ due: SubscriptionRecord[]; invalidItems: InvalidSubscriptionItem[] }>;
  /** Takes the subscription out of renewal until consent is given again; undefined if the record is gone. */
  markNeedsConsent(integrationId: string, subscriptionId: string, error: string): Promise<SubscriptionRecord | undefined>;
  /** Takes the subscription out of renewal after a failure nothing will fix by retrying; undefined if gone. */
  markFailed(integrationId: string, subscriptionId: string, error: string): Promise<SubscriptionRecord | undefined>;
  /**
   * A successful PATCH: the new expiry, active again, re-filed in the renewal index; undefined if gone. With
   * `encryptionCertificateId`: the PATCH also moved the subscription to that encryption certificate (rotation).
   */
  recordRenewal(
    integrationId: string,
    subscriptionId: string,
    newExpiresAt: string,
    changes?: { encryptionCertificateId?: string },
  ): Promise<SubscriptionRecord | undefined>;
}

export class InvalidSubscriptionRecordError extends Error {
  override readonly name = 'InvalidSubscriptionRecordError';
}

export class DynamoDbSubscriptionsStore implements SubscriptionsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async put(input: SubscriptionInput): Promise<SubscriptionRecord> {
    const at = this.now().toISOString();
    // Validated before writing, so a bug never stores an item that routing or renewal would then skip.
    const parsed = subscriptionItemSchema.safeParse({
      ...keys.subscription(input.integrationId, input.subscriptionId),
      type: 'subscription',
      ...input,
      createdAt: input.createdAt ?? at,
      updatedAt: at,
    });
    if (!parsed.success) {
      throw new InvalidSubscriptionRecordError(`subscription ${input.subscriptionId} is invalid: ${describeIssues(parsed.error)}`);
    }
    const record = toSubscriptionRecord(parsed.data);
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: toSubscriptionItem(record) }));
    return record;
  }

  async get(integrationId: string, subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.subscription(integrationId, subscriptionId), ConsistentRead: true }),
    );
    return Item === undefined ? undefined : parseRecord(Item);
  }

  async listByIntegration(integrationId: string): Promise<{ subscriptions: SubscriptionRecord[]; invalidItems: InvalidSubscriptionItem[] }> {
    const items: Record<string, unknown>[] = [];
    let startKey: PageKey | undefined;
    do {
      const page = await this.queryIntegration(integrationId, { startKey });
      items.push(...page.items);
      startKey = page.nextKey;
    } while (startKey !== undefined);
    const { records, invalidItems } = parseAll(items);
    return { subscriptions: records, invalidItems };
  }

  async listByIntegrationPage(integrationId: string, options: { limit: number; startKey?: PageKey }): Promise<SubscriptionsPage> {
    const { limit, startKey } = options;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`);
    const { items, nextKey } = await this.queryIntegration(integrationId, { limit, startKey });
    const { records, invalidItems } = parseAll(items);
    const unindexed: SubscriptionsPage['unindexed'] = [];
    for (const item of items) {
      const connectionId = item['connectionId'];
      // Without a usable connectionId there is nothing to file the item under (parseAll reports it as invalid).
      if (typeof connectionId !== 'string' || connectionId === '') continue;
      if (item[CONNECTION_INDEX.partitionKey] === connectionKeyOf(integrationId, connectionId)) continue;
      unindexed.push({ subscriptionId: String(item['sk']).slice(keys.subscriptionPrefix.length), connectionId });
    }
    return { subscriptions: records, invalidItems, unindexed, ...(nextKey === undefined ? {} : { nextKey }) };
  }

  async listByConnection(integrationId: string, connectionId: string): Promise<{ subscriptions: SubscriptionRecord[]; invalidItems: InvalidSubscriptionItem[] }> {
    const items: Record<string, unknown>[] = [];
    let ExclusiveStartKey: QueryCommandInput['ExclusiveStartKey'];
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: CONNECTION_INDEX.indexName,
          KeyConditionExpression: '#connectionKey = :connectionKey',
          ExpressionAttributeNames: { '#connectionKey': CONNECTION_INDEX.partitionKey },
          ExpressionAttributeValues: { ':connectionKey': connectionKeyOf(integrationId, connectionId) },
          ExclusiveStartKey,
        }),
      );
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined);
    // A key copied or left over by an edit by hand files an item under a connection that is not its own.
    const own: Record<string, unknown>[] = [];
    const misfiled: InvalidSubscriptionItem[] = [];
    for (const item of items) {
      if (item['pk'] === keys.integrationPartition(integrationId) && item['connectionId'] === connectionId) own.push(item);
      else misfiled.push(invalid(item, `filed under connection ${connectionKeyOf(integrationId, connectionId)}, which is not its own: the next full reconcile files it again`));
    }
    const { records, invalidItems } = parseAll(own);
    return { subscriptions: records, invalidItems: [...invalidItems, ...misfiled] };
  }

  async setConnectionKey(integrationId: string, subscriptionId: string, connectionId: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.subscription(integrationId, subscriptionId),
          UpdateExpression: 'SET #connectionKey = :connectionKey',
          ConditionExpression: 'attribute_exists(pk) AND connectionId = :connectionId',
          ExpressionAttributeNames: { '#connectionKey': CONNECTION_INDEX.partitionKey },
          ExpressionAttributeValues: { ':connectionKey': connectionKeyOf(integrationId, connectionId), ':connectionId': connectionId },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async delete(integrationId: string, subscriptionId: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.subscription(integrationId, subscriptionId), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes !== undefined;
  }

  async findDue(now: Date, options: FindDueOptions): Promise<{ due: SubscriptionRecord[]; invalidItems: InvalidSubscriptionItem[] }> {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`findDue limit must be a positive integer, got ${limit}`);
    const shards = options.shards ?? RENEWAL_SHARDS;
    const unknownShards = shards.filter((shard) => !(RENEWAL_SHARDS as readonly string[]).includes(shard));
    if (unknownShards.length > 0) {
      throw new RangeError(`unknown renewal shard(s) ${unknownShards.join(', ')}: shards are ${RENEWAL_SHARDS.join(', ')}`);
    }
    const dueBy = now.toISOString();
    // Each shard is sorted by renewAt, so merging each shard's first `limit` gives the earliest `limit` overall.
    const perShard = await Promise.all(shards.map((shard) => this.queryDueShard(shard, dueBy, limit)));
    const invalidItems = perShard.flatMap((result) => result.invalidItems);
    const due = perShard
      .flatMap((result) => result.due)
      .sort((a, b) => a.renewAt.localeCompare(b.renewAt) || a.record.subscriptionId.localeCompare(b.record.subscriptionId))
      .slice(0, limit)
      .map((entry) => entry.record);
    return { due, invalidItems };
  }

  markNeedsConsent(integrationId: string, subscriptionId: string, error: string): Promise<SubscriptionRecord | undefined> {
    return this.takeOutOfRenewal(integrationId, subscriptionId, 'needs-consent', error);
  }

  markFailed(integrationId: string, subscriptionId: string, error: string): Promise<SubscriptionRecord | undefined> {
    return this.takeOutOfRenewal(integrationId, subscriptionId, 'failed', error);
  }

  async recordRenewal(
    integrationId: string,
    subscriptionId: string,
    newExpiresAt: string,
    changes: { encryptionCertificateId?: string } = {},
  ): Promise<SubscriptionRecord | undefined> {
    const at = this.now().toISOString();
    const certificate = changes.encryptionCertificateId;
    return this.update(integrationId, subscriptionId, {
      UpdateExpression:
        'SET expiresAt = :expiresAt, #status = :active, lastRenewedAt = :at, updatedAt = :at, #shard = :shard, #renewAt = :renewAt' +
        `${certificate === undefined ? '' : ', encryptionCertificateId = :certificate'} REMOVE lastError`,
      ExpressionAttributeNames: { '#status': 'status', '#shard': RENEWAL_INDEX.partitionKey, '#renewAt': RENEWAL_INDEX.sortKey },
      ExpressionAttributeValues: {
        ':expiresAt': newExpiresAt,
        ':active': 'active',
        ':at': at,
        ':shard': renewalShardOf(subscriptionId),
        ':renewAt': renewalDueAt({ grantedAt: at, expiresAt: newExpiresAt }),
        ...(certificate === undefined ? {} : { ':certificate': certificate }),
      },
    });
  }

  private takeOutOfRenewal(
    integrationId: string,
    subscriptionId: string,
    status: 'needs-consent' | 'failed',
    error: string,
  ): Promise<SubscriptionRecord | undefined> {
    return this.update(integrationId, subscriptionId, {
      UpdateExpression: 'SET #status = :status, lastError = :error, updatedAt = :at REMOVE #shard, #renewAt',
      ExpressionAttributeNames: { '#status': 'status', '#shard': RENEWAL_INDEX.partitionKey, '#renewAt': RENEWAL_INDEX.sortKey },
      ExpressionAttributeValues: { ':status': status, ':error': error, ':at': this.now().toISOString() },
    });
  }

  /** An update of an existing record only: a record deleted meanwhile is not brought back as a fragment. */
  private async update(
    integrationId: string,
    subscriptionId: string,
    expression: { UpdateExpression: string; ExpressionAttributeNames: Record<string, string>; ExpressionAttributeValues: Record<string, unknown> },
  ): Promise<SubscriptionRecord | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.subscription(integrationId, subscriptionId),
          ConditionExpression: 'attribute_exists(pk)',
          ReturnValues: 'ALL_NEW',
          ...expression,
        }),
      );
      return Attributes === undefined ? undefined : parseRecord(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** One Query of the integration's `SUBSCRIPTION#` range: a page of `limit` items, or of up to 1 MB without one. */
  private async queryIntegration(integrationId: string, options: { limit?: number; startKey?: PageKey | undefined }): Promise<{ items: Record<string, unknown>[]; nextKey?: PageKey }> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId), ':prefix': keys.subscriptionPrefix },
        ...(options.limit === undefined ? {} : { Limit: options.limit }),
        ...(options.startKey === undefined ? {} : { ExclusiveStartKey: options.startKey }),
      }),
    );
    const nextKey = pageKeyOf(page.LastEvaluatedKey);
    return { items: page.Items ?? [], ...(nextKey === undefined ? {} : { nextKey }) };
  }

  private async queryDueShard(
    shard: string,
    dueBy: string,
    limit: number,
  ): Promise<{ due: { record: SubscriptionRecord; renewAt: string }[]; invalidItems: InvalidSubscriptionItem[] }> {
    const due: { record: SubscriptionRecord; renewAt: string }[] = [];
    const invalidItems: InvalidSubscriptionItem[] = [];
    let ExclusiveStartKey: QueryCommandInput['ExclusiveStartKey'];
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: RENEWAL_INDEX.indexName,
          KeyConditionExpression: '#shard = :shard AND #renewAt <= :dueBy',
          ExpressionAttributeNames: { '#shard': RENEWAL_INDEX.partitionKey, '#renewAt': RENEWAL_INDEX.sortKey },
          ExpressionAttributeValues: { ':shard': shard, ':dueBy': dueBy },
          Limit: limit - due.length,
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const parsed = subscriptionItemSchema.safeParse(item);
        if (!parsed.success) {
          invalidItems.push(invalid(item, describeIssues(parsed.error)));
        } else if (parsed.data.status !== 'active' || parsed.data.renewAt === undefined) {
          // Only an edit by hand gets here: status changed without removing the index keys.
          invalidItems.push(invalid(item, `status is "${parsed.data.status}" but the item carries renewal index keys`));
        } else {
          due.push({ record: toSubscriptionRecord(parsed.data), renewAt: parsed.data.renewAt });
        }
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined && due.length < limit);
    return { due, invalidItems };
  }
}

function invalid(item: Record<string, unknown>, reason: string): InvalidSubscriptionItem {
  return { pk: String(item['pk']), sk: String(item['sk']), reason };
}

function parseRecord(item: Record<string, unknown>): SubscriptionRecord {
  const parsed = subscriptionItemSchema.safeParse(item);
  if (!parsed.success) {
    throw new StoreDataError(`item ${String(item['pk'])} / ${String(item['sk'])} is invalid: ${describeIssues(parsed.error)}`);
  }
  return toSubscriptionRecord(parsed.data);
}

function parseAll(items: readonly Record<string, unknown>[]): { records: SubscriptionRecord[]; invalidItems: InvalidSubscriptionItem[] } {
  const records: SubscriptionRecord[] = [];
  const invalidItems: InvalidSubscriptionItem[] = [];
  for (const item of items) {
    const parsed = subscriptionItemSchema.safeParse(item);
    if (parsed.success) records.push(toSubscriptionRecord(parsed.data));
    else invalidItems.push(invalid(item, describeIssues(parsed.error)));
  }
  return { records, invalidItems };
}
