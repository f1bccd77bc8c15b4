import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type AttributeDefinition,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type StreamSpecification,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { CONNECTION_INDEX } from '../shared/store/connection-index';
import { RENEWAL_INDEX } from '../shared/store/renewal-index';

/** A string-keyed index projecting whole items, with the attribute definitions its keys need. */
function wholeItemIndex(index: { indexName: string; partitionKey: string; sortKey: string }): { index: GlobalSecondaryIndex & { IndexName: string }; attributes: AttributeDefinition[] } {
  return {
    index: {
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    attributes: [
      { AttributeName: index.partitionKey, AttributeType: 'S' },
      { AttributeName: index.sortKey, AttributeType: 'S' },
    ],
  };
}

/** The connections table's indexes, as `infra/constructs/connections-table.ts` deploys them, with their key attributes. */
const CONNECTIONS_INDEXES = [wholeItemIndex(RENEWAL_INDEX), wholeItemIndex(CONNECTION_INDEX)];

/** The connections table's stream, as `infra/constructs/connections-table.ts` deploys it; the reconciler reads it. */
const CONNECTIONS_STREAM: StreamSpecification = { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' };

/** How long to wait for an index added to an existing table to become ACTIVE (DynamoDB Local: at once). */
const INDEX_WAIT_MS = 30_000;
const INDEX_POLL_MS = 100;

/** The same key schemas, indexes and stream as `infra/constructs/connections-table.ts` deploys. */
export async function ensureTables(client: DynamoDBClient, names: { connectionsTable: string; deliveriesTable: string }): Promise<void> {
  await Promise.all([
    ensureTable(client, {
      TableName: names.connectionsTable,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: distinct([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        ...CONNECTIONS_INDEXES.flatMap((entry) => entry.attributes),
      ]),
      GlobalSecondaryIndexes: CONNECTIONS_INDEXES.map((entry) => entry.index),
      StreamSpecification: CONNECTIONS_STREAM,
    }).then(async (created) => {
      // The local data directory keeps tables across runs: one made before an index or the stream existed gets
      // them now, one index per update as DynamoDB requires.
      if (!created) {
        for (const entry of CONNECTIONS_INDEXES) await ensureIndex(client, names.connectionsTable, entry);
        await ensureStream(client, names.connectionsTable);
      }
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

/** The writer lease's own table (pk, sk), as deployed in a multi-region stage. */
export async function ensureLeaseTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(client, {
    TableName: tableName,
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
  });
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

async function ensureIndex(client: DynamoDBClient, tableName: string, entry: (typeof CONNECTIONS_INDEXES)[number]): Promise<void> {
  const name = entry.index.IndexName;
  if (indexOf(await describe(client, tableName), name) === undefined) {
    try {
      await client.send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: entry.attributes,
          GlobalSecondaryIndexUpdates: [{ Create: entry.index }],
        }),
      );
    } catch (error) {
      // Another process (a second `npm start`, the CLI) may have added it meanwhile: fine if it is there now.
      if (indexOf(await describe(client, tableName), name) === undefined) throw error;
    }
  }
  const deadline = Date.now() + INDEX_WAIT_MS;
  for (;;) {
    const status = indexOf(await describe(client, tableName), name)?.IndexStatus;
    if (status === undefined || status === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`index ${name} of table ${tableName} is still ${status}`);
    await new Promise((resolve) => setTimeout(resolve, INDEX_POLL_MS));
  }
}

async function ensureStream(client: DynamoDBClient, tableName: string): Promise<void> {
  const current = (await describe(client, tableName))?.StreamSpecification;
  if (current?.StreamEnabled === true && current.StreamViewType === CONNECTIONS_STREAM.StreamViewType) return;
  // A stream of another view type cannot be changed in place: it is disabled first (its records are not needed).
  if (current?.StreamEnabled === true) await updateStream(client, tableName, { StreamEnabled: false });
  await updateStream(client, tableName, CONNECTIONS_STREAM);
}

async function updateStream(client: DynamoDBClient, tableName: string, stream: StreamSpecification): Promise<void> {
  try {
    await client.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: stream }));
  } catch (error) {
    // Another process (a second `npm start`, the CLI) may have done it meanwhile: fine if it is as wanted now.
    const now = (await describe(client, tableName))?.StreamSpecification;
    if ((now?.StreamEnabled ?? false) !== stream.StreamEnabled || (stream.StreamEnabled && now?.StreamViewType !== stream.StreamViewType)) throw error;
  }
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
}

/** Each attribute once: the connection index sorts by the table's own `sk`. */
function distinct(attributes: readonly AttributeDefinition[]): AttributeDefinition[] {
  return [...new Map(attributes.map((attribute) => [attribute.AttributeName, attribute])).values()];
}

function indexOf(table: TableDescription | undefined, indexName: string) {
  return table?.GlobalSecondaryIndexes?.find((index) => index.IndexName === indexName);
}
