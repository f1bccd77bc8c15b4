import { tenantClientState } from '../../shared/graph/client-state';
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';
import { loadGraphConfig, type Clock } from '../../shared/graph/graph-config';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { keys } from '../../shared/store/items';
import type { ResyncJob } from '../../shared/resync/resync-job';
import { DynamoDbResyncStateStore } from '../../shared/store/resync-checkpoints';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { describeChange, reconcile } from '../../shared/subscriptions/reconcile';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'reconcile-app-secret~0123456789' };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let t: TestStack;
let dynamodb: DynamoDBClient;
let dynamodbEndpoint: string;
let secrets: SecretsManagerClient;
const fakes: GraphFake[] = [];

beforeAll(async () => {
  t = await startTestStack();
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  dynamodbEndpoint = endpoint;
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint });
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
});

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

afterAll(async () => {
  dynamodb?.destroy();
  secrets?.destroy();
  await t?.stop();
});

/**
 * One integration (own partition of the local stack's table, own secret) and a Graph fake whose handshakes go to
 * the local stack's intake; the reconciler wired as a Lambda or the CLI will wire it. Connection items are written
 * as an operator would write them in the console.
 */
async function world() {
  const fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  fakes.push(fake);
  const d = t.stack.descriptor;
  const { integrationId, webhookSecret } = await t.seedIntegration({});
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  const documents = DynamoDBDocumentClient.from(dynamodb);
  const clock: Clock = { now: () => fake.clock.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
  const store = new DynamoDbSubscriptionsStore(documents, d.connectionsTable, () => fake.clock.date());
  const readSecret = async (id: string): Promise<unknown> => {
    const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
    return JSON.parse(SecretString ?? 'null') as unknown;
  };
  const graphs = new IntegrationGraphs({ config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }), readSecret, clock });

  const putConnection = async (connectionId: string, tenantId: string, subscriptions: string[]) => {
    const at = new Date().toISOString();
    await documents.send(
      new PutCommand({
        TableName: d.connectionsTable,
        Item: { ...keys.connection(integrationId, connectionId), type: 'connection', integrationId, connectionId, tenantId, subscriptions, createdAt: at, updatedAt: at },
      }),
    );
  };
  const setDeclarations = (connectionId: string, subscriptions: string[]) =>
    documents.send(
      new UpdateCommand({
        TableName: d.connectionsTable,
        Key: keys.connection(integrationId, connectionId),
        UpdateExpression: 'SET subscriptions = :s',
        ExpressionAttributeValues: { ':s': subscriptions },
      }),
    );
  const removeConnection = (connectionId: string) => documents.send(new DeleteCommand({ TableName: d.connectionsTable, Key: keys.connection(integrationId, connectionId) }));

  /** The reconciler's ports as a Lambda wires them, over `client` (the local stack's table by default). */
  const asked: ResyncJob[] = [];
  const resyncStates = new DynamoDbResyncStateStore(documents, d.connectionsTable);
  const portsOver = (client: DynamoDBDocumentClient = documents) => ({
    resync: { request: async (jobs: readonly ResyncJob[]) => void asked.push(...jobs) },
    resyncStates,
    connections: new DynamoDbConnectionsStore(client, d.connectionsTable),
    store: client === documents ? store : new DynamoDbSubscriptionsStore(client, d.connectionsTable, () => fake.clock.date()),
    graphFor: (id: string) => graphs.graphFor(id),
    webhookSecretOf: (id: string) => graphs.webhookSecretOf(id),
    encryptionCertificateOf: (id: string) => graphs.encryptionCertificateOf(id),
    notificationUrlFor: (id: string) => `${d.webhookBaseUrl}${id}`,
    logger: quiet,
    clock,
  });
  const run = (dryRun = false, options: { connectionId?: string; client?: DynamoDBDocumentClient } = {}) =>
    reconcile(portsOver(options.client), {
      integrationId,
      dryRun,
      deadline: fake.clock.now() + 120_000,
      ...(options.connectionId === undefined ? {} : { connectionId: options.connectionId }),
    });
  const records = async () => (await store.listByIntegration(integrationId)).subscriptions;
  /** Graph writes only (creates and deletes), by status. */
  const writes = () => {
    const stats = fake.stats();
    return { create: stats['subscriptions.create'] ?? {}, delete: stats['subscriptions.delete'] ?? {} };
  };
  /** The integration's secret with these encryption certificates besides its app credentials (raw: the CLI checks what it writes). */
  const putEncryptionCertificates = async (certificates: Record<string, { certificatePem: string; privateKeyPem: string }>, currentId: string) => {
    const name = integrationSecretName(d.webhookSecretPrefix, integrationId);
    await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify({ webhookSecret, ...APP, encryptionCertificates: certificates, currentEncryptionCertificateId: currentId }) }));
  };
  return { fake, integrationId, webhookSecret, putEncryptionCertificates, notificationUrl: `${d.webhookBaseUrl}${integrationId}`, putConnection, setDeclarations, removeConnection, run, records, writes, asked, resyncStates };
}

describe('reconcile against the Graph fake, DynamoDB Local and the local intake', () => {
  it('asks for a baseline of each ;resync subscription it creates, of newly declared ones, and removes the state of what it deletes', async () => {
    // Prepare
    const w = await world();
    const tenant = randomUUID();
    await w.putConnection('conn-1', tenant, ['users:created,updated;resync', 'groups:deleted']);

    // Act: the subscriptions are created
    const first = await w.run();

    // Assert: one 'created' catch-up, for the ;resync one only
    const users = first.created.find((c) => c.resource === 'users');
    expect(w.asked.map((job) => [job.trigger, job.subscriptionId])).toEqual([['created', users?.subscriptionId]]);

    // Act: ;resync declared on groups too, one connection reconciled (as from the table's stream)
    w.asked.length = 0;
    await w.setDeclarations('conn-1', ['users:created,updated;resync', 'groups:deleted;resync']);
    const second = await w.run(false, { connectionId: 'conn-1' });

    // Assert: both kept, a 'declared' catch-up for each (the resync function takes a baseline only if there is none)
    expect(second.created).toEqual([]);
    expect(w.asked.map((job) => job.trigger)).toEqual(['declared', 'declared']);

    // Act: the users declaration removed after a resync state was written for it
    const key = { integrationId: w.integrationId, connectionId: 'conn-1', declaration: 'users:created,updated' };
    await w.resyncStates.acquire(key, { subscriptionId: users?.subscriptionId ?? '', tenantId: tenant, resource: 'users' }, { owner: 'a-run', until: new Date(Date.now() + 60_000), now: new Date() });
    await w.resyncStates.release(key, 'a-run');
    await w.setDeclarations('conn-1', ['groups:deleted;resync']);
    const third = await w.run();

    // Assert
    expect(third.deleted.map((d) => d.resource)).toEqual(['users']);
    expect(await w.resyncStates.get(key)).toBeUndefined();
  });

  it('creates declared subscriptions through the real handshake, is idempotent, and deletes what is no longer declared', async () => {
    // Prepare
    const w = await world();
    const tenant = randomUUID();
    await w.putConnection('conn-1', tenant, ['users:created,updated', 'groups:deleted']);

    // Act: first run
    const first = await w.run();
    // Assess: 2 subscriptions at the fake (validated by the intake) and 2 records
    expect(first.failed).toEqual([]);
    expect(first.created.map((c) => `${c.resource}:${c.changeTypes.join(',')}`).sort()).toEqual(['groups:deleted', 'users:created,updated']);
    const atGraph = w.fake.subscriptions(tenant);
    expect(atGraph.map((s) => ({ resource: s.resource, changeType: s.changeType, notificationUrl: s.notificationUrl, lifecycleNotificationUrl: s.lifecycleNotificationUrl, clientState: s.clientState })).sort((a, b) => a.resource.localeCompare(b.resource))).toEqual([
      { resource: 'groups', changeType: 'deleted', notificationUrl: w.notificationUrl, lifecycleNotificationUrl: w.notificationUrl, clientState: tenantClientState(w.webhookSecret, w.integrationId, tenant) },
      { resource: 'users', changeType: 'created,updated', notificationUrl: w.notificationUrl, lifecycleNotificationUrl: w.notificationUrl, clientState: tenantClientState(w.webhookSecret, w.integrationId, tenant) },
    ]);
    const handshakes = w.fake.validationRequests().filter((v) => v.url === w.notificationUrl);
    expect(handshakes.map((v) => [v.purpose, v.outcome, v.status])).toEqual([
      ['notificationUrl', 'ok', 200],
      ['lifecycleNotificationUrl', 'ok', 200],
      ['notificationUrl', 'ok', 200],
      ['lifecycleNotificationUrl', 'ok', 200],
    ]);
    expect((await w.records()).map((r) => r.subscriptionId).sort()).toEqual(atGraph.map((s) => s.id).sort());
    expect(await w.records()).toEqual(expect.arrayContaining([expect.objectContaining({ connectionId: 'conn-1', tenantId: tenant, status: 'active' })]));

    // Act: second run
    w.fake.resetStats();
    const second = await w.run();
    // Assess: nothing to do, no Graph write
    expect(second).toMatchObject({ created: [], deleted: [], failed: [], graphCalls: 0 });
    expect(second.planned.keep).toHaveLength(2);
    expect(w.writes()).toEqual({ create: {}, delete: {} });

    // Act: one declaration removed from the item
    await w.setDeclarations('conn-1', ['users:created,updated']);
    const third = await w.run();
    // Assess
    const groups = atGraph.find((s) => s.resource === 'groups');
    expect(third.deleted).toEqual([expect.objectContaining({ subscriptionId: groups?.id, reason: 'declaration-removed', atGraph: 'deleted' })]);
    expect(w.fake.subscriptions(tenant).map((s) => s.resource)).toEqual(['users']);
    expect((await w.records()).map((r) => r.resource)).toEqual(['users']);

    // Act: the connection removed
    await w.removeConnection('conn-1');
    const fourth = await w.run();
    // Assess
    expect(fourth.deleted).toEqual([expect.objectContaining({ resource: 'users', reason: 'connection-removed', atGraph: 'deleted' })]);
    expect(w.fake.subscriptions(tenant)).toEqual([]);
    expect(await w.records()).toEqual([]);
    expect(w.fake.internalErrors()).toEqual([]);
  });

  it('fails a rich declaration of an integration without an encryption certificate as missing-credentials, asking nothing of Graph or its login endpoint', async () => {
    // Prepare: the secret holds app credentials and no encryption certificate
    const w = await world();
    const tenant = randomUUID();
    await w.putConnection('conn-1', tenant, [`users/${randomUUID()}/messages:created;includeResourceData`]);
    // Act
    const report = await w.run();
    // Assess
    expect(report.failed).toEqual([
      expect.objectContaining({ reason: 'missing-credentials', message: expect.stringContaining(`create one with: graph-relay certificates create ${w.integrationId}`) }),
    ]);
    expect(report.graphCalls).toBe(0);
    expect(w.fake.stats()).toEqual({});
  });

  it('refuses an expired current encryption certificate before any call, naming the command that makes a new one', async () => {
    // Prepare: the current certificate expired an hour ago
    const w = await world();
    const tenant = randomUUID();
    const expired = createSelfSignedCertificate({ commonName: 'graph-relay expired', validFrom: Date.now() - 48 * 3_600_000, validTo: Date.now() - 3_600_000 });
    await w.putEncryptionCertificates({ 'enc-old': { certificatePem: expired.certificatePem, privateKeyPem: expired.privateKeyPem } }, 'enc-old');
    await w.putConnection('conn-1', tenant, [`users/${randomUUID()}/messages:created;includeResourceData`]);
    // Act
    const report = await w.run();
    // Assess
    expect(report.failed).toEqual([
      expect.objectContaining({
        reason: 'missing-credentials',
        message: expect.stringMatching(new RegExp(`encryption certificate "enc-old" expired .*; create one with: graph-relay certificates create ${w.integrationId}$`)),
      }),
    ]);
    expect(report.graphCalls).toBe(0);
    expect(w.fake.stats()).toEqual({});
  });

  it('prints the plan of a dry run and changes nothing at Graph or in the store', async () => {
    // Prepare
    const w = await world();
    const tenant = randomUUID();
    await w.putConnection('conn-1', tenant, ['users:created,updated', 'groups:deleted']);
    await w.run();
    await w.setDeclarations('conn-1', ['users:created,updated', 'users/abc/messages:created']);
    const before = await w.records();
    w.fake.resetStats();
    // Act
    const report = await w.run(true);
    // Assess
    expect([...report.planned.create, ...report.planned.delete].map((change) => describeChange(change, { dryRun: true }))).toEqual([
      `would create users/abc/messages:created for ${w.integrationId}/conn-1 (tenant ${tenant})`,
      expect.stringMatching(new RegExp(`^would delete groups:deleted \\(subscription [^)]+\\) of ${w.integrationId}/conn-1 \\(tenant ${tenant}\\): the connection no longer declares it$`)),
    ]);
    expect(report).toMatchObject({ dryRun: true, created: [], deleted: [], graphCalls: 0 });
    expect(w.fake.stats()).toEqual({});
    expect(await w.records()).toEqual(before);
    expect(w.fake.subscriptions(tenant)).toHaveLength(2);
  });

  it('reports an invalid declaration and deletes nothing of its connection', async () => {
    // Prepare
    const w = await world();
    const tenant = randomUUID();
    await w.putConnection('conn-1', tenant, ['users:created,updated']);
    await w.run();
    await w.setDeclarations('conn-1', ['users:created,updatd', 'planets:created']);
    w.fake.resetStats();
    // Act
    const report = await w.run();
    // Assess
    expect(report.invalidDeclarations).toEqual([
      expect.objectContaining({ connectionId: 'conn-1', declaration: 'users:created,updatd', reason: expect.stringContaining('unknown change type "updatd"') }),
      expect.objectContaining({ connectionId: 'conn-1', declaration: 'planets:created', reason: expect.stringContaining('unsupported resource "planets"') }),
    ]);
    expect(report.planned.delete).toEqual([]);
    expect(report.planned.keep).toEqual([expect.objectContaining({ resource: 'users', reason: 'declarations-invalid' })]);
    expect(w.writes()).toEqual({ create: {}, delete: {} });
    expect(w.fake.subscriptions(tenant)).toHaveLength(1);
    expect(await w.records()).toHaveLength(1);
  });

  it('reconciles one changed connection by key: its item and its records through the index, nothing of the integration\'s ranges', async () => {
    // Prepare: two connections with their subscriptions, then one's declarations changed
    const w = await world();
    const tenant = randomUUID();
    await w.putConnection('conn-1', tenant, ['users:created,updated']);
    await w.putConnection('conn-2', tenant, ['groups:deleted']);
    await w.run();
    await w.setDeclarations('conn-1', ['groups:updated']);
    const reads: { command: string; input: Record<string, unknown> }[] = [];
    const recording = new DynamoDBClient({ endpoint: dynamodbEndpoint, region: t.stack.descriptor.region, credentials: LOCAL_CREDENTIALS });
    recording.middlewareStack.add(
      (next, context) => async (args) => {
        reads.push({ command: context.commandName ?? '', input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );

    // Act
    const report = await w.run(false, { connectionId: 'conn-1', client: DynamoDBDocumentClient.from(recording) });
    recording.destroy();

    // Assess
    expect(report.created.map((c) => [c.connectionId, c.resource])).toEqual([['conn-1', 'groups']]);
    expect(report.deleted.map((d) => [d.connectionId, d.resource, d.reason])).toEqual([['conn-1', 'users', 'declaration-removed']]);
    expect(report.planned.keep).toEqual([]);
    const queries = reads.filter((r) => r.command === 'QueryCommand');
    expect(queries.map((q) => q.input['IndexName'])).toEqual(['ByConnection']);
    expect(reads.filter((r) => r.command === 'GetItemCommand').map((r) => r.input['Key'])).toContainEqual({ pk: `INTEGRATION#${w.integrationId}`, sk: 'CONNECTION#conn-1' });
    expect(reads.map((r) => r.command).filter((command) => !['GetItemCommand', 'QueryCommand', 'PutItemCommand', 'DeleteItemCommand'].includes(command))).toEqual([]);
  });
});
