/**
 * Routing by key on the real local stack: connection items written by hand (PutItem / UpdateItem / DeleteItem in
 * the documented format, as an operator in the DynamoDB console would) route through the route items the stream's
 * route index derives; unknown integration ids cost no read; a request reads DynamoDB in one round.
 */
import { randomUUID } from 'node:crypto';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ENV } from '../../shared/config/env-names';
import { keys } from '../../shared/store/items';
import { notification } from '../../testkit/notification';
import { startTestStack, type TestStack } from '../support/test-stack';

// The registry is read again every second here, so a routes version bump reaches the intake quickly; the default
// (30 s) only changes how long that takes, not what happens.
process.env[ENV.registryRefreshSeconds] = '1';
// The product's default: an unknown id brings a registry read forward at most once per 5 s.
process.env[ENV.registryMinRefreshSeconds] = '5';

const TENANT_A = '5b7d8a9c-1d2e-4f30-8a41-b52c63d74e85';
const TENANT_B = 'c0ffee00-1d2e-4f30-8a41-b52c63d74e86';
/** Only a bound for giving up, never a measured expectation. */
const PATIENCE_MS = 45_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    await sleep(200);
  }
}

describe('routing by key (local stack, connection items edited by hand)', () => {
  let stack: TestStack;
  let documents: DynamoDBDocumentClient;
  let table: string;
  let integrationId: string;
  let webhookSecret: string;

  beforeAll(async () => {
    stack = await startTestStack({ connectionsStream: { pollIntervalMs: 50, maxIdleIntervalMs: 200 } });
    table = stack.stack.descriptor.connectionsTable;
    documents = DynamoDBDocumentClient.from(
      new DynamoDBClient({ region: stack.stack.descriptor.region, credentials: LOCAL_CREDENTIALS, endpoint: process.env['TEST_DYNAMODB_ENDPOINT'] as string }),
    );
    ({ integrationId, webhookSecret } = await stack.seedIntegration({}));
  });

  afterAll(async () => {
    documents?.destroy();
    await stack?.stop();
  });

  const connectionItem = (connectionId: string, tenantId: string) => ({
    ...keys.connection(integrationId, connectionId),
    type: 'connection',
    integrationId,
    connectionId,
    tenantId,
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
  });

  const routeOf = async (tenantId: string) =>
    (await documents.send(new GetCommand({ TableName: table, Key: keys.tenantRoute(integrationId, tenantId), ConsistentRead: true }))).Item?.['connectionIds'] as
      | Set<string>
      | undefined;

  type Detail = { connectionId: string | null; payload: { value: { subscriptionId: string }[] } };

  /** The details of the events published for notifications of one subscription. */
  const detailsOf = (subscriptionId: string): Detail[] =>
    stack.stack.emulator
      .events()
      .map((event) => event.detail as unknown as Detail)
      .filter((detail) => detail.payload.value[0]?.subscriptionId === subscriptionId);

  /** The connections one notification of the tenant reached, from the events on the local bus. */
  async function deliveredTo(tenantId: string): Promise<(string | null)[]> {
    const sent = notification({ tenantId, clientState: webhookSecret });
    const answer = await stack.post(integrationId, { value: [sent] });
    expect(answer.status).toBe(202);
    return detailsOf(sent['subscriptionId'] as string)
      .map((detail) => detail.connectionId)
      .sort();
  }

  it('routes a connection item put by hand, follows a hand edit of its tenant, and stops when it is deleted', async () => {
    // Prepare: nothing routes to tenant A yet
    expect(await deliveredTo(TENANT_A)).toEqual([null]);

    // Act: an operator adds a connection in the console, tenant id in capitals
    await documents.send(new PutCommand({ TableName: table, Item: connectionItem('console-added', TENANT_A.toUpperCase()) }));

    // Assess: the route index derived the route item; the intake routes to it once it sees the new routes version
    await eventually('the route item of tenant A', () => routeOf(TENANT_A), (ids) => ids?.has('console-added') === true);
    await eventually('routing to the hand-written connection', () => deliveredTo(TENANT_A), (to) => to.length === 1 && to[0] === 'console-added');

    // Act: the operator moves the connection to tenant B
    await documents.send(
      new UpdateCommand({ TableName: table, Key: keys.connection(integrationId, 'console-added'), UpdateExpression: 'SET tenantId = :t', ExpressionAttributeValues: { ':t': TENANT_B } }),
    );

    // Assess: tenant A's route item is gone (it had no other connection), tenant B's has it
    await eventually('tenant B routing to it', () => deliveredTo(TENANT_B), (to) => to.length === 1 && to[0] === 'console-added');
    expect(await routeOf(TENANT_A)).toBeUndefined();
    expect(await deliveredTo(TENANT_A)).toEqual([null]);

    // Act: the operator deletes the connection
    await documents.send(new DeleteCommand({ TableName: table, Key: keys.connection(integrationId, 'console-added') }));

    // Assess
    await eventually('tenant B unrouted again', () => deliveredTo(TENANT_B), (to) => to.length === 1 && to[0] === null);
    expect(await routeOf(TENANT_B)).toBeUndefined();
  });

  it('routes to every connection of a tenant, and to the subscription\'s own connection when the subscription is recorded', async () => {
    // Prepare
    const tenantId = randomUUID();
    await stack.store.addConnection({ integrationId, connectionId: 'first', tenantId });
    await stack.store.addConnection({ integrationId, connectionId: 'second', tenantId });
    const subscriptionId = randomUUID();
    await documents.send(
      new PutCommand({
        TableName: table,
        Item: { ...keys.subscription(integrationId, subscriptionId), type: 'subscription', subscriptionId, connectionId: 'second', tenantId },
      }),
    );

    // Act
    const toTenant = await eventually('both connections', () => deliveredTo(tenantId), (to) => to.length === 2);
    const sent = notification({ tenantId, clientState: webhookSecret, subscriptionId });
    const answer = await stack.post(integrationId, { value: [sent] });

    // Assess
    expect(toTenant).toEqual(['first', 'second']);
    expect(answer.status).toBe(202);
    expect(detailsOf(subscriptionId).map((detail) => detail.connectionId)).toEqual(['second']);
  });

  it('answers made-up integration ids from memory: no secret read, no DynamoDB read beyond a rate-limited registry refresh', async () => {
    // Prepare: the stream's consumers (reconciles of the connections edited above) are done, so every read
    // counted below is the intake's
    await Promise.all([stack.stack.connectionsStream?.idle(), stack.stack.routeIndexStream?.idle()]);
    stack.proxy.resetStats();
    stack.stack.emulator.resetStats();
    const started = Date.now();

    // Act
    const answers = [];
    for (let i = 0; i < 200; i += 1) {
      answers.push((await stack.post(`made-up-${randomUUID().slice(0, 8)}`, { value: [notification({ tenantId: TENANT_A, clientState: webhookSecret })] })).status);
    }
    const elapsedSeconds = (Date.now() - started) / 1000;

    // Assess: at most one registry read per second of the run (the refresh interval here) plus the one in flight
    expect(new Set(answers)).toEqual(new Set([403]));
    expect(stack.stack.emulator.stats()['GetSecretValue'] ?? 0).toBe(0);
    const reads = stack.proxy.stats();
    expect(reads['GetItem'] ?? 0).toBe(0);
    expect(reads['BatchGetItem'] ?? 0).toBe(0);
    expect(reads['Query'] ?? 0).toBeLessThanOrEqual(Math.ceil(elapsedSeconds) + 1);
  });

  it('reads DynamoDB in one round of BatchGetItem for a 100-notification batch across new tenants, and not at all for forged items', async () => {
    // Prepare
    const tenants = Array.from({ length: 10 }, () => randomUUID());
    for (const [i, tenantId] of tenants.entries()) await stack.store.addConnection({ integrationId, connectionId: `batch-${i}`, tenantId });
    const batch = Array.from({ length: 100 }, (_, i) => notification({ tenantId: tenants[i % 10] as string, clientState: webhookSecret }));
    const forged = Array.from({ length: 100 }, () => notification({ tenantId: TENANT_A, clientState: 'forged-client-state-0000000' }));
    // Let the registry see this integration's routes version settle (the adds above bumped it).
    await sleep(1_500);
    stack.proxy.resetStats();

    // Act
    const answer = await stack.post(integrationId, { value: batch });
    const afterBatch = stack.proxy.stats();
    stack.proxy.resetStats();
    const forgedAnswer = await stack.post(integrationId, { value: forged });
    const afterForged = stack.proxy.stats();

    // Assess: 100 markers + 100 subscriptions + 10 tenants = 210 keys, three BatchGetItem calls sent together
    expect(answer.status).toBe(202);
    expect(answer.json()).toEqual(expect.objectContaining({ received: 100, published: 100, unrouted: 0 }));
    expect((answer.json() as { readUnits: number }).readUnits).toBeGreaterThan(0);
    expect(afterBatch['BatchGetItem']).toBe(3);
    expect(afterBatch['Query'] ?? 0).toBeLessThanOrEqual(1);
    expect(afterBatch['GetItem'] ?? 0).toBe(0);
    expect(forgedAnswer.status).toBe(403);
    expect(afterForged['BatchGetItem'] ?? 0).toBe(0);
  });

  it('accepts a brand-new integration within one registry refresh, answering 403 (Graph redelivers) until then', async () => {
    // Prepare: the registry is warm and has just been read (a known integration's POST)
    await stack.post(integrationId, { value: [notification({ tenantId: TENANT_A, clientState: webhookSecret })] });
    const started = Date.now();

    // Act: the operator creates an integration; Graph starts delivering to it at once
    const fresh = await stack.seedIntegration({ connections: [{ connectionId: 'new-main', tenantId: TENANT_A }] });
    const statuses: number[] = [];
    const accepted = await eventually(
      'the new integration accepted',
      async () => {
        const { status } = await stack.post(fresh.integrationId, { value: [notification({ tenantId: TENANT_A, clientState: fresh.webhookSecret })] });
        statuses.push(status);
        return status;
      },
      (status) => status === 202,
    );
    const tookMs = Date.now() - started;

    // Assess: nothing but 403 before (never acknowledged and dropped); the time is reported, not asserted
    expect(accepted).toBe(202);
    expect(new Set(statuses.slice(0, -1))).toEqual(new Set(statuses.length > 1 ? [403] : []));
    console.log(`new integration accepted ${tookMs} ms after it was created (${statuses.length} POSTs; registry refresh 1 s here)`);
  });

  it('publishes a notification signed with a secret rotated since this instance last read it, even right after a rate-limited re-read', async () => {
    // Prepare: an integration whose secret was just re-read after a mismatch (the next forced re-read is rate-limited)
    const rotating = await stack.seedIntegration({ connections: [{ connectionId: 'rotating-main', tenantId: TENANT_A }] });
    await sleep(1_500);
    // The first mismatch is checked against the read its own request made; the second forces a re-read.
    for (let i = 0; i < 2; i += 1) {
      expect((await stack.post(rotating.integrationId, { value: [notification({ tenantId: TENANT_A, clientState: 'forged-client-state-0000000' })] })).status).toBe(403);
    }
    // The secret is rotated straight in Secrets Manager (no configuration version moves): the old one stays accepted
    const rotated = `rotated-${randomUUID()}`;
    await stack.putSecret(rotating.integrationId, { webhookSecret: rotated, previousWebhookSecret: rotating.webhookSecret });
    const moved = notification({ tenantId: TENANT_A, clientState: rotated });
    const notYetMoved = notification({ tenantId: TENANT_A, clientState: rotating.webhookSecret });
    const onlyMoved = notification({ tenantId: TENANT_A, clientState: rotated });

    // Act: Graph delivers one of each in one POST (the old secret vouches for it), then one with the new secret alone
    const mixed = await stack.post(rotating.integrationId, { value: [moved, notYetMoved] });
    const alone = await stack.post(rotating.integrationId, { value: [onlyMoved] });

    // Assess: the vouched POST re-read the secret at once; the lone one then matches the secret just read
    expect(mixed.status).toBe(202);
    expect(mixed.json()).toEqual(expect.objectContaining({ published: 2, unconfirmed: 0, rejected: 0 }));
    expect(alone.status).toBe(202);
    for (const sent of [moved, notYetMoved, onlyMoved]) expect(detailsOf(sent['subscriptionId'] as string).map((d) => d.connectionId)).toEqual(['rotating-main']);
  });

  it('refuses (never acknowledges) a POST whose only items carry a secret it may not re-read yet, and accepts its redelivery', async () => {
    // Prepare: as above, but nothing in the POST verifies against the cached secret
    const rotating = await stack.seedIntegration({ connections: [{ connectionId: 'rotating-alone', tenantId: TENANT_A }] });
    await sleep(1_500);
    const forgedAnswers: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const forged = await stack.post(rotating.integrationId, { value: [notification({ tenantId: TENANT_A, clientState: 'forged-client-state-0000000' })] });
      expect(forged.status).toBe(403);
      forgedAnswers.push(forged.text);
    }
    const rotated = `rotated-${randomUUID()}`;
    await stack.putSecret(rotating.integrationId, { webhookSecret: rotated, previousWebhookSecret: rotating.webhookSecret });
    const moved = notification({ tenantId: TENANT_A, clientState: rotated });

    // Act: Graph redelivers while the answer is not 2xx
    const first = await stack.post(rotating.integrationId, { value: [moved] });
    const statuses = [first.status];
    await eventually(
      'the redelivery accepted',
      async () => {
        const answer = await stack.post(rotating.integrationId, { value: [moved] });
        statuses.push(answer.status);
        return answer.status;
      },
      (status) => status === 202,
    );

    // Assess: refused until the secret could be re-read, then published once
    expect(first.status).toBe(403);
    // Answered as a forged POST is (the unconfirmed count is the operator's, in the metrics and the log)
    expect(first.text).toBe(forgedAnswers[0]);
    expect(new Set(statuses.slice(0, -1))).toEqual(new Set([403]));
    expect(detailsOf(moved['subscriptionId'] as string).map((d) => d.connectionId)).toEqual(['rotating-alone']);
  });
});
