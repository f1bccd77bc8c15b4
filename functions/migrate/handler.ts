import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { loadRouteIndexConfig } from '../../shared/config/route-index-config';
import { answerCustomResource, runTableMigration, type MigrationPorts } from '../../shared/store/migrations/custom-resource';
import { migrateTable } from '../../shared/store/migrations';

let ports: MigrationPorts | undefined;

/**
 * The stack's table migration, a CloudFormation custom resource: on create and update it runs every table
 * migration before the functions that need them are updated, and answers CloudFormation itself.
 */
export async function handler(event: CloudFormationCustomResourceEvent, context: Pick<Context, 'getRemainingTimeInMillis' | 'logStreamName'>): Promise<void> {
  if (ports === undefined) {
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    const tableName = loadRouteIndexConfig().connectionsTable;
    ports = { migrate: () => migrateTable(client, tableName, { dryRun: false }), log: (line) => console.log(line) };
  }
  const answer = await runTableMigration(event, ports);
  await answerCustomResource(event, { ...answer, logStreamName: context.logStreamName });
}
