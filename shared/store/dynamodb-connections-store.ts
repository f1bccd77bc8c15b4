import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { describeIssues } from '../graph/change-notification';
import {
  ConnectionExistsError,
  IntegrationNotFoundError,
  StoreDataError,
  type ConnectionsStore,
  type NewConnection,
  type RoutingSnapshot,
} from './connections-store';
import {
  connectionItemSchema,
  integrationItemSchema,
  keys,
  normalizeTenantId,
  statusReasonOf,
  subscriptionRouteItemSchema,
  toConnection,
  toIntegration,
  type Connection,
  type ConnectionItem,
  type Integration,
} from './items';

export class DynamoDbConnectionsStore implements ConnectionsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async putIntegration(input: { integrationId: string; provider: string }): Promise<{ integration: Integration; created: boolean }> {
    const existing = await this.getIntegration(input.integrationId);
    const at = this.now().toISOString();
    const integration: Integration = {
      integrationId: input.integrationId,
      provider: input.provider,
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
    };
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.integration(input.integrationId), type: 'integration', ...integration },
      }),
    );
    return { integration, created: existing === undefined };
  }

  async getIntegration(integrationId: string): Promise<Integration | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.integration(integrationId), ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    return toIntegration(parseItem(integrationItemSchema, Item));
  }

  async listIntegrations(): Promise<{ integrations: Integration[]; invalidItems: RoutingSnapshot['invalidItems'] }> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.integrationsPartition },
    });
    const integrations: Integration[] = [];
    const invalidItems: { sk: string; reason: string }[] = [];
    for (const item of items) {
      const parsed = integrationItemSchema.safeParse(item);
      if (parsed.success) integrations.push(toIntegration(parsed.data));
      else invalidItems.push({ sk: String(item['sk']), reason: describeIssues(parsed.error) });
    }
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
          TransactItems: [
            {
              ConditionCheck: {
                TableName: this.tableName,
                Key: keys.integration(input.integrationId),
                ConditionExpression: 'attribute_exists(pk)',
              },
            },
            { Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
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

  async listConnections(integrationId: string): Promise<{ connections: Connection[]; invalidItems: RoutingSnapshot['invalidItems'] }> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId), ':prefix': keys.connectionPrefix },
    });
    const connections: Connection[] = [];
    const invalidItems: { sk: string; reason: string }[] = [];
    for (const item of items) {
      const parsed = connectionItemSchema.safeParse(item);
      if (parsed.success) connections.push(toConnection(parsed.data));
      else invalidItems.push({ sk: String(item['sk']), reason: describeIssues(parsed.error) });
    }
    return { connections, invalidItems };
  }

  async removeConnection(integrationId: string, connectionId: string): Promise<boolean> {
    const { Attributes } = await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.connection(integrationId, connectionId), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes !== undefined;
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

  async loadRouting(integrationId: string): Promise<RoutingSnapshot | undefined> {
    // Both reads go out together: the integration item and its whole partition (connections and subscriptions).
    const [integration, items] = await Promise.all([
      this.client
        .send(new GetCommand({ TableName: this.tableName, Key: keys.integration(integrationId) }))
        .then(({ Item }) => (Item === undefined ? undefined : toIntegration(parseItem(integrationItemSchema, Item)))),
      this.queryAll({
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId) },
        ProjectionExpression: 'pk, sk, #type, integrationId, connectionId, tenantId, subscriptionId, createdAt, updatedAt',
        ExpressionAttributeNames: { '#type': 'type' },
      }),
    ]);
    if (integration === undefined) return undefined;
    const connectionsByTenant = new Map<string, string[]>();
    const subscriptions = new Map<string, { connectionId: string; tenantId: string }>();
    const invalidItems: { sk: string; reason: string }[] = [];
    for (const item of items) {
      const sk = String(item['sk']);
      if (sk.startsWith(keys.connectionPrefix)) {
        const parsed = connectionItemSchema.safeParse(item);
        if (!parsed.success) {
          invalidItems.push({ sk, reason: describeIssues(parsed.error) });
          continue;
        }
        const list = connectionsByTenant.get(parsed.data.tenantId) ?? [];
        list.push(parsed.data.connectionId);
        connectionsByTenant.set(parsed.data.tenantId, list);
      } else if (sk.startsWith(keys.subscriptionPrefix)) {
        const parsed = subscriptionRouteItemSchema.safeParse(item);
        if (!parsed.success) {
          invalidItems.push({ sk, reason: describeIssues(parsed.error) });
          continue;
        }
        subscriptions.set(parsed.data.subscriptionId, {
          connectionId: parsed.data.connectionId,
          tenantId: parsed.data.tenantId,
        });
      }
    }
    return { integration, connectionsByTenant, subscriptions, invalidItems };
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

function parseItem<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } }, item: Record<string, unknown>): T {
  const parsed = schema.safeParse(item);
  if (!parsed.success) {
    throw new StoreDataError(`item ${String(item['pk'])} / ${String(item['sk'])} is invalid: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}
