import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, UpdateCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { keys, normalizeTenantId } from './items';

/**
 * Writes of the derived routing items: a tenant's route item (`TENANT#<tenantId>`, its connection ids as a String
 * Set) and the integration's `routesVersion`, which tells running intakes to drop the integration's cached routes.
 * Set ADD and DELETE are idempotent, so the stream's redeliveries and the CLI's own writes may overlap freely.
 */
export const tenantRouteUpdates = {
  add(tableName: string, input: { integrationId: string; tenantId: string; connectionIds: readonly string[]; at: string }): UpdateCommandInput {
    const tenantId = normalizeTenantId(input.tenantId);
    return {
      TableName: tableName,
      Key: keys.tenantRoute(input.integrationId, tenantId),
      UpdateExpression: 'SET #type = :type, integrationId = :integrationId, tenantId = :tenantId, updatedAt = :at ADD connectionIds :ids',
      ExpressionAttributeNames: { '#type': 'type' },
      ExpressionAttributeValues: {
        ':type': 'tenant-route',
        ':integrationId': input.integrationId,
        ':tenantId': tenantId,
        ':at': input.at,
        ':ids': new Set(input.connectionIds),
      },
    };
  },
  /** Only on an existing item: removing from a route that is not there must not create an empty one. */
  remove(tableName: string, input: { integrationId: string; tenantId: string; connectionIds: readonly string[]; at: string }): UpdateCommandInput {
    return {
      TableName: tableName,
      Key: keys.tenantRoute(input.integrationId, input.tenantId),
      UpdateExpression: 'SET updatedAt = :at DELETE connectionIds :ids',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':at': input.at, ':ids': new Set(input.connectionIds) },
      ReturnValues: 'ALL_NEW',
    };
  },
  /** Only while the integration exists: a route change never recreates a deleted integration item. */
  bumpRoutesVersion(tableName: string, integrationId: string): UpdateCommandInput {
    return {
      TableName: tableName,
      Key: keys.integration(integrationId),
      UpdateExpression: 'ADD routesVersion :one',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':one': 1 },
    };
  },
} as const;

/** Applies a removal; a route left with no connection is deleted, so the table keeps no empty items. */
export async function removeFromTenantRoute(
  client: DynamoDBDocumentClient,
  tableName: string,
  input: { integrationId: string; tenantId: string; connectionIds: readonly string[]; at: string },
): Promise<void> {
  try {
    const { Attributes } = await client.send(new UpdateCommand(tenantRouteUpdates.remove(tableName, input)));
    if (Attributes !== undefined && Attributes['connectionIds'] === undefined) {
      await client.send(
        new DeleteCommand({ TableName: tableName, Key: keys.tenantRoute(input.integrationId, input.tenantId), ConditionExpression: 'attribute_not_exists(connectionIds)' }),
      );
    }
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
}

/** Tells running intakes to drop the integration's cached routes; false if the integration item is gone. */
export async function bumpRoutesVersion(client: DynamoDBDocumentClient, tableName: string, integrationId: string): Promise<boolean> {
  try {
    await client.send(new UpdateCommand(tenantRouteUpdates.bumpRoutesVersion(tableName, integrationId)));
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
