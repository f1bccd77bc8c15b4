/**
 * `graph-relay integrations remove` as an operator runs it: the real process against the local stack (DynamoDB
 * Local, the AWS emulator's Secrets Manager) and the Graph fake, so the subscriptions are deleted at Graph, and the
 * table's partition and the secret are really gone, while another integration is left as it was.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { keys } from '../../shared/store/items';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';
import { runCli, type CliResult } from '../support/cli-process';

const APP = { clientId: randomUUID(), clientSecret: 'cli-remove-app-secret~0123456789' };

let t: TestStack;
let fake: GraphFake;
let dynamodb: DynamoDBClient;
let documents: DynamoDBDocumentClient;
let secrets: SecretsManagerClient;

function cli(...args: string[]): Promise<CliResult> {
  return runCli(['--local', ...args], { GRAPH_RELAY_DATA_DIR: t.dataDir, GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl });
}

beforeAll(async () => {
  t = await startTestStack();
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  const { region, awsEmulatorEndpoint } = t.stack.descriptor;
  dynamodb = new DynamoDBClient({ region, credentials: LOCAL_CREDENTIALS, endpoint });
  documents = DynamoDBDocumentClient.from(dynamodb);
  secrets = new SecretsManagerClient({ region, credentials: LOCAL_CREDENTIALS, endpoint: awsEmulatorEndpoint });
});

afterAll(async () => {
  dynamodb?.destroy();
  secrets?.destroy();
  await fake?.close();
  await t?.stop();
});

/** An integration with two connections in two tenants, each with a subscription made at Graph by reconcile, and a resync state. */
async function integrationWithSubscriptions(): Promise<{ integrationId: string; tenants: string[] }> {
  const tenants = [randomUUID(), randomUUID()];
  const { integrationId, webhookSecret } = await t.seedIntegration({
    connections: tenants.map((tenantId, i) => ({ connectionId: `conn-${i + 1}`, tenantId })),
  });
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  await t.store.setSubscriptions(integrationId, 'conn-1', ['users:updated']);
  await t.store.setSubscriptions(integrationId, 'conn-2', ['groups:deleted']);
  const reconciled = await cli('reconcile', '--integration', integrationId);
  if (reconciled.code !== 0) throw new Error(`reconcile failed: ${reconciled.stderr}`);
  await documents.send(
    new PutCommand({
      TableName: t.stack.descriptor.connectionsTable,
      Item: { ...keys.resync(integrationId, 'conn-1', 'users:updated;resync'), type: 'resync-state', integrationId },
    }),
  );
  return { integrationId, tenants };
}

async function partitionOf(integrationId: string): Promise<string[]> {
  const { Items = [] } = await documents.send(
    new QueryCommand({
      TableName: t.stack.descriptor.connectionsTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId) },
      ConsistentRead: true,
    }),
  );
  return Items.map((item) => String(item['sk'])).sort();
}

async function secretExists(integrationId: string): Promise<boolean> {
  try {
    await secrets.send(new DescribeSecretCommand({ SecretId: integrationSecretName(t.stack.descriptor.webhookSecretPrefix, integrationId) }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return false;
    throw error;
  }
}

describe('graph-relay --local integrations remove', () => {
  it('without --yes and stdin not a terminal: prints what it would remove, exits 2, removes nothing', async () => {
    // Prepare
    const { integrationId, tenants } = await integrationWithSubscriptions();
    const before = await partitionOf(integrationId);

    // Act
    const result = await cli('integrations', 'remove', integrationId, '--json');

    // Assess
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      integrationId,
      removed: false,
      subscriptionsAtGraph: 2,
      items: { connections: 2, subscriptions: 2, tenantRoutes: 2, resyncStates: 1, other: 0 },
      integrationItem: true,
      secret: 'present',
    });
    expect(result.stderr).toBe(`graph-relay: nothing removed: stdin is not a terminal to confirm; run again with --yes: graph-relay integrations remove ${integrationId} --yes\n`);
    expect(tenants.map((tenant) => fake.subscriptions(tenant).length)).toEqual([1, 1]);
    expect(await partitionOf(integrationId)).toEqual(before);
    expect(await secretExists(integrationId)).toBe(true);
  });

  it('with --yes deletes its subscriptions at Graph, then its whole partition, its item and its secret, and nothing of another integration', async () => {
    // Prepare
    const { integrationId, tenants } = await integrationWithSubscriptions();
    const kept = await integrationWithSubscriptions();
    const keptPartition = await partitionOf(kept.integrationId);

    // Act
    const result = await cli('integrations', 'remove', integrationId, '--yes', '--json');
    const again = await cli('integrations', 'remove', integrationId, '--yes');

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      integrationId,
      removed: true,
      subscriptionsAtGraph: { deleted: 2, alreadyGone: 0 },
      items: { connections: 2, subscriptions: 2, tenantRoutes: 2, resyncStates: 1, other: 0 },
      integrationItem: true,
      secret: 'deleted',
    });
    expect(tenants.map((tenant) => fake.subscriptions(tenant))).toEqual([[], []]);
    expect(await partitionOf(integrationId)).toEqual([]);
    expect(await t.store.getIntegration(integrationId)).toBeUndefined();
    expect(await secretExists(integrationId)).toBe(false);
    expect(again).toEqual({ code: 1, stdout: '', stderr: `graph-relay: integration "${integrationId}" does not exist: nothing to remove (graph-relay integrations list shows them)\n` });
    expect(kept.tenants.map((tenant) => fake.subscriptions(tenant).length)).toEqual([1, 1]);
    expect(await partitionOf(kept.integrationId)).toEqual(keptPartition);
    expect(await secretExists(kept.integrationId)).toBe(true);
  });
});
