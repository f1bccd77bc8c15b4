import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

/** The same key schemas as `infra/constructs/connections-table.ts` deploys. */
export async function ensureTables(client: DynamoDBClient, names: { connectionsTable: string; deliveriesTable: string }): Promise<void> {
  await Promise.all([
    ensureTable(client, {
      TableName: names.connectionsTable,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
    }),
    ensureTable(client, {
      TableName: names.deliveriesTable,
      KeySchema: [{ AttributeName: 'idempotencyKey', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'idempotencyKey', AttributeType: 'S' }],
    }).then(async (created) => {
      if (created) {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName: names.deliveriesTable,
            TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
          }),
        );
      }
    }),
  ]);
}

async function ensureTable(
  client: DynamoDBClient,
  input: Omit<ConstructorParameters<typeof CreateTableCommand>[0], 'BillingMode'>,
): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: input.TableName }));
    return false;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await client.send(new CreateTableCommand({ ...input, BillingMode: 'PAY_PER_REQUEST' }));
  } catch (error) {
    if (error instanceof ResourceInUseException) return false;
    throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: input.TableName });
  return true;
}
