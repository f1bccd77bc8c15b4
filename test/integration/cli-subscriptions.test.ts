/**
 * The real `graph-relay` process changing Graph subscriptions: the local stack in-process (DynamoDB Local, the AWS
 * emulator, the intake answering Graph's validation handshake), the Graph fake reached through GRAPH_API_URL and
 * GRAPH_LOGIN_URL, and the descriptor the stack writes, which `--local` reads.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { startGraphFake, type GraphFake } from '../support/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const BIN = resolve(__dirname, '../../bin/graph-relay.mjs');
const APP = { clientId: randomUUID(), clientSecret: 'cli-app-secret~0123456789abcdef' };

let t: TestStack;
let fake: GraphFake;
let dynamodb: DynamoDBClient;
let records: DynamoDbSubscriptionsStore;

function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')));
  const child = spawn(process.execPath, [BIN, '--local', ...args], {
    env: { ...base, GRAPH_RELAY_DATA_DIR: t.dataDir, GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  t = await startTestStack();
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  dynamodb = new DynamoDBClient({ region: t.stack.descriptor.region, credentials: LOCAL_CREDENTIALS, endpoint });
  records = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), t.stack.descriptor.connectionsTable);
});

afterAll(async () => {
  dynamodb?.destroy();
  await fake?.close();
  await t?.stop();
});

async function integration(): Promise<{ integrationId: string; webhookSecret: string; tenant: string }> {
  const tenant = randomUUID();
  const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId: tenant }] });
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  return { integrationId, webhookSecret, tenant };
}

describe('graph-relay --local subscriptions and reconcile against the Graph fake', () => {
  it('creates through the real handshake, renews, recreates after Graph lost it, and deletes', async () => {
    // Prepare
    const { integrationId, webhookSecret, tenant } = await integration();
    const notificationUrl = `${t.stack.descriptor.webhookBaseUrl}${integrationId}`;

    // Act: create
    const created = await cli('subscriptions', 'create', integrationId, 'conn-1', '--resource', 'users', '--change-type', 'created,updated', '--json');

    // Assess
    expect(created.code).toBe(0);
    const { subscription } = JSON.parse(created.stdout) as { subscription: { subscriptionId: string; expiresAt: string } };
    expect(fake.subscriptions(tenant)).toEqual([
      expect.objectContaining({ id: subscription.subscriptionId, resource: 'users', changeType: 'created,updated', notificationUrl, clientState: webhookSecret }),
    ]);
    expect(await records.get(integrationId, subscription.subscriptionId)).toMatchObject({ connectionId: 'conn-1', status: 'active' });
    expect((await t.store.getConnection(integrationId, 'conn-1'))?.subscriptions).toEqual(['users:created,updated']);

    // Act: renew, then Graph loses it and renew recreates it
    const renewed = await cli('subscriptions', 'renew', subscription.subscriptionId);
    fake.deleteSubscription(subscription.subscriptionId);
    const recreated = await cli('subscriptions', 'renew', subscription.subscriptionId, '--json');

    // Assess
    expect(renewed.code).toBe(0);
    expect(renewed.stdout).toMatch(new RegExp(`^renewed subscription ${subscription.subscriptionId} \\(users:created,updated of ${integrationId}/conn-1\\); expires `));
    expect(recreated.code).toBe(0);
    const outcome = JSON.parse(recreated.stdout) as { outcome: string; subscriptionId: string };
    expect(outcome.outcome).toBe('recreated');
    expect(fake.subscriptions(tenant).map((s) => s.id)).toEqual([outcome.subscriptionId]);
    expect(await records.get(integrationId, subscription.subscriptionId)).toBeUndefined();

    // Act: delete
    const deleted = await cli('subscriptions', 'delete', outcome.subscriptionId);

    // Assess
    expect(deleted.code).toBe(0);
    expect(fake.subscriptions(tenant)).toEqual([]);
    expect(await records.get(integrationId, outcome.subscriptionId)).toBeUndefined();
    expect(deleted.stderr).toMatch(/still declares users:created,updated: the reconciler will create it again/);
  });

  it('reconcile --dry-run prints the plan without calling Graph; reconcile applies it', async () => {
    // Prepare
    const { integrationId, tenant } = await integration();
    await t.store.setSubscriptions(integrationId, 'conn-1', ['groups:deleted', 'users:creatd']);

    // Act
    const dryRun = await cli('reconcile', '--integration', integrationId, '--dry-run');
    const applied = await cli('reconcile', '--integration', integrationId);

    // Assess
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout.trimEnd().split('\n')).toEqual([
      `would create groups:deleted for ${integrationId}/conn-1 (tenant ${tenant})`,
      expect.stringMatching(new RegExp(`^ignored ${integrationId}/conn-1: invalid subscription declaration "users:creatd"`)),
      'dry run: would create 1, delete 0; 0 kept; 1 invalid declarations',
    ]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(new RegExp(`^create groups:deleted for ${integrationId}/conn-1 \\(tenant ${tenant}\\): created \\S+, expires `));
    expect(fake.subscriptions(tenant).map((s) => s.resource)).toEqual(['groups']);
  });
});
