import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { describeIssues } from '../graph/change-notification';
import type { RegisteredIntegration } from '../routing/integration-registry';
import {
  ConnectionExistsError,
  IntegrationNotFoundError,
  StoreDataError,
  type ConnectionsPage,
  type ConnectionsStore,
  type IntegrationItemCounts,
  type NewConnection,
  type InvalidItem,
} from './connections-store';
import { pageKeyOf, type PageKey } from './page-key';
import { batchGetRound } from './batch-get';
import { chunk, retryWithBackoff } from '../util/batching';
import { bumpRoutesVersion, removeFromTenantRoute, tenantRouteUpdates } from './tenant-routes';
import {
  connectionItemSchema,
  integrationItemSchema,
  keys,
  normalizeTenantId,
  statusReasonOf,
  toConnection,
  toIntegration,
  type Connection,
  type ConnectionItem,
  type Integration,
  type SharedClientState,
} from './items';

/** An UpdateItem as a transaction accepts it (no ReturnValues). */
type TransactUpdate = NonNullable<NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number]['Update']>;

export class DynamoDbConnectionsStore implements ConnectionsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async putIntegration(input: { integrationId: string; provider: string; sharedClientState?: SharedClientState }): Promise<{ integration: Integration; created: boolean }> {
    // An update, not a put: the versions and other attributes of an existing item are kept. configVersion moves on
    // every put, so running intakes drop the integration's cached secret (written before this) within one refresh.
    const at = this.now().toISOString();
    const setShared = input.sharedClientState === undefined ? '' : ', sharedClientState = :shared';
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.integration(input.integrationId),
        UpdateExpression: `SET #type = :type, integrationId = :integrationId, provider = :provider, createdAt = if_not_exists(createdAt, :at), updatedAt = :at${setShared} ADD configVersion :one`,
        ExpressionAttributeNames: { '#type': 'type' },
        ExpressionAttributeValues: {
          ':type': 'integration',
          ':integrationId': input.integrationId,
          ':provider': input.provider,
          ':at': at,
          ':one': 1,
          ...(input.sharedClientState === undefined ? {} : { ':shared': input.sharedClientState }),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const integration = toIntegration(parseItem(integrationItemSchema, Attributes ?? {}));
    return { integration, created: integration.createdAt === at };
  }

  async bumpConfigVersion(integrationId: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.integration(integrationId),
          UpdateExpression: 'SET updatedAt = :at ADD configVersion :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':at': this.now().toISOString(), ':one': 1 },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async getIntegration(integrationId: string): Promise<Integration | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.integration(integrationId), ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    return toIntegration(parseItem(integrationItemSchema, Item));
  }

  async countIntegrationItems(integrationId: string): Promise<IntegrationItemCounts> {
    return countByKind(await this.partitionKeys(integrationId));
  }

  async removeIntegration(integrationId: string): Promise<{ items: IntegrationItemCounts; integration: boolean }> {
    const deleted: { sk: string }[] = [];
    // Connections deleted here reach the route index through the table's stream, which may still write a tenant
    // route after it was deleted: the partition is read again until it stays empty.
    for (let round = 0; round < PARTITION_DELETE_ROUNDS; round += 1) {
      const keysLeft = await this.partitionKeys(integrationId);
      if (keysLeft.length === 0) break;
      await this.deleteKeys(keysLeft);
      deleted.push(...keysLeft);
    }
    const { Attributes } = await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: keys.integration(integrationId), ReturnValues: 'ALL_OLD' }));
    return { items: countByKind(deleted), integration: Attributes !== undefined };
  }

  /** The keys of the integration's partition, read consistently (keys only). */
  private async partitionKeys(integrationId: string): Promise<{ pk: string; sk: string }[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId) },
      ProjectionExpression: 'pk, sk',
      ConsistentRead: true,
    });
    return items.map((item) => ({ pk: String(item['pk']), sk: String(item['sk']) }));
  }

  private async deleteKeys(keyList: readonly { pk: string; sk: string }[]): Promise<void> {
    for (const batch of chunk(keyList, BATCH_WRITE_LIMIT)) {
      let pending = batch.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } }));
      await retryWithBackoff(
        UNPROCESSED_ATTEMPTS,
        async () => {
          const result = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
          pending = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
          return pending.length === 0;
        },
        () => new StoreDataError(`DynamoDB left ${pending.length} items of ${this.tableName} undeleted: run the command again`),
      );
    }
  }

  async listIntegrations(): Promise<{ integrations: Integration[]; invalidItems: readonly InvalidItem[] }> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.integrationsPartition },
    });
    const { valid: integrations, invalidItems } = sortItems(items, integrationItemSchema, toIntegration);
    return { integrations, invalidItems };
  }

  async addConnection(input: NewConnection): Promise<Connection> {
    const at = this.now().toISOString();
    const subscriptions = [...(input.subscriptions ?? [])];
    const connection: Connection = {
      integrationId: input.integrationId,
      connectionId: input.connectionId,
      tenantId: normalizeTenantId(input.tenantId),
      subscriptions,
      status: 'active',
      createdAt: at,
      updatedAt: at,
    };
    const item: ConnectionItem = {
      ...keys.connection(input.integrationId, input.connectionId),
      type: 'connection',
      integrationId: connection.integrationId,
      connectionId: connection.connectionId,
      tenantId: connection.tenantId,
      // A connection that declares nothing carries no attribute, as before declarations existed.
      ...(subscriptions.length === 0 ? {} : { subscriptions }),
      createdAt: at,
      updatedAt: at,
    };
    try {
      await this.client.send(
        new TransactWriteCommand({
          // The route item and the routes version go with the connection, so it routes at once; the table's stream
          // derives the same for connections written by hand (shared/routing/route-index.ts).
          TransactItems: [
            { Update: tenantRouteUpdates.bumpRoutesVersion(this.tableName, input.integrationId) as TransactUpdate },
            { Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Update: tenantRouteUpdates.add(this.tableName, {
                integrationId: input.integrationId,
                tenantId: connection.tenantId,
                connectionIds: [connection.connectionId],
                at,
              }) as TransactUpdate,
            },
          ],
        }),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const [integrationCheck, put] = error.CancellationReasons ?? [];
        if (integrationCheck?.Code === 'ConditionalCheckFailed') throw new IntegrationNotFoundError(input.integrationId);
        if (put?.Code === 'ConditionalCheckFailed') throw new ConnectionExistsError(input.integrationId, input.connectionId);
      }
      throw error;
    }
    return connection;
  }

  async getConnection(integrationId: string, connectionId: string): Promise<Connection | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.connection(integrationId, connectionId), ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    return toConnection(parseItem(connectionItemSchema, Item));
  }

  async listConnections(integrationId: string): Promise<{ connections: Connection[]; invalidItems: readonly InvalidItem[] }> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId), ':prefix': keys.connectionPrefix },
    });
    const { valid: connections, invalidItems } = sortItems(items, connectionItemSchema, toConnection);
    return { connections, invalidItems };
  }

  async listConnectionsPage(integrationId: string, options: { limit: number; startKey?: PageKey }): Promise<ConnectionsPage> {
    const { limit, startKey } = options;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`);
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId), ':prefix': keys.connectionPrefix },
        Limit: limit,
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      }),
    );
    const { valid: connections, invalidItems } = sortItems(page.Items ?? [], connectionItemSchema, toConnection);
    const nextKey = pageKeyOf(page.LastEvaluatedKey);
    return { connections, invalidItems, ...(nextKey === undefined ? {} : { nextKey }) };
  }

  async existingConnectionIds(integrationId: string, connectionIds: readonly string[]): Promise<Set<string>> {
    const { items } = await batchGetRound(
      this.client,
      [{ tableName: this.tableName, keys: [...new Set(connectionIds)].map((connectionId) => keys.connection(integrationId, connectionId)), consistentRead: true, projection: 'sk' }],
      () => new Error(`connections of integration "${integrationId}" could not be read: DynamoDB left keys unprocessed`),
    );
    return new Set((items.get(this.tableName) ?? []).map((item) => String(item['sk']).slice(keys.connectionPrefix.length)));
  }

  async removeConnection(integrationId: string, connectionId: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.connection(integrationId, connectionId), ReturnValues: 'ALL_OLD' }),
    );
    if (Attributes === undefined) return false;
    // The stream does the same; doing it here stops the routing at once.
    const old = connectionItemSchema.safeParse(Attributes);
    if (old.success) {
      const at = this.now().toISOString();
      await removeFromTenantRoute(this.client, this.tableName, { integrationId, tenantId: old.data.tenantId, connectionIds: [old.data.connectionId], at });
      await bumpRoutesVersion(this.client, this.tableName, integrationId);
    }
    return true;
  }

  async setSubscriptions(
    integrationId: string,
    connectionId: string,
    subscriptions: readonly string[],
    options: { ifUpdatedAt?: string } = {},
  ): Promise<Connection | undefined> {
    const unchanged = options.ifUpdatedAt === undefined ? {} : { ':ifUpdatedAt': options.ifUpdatedAt };
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.connection(integrationId, connectionId),
          UpdateExpression: 'SET subscriptions = :subscriptions, updatedAt = :at',
          ConditionExpression: options.ifUpdatedAt === undefined ? 'attribute_exists(pk)' : 'attribute_exists(pk) AND updatedAt = :ifUpdatedAt',
          ExpressionAttributeValues: { ':subscriptions': [...subscriptions], ':at': this.now().toISOString(), ...unchanged },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes === undefined ? undefined : toConnection(parseItem(connectionItemSchema, Attributes));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async markNeedsConsent(integrationId: string, connectionId: string, reason: string): Promise<boolean> {
    // updatedAt is left alone: it guards edits of the declarations (setSubscriptions ifUpdatedAt), which a status
    // change must not make fail. statusChangedAt is kept while the status stays needs-consent (clear removes it).
    return this.updateConnection(integrationId, connectionId, {
      UpdateExpression: 'SET #status = :needsConsent, statusReason = :reason, statusChangedAt = if_not_exists(statusChangedAt, :at)',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':needsConsent': 'needs-consent', ':reason': statusReasonOf(reason), ':at': this.now().toISOString() },
    });
  }

  async recordCreateFailure(integrationId: string, connectionId: string, declaration: string, error: string): Promise<boolean> {
    const at = this.now().toISOString();
    const line = statusReasonOf(error);
    const names = { '#failures': 'createFailures', '#declaration': declaration };
    // A nested path can be set only where its parent exists: the item's three possible shapes, most likely first
    // (this declaration failed before, another one did, none did). Each is conditional, so a concurrent run that
    // changes the shape makes this one fall through to the next.
    const shapes = [
      {
        UpdateExpression: 'SET #failures.#declaration.#error = :error, #failures.#declaration.#at = :at, #failures.#declaration.#attempts = #failures.#declaration.#attempts + :one',
        ConditionExpression: 'attribute_exists(#failures.#declaration)',
        ExpressionAttributeNames: { ...names, '#error': 'error', '#at': 'at', '#attempts': 'attempts' },
        ExpressionAttributeValues: { ':error': line, ':at': at, ':one': 1 },
      },
      {
        UpdateExpression: 'SET #failures.#declaration = :failure',
        ConditionExpression: 'attribute_exists(#failures)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':failure': { error: line, attempts: 1, at } },
      },
      {
        UpdateExpression: 'SET #failures = :failures',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#failures)',
        ExpressionAttributeNames: { '#failures': 'createFailures' },
        ExpressionAttributeValues: { ':failures': { [declaration]: { error: line, attempts: 1, at } } },
      },
    ];
    for (const shape of shapes) if (await this.updateConnection(integrationId, connectionId, shape)) return true;
    return false;
  }

  async clearCreateFailure(integrationId: string, connectionId: string, declaration: string): Promise<boolean> {
    return this.updateConnection(integrationId, connectionId, {
      UpdateExpression: 'REMOVE #failures.#declaration',
      ConditionExpression: 'attribute_exists(#failures.#declaration)',
      ExpressionAttributeNames: { '#failures': 'createFailures', '#declaration': declaration },
    });
  }

  async clearNeedsConsent(integrationId: string, connectionId: string): Promise<boolean> {
    return this.updateConnection(integrationId, connectionId, {
      UpdateExpression: 'REMOVE #status, statusReason, statusChangedAt',
      ConditionExpression: '#status = :needsConsent',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':needsConsent': 'needs-consent' },
    });
  }

  /** True if the condition held and the item was updated. */
  private async updateConnection(
    integrationId: string,
    connectionId: string,
    expression: Pick<ConstructorParameters<typeof UpdateCommand>[0], 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>,
  ): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand({ TableName: this.tableName, Key: keys.connection(integrationId, connectionId), ...expression }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * The integration registry: id, provider and versions of every integration item, in one small read (one page per
   * few thousand integrations). Items that do not parse are left out.
   */
  async loadRegistry(): Promise<RegisteredIntegration[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.integrationsPartition },
      ProjectionExpression: 'pk, sk, #type, integrationId, provider, configVersion, routesVersion, sharedClientState, createdAt, updatedAt',
      ExpressionAttributeNames: { '#type': 'type' },
    });
    const registered: RegisteredIntegration[] = [];
    for (const item of items) {
      const parsed = integrationItemSchema.safeParse(item);
      if (!parsed.success) continue;
      const { integrationId, provider, configVersion, routesVersion, sharedClientState } = toIntegration(parsed.data);
      registered.push({ integrationId, provider, configVersion, routesVersion, ...(sharedClientState === undefined ? {} : { sharedClientState }) });
    }
    return registered;
  }

  private async queryAll(input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName'>): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(new QueryCommand({ ...input, TableName: this.tableName, ExclusiveStartKey }));
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined);
    return items;
  }
}

/** DynamoDB's cap: 25 requests per BatchWriteItem. */
const BATCH_WRITE_LIMIT = 25;
const UNPROCESSED_ATTEMPTS = 5;
/** Rounds of reading and deleting a partition: the route index writes at most once per connection deleted. */
const PARTITION_DELETE_ROUNDS = 5;

function countByKind(itemKeys: readonly { sk: string }[]): IntegrationItemCounts {
  const counts: IntegrationItemCounts = { connections: 0, subscriptions: 0, tenantRoutes: 0, resyncStates: 0, other: 0 };
  for (const { sk } of itemKeys) {
    if (sk.startsWith(keys.connectionPrefix)) counts.connections += 1;
    else if (sk.startsWith(keys.subscriptionPrefix)) counts.subscriptions += 1;
    else if (sk.startsWith(keys.tenantRoutePrefix)) counts.tenantRoutes += 1;
    else if (sk.startsWith(keys.resyncPrefix)) counts.resyncStates += 1;
    else counts.other += 1;
  }
  return counts;
}

type ItemSchema<T> = { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } };

/** A query's items as records (`to` applied to each valid one) and, by sort key, the items that do not parse. */
function sortItems<T, R>(items: readonly Record<string, unknown>[], schema: ItemSchema<T>, to: (item: T) => R): { valid: R[]; invalidItems: InvalidItem[] } {
  const valid: R[] = [];
  const invalidItems: InvalidItem[] = [];
  for (const item of items) {
    const parsed = schema.safeParse(item);
    if (parsed.success) valid.push(to(parsed.data));
    else invalidItems.push({ sk: String(item['sk']), reason: describeIssues(parsed.error) });
  }
  return { valid, invalidItems };
}

function parseItem<T>(schema: ItemSchema<T>, item: Record<string, unknown>): T {
  const parsed = schema.safeParse(item);
  if (!parsed.success) {
    throw new StoreDataError(`item ${String(item['pk'])} / ${String(item['sk'])} is invalid: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}
