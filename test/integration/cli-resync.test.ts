/**
 * The real `graph-relay` process catching up a `;resync` declaration: the local stack in-process with its resync
 * queue and function, the Graph fake's delta queries reached through GRAPH_API_URL and GRAPH_LOGIN_URL, and the
 * descriptor `--local` reads. `subscriptions resync` run here and asked on the queue, a busy declaration,
 * `connections resume` asking a catch-up, and doctor's resync line. The stack is waited for with its resync queue's
 * own drain, never with sleeps.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { RESYNC_DETAIL_TYPE } from '../../shared/events/subscription-events';
import { DynamoDbResyncStateStore } from '../../shared/store/resync-checkpoints';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { runCli, type CliResult } from '../support/cli-process';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'cli-resync-app-secret~0123456789' };
const DECLARATION = 'users:updated,deleted';

let t: TestStack;
let fake: GraphFake;
let dynamodb: DynamoDBClient;
let records: DynamoDbSubscriptionsStore;
let states: DynamoDbResyncStateStore;

function cli(...args: string[]): Promise<CliResult> {
  return runCli(['--local', ...args], { GRAPH_RELAY_DATA_DIR: t.dataDir, GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl });
}

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP] });
  t = await startTestStack({ resync: true, renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  dynamodb = new DynamoDBClient({ region: t.stack.descriptor.region, credentials: LOCAL_CREDENTIALS, endpoint });
  const documents = DynamoDBDocumentClient.from(dynamodb);
  records = new DynamoDbSubscriptionsStore(documents, t.stack.descriptor.connectionsTable);
  states = new DynamoDbResyncStateStore(documents, t.stack.descriptor.connectionsTable);
});

afterAll(async () => {
  dynamodb?.destroy();
  await t?.stop();
  await fake?.close();
});

/** The resync function has run everything asked on the queue. */
async function settled(): Promise<void> {
  const resync = t.stack.resync;
  if (resync === undefined) throw new Error('the test stack was started without its resync queue');
  await resync.idle();
}

/**
 * An integration with app credentials, conn-1 declaring `users:updated,deleted;resync` and its subscription
 * recorded (the catch-up never calls Graph's subscriptions API), `users` users at the fake.
 */
async function world(users: number) {
  const tenantId = randomUUID();
  const { integrationId, webhookSecret } = await t.seedIntegration({});
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  await t.store.addConnection({ integrationId, connectionId: 'conn-1', tenantId, subscriptions: [`${DECLARATION};resync`] });
  const subscriptionId = randomUUID();
  await records.put({ integrationId, subscriptionId, connectionId: 'conn-1', tenantId, resource: 'users', changeTypes: ['updated', 'deleted'], expiresAt: new Date(Date.now() + 86_400_000).toISOString(), status: 'active' });
  const objects = fake.objects(tenantId);
  for (let i = 1; i <= users; i += 1) objects.upsert('users', { id: `user-${String(i).padStart(3, '0')}`, displayName: `User ${i}` });
  const bus = (detailType: string) =>
    t.stack.emulator
      .events(t.stack.descriptor.eventBusName)
      .filter((e) => e['detail-type'] === detailType && e.detail['providerConfigKey'] === integrationId)
      .map((e) => e.detail as Record<string, any>);
  const key = { integrationId, connectionId: 'conn-1', declaration: DECLARATION };
  return { integrationId, tenantId, subscriptionId, objects, bus, key };
}

describe('graph-relay --local subscriptions resync against the Graph fake', () => {
  it('catches up here in full without a baseline, then incrementally; --json has the result; doctor shows the last run', async () => {
    // Prepare
    const w = await world(5);

    // Act: no baseline yet, so every current user is sent
    const full = await cli('subscriptions', 'resync', w.subscriptionId);

    // Assess
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(
      new RegExp(`^resynced subscription ${w.subscriptionId} \\(${DECLARATION} of ${w.integrationId}/conn-1\\): full \\(there was no baseline to go on from\\), 5 objects published \\(5 changed, 0 deleted\\), 1 page in `),
    );
    expect(full.stderr).toBe(`graph-relay: resync ${w.subscriptionId}: full, 1 page, 5 objects published\n`);
    expect(w.bus(DETAIL_TYPES.change)).toHaveLength(5);
    expect(w.bus(DETAIL_TYPES.change).every((detail) => detail['metadata']['origin'] === 'resync')).toBe(true);

    // Act: two users change, one is deleted
    w.objects.upsert('users', { id: 'user-002', displayName: 'Renamed' });
    w.objects.upsert('users', { id: 'user-004', displayName: 'Renamed' });
    w.objects.remove('users', 'user-005', { permanent: true });
    const incremental = await cli('subscriptions', 'resync', w.subscriptionId, '--integration', w.integrationId, '--json');

    // Assess
    expect(incremental.code).toBe(0);
    expect(JSON.parse(incremental.stdout)).toMatchObject({ integrationId: w.integrationId, subscriptionId: w.subscriptionId, outcome: 'completed', mode: 'incremental', changed: 2, deleted: 1, rounds: 1 });
    expect(w.bus(DETAIL_TYPES.change)).toHaveLength(8);
    expect(w.bus(RESYNC_DETAIL_TYPE).map((detail) => [detail['trigger'], detail['mode'], detail['objects']])).toEqual([
      ['operator', 'full', 5],
      ['operator', 'incremental', 3],
    ]);

    // Act
    const doctor = await cli('doctor', '--json');

    // Assess
    const report = JSON.parse(doctor.stdout) as { checks: { check: string; ok: boolean; warning?: boolean; detail: string }[] };
    const line = report.checks.find((check) => check.check === `resync ${w.integrationId}/conn-1 ${DECLARATION}`);
    expect(line).toMatchObject({ ok: true, detail: expect.stringMatching(/^baseline \d+ min old \(.*\); last run operator incremental completed, 3 objects, /) });
    expect(line?.warning).toBeUndefined();
  });

  it('--queue --full asks the resync function, which runs it; connections resume asks a resumed catch-up', async () => {
    // Prepare
    const w = await world(3);

    // Act
    const queued = await cli('subscriptions', 'resync', w.subscriptionId, '--queue', '--full');
    await settled();

    // Assess
    expect(queued.code).toBe(0);
    expect(queued.stdout).toBe(`queued a full resync of subscription ${w.subscriptionId} (${DECLARATION} of ${w.integrationId}/conn-1): the resync function runs it; graph-relay doctor shows its outcome\n`);
    expect((await states.get(w.key))?.lastRun).toMatchObject({ trigger: 'operator', mode: 'full', outcome: 'completed', objects: 3 });

    // Act
    w.objects.upsert('users', { id: 'user-001', displayName: 'Changed while consent was missing' });
    const resumed = await cli('connections', 'resume', w.integrationId, 'conn-1', '--json');
    await settled();

    // Assess
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ resyncRequested: 1 });
    expect((await states.get(w.key))?.lastRun).toMatchObject({ trigger: 'resumed', mode: 'incremental', outcome: 'completed', objects: 1 });
  });

  it('exits 1 with one line while another run holds the declaration, and when it is not declared ;resync', async () => {
    // Prepare
    const w = await world(1);
    await states.acquire(w.key, { subscriptionId: w.subscriptionId, tenantId: w.tenantId, resource: 'users' }, { owner: 'another-run', until: new Date(Date.now() + 600_000), now: new Date() });
    const other = await world(1);
    await t.store.setSubscriptions(other.integrationId, 'conn-1', [DECLARATION]);

    // Act
    const busy = await cli('subscriptions', 'resync', w.subscriptionId);
    const undeclared = await cli('subscriptions', 'resync', other.subscriptionId);

    // Assess
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`^graph-relay: another run of ${DECLARATION} of ${w.integrationId}/conn-1 is in progress since \\S+; try again later or use --queue\\n$`));
    expect(undeclared.code).toBe(1);
    expect(undeclared.stderr).toBe(
      `graph-relay: resync of subscription ${other.subscriptionId} skipped: connection conn-1 does not declare "${DECLARATION};resync"; ` +
        `declare it with: graph-relay connections subscribe ${other.integrationId} conn-1 ${DECLARATION} --resync\n`,
    );
    expect(w.bus(DETAIL_TYPES.change)).toEqual([]);
  });
});
