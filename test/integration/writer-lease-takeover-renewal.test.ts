/**
 * A renewal across a handover of the Graph writer lease, against the Graph fake and DynamoDB Local: region A's
 * PATCH reached Graph but its answer never came back (the subscription renewed at Graph, still due in the table);
 * region B takes the lease over and its first renewal run reads the subscription from Graph and adopts A's renewal
 * instead of PATCHing it a second time. B is wired as the renewal Lambda wires it (createWriterGating: the lease
 * read from the table, the fenced fetch, the takeover window from the lease's TTL).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createWriterGating } from '../../functions/commons/subscription-clients';
import { renewIfWriter } from '../../functions/renewal/handler';
import type { RenewalRuntime } from '../../functions/renewal/runtime';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { ENV } from '../../shared/config/env-names';
import { SUBSCRIPTION_DETAIL_TYPES, type SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { DynamoDbWriterLeaseStore } from '../../shared/leadership/dynamodb-leadership-store';
import { fenceBudgetMs, fencedFetch, LeaseWriterGate } from '../../shared/leadership/writer-gate';
import { WriterLease } from '../../shared/leadership/writer-lease';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import type { RenewalPorts, RenewalReport } from '../../shared/subscriptions/renew-due';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestEndpoint, type TestEndpoint } from '../../testkit/graph-fake/test-endpoint';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const SETTINGS = { ttlSeconds: 180, graceSeconds: 60 };
const APP = { clientId: randomUUID(), clientSecret: 'takeover-renewal-app-secret~0123456789' };
const WEBHOOK_SECRET = 'takeover-webhook-secret-0123456789';
const INTEGRATION = 'contoso';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let dynamodb: DynamoDBClient;
let documents: DynamoDBDocumentClient;
let fake: GraphFake;
let endpoint: TestEndpoint;
const tables: string[] = [];

beforeAll(async () => {
  const dynamodbEndpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (dynamodbEndpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  dynamodb = new DynamoDBClient({ endpoint: dynamodbEndpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  documents = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  endpoint = await startTestEndpoint();
});

afterAll(async () => {
  for (const table of tables) await dynamodb.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
  dynamodb?.destroy();
  await fake?.close();
  await endpoint?.close();
});

async function newTable(): Promise<string> {
  const suffix = randomUUID().slice(0, 8);
  const names = { connectionsTable: `takeover-connections-${suffix}`, deliveriesTable: `takeover-deliveries-${suffix}` };
  await ensureTables(dynamodb, names);
  tables.push(names.connectionsTable, names.deliveriesTable);
  return names.connectionsTable;
}

const graphConfig = () => loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl });
const readSecret = async () => ({ webhookSecret: WEBHOOK_SECRET, ...APP });

describe('renewal through a takeover of the Graph writer lease', () => {
  it('adopts the renewal the old writer sent but never recorded: the new writer sends no second PATCH', async () => {
    // Prepare: a subscription at the fake, recorded as expiring in half an hour (due)
    const table = await newTable();
    const store = new DynamoDbSubscriptionsStore(documents, table);
    const connections = new DynamoDbConnectionsStore(documents, table);
    const tenantId = randomUUID();
    const notificationUrl = `${endpoint.url}/echo/${INTEGRATION}`;
    const setup = new IntegrationGraphs({ config: graphConfig(), readSecret });
    const created = await (await setup.graphFor(INTEGRATION)).createSubscription(tenantId, {
      changeType: 'updated',
      notificationUrl,
      lifecycleNotificationUrl: notificationUrl,
      resource: 'users',
      expirationDateTime: new Date(fake.clock.now() + 30 * MINUTE),
      clientState: WEBHOOK_SECRET,
    });
    const recordedExpiry = new Date(created.expirationDateTime).toISOString();
    await store.put({ integrationId: INTEGRATION, subscriptionId: created.id, connectionId: 'conn-1', tenantId, resource: 'users', changeTypes: ['updated'], expiresAt: recordedExpiry, status: 'active' });
    fake.resetStats();

    // Prepare: region A took the lease ten minutes ago and renewed the subscription through its fenced client, a
    // minute into its lease; the answer was lost, so the record was never updated
    const leaseStore = new DynamoDbWriterLeaseStore(documents, table);
    const lease = new WriterLease(leaseStore, SETTINGS);
    const takenByA = Date.now() - 10 * MINUTE;
    expect(await lease.heartbeat('eu-west-1', takenByA)).toMatchObject({ outcome: 'acquired' });
    const clockA = () => takenByA + MINUTE;
    const gateA = new LeaseWriterGate(lease, 'eu-west-1', clockA);
    const graphsA = new IntegrationGraphs({
      config: graphConfig(),
      readSecret,
      fetch: fencedFetch(gateA, { apiUrl: fake.url, budgetMs: fenceBudgetMs(SETTINGS.ttlSeconds), now: clockA }),
    });
    const renewedByA = await (await graphsA.graphFor(INTEGRATION)).renewSubscription(tenantId, created.id, new Date(fake.clock.now() + 2 * DAY));
    expect((await store.get(INTEGRATION, created.id))?.expiresAt).toBe(recordedExpiry);

    // Prepare: region B takes the lease over (A's expiry and the grace long past), wired as the Lambda is
    const takeover = await lease.heartbeat('us-east-1', Date.now());
    expect(takeover).toMatchObject({ outcome: 'acquired', takeover: true, previousHolder: 'eu-west-1' });
    const env = { [ENV.writerLease]: 'on', [ENV.relayRegion]: 'us-east-1', [ENV.writerLeaseTtlSeconds]: String(SETTINGS.ttlSeconds), [ENV.writerLeaseGraceSeconds]: String(SETTINGS.graceSeconds) };
    const writerB = createWriterGating(documents, table, graphConfig(), env);
    expect(writerB.takeoverWindowMs).toBe(2 * SETTINGS.ttlSeconds * 1000);
    const graphsB = new IntegrationGraphs({ config: graphConfig(), readSecret, ...(writerB.fetch === undefined ? {} : { fetch: writerB.fetch }) });
    const events: SubscriptionEventEntry[] = [];
    const ports: RenewalPorts = {
      store,
      connections,
      graphFor: (id) => graphsB.graphFor(id),
      providerOf: async () => 'microsoft-oauth2-cc',
      webhookSecretOf: (id) => graphsB.webhookSecretOf(id),
      notificationUrlFor: (id) => `${endpoint.url}/echo/${id}`,
      publisher: { publish: async (entries) => void events.push(...entries) },
      eventSource: 'graph-relay.test',
      logger: quiet,
      clock: { now: () => Date.now() },
    };
    const runtimeB: RenewalRuntime = { ports, limit: 100, logger: quiet as unknown as Logger, metrics: { record: () => undefined, flush: () => undefined }, writer: writerB };

    // Act: B's first renewal run
    const report = (await renewIfWriter(runtimeB, { getRemainingTimeInMillis: () => 120_000 })) as RenewalReport;

    // Assess: read once, adopted, never PATCHed again; the record holds A's renewal
    expect(report).toMatchObject({ due: 1, adopted: 1, renewed: 0, recreated: 0, failed: 0, deferred: 0 });
    const stats = fake.stats();
    expect(stats['subscriptions.update']).toEqual({ '200': 1 });
    expect(stats['subscriptions.get']).toEqual({ '200': 1 });
    expect(stats['subscriptions.create']).toBeUndefined();
    const atGraph = new Date(fake.subscription(created.id)?.expirationDateTime ?? '').toISOString();
    expect(atGraph).toBe(new Date(renewedByA.expirationDateTime).toISOString());
    expect((await store.get(INTEGRATION, created.id))?.expiresAt).toBe(atGraph);
    expect(events.map((e) => [e.detailType, e.detail.subscriptionId, e.detail.expirationDateTime])).toEqual([[SUBSCRIPTION_DETAIL_TYPES.renewed, created.id, atGraph]]);
  });
});
