/**
 * The local stack as one region of two (GRAPH_RELAY_REGION, GRAPH_RELAY_WRITER_LEASE=on): its heartbeat, in process,
 * holds the Graph writer lease in the shared connections table; while another region holds it, renewal and reconcile
 * are skipped and a lifecycle event is handed off with nothing sent to Graph; once that region's lease is past its
 * expiry and the grace, the next heartbeat takes it over and delivers the hand-off to the in-process lifecycle handler.
 * The other region is played by writing its lease item, as its heartbeat would.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { NotWriterError } from '../../local/writer-lease';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { WRITER_LEASE_KEY } from '../../shared/leadership/writer-lease';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'local-writer-lease-app-secret~0123456789' };
const LEASE = { heartbeatSeconds: 3600, ttlSeconds: 6, graceSeconds: 2 };

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let documents: DynamoDBDocumentClient;
let secrets: SecretsManagerClient;
const lines: string[] = [];

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  // Heartbeats only when the test asks (runNow), besides the one at start.
  t = await startTestStack({
    lifecycle: true,
    renewal: { intervalSeconds: 0 },
    graph: { apiUrl: fake.url, loginUrl: fake.loginUrl },
    region: 'eu-west-1',
    writerLease: LEASE,
    log: (line) => lines.push(line),
  });
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: d.dynamodbEndpoint });
  documents = DynamoDBDocumentClient.from(dynamodb);
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
});

afterAll(async () => {
  dynamodb?.destroy();
  secrets?.destroy();
  await t?.stop();
  await fake?.close();
});

async function leaseItem() {
  return (await documents.send(new GetCommand({ TableName: t.stack.descriptor.connectionsTable, Key: WRITER_LEASE_KEY, ConsistentRead: true }))).Item;
}

async function handoffItems() {
  const { Items = [] } = await documents.send(
    new QueryCommand({ TableName: t.stack.descriptor.connectionsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'HANDOFF' }, ConsistentRead: true }),
  );
  return Items;
}

/** Another region's heartbeat: the lease item as us-east-1 writes it, ending at `expiresAtMs`. */
async function heldByUsEast1(epoch: number, expiresAtMs: number) {
  const now = new Date().toISOString();
  await documents.send(
    new PutCommand({
      TableName: t.stack.descriptor.connectionsTable,
      Item: { ...WRITER_LEASE_KEY, type: 'writer-lease', holder: 'us-east-1', epoch, acquiredAt: now, renewedAt: now, expiresAt: new Date(expiresAtMs).toISOString(), expiresAtMs },
    }),
  );
}

/** Graph calls the relay made (the fake's counts without the token endpoint). */
function graphCalls(): number {
  return Object.entries(fake.stats())
    .filter(([route]) => !/token/i.test(route))
    .reduce((sum, [, byStatus]) => sum + Object.values(byStatus ?? {}).reduce((a, b) => a + b, 0), 0);
}

describe('local stack: the Graph writer lease', () => {
  it('runs as its region with the lease on, holding the lease from its first heartbeat', async () => {
    // Act
    const report = await t.stack.writerLease?.runNow();

    // Assess
    expect(t.stack.descriptor).toMatchObject({ region: 'eu-west-1', writerLease: 'on', leaseHeartbeatSeconds: 3600 });
    expect(report).toMatchObject({ outcome: 'renewed', holder: 'eu-west-1', epoch: 1 });
    expect(await leaseItem()).toMatchObject({ holder: 'eu-west-1', epoch: 1 });
  });

  it('while another region holds the lease: renewal and reconcile skipped, a lifecycle event handed off, nothing sent to Graph; on takeover the hand-off is delivered', async () => {
    // Prepare: a subscription created at the fake and recorded; us-east-1 took the lease (a minute left)
    const d = t.stack.descriptor;
    const tenantId = randomUUID();
    const connectionId = 'conn-writer-lease';
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId, tenantId }] });
    await t.putSecret(integrationId, { webhookSecret, ...APP });
    const graphs = new IntegrationGraphs({
      config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
      readSecret: async (id) => {
        const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
        return JSON.parse(SecretString ?? 'null') as unknown;
      },
    });
    const notificationUrl = `${d.webhookBaseUrl}${integrationId}`;
    const created = await (await graphs.graphFor(integrationId)).createSubscription(tenantId, {
      changeType: 'created',
      notificationUrl,
      lifecycleNotificationUrl: notificationUrl,
      resource: `users/${randomUUID()}/messages`,
      expirationDateTime: new Date(Date.now() + 24 * 60 * 60_000),
      clientState: webhookSecret,
    });
    const store = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
    await store.put({ integrationId, subscriptionId: created.id, connectionId, tenantId, resource: created.resource, changeTypes: ['created'], expiresAt: created.expirationDateTime, status: 'active' });
    await heldByUsEast1(2, Date.now() + 60_000);
    fake.resetStats();

    // Act 1
    const heartbeat = await t.stack.writerLease?.runNow();
    const renewal = await t.stack.renewal.runNow().catch((error: unknown) => error);
    const reconcile = await t.stack.reconcile.runNow().catch((error: unknown) => error);
    const push = await fake.pushLifecycle(created.id, 'subscriptionRemoved');
    await t.stack.lifecycle.idle();

    // Assess 1
    expect(heartbeat).toMatchObject({ outcome: 'held-by-other', holder: 'us-east-1' });
    expect(renewal).toBeInstanceOf(NotWriterError);
    expect(reconcile).toBeInstanceOf(NotWriterError);
    expect((reconcile as Error).message).toBe('reconcile skipped: this region is not the Graph writer (us-east-1 does)');
    expect(push).toMatchObject({ delivered: true, status: 202 });
    expect(graphCalls()).toBe(0);
    // Graph removed it (the fake ends it as it pushes subscriptionRemoved); nothing recreated it.
    expect(fake.subscriptions(tenantId)).toEqual([]);
    const handedOff = await handoffItems();
    expect(handedOff).toEqual([expect.objectContaining({ sk: expect.stringMatching(/^lifecycle#/), kind: 'lifecycle', fromRegion: 'eu-west-1', ttl: expect.any(Number) })]);
    expect(JSON.parse(String(handedOff[0]?.['payload']))).toMatchObject({ 'detail-type': 'Graph Lifecycle Notification' });

    // Act 2: us-east-1's lease is past its expiry and the grace
    await heldByUsEast1(2, Date.now() - (LEASE.graceSeconds + 1) * 1000);
    const takeover = await t.stack.writerLease?.runNow();

    // Assess 2
    expect(takeover).toMatchObject({ outcome: 'acquired', holder: 'eu-west-1', epoch: 3, takeover: true, previousHolder: 'us-east-1', handoffs: { delivered: 1, failed: 0 } });
    expect(await handoffItems()).toEqual([]);
    // Handed to the lifecycle handler without waiting (as the deployed asynchronous invoke): its line comes after.
    for (let i = 0; i < 100 && !lines.some((line) => line.startsWith('lifecycle (handed off by another region): ')); i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines.some((line) => line.startsWith('lifecycle (handed off by another region): '))).toBe(true);
    expect(lines).toContain('writer lease: acquired by eu-west-1 (epoch 3, from us-east-1)');
    // The catch-up runs started by the takeover, now as the writer.
    await expect(t.stack.renewal.runNow()).resolves.toMatchObject({ stoppedEarly: false });
  });
});
