/**
 * The failover drill: two regional stacks as `npm start` runs them, each with its own AWS emulator (bus, secrets,
 * payload bucket), its own deliveries table (redelivery markers are per region) and its own Graph recorder, over one
 * DynamoDB Local whose connections table stands in for the global table and whose lease table stands in for the
 * writer lease's strongly consistent global table. A Graph-like sender posts through a resolver that fails over the
 * way Route 53's health-checked failover records do.
 *
 * 1. Kill: region A (primary, the writer) is SIGKILLed under load. Measured: notifications lost (must be 0),
 *    duplicates (bounded by the notifications A had in flight), time until B carries the load, time until B holds
 *    the lease, and subscriptions renewed twice (must be 0).
 * 2. Partition: A is started again (DNS fails back to it) while B holds the lease; then B is cut off from the lease
 *    table but keeps its connections replica and Graph. Measured: A takes the lease, B sends no Graph write after its
 *    lease expired, and no subscription is renewed twice.
 *
 * What the stand-in does not model: replication lag and last-writer-wins conflicts of the connections table (one
 * DynamoDB Local replicates nothing: both regions see every write at once), a replica that is isolated but still
 * writable, DNS caching by Graph's resolvers (the resolver here answers per request), and the cross-region copy of
 * secrets (each emulator is given the secret).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { startDynamoDbLocal } from '../../local/dynamodb-local';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startNpmStart, type NpmStartStack } from '../../testkit/npm-start';
import { GRAPH_RETRY } from './graph-load';
import { readEventsFile } from './harness';
import type { PhaseContext } from './phase';
import { startHealthResolver, startRegionSender, type RegionEndpoint } from './region-sender';
import { startGraphRecorder, startLeasePartitionProxy, type GraphRecorder, type LeasePartitionProxy } from './region-proxies';
import type { Figure } from './report';
import { bodyGenerator, countCheck, observedOf, planWorkload, type ObservedEvent, type Workload } from './workload';

const REGIONS = ['eu-west-1', 'eu-central-1'] as const;
const CONNECTIONS_TABLE = 'graph-relay-local-connections';
const LEASE_TABLE = 'graph-relay-local-writer-lease';
const LEASE = { heartbeatSeconds: 1, ttlSeconds: 3, graceSeconds: 1 } as const;
/** The model's bound on a takeover: the lease runs out, the grace passes, and the next heartbeat takes it. */
const TAKEOVER_BOUND_MS = (LEASE.ttlSeconds + LEASE.graceSeconds + 2 * LEASE.heartbeatSeconds) * 1000;
const APP = { clientId: randomUUID(), clientSecret: 'failover-drill-app-secret~0123456789' };
const MINUTE = 60_000;

interface Region {
  name: string;
  dataDir: string;
  dynamodb: LeasePartitionProxy;
  graph: GraphRecorder;
  stack?: NpmStartStack;
  output: string;
}

interface LeaseSample {
  at: number;
  holder: string;
  epoch: number;
  acquiredAtMs: number;
  expiresAtMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runFailoverDrill(context: PhaseContext): Promise<Figure[]> {
  const { profile, log } = context;
  const drill = profile.failover;
  const root = existsSync('/dev/shm') ? await mkdtemp(join('/dev/shm', 'graph-relay-failover-')) : await mkdtemp(join(context.workDir, 'failover-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  const regions: Region[] = [];
  try {
    await mkdir(join(root, 'dynamodb'), { recursive: true });
    const dynamodbLocal = await startDynamoDbLocal({ dbPath: join(root, 'dynamodb') });
    cleanups.push(() => dynamodbLocal.stop());
    const ddb = new DynamoDBClient({ region: REGIONS[0], credentials: LOCAL_CREDENTIALS, endpoint: dynamodbLocal.endpoint });
    cleanups.push(async () => ddb.destroy());
    const docs = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
    const fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 5_000 });
    cleanups.push(() => fake.close());

    for (const name of REGIONS) {
      const dynamodb = await startLeasePartitionProxy(dynamodbLocal.endpoint, LEASE_TABLE);
      const graph = await startGraphRecorder(fake.url, name);
      cleanups.push(() => dynamodb.close(), () => graph.close());
      regions.push({ name, dataDir: join(root, name), dynamodb, graph, output: '' });
    }
    const [a, b] = regions as [Region, Region];
    const start = async (region: Region) => {
      region.stack = await startNpmStart({
        dataDir: region.dataDir,
        dynamodbEndpoint: region.dynamodb.url,
        baseEnv: process.env,
        log,
        onOutput: (_stream, text) => {
          region.output = (region.output + text).slice(-200_000);
        },
        settings: {
          GRAPH_RELAY_REGION: region.name,
          GRAPH_RELAY_WRITER_LEASE: 'on',
          GRAPH_RELAY_WRITER_LEASE_TABLE: LEASE_TABLE,
          GRAPH_RELAY_LEASE_HEARTBEAT_SECONDS: String(LEASE.heartbeatSeconds),
          GRAPH_RELAY_WRITER_LEASE_TTL_SECONDS: String(LEASE.ttlSeconds),
          GRAPH_RELAY_WRITER_LEASE_GRACE_SECONDS: String(LEASE.graceSeconds),
          GRAPH_RELAY_DELIVERIES_TABLE: `graph-relay-local-deliveries-${region.name}`,
          GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS: '1',
          GRAPH_API_URL: region.graph.url,
          GRAPH_LOGIN_URL: fake.loginUrl,
          GRAPH_RELAY_QUIET: 'false',
          POWERTOOLS_LOG_LEVEL: 'WARN',
          HEALTH_CACHE_SECONDS: '1',
        },
      });
      log(`failover: region ${region.name} listening on ${region.stack.descriptor.intakeUrl}`);
    };
    cleanups.push(async () => {
      for (const region of regions) await region.stack?.stop();
    });
    // A first, so that it takes the lease as the primary does in a fresh deployment.
    await start(a);
    await waitFor(() => readLease(docs).then((l) => l?.holder === a.name), 'region A to take the writer lease', 30_000);
    await start(b);

    // The workload, its secrets in both regions (Secrets Manager replicas), and its connections in the shared table.
    const workload = planWorkload({ prefix: `failover-${randomUUID().slice(0, 8)}`, integrations: 2, tenants: drill.tenants, doubleEvery: 5, unroutedTenants: 0 });
    const store = new DynamoDbConnectionsStore(docs, CONNECTIONS_TABLE);
    await seed(workload, store, regions, context);

    // Subscriptions declared on connections of their own (tenants without webhook traffic), so the writer's reconciler
    // creates them at the Graph fake and keeps them; the drill makes a few due every tick by backdating when their
    // lifetime was granted (the expiry stays Graph's), so renewals go on through the failover.
    const subscriptions = await declareSubscriptions(workload, store, docs, fake, drill.subscriptions, log);
    const subscriptionStore = new DynamoDbSubscriptionsStore(docs, CONNECTIONS_TABLE);
    const dueAt = new Map<string, number>();
    let dueIndex = 0;
    const makeDue = async (count: number) => {
      // Taken before any await: a slow tick and the next one never take the same subscriptions or skip any.
      const batch = subscriptions.slice(dueIndex, dueIndex + count);
      dueIndex += batch.length;
      for (const { integrationId, subscriptionId } of batch) {
        const record = await subscriptionStore.get(integrationId, subscriptionId);
        if (record === undefined) throw new Error(`subscription ${subscriptionId} has no record`);
        const { lastRenewedAt: _renewed, ...rest } = record;
        // Near the end of its lifetime, at Graph and in the record alike (set at Graph as an administrator would,
        // not through either region): a renewal then moves Graph's expiry weeks on, as it does in production.
        const expiresAt = new Date(Date.now() + 2 * 60 * MINUTE).toISOString();
        const patched = await fetch(`${fake.graphUrl}/subscriptions/${subscriptionId}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${fake.issueToken(record.tenantId, APP.clientId)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ expirationDateTime: expiresAt }),
        });
        if (!patched.ok) throw new Error(`setting subscription ${subscriptionId} near its expiry at the Graph fake: ${patched.status} ${await patched.text()}`);
        const atGraph = ((await patched.json()) as { expirationDateTime?: string }).expirationDateTime ?? expiresAt;
        dueAt.set(subscriptionId, Date.now());
        await subscriptionStore.put({ ...rest, expiresAt: new Date(atGraph).toISOString(), createdAt: new Date(Date.now() - 90 * 24 * 60 * MINUTE).toISOString() });
      }
    };

    // The lease as the table has it, every 100 ms (each renewal lasts a heartbeat, so every one is seen).
    const samples: LeaseSample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const lease = await readLease(docs).catch(() => undefined);
        if (lease !== undefined) samples.push({ at: Date.now(), ...lease });
        await sleep(100);
      }
    })();
    cleanups.push(async () => {
      sampling = false;
      await sampler;
    });

    const endpoints: RegionEndpoint[] = regions.map((region) => ({ region: region.name, url: () => (region.stack?.running() ? region.stack.descriptor.intakeUrl : undefined) }));
    const resolver = startHealthResolver([endpoints[0] as RegionEndpoint, endpoints[1] as RegionEndpoint], { intervalMs: 250, failureThreshold: 3, timeoutMs: 2_000 });
    cleanups.push(() => resolver.stop());
    const sender = startRegionSender({
      resolver,
      endpoints,
      next: bodyGenerator(workload, { seed: 16, maxBatch: drill.maxBatch }),
      perSecond: drill.perSecond,
      concurrency: drill.concurrency,
      retry: { ...GRAPH_RETRY, maxAttempts: 200 },
      timeoutMs: 10_000,
      log,
    });
    const dueTicker = setInterval(() => void makeDue(drill.duePerTick).catch((error: unknown) => log(`failover: makeDue failed: ${String(error)}`)), 1_000);
    cleanups.push(async () => clearInterval(dueTicker));

    // 1. Kill A under load.
    await sleep(drill.beforeSeconds * 1000);
    const inFlightAtKill = sender.inFlight(a.name);
    const killedAt = Date.now();
    await a.stack?.kill();
    log(`failover: region A killed with ${inFlightAtKill.length} requests in flight`);
    await waitFor(async () => (await readLease(docs))?.holder === b.name, 'region B to take the writer lease', 60_000);
    await sleep(drill.afterSeconds * 1000);

    // 2. A back (DNS fails back to the primary), then B cut off from the lease table while it holds the lease.
    await start(a);
    await waitFor(async () => resolver.current() === a.name, 'DNS to fail back to region A', 60_000);
    const partitionedAt = Date.now();
    b.dynamodb.setPartitioned(true);
    log('failover: region B partitioned from the lease table');
    await waitFor(async () => (await readLease(docs))?.holder === a.name, 'region A to take the writer lease back', 60_000);
    await sleep(drill.afterSeconds * 1000);
    b.dynamodb.setPartitioned(false);

    clearInterval(dueTicker);
    await sender.drain();
    // Every subscription made due is renewed within a few renewal runs of the writer.
    const lapsing = async () => unrenewed(subscriptions.filter((s) => dueAt.has(s.subscriptionId)), subscriptionStore, dueAt);
    await waitFor(async () => (await lapsing()).length === 0, 'every due subscription to be renewed', 30_000).catch(() => undefined);
    sampling = false;
    await sampler;

    // What the buses received, across both regions.
    const integrationIds = new Set(workload.integrations.map((i) => i.integrationId));
    const observed: ObservedEvent[] = [];
    for (const region of regions) {
      for await (const event of readEventsFile(join(region.dataDir, 'events.ndjson'))) {
        const seen = observedOf(event);
        if (seen !== undefined && integrationIds.has(seen.integrationId)) observed.push(seen);
      }
    }
    const check = countCheck(
      sender.bodies.flatMap((s) => s.body.expected),
      observed,
    );
    const inFlightIds = new Set(inFlightAtKill.map((attempt) => attempt.bodyId));
    const duplicateBound = sender.bodies.filter((s) => inFlightIds.has(s.id)).reduce((sum, s) => sum + s.body.expected.length, 0);
    const firstByB = sender.attempts.filter((x) => x.region === b.name && x.sentAt >= killedAt && x.status >= 200 && x.status < 300).sort((x, y) => x.answeredAt - y.answeredAt)[0];
    const takeoverByB = epochStart(samples, b.name, killedAt);
    const takeoverByA = epochStart(samples, a.name, partitionedAt);
    const writes = regions.flatMap((region) => region.graph.writes()).filter((w) => w.method === 'PATCH' && w.path.includes('/subscriptions/'));
    // Renewals Graph carried out (answered 2xx): a PATCH cut off with a killed region never reached it whole.
    const renewals = renewalCounts(writes.filter((w) => w.status >= 200 && w.status < 300), dueAt);
    const epochs = epochsOf(samples);
    const unfenced = writes.filter((w) => !heldAt(epochs, w.region, w.at));
    const lapsed = await lapsing();
    // Renewed without a PATCH of its own: the new writer found the old one's renewal at Graph and took it.
    const adopted = [...dueAt.keys()].filter((id) => !lapsed.includes(id) && (renewals.get(id) ?? 0) === 0).length;
    log(
      `failover: ${sender.bodies.length} bodies, ${check.expected} expected events, ${check.missing} missing, ${check.duplicates} duplicates (bound ${duplicateBound}), ` +
        `B carried load after ${firstByB === undefined ? 'never' : `${firstByB.answeredAt - killedAt} ms`}, lease to B after ${takeoverByB === undefined ? 'never' : `${takeoverByB - killedAt} ms`}, ` +
        `to A after ${takeoverByA === undefined ? 'never' : `${takeoverByA - partitionedAt} ms`}, ${writes.length} renewals, ${[...renewals.values()].filter((n) => n > 1).length} doubled, ${unfenced.length} unfenced`,
    );
    const overlaps = overlappingEpochs(epochs);
    log(`failover: lease epochs ${epochs.map((t) => `${t.epoch}:${t.holder}@${t.acquiredAtMs - killedAt}ms`).join(', ')} (times from the kill; partition at ${partitionedAt - killedAt} ms)`);
    const doubled = [...renewals.entries()].filter(([, n]) => n > 1).map(([id]) => id);
    for (const id of doubled) log(`failover: renewed twice ${id}: ${writes.filter((w) => w.path.includes(id)).map((w) => `${w.region}@${w.at - killedAt}ms:${w.status}`).join(', ')} (due at ${(dueAt.get(id) ?? 0) - killedAt} ms)`);
    for (const id of lapsed.slice(0, 5)) log(`failover: not renewed ${id}, due at ${(dueAt.get(id) ?? 0) - killedAt} ms`);
    if (check.missing > 0 || unfenced.length > 0 || lapsed.length > 0 || doubled.length > 0) {
      for (const region of regions) {
        const lines = region.output.split('\n').filter((line) => /^(renewal|reconcile|writer lease)|"level":"(WARN|ERROR)"/.test(line) && !line.includes('not recorded here'));
        log(`failover: region ${region.name} FAILED run, its renewal, lease and warning lines:\n${lines.slice(-80).join('\n')}`);
      }
    }
    return [
      { phase: 'failover', name: 'notifications sent across the failover', value: sender.bodies.reduce((sum, s) => sum + s.body.notifications, 0), unit: '', kind: 'min', threshold: 1 },
      { phase: 'failover', name: 'events lost (expected, on neither bus)', value: check.missing, unit: '', kind: 'max', threshold: 0 },
      { phase: 'failover', name: 'unexpected events', value: check.extra, unit: '', kind: 'max', threshold: 0 },
      { phase: 'failover', name: 'bodies abandoned by the sender', value: sender.bodies.filter((s) => s.state === 'abandoned').length, unit: '', kind: 'max', threshold: 0 },
      { phase: 'failover', name: 'duplicate events (bound: events of bodies in flight to A at the kill)', value: check.duplicates, unit: '', kind: 'max', threshold: duplicateBound },
      { phase: 'failover', name: 'requests in flight to A at the kill', value: inFlightAtKill.length, unit: '', kind: 'report' },
      { phase: 'failover', name: 'DNS answers B after the kill', value: (resolver.changes.find((c) => c.region === b.name && c.at >= killedAt)?.at ?? Number.NaN) - killedAt, unit: 'ms', kind: 'report' },
      { phase: 'failover', name: 'time until B carries the load (kill → first 202 from B)', value: firstByB === undefined ? Number.POSITIVE_INFINITY : firstByB.answeredAt - killedAt, unit: 'ms', kind: 'report' },
      { phase: 'failover', name: 'writer lease to B after the kill', value: takeoverByB === undefined ? Number.POSITIVE_INFINITY : takeoverByB - killedAt, unit: 'ms', kind: 'max', threshold: TAKEOVER_BOUND_MS },
      { phase: 'failover', name: 'writer lease to A after B was partitioned', value: takeoverByA === undefined ? Number.POSITIVE_INFINITY : takeoverByA - partitionedAt, unit: 'ms', kind: 'max', threshold: TAKEOVER_BOUND_MS },
      { phase: 'failover', name: 'subscriptions made due', value: dueAt.size, unit: '', kind: 'min', threshold: 1 },
      { phase: 'failover', name: 'subscriptions renewed twice (PATCHes Graph answered 2xx)', value: [...renewals.values()].filter((n) => n > 1).length, unit: '', kind: 'max', threshold: 0 },
      { phase: 'failover', name: 'renewals found at Graph after a takeover and taken, not sent again', value: adopted, unit: '', kind: 'report' },
      { phase: 'failover', name: 'subscriptions not renewed (lapsing)', value: lapsed.length, unit: '', kind: 'max', threshold: 0 },
      { phase: 'failover', name: 'Graph writes sent by a region without a live lease (answered or not)', value: unfenced.length, unit: '', kind: 'max', threshold: 0 },
      { phase: 'failover', name: 'lease handovers', value: epochs.length - 1, unit: '', kind: 'min', threshold: 2 },
      { phase: 'failover', name: 'lease epochs overlapping (taken before the last one expired)', value: overlaps, unit: '', kind: 'max', threshold: 0 },
      { phase: 'failover', name: 'PATCHes cut off unanswered (a killed region\'s in flight)', value: writes.filter((w) => w.status === 0).length, unit: '', kind: 'report' },
      { phase: 'failover', name: 'Graph writes by B after its partition', value: writes.filter((w) => w.region === b.name && w.at > partitionedAt).length, unit: '', kind: 'report' },
    ];
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

async function seed(workload: Workload, store: DynamoDbConnectionsStore, regions: readonly Region[], context: PhaseContext): Promise<void> {
  for (const integration of workload.integrations) {
    await store.putIntegration({ integrationId: integration.integrationId, provider: 'microsoft-oauth2-cc' });
    context.secrets.add(integration.clientState, `secret of ${integration.integrationId}`);
    const value = JSON.stringify({ webhookSecret: integration.clientState, ...APP });
    for (const region of regions) {
      const d = region.stack?.descriptor;
      if (d === undefined) throw new Error(`region ${region.name} is not running`);
      const client = new SecretsManagerClient({ region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.awsEmulatorEndpoint });
      await client.send(new CreateSecretCommand({ Name: integrationSecretName(d.webhookSecretPrefix, integration.integrationId), SecretString: value }));
      client.destroy();
    }
  }
  context.secrets.add(APP.clientSecret, 'failover app secret');
  await Promise.all(
    workload.tenants.flatMap((tenant) => tenant.connectionIds.map((connectionId) => store.addConnection({ integrationId: tenant.integrationId, connectionId, tenantId: tenant.tenantId }))),
  );
}

/** Connections declaring one subscription each; resolves once the reconciler created and recorded every one. */
async function declareSubscriptions(
  workload: Workload,
  store: DynamoDbConnectionsStore,
  docs: DynamoDBDocumentClient,
  fake: GraphFake,
  count: number,
  log: (line: string) => void,
): Promise<{ integrationId: string; subscriptionId: string }[]> {
  const declared = new Map<string, string>();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const integrationId = workload.integrations[i % workload.integrations.length]?.integrationId ?? '';
      const resource = `users/${randomUUID()}`;
      declared.set(resource, integrationId);
      await store.addConnection({ integrationId, connectionId: `renew-${i}`, tenantId: randomUUID(), subscriptions: [`${resource}:updated`] });
    }),
  );
  const subscriptions = new DynamoDbSubscriptionsStore(docs, CONNECTIONS_TABLE);
  let created: { integrationId: string; subscriptionId: string }[] = [];
  await waitFor(
    async () => {
      created = fake.subscriptions().filter((s) => declared.has(s.resource)).map((s) => ({ integrationId: declared.get(s.resource) ?? '', subscriptionId: s.id }));
      if (created.length < count) return false;
      const records = await Promise.all(created.map((c) => subscriptions.get(c.integrationId, c.subscriptionId)));
      return records.every((r) => r !== undefined);
    },
    `the reconciler to create ${count} declared subscriptions`,
    120_000,
  );
  log(`failover: ${created.length} subscriptions created by the reconciler`);
  return created;
}

async function readLease(docs: DynamoDBDocumentClient): Promise<Omit<LeaseSample, 'at'> | undefined> {
  const { Item } = await docs.send(new GetCommand({ TableName: LEASE_TABLE, Key: { pk: 'LEASE', sk: 'GRAPH_WRITER' }, ConsistentRead: true }));
  if (Item === undefined) return undefined;
  return { holder: String(Item['holder']), epoch: Number(Item['epoch']), acquiredAtMs: Date.parse(String(Item['acquiredAt'])), expiresAtMs: Number(Item['expiresAtMs']) };
}

/** When `holder` acquired the first lease epoch it held after `after`, as the item says. */
function epochStart(samples: readonly LeaseSample[], holder: string, after: number): number | undefined {
  return samples.find((s) => s.holder === holder && s.acquiredAtMs >= after)?.acquiredAtMs;
}

interface LeaseEpoch {
  epoch: number;
  holder: string;
  acquiredAtMs: number;
  /** The latest expiry seen in the epoch (each renewal lasts a heartbeat, so every one is sampled). */
  expiresAtMs: number;
}

/** The lease's epochs as sampled, in order. */
function epochsOf(samples: readonly LeaseSample[]): LeaseEpoch[] {
  const epochs = new Map<number, LeaseEpoch>();
  for (const s of samples) {
    const known = epochs.get(s.epoch);
    if (known === undefined) epochs.set(s.epoch, { epoch: s.epoch, holder: s.holder, acquiredAtMs: s.acquiredAtMs, expiresAtMs: s.expiresAtMs });
    else known.expiresAtMs = Math.max(known.expiresAtMs, s.expiresAtMs);
  }
  return [...epochs.values()].sort((a, b) => a.epoch - b.epoch);
}

/** Whether `region` held a live lease at `at`: some epoch of its own acquired before and not yet expired. */
function heldAt(epochs: readonly LeaseEpoch[], region: string, at: number): boolean {
  return epochs.some((e) => e.holder === region && e.acquiredAtMs <= at && at <= e.expiresAtMs);
}

/** Epochs acquired before the previous epoch's last seen expiry: two writers at once. */
function overlappingEpochs(epochs: readonly LeaseEpoch[]): number {
  return epochs.filter((e, i) => i > 0 && e.acquiredAtMs < (epochs[i - 1]?.expiresAtMs ?? 0)).length;
}

/** PATCHes per subscription made due, counted from the moment it was made due. */
function renewalCounts(writes: readonly { path: string; at: number }[], dueAt: ReadonlyMap<string, number>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const write of writes) {
    const id = write.path.split('/subscriptions/')[1]?.split(/[/?]/)[0] ?? '';
    const due = dueAt.get(id);
    if (due !== undefined && write.at >= due) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Subscriptions made due whose record shows no renewal since (renewed by a PATCH, or adopted after a takeover). */
async function unrenewed(records: readonly { integrationId: string; subscriptionId: string }[], store: DynamoDbSubscriptionsStore, dueAt: ReadonlyMap<string, number>): Promise<string[]> {
  const found = await Promise.all(records.map((r) => store.get(r.integrationId, r.subscriptionId)));
  return records
    .filter((r, i) => {
      const renewedAt = Date.parse(found[i]?.lastRenewedAt ?? '');
      return !(renewedAt >= (dueAt.get(r.subscriptionId) ?? Number.POSITIVE_INFINITY));
    })
    .map((r) => r.subscriptionId);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`failover drill: gave up waiting for ${what}`);
    await sleep(100);
  }
}
