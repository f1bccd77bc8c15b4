/**
 * `npm run bench:renewal`: 10,000 due subscriptions across 100 tenants, renewed by the
 * renewal Lambda's own entry (`runScheduledRenewal`, wired as `functions/renewal/runtime.ts` wires it) against
 * the Graph fake with Graph's write limits (500 / 20 s per app per tenant, 2,000 / 20 s per app) time-scaled,
 * DynamoDB Local in memory and the AWS emulator (Secrets Manager for the app credentials, EventBridge for the
 * events). Runs follow each other back-to-back, as successive scheduled invocations would, until nothing is due.
 * The same subscriptions are renewed three times (Graph's clock moved until they are due again): without the rate
 * governor (baseline), with it told the fake's limits (governed: the phase the targets judge and whose figures are
 * the JSON's top level), and with it told Graph's documented limits, which it has to learn down from 429s (learning).
 * Each phase reports 429s per 1,000 Graph calls and its wall time as a multiple of the rate-limit minimum.
 *
 * Prints a table (target / measured / PASS-MISSED) on stdout, progress on stderr, and writes
 * bench/results/renewal-<timestamp>.json and bench/results/renewal-latest.json.
 * Exit code 0 when the measurement ran (missed targets are printed as MISSED), 1 when it could not run.
 *
 *   npm run bench:renewal -- [--tenants 100] [--per-tenant 100] [--time-scale 0.75] [--retry-after auto|decimal|integer]
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';

import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { runScheduledRenewal } from '../functions/renewal/handler';
import type { RenewalRuntime } from '../functions/renewal/runtime';
import { startAwsEmulator } from '../local/aws-emulator';
import { LOCAL_CREDENTIALS } from '../local/descriptor';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { ensureTables } from '../local/tables';
import { RENEWAL_DEFAULTS } from '../shared/config/renewal-config';
import { EventBridgePublisher } from '../shared/events/publisher';
import type { SubscriptionEventEntry } from '../shared/events/subscription-events';
import { loadGraphConfig, type Clock } from '../shared/graph/graph-config';
import { integrationSecretName } from '../shared/secrets/integration-secret';
import { IntegrationSecretCache } from '../shared/secrets/integration-secret-cache';
import { DynamoDbConnectionsStore } from '../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore } from '../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../shared/subscriptions/integration-graphs';
import { RENEWAL_RUN_DEFAULTS, type RenewalPorts, type RenewalReport } from '../shared/subscriptions/renew-due';
import { renewalDueAt } from '../shared/subscriptions/renewal-policy';
import { mapConcurrent } from '../shared/util/batching';
import { GRAPH_RATE_LIMITS, type GovernorStats, type RateLimit } from '../shared/graph/rate-governor';
import { startGraphFake, type FakeStats, type GraphFake, type RetryAfterFormat } from '../testkit/graph-fake';
import { GRAPH_DEFAULTS as GRAPH_LIMITS } from '../testkit/graph-fake/options';
import { REPO_ROOT } from '../testkit/repo-root';
import { table, verdict, type TargetCheck } from './report';
import { Resources } from './resources';

// Quiet product code: no log line per call, no EMF metrics on stdout.
process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const DAY = 24 * 60 * 60_000;
/** infra/constructs/renewal-schedule.ts RENEWAL_TIMEOUT (5 minutes); not imported, as that pulls aws-cdk-lib into the measured process. */
const LAMBDA_TIMEOUT_MS = 5 * 60_000;
const WALL_RATIO_LIMIT = 1.2;
const THROTTLED_PER_1000_LIMIT = 50;
const SEED_CONCURRENCY = 32;
const MEMORY_SAMPLE_MS = 50;
/** Stop after this many runs even if something is still due: a run that renews nothing would loop forever. */
const MAX_RUNS = 200;
const APP = { clientId: randomUUID(), clientSecret: 'bench-renewal-app-secret~0123456789' };

const log = (line: string): void => {
  process.stderr.write(`[bench:renewal] ${line}\n`);
};

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Options {
  tenants: number;
  perTenant: number;
  timeScale: number;
  retryAfter: RetryAfterFormat;
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        tenants: { type: 'string', default: '100' },
        'per-tenant': { type: 'string', default: '100' },
        // 4 windows of 20 s × 0.75 = 60 s: the rate-limit minimum for 10,000 writes at 2,000 per window.
        'time-scale': { type: 'string', default: '0.75' },
        'retry-after': { type: 'string', default: 'auto' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const int = (name: string, text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be an integer ≥ 1, got "${text}"`);
    return value;
  };
  const timeScale = Number(values['time-scale']);
  if (!(timeScale > 0 && timeScale <= 1)) throw new UsageError(`--time-scale must be in (0, 1], got "${values['time-scale']}"`);
  const retryAfter = values['retry-after'];
  if (retryAfter !== 'auto' && retryAfter !== 'decimal' && retryAfter !== 'integer') throw new UsageError(`--retry-after takes auto, decimal or integer; got "${retryAfter}"`);
  return { tenants: int('tenants', values.tenants), perTenant: int('per-tenant', values['per-tenant']), timeScale, retryAfter };
}

/** Peak RSS and heap of this process, sampled; the fake, the emulator and the renewal all live in it. */
function startMemorySampler() {
  const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
    peak.external = Math.max(peak.external, m.external);
  };
  sample();
  const timer = setInterval(sample, MEMORY_SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { ...peak };
    },
  };
}

/** A notification endpoint that answers every validation request correctly and accepts everything else. */
async function startNoopEndpoint(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const token = new URL(req.url ?? '/', 'http://x').searchParams.get('validationToken');
    req.resume();
    if (token !== null) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(token);
      return;
    }
    res.writeHead(202).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook/`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Seeded {
  tenantId: string;
  subscriptionId: string;
  resource: string;
  expiresAt: string;
}

/**
 * Subscriptions created at the fake through its API (it has no direct way in), with tokens issued without the
 * token endpoint and the rate-limit windows forgotten whenever seeding trips them: none of this is measured.
 */
async function seedGraph(fake: GraphFake, notificationUrl: string, clientState: string, options: Options): Promise<Seeded[]> {
  const expiresAt = new Date(fake.clock.now() + 2 * DAY).toISOString();
  const work = Array.from({ length: options.tenants }, () => randomUUID()).flatMap((tenantId) =>
    Array.from({ length: options.perTenant }, () => ({ tenantId, resource: `users/${randomUUID()}/messages` })),
  );
  const tokens = new Map<string, string>();
  let done = 0;
  let resets = 0;
  const created = await mapConcurrent(work, SEED_CONCURRENCY, async ({ tenantId, resource }) => {
    let token = tokens.get(tenantId);
    if (token === undefined) tokens.set(tenantId, (token = fake.issueToken(tenantId, APP.clientId)));
    for (;;) {
      const response = await fetch(`${fake.graphUrl}/subscriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ changeType: 'created', notificationUrl, resource, expirationDateTime: expiresAt, clientState }),
      });
      const text = await response.text();
      if (response.status === 429) {
        fake.resetRateLimits();
        resets += 1;
        continue;
      }
      if (response.status !== 201) throw new BenchAbortError(`seeding: the fake answered ${response.status} to a create: ${text.slice(0, 300)}`);
      const body = JSON.parse(text) as { id: string; expirationDateTime: string };
      done += 1;
      if (done % 2000 === 0) log(`seeding Graph: ${done}/${work.length} subscriptions created`);
      return { tenantId, resource, subscriptionId: body.id, expiresAt: new Date(body.expirationDateTime).toISOString() };
    }
  });
  log(`seeding Graph: ${created.length} created (${resets} rate-limit resets while seeding)`);
  return created;
}

/** Wall time of the awaited calls of the runs, by step. */
class Timings {
  private readonly steps = new Map<string, { count: number; totalMs: number; maxMs: number }>();

  async time<T>(step: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      const elapsed = performance.now() - start;
      const s = this.steps.get(step) ?? { count: 0, totalMs: 0, maxMs: 0 };
      s.count += 1;
      s.totalMs += elapsed;
      s.maxMs = Math.max(s.maxMs, elapsed);
      this.steps.set(step, s);
    }
  }

  summary(): Record<string, { count: number; meanMs: number; maxMs: number }> {
    return Object.fromEntries([...this.steps].map(([k, s]) => [k, { count: s.count, meanMs: s.totalMs / s.count, maxMs: s.maxMs }]));
  }
}

class BenchAbortError extends Error {
  override readonly name = 'BenchAbortError';
}

interface RunRecord {
  run: number;
  startedAtMs: number;
  report: RenewalReport;
}

type PhaseName = 'baseline' | 'governed' | 'learning';

/**
 * One renewal of every subscription: `baseline` without the rate governor (hold-back after a 429 only), `governed`
 * with it told the fake's limits, `learning` with it told Graph's documented limits (GRAPH_RATE_LIMITS), which do
 * not know the fake's stricter per-app limit: what the governor learns from the 429s.
 */
interface PhaseResult {
  phase: PhaseName;
  /** The limits the governor paced under (the fake's, time-scaled); false for the baseline. */
  rateLimits: readonly RateLimit[] | false;
  wallMs: number;
  /** wallMs ÷ the rate-limit minimum. */
  ratio: number;
  /** 429 answers per 1,000 Graph calls sent (token requests not counted). */
  throttledPer1000Calls: number;
  graphCallsSent: number;
  governor: GovernorStats | undefined;
  runs: RunRecord[];
  fakeStats: FakeStats;
  clientStats: { requests: Record<string, number>; tokenRequests: number };
  awsEmulatorStats: Record<string, number>;
  graphCalls: { patch200: number; token200: number; throttled429: number; other: Record<string, number> };
  retryAfterSamples: string[];
  timings: Record<string, { count: number; meanMs: number; maxMs: number }>;
  end: { dueLeft: number; expiredAtGraph: number; notExtendedAtGraph: number; recordStatuses: Record<string, number>; eventsOnBus: number; fakeInternalErrors: number };
  memory: { baseline: NodeJS.MemoryUsage; peak: { rss: number; heapUsed: number; heapTotal: number; external: number } };
}

/** The governed phase's figures at the top level (what `npm run cost` reads), the baseline's beside them. */
type RenewalBenchResult = Omit<PhaseResult, 'phase'> & {
  environment: Record<string, unknown>;
  options: Record<string, unknown>;
  minimum: ReturnType<typeof rateLimitMinimum>;
  baseline: PhaseResult;
  learning: PhaseResult;
  targets: TargetCheck[];
  notes: string[];
};

function environment(options: Options): Record<string, unknown> {
  const git = (args: string[]) => spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' });
  const head = git(['rev-parse', 'HEAD']);
  const status = git(['status', '--porcelain']);
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    totalMemoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: { start: loadavg() },
    git: head.status === 0 ? { commit: head.stdout.trim(), dirtyFiles: status.stdout.split('\n').filter((l) => l.trim() !== '').length } : undefined,
    argv: process.argv.slice(2),
    options,
  };
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bench:renewal: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const resources = new Resources(log);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: stopping DynamoDB Local, the emulator and the fake… (again to force)`);
    void resources.stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const total = options.tenants * options.perTenant;
  const env = environment(options);
  try {
    log('starting DynamoDB Local (in memory)…');
    const dynamodbLocal = await startDynamoDbLocal();
    resources.add('DynamoDB Local', () => dynamodbLocal.stop());
    process.once('exit', () => void dynamodbLocal.stop());
    const emulator = await startAwsEmulator();
    resources.add('AWS emulator', () => emulator.close());
    const endpoint = await startNoopEndpoint();
    resources.add('notification endpoint', () => endpoint.close());
    const fake = await startGraphFake({
      apps: [APP],
      timeScale: options.timeScale,
      retryAfterFormat: options.retryAfter,
      rateLimits: { writesPerAppPerTenant: GRAPH_LIMITS.writesPerAppPerTenant, writesPerApp: GRAPH_LIMITS.writesPerApp, windowSeconds: GRAPH_LIMITS.windowSeconds },
    });
    resources.add('Graph fake', () => fake.close());
    log(`DynamoDB Local ${dynamodbLocal.endpoint}, AWS emulator ${emulator.url}, Graph fake ${fake.url} (timeScale ${options.timeScale}, Retry-After ${options.retryAfter})`);

    const region = 'us-east-1';
    const clientConfig = { region, credentials: LOCAL_CREDENTIALS };
    const requestHandler = { connectionTimeout: 1000, requestTimeout: 5000 };
    const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: dynamodbLocal.endpoint, requestHandler });
    const documents = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
    const secretsClient = new SecretsManagerClient({ ...clientConfig, endpoint: emulator.url, requestHandler });
    const eventsClient = new EventBridgeClient({ ...clientConfig, endpoint: emulator.url, requestHandler });
    resources.add('SDK clients', () => {
      dynamodb.destroy();
      secretsClient.destroy();
      eventsClient.destroy();
    });

    const suffix = randomUUID().slice(0, 8);
    const names = { connectionsTable: `bench-renewal-connections-${suffix}`, deliveriesTable: `bench-renewal-deliveries-${suffix}` };
    await ensureTables(dynamodb, names);
    resources.add('bench tables', () =>
      Promise.all(Object.values(names).map((TableName) => dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => undefined))),
    );
    const eventBusName = `bench-renewal-bus-${suffix}`;
    await eventsClient.send(new CreateEventBusCommand({ Name: eventBusName }));
    const webhookSecretPrefix = `graph-relay/bench-renewal-${suffix}/`;
    const integrationId = `bench-renewal-${suffix}`;
    const webhookSecret = `secret-${randomUUID()}`;
    await secretsClient.send(
      new CreateSecretCommand({ Name: integrationSecretName(webhookSecretPrefix, integrationId), SecretString: JSON.stringify({ webhookSecret, ...APP }) }),
    );
    const connections = new DynamoDbConnectionsStore(documents, names.connectionsTable);
    await connections.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });

    // Graph's clock: the product reads the same one (the fake's README), as the integration tests do.
    const clock: Clock = { now: () => fake.clock.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
    const store = new DynamoDbSubscriptionsStore(documents, names.connectionsTable, () => fake.clock.date());

    log(`seeding Graph: ${options.tenants} tenants × ${options.perTenant} subscriptions through the fake's API (handshake against a no-op endpoint)…`);
    const seedStart = performance.now();
    const seeded = await seedGraph(fake, `${endpoint.url}${integrationId}`, webhookSecret, options);
    log(`seeding DynamoDB: ${seeded.length} subscription records via DynamoDbSubscriptionsStore.put…`);
    await mapConcurrent(seeded, SEED_CONCURRENCY, (s) =>
      store.put({
        integrationId,
        subscriptionId: s.subscriptionId,
        connectionId: `conn-${s.tenantId.slice(0, 8)}`,
        tenantId: s.tenantId,
        resource: s.resource,
        changeTypes: ['created'],
        expiresAt: s.expiresAt,
        status: 'active',
      }),
    );
    log(`seeded in ${sec(performance.now() - seedStart)}`);
    // Half the 2-day lifetime passes: every subscription is due, none expired.
    fake.clock.advance(DAY + 60_000);
    const minimum = rateLimitMinimum(total, options);

    /**
     * One measured renewal of every due subscription, as back-to-back scheduled runs: a fresh process (new
     * IntegrationGraphs: tokens, and a governor pacing under `rateLimits`, or none), fresh windows and stats.
     */
    const renewAll = async (phase: PhaseName, rateLimits: readonly RateLimit[] | false): Promise<PhaseResult> => {
      const expiryBefore = new Map(fake.subscriptions().map((s) => [s.id, new Date(s.expirationDateTime).toISOString()]));
      const dueAtStart = (await store.findDue(fake.clock.date(), { limit: total + 1 })).due.length;
      if (dueAtStart !== total) throw new BenchAbortError(`${phase}: expected ${total} due subscriptions after advancing the clock, found ${dueAtStart}`);

      // The Lambda's runtime (functions/renewal/runtime.ts), on the emulators and the fake's clock.
      const logger = new Logger({ serviceName: 'graph-relay-renewal', logLevel: 'SILENT' });
      const secrets = new IntegrationSecretCache({ client: secretsClient, prefix: webhookSecretPrefix, maxAgeSeconds: RENEWAL_DEFAULTS.secretMaxAgeSeconds });
      const graphs = new IntegrationGraphs({
        config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
        readSecret: (id) => secrets.document(id),
        clock,
        logger,
        rateLimits,
      });
      const timings = new Timings();
      const timedStore: RenewalPorts['store'] = {
        findDue: (now, o) => timings.time('DynamoDB findDue', () => store.findDue(now, o)),
        recordRenewal: (...a) => timings.time('DynamoDB recordRenewal', () => store.recordRenewal(...a)),
        markNeedsConsent: (...a) => store.markNeedsConsent(...a),
        markFailed: (...a) => store.markFailed(...a),
        put: (...a) => store.put(...a),
        delete: (...a) => store.delete(...a),
      };
      const ports: RenewalPorts = {
        store: timedStore,
        connections,
        graphFor: async (id) => {
          const graph = await graphs.graphFor(id);
          return {
            getSubscription: (...a) => graph.getSubscription(...a),
            renewSubscription: (...a) => timings.time('Graph PATCH (with pacing, retries and token)', () => graph.renewSubscription(...a)),
            createSubscription: (...a) => graph.createSubscription(...a),
          };
        },
        providerOf: async (id) => (await connections.getIntegration(id))?.provider,
        webhookSecretOf: (id) => graphs.webhookSecretOf(id),
        notificationUrlFor: (id) => `${endpoint.url}${id}`,
        publisher: new EventBridgePublisher<SubscriptionEventEntry>(eventsClient, eventBusName, {
          maxAttempts: RENEWAL_DEFAULTS.publishMaxAttempts,
          concurrency: RENEWAL_DEFAULTS.publishConcurrency,
        }),
        eventSource: 'graph-relay.bench',
        logger: {
          info: (message, fields) => logger.info(message, fields),
          error: (message, fields) => logger.error(message, fields),
          warn: (message, fields) => logger.warn(message, fields),
        },
        clock,
      };
      const runtime: RenewalRuntime = { ports, limit: RENEWAL_DEFAULTS.runLimit, logger, metrics: { record: () => undefined, flush: () => undefined } };

      // Only the renewal is measured: forget seeding's (or the previous phase's) calls and windows.
      fake.resetRateLimits();
      fake.resetStats();
      emulator.resetStats();
      emulator.clearEvents();
      const retryAfterSamples: string[] = [];
      const sniff = sniffRetryAfter(retryAfterSamples);
      resources.add(`Retry-After sniffer (${phase})`, () => sniff.restore());

      global.gc?.();
      const baseline = process.memoryUsage();
      const memory = startMemorySampler();
      log(`${phase}: renewing in runs of limit ${runtime.limit} back-to-back until nothing is due…`);
      const runs: RunRecord[] = [];
      const start = performance.now();
      for (let run = 1; run <= MAX_RUNS; run += 1) {
        const invokedAt = Date.now();
        const context = { getRemainingTimeInMillis: () => invokedAt + LAMBDA_TIMEOUT_MS - Date.now() };
        const startedAtMs = performance.now() - start;
        const report = await runScheduledRenewal(runtime, context);
        runs.push({ run, startedAtMs, report });
        log(
          `${phase} run ${run} at ${sec(startedAtMs)}: due ${report.due}, renewed ${report.renewed}, deferred ${report.deferred}, failed ${report.failed}, ` +
            `needs-consent ${report.needsConsent}, recreated ${report.recreated}, ${sec(report.durationMs)}; 429s so far ${count429(fake.stats())}`,
        );
        if (report.due === 0) break;
      }
      const wallMs = performance.now() - start;
      const peak = memory.stop();
      sniff.restore();

      const dueLeft = (await store.findDue(fake.clock.date(), { limit: total })).due.length;
      const atGraph = fake.subscriptions(undefined, { includeEnded: true });
      const expiredAtGraph = atGraph.filter((s) => s.state !== 'active' || Date.parse(s.expirationDateTime) <= fake.clock.now()).length;
      const notExtendedAtGraph = atGraph.filter((s) => s.state === 'active' && new Date(s.expirationDateTime).toISOString() === expiryBefore.get(s.id)).length;
      const { subscriptions: records } = await store.listByIntegration(integrationId);
      const recordStatuses: Record<string, number> = {};
      for (const r of records) recordStatuses[r.status] = (recordStatuses[r.status] ?? 0) + 1;

      const fakeStats = fake.stats();
      const patch200 = fakeStats['subscriptions.update']?.['200'] ?? 0;
      const token200 = fakeStats.token?.['200'] ?? 0;
      const throttled429 = count429(fakeStats);
      const other: Record<string, number> = {};
      let graphCallsSent = 0;
      for (const [route, byStatus] of Object.entries(fakeStats)) {
        for (const [status, n] of Object.entries(byStatus ?? {})) {
          if (route !== 'token') graphCallsSent += n;
          const expected = (route === 'subscriptions.update' && status === '200') || (route === 'token' && status === '200') || status === '429';
          if (!expected) other[`${route} ${status}`] = n;
        }
      }
      const governor = rateLimits === false ? undefined : (await graphs.graphClientFor(integrationId)).governorStats();
      return {
        phase,
        rateLimits,
        wallMs,
        ratio: wallMs / minimum.minimumMs,
        throttledPer1000Calls: graphCallsSent === 0 ? 0 : (throttled429 * 1000) / graphCallsSent,
        graphCallsSent,
        runs,
        fakeStats,
        clientStats: graphs.stats(),
        governor,
        awsEmulatorStats: emulator.stats(),
        graphCalls: { patch200, token200, throttled429, other },
        retryAfterSamples: retryAfterSamples.slice(0, 20),
        timings: timings.summary(),
        end: {
          dueLeft,
          expiredAtGraph,
          notExtendedAtGraph,
          recordStatuses,
          eventsOnBus: emulator.events(eventBusName).length,
          fakeInternalErrors: fake.internalErrors().length,
        },
        memory: { baseline, peak },
      };
    };

    // Every subscription renewed once: move Graph's clock to when the last of them is due again (none expires before).
    const dueAgain = async () => {
      const { subscriptions: renewed } = await store.listByIntegration(integrationId);
      const at = Math.max(...renewed.map((r) => Date.parse(renewalDueAt({ grantedAt: r.lastRenewedAt ?? r.createdAt, expiresAt: r.expiresAt }))));
      fake.clock.set(Math.max(fake.clock.now(), at) + 60_000);
    };
    const baselinePhase = await renewAll('baseline', false);
    await dueAgain();
    const governed = await renewAll('governed', fakeRateLimits(options));
    await dueAgain();
    const learning = await renewAll('learning', GRAPH_RATE_LIMITS);

    const { phase: _phase, ...measured } = governed;
    const result: RenewalBenchResult = {
      environment: { ...env, loadAverage: { ...(env['loadAverage'] as object), end: loadavg() } },
      options: { ...options, runLimit: RENEWAL_DEFAULTS.runLimit, lambdaTimeoutMs: LAMBDA_TIMEOUT_MS, deadlineMarginMs: RENEWAL_DEFAULTS.deadlineMarginMs, renewalRun: RENEWAL_RUN_DEFAULTS },
      minimum,
      ...measured,
      baseline: baselinePhase,
      learning,
      targets: [],
      notes: [],
    };
    result.targets = targets(result, total, options);
    result.notes = notes(result, total);
    process.stdout.write(render(result, total, options));
    const file = await writeResults(result);
    log(`raw numbers: ${relative(process.cwd(), file)} (and bench/results/renewal-latest.json)`);
    return 0;
  } catch (error) {
    if (interrupted) {
      console.error('bench:renewal interrupted; no results written');
      return 130;
    }
    if (error instanceof BenchAbortError) {
      console.error(`bench:renewal ABORTED, the measurement is not valid: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    log('stopping everything the bench started…');
    await resources.stopAll();
  }
}

/**
 * Records the Retry-After values Graph (the fake) sent, as the product's client received them: a thin wrapper
 * on the global fetch that only reads response headers.
 */
function sniffRetryAfter(samples: string[]): { restore(): void } {
  const original = globalThis.fetch;
  globalThis.fetch = async (...args: Parameters<typeof fetch>) => {
    const response = await original(...args);
    if (response.status === 429 && samples.length < 1000) samples.push(response.headers.get('retry-after') ?? '(none)');
    return response;
  };
  return {
    restore: () => {
      globalThis.fetch = original;
    },
  };
}

function count429(stats: FakeStats): number {
  return Object.values(stats).reduce((sum, byStatus) => sum + (byStatus?.['429'] ?? 0), 0);
}

/**
 * The limits the fake enforces (testkit/graph-fake/options.ts), time-scaled as the fake scales its windows:
 * what the governor is told in this bench, as production tells it Graph's documented ones.
 */
function fakeRateLimits(options: Options): RateLimit[] {
  const windowMs = GRAPH_LIMITS.windowSeconds * 1000 * options.timeScale;
  return [
    { name: 'writesPerApp', scope: 'app', kinds: ['subscription-write'], requests: GRAPH_LIMITS.writesPerApp, windowMs },
    { name: 'writesPerAppPerTenant', scope: 'tenant', kinds: ['subscription-write'], requests: GRAPH_LIMITS.writesPerAppPerTenant, windowMs },
    { name: 'listsPerAppPerTenant', scope: 'tenant', kinds: ['subscription-read'], requests: GRAPH_LIMITS.listsPerAppPerTenant, windowMs },
  ];
}

/**
 * The least wall time Graph's windows allow: with at most L writes in any window of W, the k-th batch of L can
 * start no earlier than (k − 1)·W, so N writes need (⌈N / L⌉ − 1)·W, for the per-app limit and for each tenant.
 */
function rateLimitMinimum(total: number, options: Options) {
  const windowMs = GRAPH_LIMITS.windowSeconds * 1000 * options.timeScale;
  const perApp = { writes: total, limit: GRAPH_LIMITS.writesPerApp, windows: Math.ceil(total / GRAPH_LIMITS.writesPerApp) - 1 };
  const perTenant = { writes: options.perTenant, limit: GRAPH_LIMITS.writesPerAppPerTenant, windows: Math.ceil(options.perTenant / GRAPH_LIMITS.writesPerAppPerTenant) - 1 };
  const binding = perApp.windows >= perTenant.windows ? 'per app' : 'per app per tenant';
  const minimumMs = Math.max(perApp.windows, perTenant.windows) * windowMs;
  return {
    windowMs,
    perApp,
    perTenant,
    binding,
    minimumMs,
    /** The looser reading "N / L windows of work" (a whole window for the last batch too). */
    averageRateMs: (total / GRAPH_LIMITS.writesPerApp) * windowMs,
  };
}

function targets(r: RenewalBenchResult, total: number, options: Options): TargetCheck[] {
  const min = r.minimum;
  const ratio = r.wallMs / min.minimumMs;
  const otherCalls = Object.values(r.graphCalls.other).reduce((s, n) => s + n, 0);
  return [
    {
      id: 'B1',
      target: 'wall time vs rate-limit minimum (governed)',
      goal: `≤ ${WALL_RATIO_LIMIT}×`,
      measured: `${ratio.toFixed(2)}× (${sec(r.wallMs)} vs ${sec(min.minimumMs)}; ${(r.wallMs / min.averageRateMs).toFixed(2)}× of ${sec(min.averageRateMs)} at the average rate)`,
      pass: ratio <= WALL_RATIO_LIMIT,
    },
    {
      id: 'B1b',
      target: '429s per 1,000 Graph calls (governed)',
      goal: `< ${THROTTLED_PER_1000_LIMIT}`,
      measured:
        `${r.throttledPer1000Calls.toFixed(1)} (${r.graphCalls.throttled429} of ${r.graphCallsSent}); ` +
        `baseline ${r.baseline.throttledPer1000Calls.toFixed(1)} (${r.baseline.graphCalls.throttled429} of ${r.baseline.graphCallsSent}) at ${r.baseline.ratio.toFixed(2)}×; ` +
        `learning ${r.learning.throttledPer1000Calls.toFixed(1)} (${r.learning.graphCalls.throttled429} of ${r.learning.graphCallsSent}) at ${r.learning.ratio.toFixed(2)}×`,
      pass: r.throttledPer1000Calls < THROTTLED_PER_1000_LIMIT,
    },
    { id: 'B2a', target: 'PATCH 200', goal: `exactly ${total}`, measured: String(r.graphCalls.patch200), pass: r.graphCalls.patch200 === total },
    { id: 'B2b', target: 'token requests (200)', goal: `exactly ${options.tenants}`, measured: String(r.graphCalls.token200), pass: r.graphCalls.token200 === options.tenants },
    { id: 'B2c', target: 'retries caused by 429', goal: 'only 429s (counted)', measured: `${r.graphCalls.throttled429} × 429`, pass: undefined },
    {
      id: 'B2d',
      target: 'any other Graph call',
      goal: '0',
      measured: otherCalls === 0 ? '0' : Object.entries(r.graphCalls.other).map(([k, n]) => `${k}: ${n}`).join(', '),
      pass: otherCalls === 0,
    },
    {
      id: 'B3',
      target: 'subscriptions past expiry at the end (Graph)',
      goal: '0',
      measured: `${r.end.expiredAtGraph} expired; ${r.end.notExtendedAtGraph} not extended; ${r.end.dueLeft} still due in the store`,
      pass: r.end.expiredAtGraph === 0 && r.end.notExtendedAtGraph === 0 && r.end.dueLeft === 0,
    },
    {
      id: 'B4',
      target: 'peak memory of the process (sampled every 50 ms)',
      goal: 'report',
      measured: `RSS ${mib(r.memory.peak.rss)} (baseline ${mib(r.memory.baseline.rss)}), heap used ${mib(r.memory.peak.heapUsed)} (baseline ${mib(r.memory.baseline.heapUsed)})`,
      pass: undefined,
    },
  ];
}

function notes(r: RenewalBenchResult, total: number): string[] {
  const out: string[] = [];
  const samples = [...r.baseline.retryAfterSamples, ...r.retryAfterSamples];
  const decimals = samples.filter((s) => /^\d+\.\d+$/.test(s)).length;
  if (decimals > 0) {
    out.push(`${decimals} of ${samples.length} sampled Retry-After values were decimal seconds (e.g. ${samples.find((s) => /\./.test(s))}); the client waits them as given.`);
  }
  for (const phase of [r.baseline, { ...r, phase: 'governed' as const }, r.learning]) {
    const deferred = phase.runs.reduce((s, run) => s + run.report.deferred, 0);
    if (deferred > 0) out.push(`${phase.phase}: ${deferred} renewals were deferred to a later run (throttled past the client's attempts or the deadline).`);
    const renewed = phase.runs.reduce((s, run) => s + run.report.renewed, 0);
    if (renewed !== total) out.push(`${phase.phase}: renewed ${renewed} of ${total} across ${phase.runs.length} runs`);
    if (phase.runs.length >= MAX_RUNS) out.push(`${phase.phase}: stopped after ${MAX_RUNS} runs with work still due`);
  }
  out.push(
    'The baseline renews every subscription first (no governor: hold-back after a 429 only); then Graph\'s clock moves to when they are all due again and the governed phase renews them with the governor told the fake\'s limits; then again the learning phase, with the governor told Graph\'s documented limits (1,000 writes / 20 s per tenant, 130,000 / 10 s per app), stricter ones at the fake (500 per tenant, 2,000 per app per window) to learn from its 429s. Each phase in a fresh IntegrationGraphs (new tokens) with the fake\'s windows and stats reset.',
  );
  out.push('Peak memory is of the bench process, which also hosts the Graph fake, the AWS emulator and the no-op endpoint; DynamoDB Local is a separate Java process.');
  return out;
}

function render(r: RenewalBenchResult, total: number, options: Options): string {
  const min = r.minimum;
  const lines: string[] = [];
  lines.push(`\n## Renewal: ${total} due subscriptions, ${options.tenants} tenants × ${options.perTenant}, timeScale ${options.timeScale}\n`);
  lines.push('### Rate-limit minimum\n');
  lines.push(
    table(
      ['limit', 'writes', 'per window', 'window (real)', 'windows to wait = ⌈writes/limit⌉ − 1', 'minimum'],
      [
        ['per app', String(min.perApp.writes), String(min.perApp.limit), sec(min.windowMs), String(min.perApp.windows), sec(min.perApp.windows * min.windowMs)],
        ['per app per tenant', String(min.perTenant.writes), String(min.perTenant.limit), sec(min.windowMs), String(min.perTenant.windows), sec(min.perTenant.windows * min.windowMs)],
      ],
    ),
  );
  lines.push(`\nBinding: ${min.binding}; minimum ${sec(min.minimumMs)} (at the average rate, ${total}/${min.perApp.limit} windows: ${sec(min.averageRateMs)}).\n`);
  lines.push('### With and without the rate governor\n');
  lines.push(
    table(
      ['phase', 'wall time', '× minimum', 'Graph calls sent', '429s', '429s per 1,000 calls', 'runs', 'calls paced by the governor (total wait)', 'buckets lowered at the end'],
      [r.baseline, { ...r, phase: 'governed' as const }, r.learning].map((p) => [
        p.phase,
        sec(p.wallMs),
        `${p.ratio.toFixed(2)}×`,
        String(p.graphCallsSent),
        String(p.graphCalls.throttled429),
        p.throttledPer1000Calls.toFixed(1),
        String(p.runs.length),
        p.governor === undefined ? '—' : `${p.governor.pacedCalls} (${sec(p.governor.pacedMs)})`,
        p.governor === undefined ? '—' : String(Object.keys(p.governor.lowered).length),
      ]),
    ),
  );
  lines.push('\n### Runs of the governed phase (back-to-back scheduled invocations)\n');
  lines.push(
    table(
      ['run', 'started', 'duration', 'due', 'renewed', 'deferred', 'failed', 'needs consent', 'recreated', 'graph ops'],
      r.runs.map((x) => [
        String(x.run),
        sec(x.startedAtMs),
        sec(x.report.durationMs),
        String(x.report.due),
        String(x.report.renewed),
        String(x.report.deferred),
        String(x.report.failed),
        String(x.report.needsConsent),
        String(x.report.recreated),
        String(x.report.graphCalls),
      ]),
    ),
  );
  lines.push('\n### Where a governed renewal spends its time (awaited inside the runs, wall time per call)\n');
  lines.push(table(['step', 'calls', 'mean', 'max'], Object.entries(r.timings).map(([k, t]) => [k, String(t.count), `${t.meanMs.toFixed(1)} ms`, `${t.maxMs.toFixed(1)} ms`])));
  lines.push('\n### Graph calls of the governed phase (the fake\'s stats, by route and status)\n');
  const rows = Object.entries(r.fakeStats).flatMap(([route, byStatus]) => Object.entries(byStatus ?? {}).map(([status, n]) => [route, status, String(n)]));
  lines.push(table(['route', 'status', 'calls'], rows));
  lines.push(`\nClient side (GraphClient.stats): ${JSON.stringify(r.clientStats.requests)}, token requests ${r.clientStats.tokenRequests}. AWS emulator: ${JSON.stringify(r.awsEmulatorStats)}; events on the bus ${r.end.eventsOnBus}. Records by status: ${JSON.stringify(r.end.recordStatuses)}.`);
  if (r.retryAfterSamples.length > 0) lines.push(`Retry-After samples: ${r.retryAfterSamples.slice(0, 8).join(', ')}`);
  lines.push('\n### Targets\n');
  lines.push(table(['#', 'target', 'goal', 'measured', 'verdict'], r.targets.map((t) => [t.id, t.target, t.goal, t.measured, verdict(t.pass)])));
  if (r.notes.length > 0) lines.push(`\nNotes:\n${r.notes.map((n) => `- ${n}`).join('\n')}`);
  return `${lines.join('\n')}\n`;
}

async function writeResults(result: RenewalBenchResult): Promise<string> {
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = String(result.environment['date']).replace(/[:.]/g, '-');
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const file = join(dir, `renewal-${stamp}.json`);
  await writeFile(file, text);
  await writeFile(join(dir, 'renewal-latest.json'), text);
  return file;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
