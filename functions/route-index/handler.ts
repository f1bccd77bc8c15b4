import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { loadRouteIndexConfig } from '../../shared/config/route-index-config';
import { indexRouteChanges, type RouteIndexPorts } from '../../shared/routing/route-index';

let ports: RouteIndexPorts | undefined;
const logger = new Logger({ serviceName: 'graph-relay-route-index' });

/** Connections-table stream batches: keeps each tenant's route item in step with the connection items. */
export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  ports ??= {
    client: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    tableName: loadRouteIndexConfig().connectionsTable,
    now: () => new Date(),
    logger,
  };
  const outcome = await indexRouteChanges(ports, event.Records);
  logger.info('route changes indexed', {
    records: event.Records.length,
    added: outcome.added,
    removed: outcome.removed,
    ignored: outcome.ignored,
    failedRecords: outcome.batchItemFailures.length,
  });
  return { batchItemFailures: outcome.batchItemFailures };
}
