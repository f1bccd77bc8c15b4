/**
 * `npm run bench:resync`: 10,000 changed users across 10 tenants caught up by
 * incremental resyncs behind the Graph fake's delta rate limit, through the resync function's own entry
 * (`runResyncBatch`, wired as `functions/resync/runtime.ts` wires it) on DynamoDB Local in memory and the AWS
 * emulator (Secrets Manager for the app credentials, EventBridge for the events), with the SQS event source played
 * by an in-process queue served by 4 workers (infra/constructs/resync.ts RESYNC_QUEUE.maxConcurrency, batches of
 * one; each worker is one warm execution environment with its own Graph clients and governor).
 *
 * Every tenant has one connection declaring `users:updated,deleted;resync` and its subscription recorded (the runner
 * never calls Graph's subscriptions API); baselines are taken first (not measured). Then, phase by phase, all users
 * of all tenants change at the fake and one `missed` job per subscription is queued:
 * - `hold-back`: the Graph clients without the rate governor (a 429 holds the tenant back until Retry-After): the
 *   baseline. Not a full resync: every user changed, so a full round would read and publish exactly the same pages.
 * - `governed`: the governor told the fake's limits (the phase the targets judge and whose figures are the JSON's
 *   top level).
 * - `learning`: the governor told Graph's documented limits, which the fake undercuts: it learns from 429s.
 * - `kill`: governed again, with workers killed mid-run (a throw from onProgress after a page is on the bus and
 *   before its checkpoint, after k pages of some tenants: SQS delivers the message again, after a visibility
 *   timeout shortened here to 1 s) and one run stopped by a short deadline (it asks for itself again as
 *   `continued`). Objects lost (changed users with no event carrying their new state) must be 0, duplicates at most
 *   one page per kill.
 *
 * Prints a table on stdout, progress on stderr, and writes bench/results/resync-<timestamp>.json and
 * bench/results/resync-latest.json. Exit code 0 when nothing was lost and duplicates stayed within one page per
 * kill, 1 otherwise or when the measurement could not run.
 *
 * An unmeasured governed warm-up round comes first, so warming up (JIT, DynamoDB Local) does not count against the
 * baseline. With `--delta-limit 1000` the limit never binds and the phases measure the machine's ceiling instead.
 *
 *   npm run bench:resync -- [--tenants 10] [--per-tenant 1000] [--delta-limit 5] [--time-scale 0.5] [--kill-after 1,5,9]
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';

import type { SQSEvent } from 'aws-lambda';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { runResyncBatch, type ResyncContext } from '../functions/resync/handler';
import type { ResyncRuntime } from '../functions/resync/runtime';
import { startAwsEmulator } from '../local/aws-emulator';
import { LOCAL_CREDENTIALS } from '../local/descriptor';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { ensureTables } from '../local/tables';
import { RESYNC_DEFAULTS } from '../shared/config/resync-config';
import { DETAIL_TYPES, type EventEntry } from '../shared/events/contract';
import { EventBridgePublisher } from '../shared/events/publisher';
import { RESYNC_DETAIL_TYPE, type ResyncedEventEntry } from '../shared/events/subscription-events';
import { GRAPH_DEFAULTS as CLIENT_DEFAULTS, loadGraphConfig } from '../shared/graph/graph-config';
import { GRAPH_RATE_LIMITS, type GovernorStats, type RateLimit } from '../shared/graph/rate-governor';
import { parseResyncJob, type ResyncJob, type ResyncRequests } from '../shared/resync/resync-job';
import { declarationOf, type ResyncProgress, type ResyncResult } from '../shared/resync/run-resync';
import { integrationSecretName } from '../shared/secrets/integration-secret';
import { IntegrationSecretCache } from '../shared/secrets/integration-secret-cache';
import { DynamoDbConnectionsStore } from '../shared/store/dynamodb-connections-store';
import { DynamoDbResyncStateStore } from '../shared/store/resync-checkpoints';
import { DynamoDbSubscriptionsStore } from '../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../shared/subscriptions/integration-graphs';
import { startGraphFake, type FakeStats, type GraphFake } from '../testkit/graph-fake';
import { GRAPH_DEFAULTS as FAKE_DEFAULTS } from '../testkit/graph-fake/options';
import { REPO_ROOT } from '../testkit/repo-root';
import { table, verdict, type TargetCheck } from './report';
import { Resources } from './resources';

// Quiet product code: no log line per call, no EMF metrics on stdout.
process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** infra/constructs/resync.ts RESYNC_TIMEOUT and RESYNC_QUEUE.maxConcurrency; not imported, as that pulls aws-cdk-lib into the measured process. */
const LAMBDA_TIMEOUT_MS = 5 * 60_000;
const MAX_CONCURRENCY = 4;
/** The queue's visibility timeout is 30 minutes (six function timeouts); a killed run's message comes back after this here. */
const VISIBILITY_TIMEOUT_MS = 1_000;
/** Users per delta page: the fake's default for directory objects, Graph's too (the runner sends no maxpagesize). */
const PAGE_SIZE = 100;
const THROTTLED_PER_1000_LIMIT = 50;
const DECLARATION = 'users:updated,deleted;resync';
const APP = { clientId: randomUUID(), clientSecret: 'bench-resync-app-secret~0123456789' };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

const log = (line: string): void => {
  process.stderr.write(`[bench:resync] ${line}\n`);
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
/** Wall time as a multiple of the rate-limit minimum; none when the limit never binds. */
const ratio = (ms: number, minimumMs: number): string => (minimumMs > 0 ? `${(ms / minimumMs).toFixed(2)}×` : '—');

class UsageError extends Error {
  override readonly name = 'UsageError';
}

class BenchAbortError extends Error {
  override readonly name = 'BenchAbortError';
}

interface Options {
  tenants: number;
  perTenant: number;
  deltaLimit: number;
  timeScale: number;
  killAfter: number[];
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        tenants: { type: 'string', default: '10' },
        'per-tenant': { type: 'string', default: '1000' },
        // 5 delta pages per 20 s per tenant: half a round of 10 pages per window, so the limit binds (see notes).
        'delta-limit': { type: 'string', default: '5' },
        // 20-second windows last 10 s: a phase's minimum is 3 waves of 4 tenants × 1 window = 30 s.
        'time-scale': { type: 'string', default: '0.5' },
        'kill-after': { type: 'string', default: '1,5,9' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const int = (name: string, text: string, min = 1): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${text}"`);
    return value;
  };
  const timeScale = Number(values['time-scale']);
  if (!(timeScale > 0 && timeScale <= 1)) throw new UsageError(`--time-scale must be in (0, 1], got "${values['time-scale']}"`);
  const options = {
    tenants: int('tenants', values.tenants),
    perTenant: int('per-tenant', values['per-tenant']),
    deltaLimit: int('delta-limit', values['delta-limit']),
    timeScale,
    killAfter: values['kill-after'].split(',').map((k) => int('kill-after', k.trim())),
  };
  const pages = Math.ceil(options.perTenant / PAGE_SIZE);
  if (options.killAfter.some((k) => k >= pages)) throw new UsageError(`--kill-after: a tenant's round has ${pages} pages; kill points must be below that`);
  if (options.killAfter.length + 1 > options.tenants) throw new UsageError(`--kill-after: ${options.killAfter.length} kills and a deadline stop need more than ${options.tenants} tenants`);
  return options;
}

interface Tenant {
  tenantId: string;
  connectionId: string;
  subscriptionId: string;
}

/** One SQS message as the event source holds it. */
interface Message {
  messageId: string;
  body: string;
  availableAt: number;
  receives: number;
}

/** The resync queue as the event source sees it: delays, and a failed message back after its visibility timeout. */
class LocalQueue implements ResyncRequests {
  private readonly messages: Message[] = [];
  sent = 0;
  redelivered = 0;

  async request(jobs: readonly ResyncJob[], options: { delaySeconds?: number } = {}): Promise<void> {
    for (const job of jobs) {
      this.sent += 1;
      this.messages.push({ messageId: randomUUID(), body: JSON.stringify(job), availableAt: Date.now() + (options.delaySeconds ?? 0) * 1000, receives: 0 });
    }
  }

  take(): Message | undefined {
    const now = Date.now();
    const i = this.messages.findIndex((m) => m.availableAt <= now);
    if (i < 0) return undefined;
    const [message] = this.messages.splice(i, 1);
    if (message !== undefined) message.receives += 1;
    return message;
  }

  failed(message: Message): void {
    this.redelivered += 1;
    this.messages.push({ ...message, availableAt: Date.now() + VISIBILITY_TIMEOUT_MS });
  }

  get size(): number {
    return this.messages.length;
  }
}

type PhaseName = 'warm-up' | 'hold-back' | 'governed' | 'learning' | 'kill';

/** What a phase does to the workers: kill one after k pages of a subscription's round, or give it a short deadline. */
interface Interference {
  killAfter: Map<string, number>;
  shortDeadline: Set<string>;
}

interface Invocation {
  worker: number;
  subscriptionId: string;
  trigger: string;
  receives: number;
  startedAtMs: number;
  durationMs: number;
  outcome: ResyncResult['outcome'] | 'killed';
  pages?: number;
  objects?: number;
  resumed?: number;
}

interface TenantCount {
  tenantId: string;
  connectionId: string;
  expected: number;
  events: number;
  distinct: number;
  lost: number;
  duplicates: number;
  /** The interference this tenant met in the kill phase. */
  interference?: string;
  /** Duplicates allowed: one page per kill. */
  allowedDuplicates: number;
}

interface PhaseResult {
  phase: PhaseName;
  rateLimits: readonly RateLimit[] | false;
  wallMs: number;
  objects: number;
  objectsPerSecond: number;
  graphCallsSent: number;
  graphCallsPer1000Objects: number;
  throttled429: number;
  throttledPer1000Calls: number;
  tokenRequests: number;
  lost: number;
  duplicates: number;
  allowedDuplicates: number;
  summaries: number;
  invocations: Invocation[];
  outcomes: Record<string, number>;
  queue: { sent: number; redelivered: number };
  governor: { pacedCalls: number; pacedMs: number; throttled: number; appHolds: number } | undefined;
  fakeStats: FakeStats;
  tenants: TenantCount[];
}

type ResyncBenchResult = Omit<PhaseResult, 'phase'> & {
  environment: Record<string, unknown>;
  options: Record<string, unknown>;
  minimum: ReturnType<typeof rateLimitMinimum>;
  holdBack: PhaseResult;
  learning: PhaseResult;
  kill: PhaseResult;
  /** An unmeasured first round (governed), so that warming up does not count against the first measured phase. */
  warmUp: { wallMs: number; objects: number; lost: number; duplicates: number };
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

/** The fake's delta limit, time-scaled as the fake scales its windows: what the governor is told in the governed phases. */
function fakeRateLimits(options: Options): RateLimit[] {
  return [{ name: 'deltaPerAppPerTenant', scope: 'tenant', kinds: ['other'], requests: options.deltaLimit, windowMs: FAKE_DEFAULTS.windowSeconds * 1000 * options.timeScale }];
}

/**
 * The least wall time the limit and the concurrency allow (approximate: tenants run in waves of MAX_CONCURRENCY):
 * a tenant's P pages at L per window need (⌈P / L⌉ − 1) windows, and ⌈tenants / 4⌉ waves of them follow each other.
 */
function rateLimitMinimum(options: Options) {
  const windowMs = FAKE_DEFAULTS.windowSeconds * 1000 * options.timeScale;
  const pagesPerTenant = Math.ceil(options.perTenant / PAGE_SIZE);
  const windowsPerTenant = Math.ceil(pagesPerTenant / options.deltaLimit) - 1;
  const waves = Math.ceil(options.tenants / MAX_CONCURRENCY);
  return { windowMs, pagesPerTenant, windowsPerTenant, waves, minimumMs: waves * windowsPerTenant * windowMs };
}

function count429(stats: FakeStats): number {
  return Object.values(stats).reduce((sum, byStatus) => sum + (byStatus?.['429'] ?? 0), 0);
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bench:resync: ${error.message}`);
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
    const fake = await startGraphFake({ apps: [APP], timeScale: options.timeScale, rateLimits: { deltaPerAppPerTenant: options.deltaLimit } });
    resources.add('Graph fake', () => fake.close());
    log(`DynamoDB Local ${dynamodbLocal.endpoint}, AWS emulator ${emulator.url}, Graph fake ${fake.url} (${options.deltaLimit} delta requests / ${FAKE_DEFAULTS.windowSeconds} s per tenant, timeScale ${options.timeScale})`);

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
    const names = { connectionsTable: `bench-resync-connections-${suffix}`, deliveriesTable: `bench-resync-deliveries-${suffix}` };
    await ensureTables(dynamodb, names);
    resources.add('bench tables', () =>
      Promise.all(Object.values(names).map((TableName) => dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => undefined))),
    );
    const eventBusName = `bench-resync-bus-${suffix}`;
    await eventsClient.send(new CreateEventBusCommand({ Name: eventBusName }));
    const webhookSecretPrefix = `graph-relay/bench-resync-${suffix}/`;
    const integrationId = `bench-resync-${suffix}`;
    await secretsClient.send(
      new CreateSecretCommand({ Name: integrationSecretName(webhookSecretPrefix, integrationId), SecretString: JSON.stringify({ webhookSecret: `secret-${randomUUID()}`, ...APP }) }),
    );
    const connections = new DynamoDbConnectionsStore(documents, names.connectionsTable);
    const subscriptions = new DynamoDbSubscriptionsStore(documents, names.connectionsTable);
    const states = new DynamoDbResyncStateStore(documents, names.connectionsTable);
    await connections.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });

    log(`seeding: ${options.tenants} tenants × ${options.perTenant} users at the fake, a connection declaring "${DECLARATION}" and a recorded subscription each…`);
    const tenants: Tenant[] = [];
    const userIds = Array.from({ length: options.perTenant }, (_, i) => `user-${String(i + 1).padStart(5, '0')}`);
    for (let t = 0; t < options.tenants; t += 1) {
      const tenant = { tenantId: randomUUID(), connectionId: `conn-${t + 1}`, subscriptionId: randomUUID() };
      tenants.push(tenant);
      await connections.addConnection({ integrationId, connectionId: tenant.connectionId, tenantId: tenant.tenantId, subscriptions: [DECLARATION] });
      await subscriptions.put({
        integrationId,
        subscriptionId: tenant.subscriptionId,
        connectionId: tenant.connectionId,
        tenantId: tenant.tenantId,
        resource: 'users',
        changeTypes: ['updated', 'deleted'],
        expiresAt: new Date(Date.now() + 2 * 86_400_000).toISOString(),
        status: 'active',
      });
      const users = fake.objects(tenant.tenantId);
      for (const id of userIds) users.upsert('users', { id, displayName: `seed ${id}` });
    }
    const minimum = rateLimitMinimum(options);

    /**
     * All queued jobs served by MAX_CONCURRENCY workers, each a warm execution environment built as
     * functions/resync/runtime.ts builds one (its own secret cache, Graph clients and governor), until the queue
     * is empty and no run is in flight.
     */
    const serve = async (jobs: ResyncJob[], rateLimits: readonly RateLimit[] | false, interference: Interference) => {
      const queue = new LocalQueue();
      await queue.request(jobs);
      const invocations: Invocation[] = [];
      const killed = new Set<string>();
      const graphsOf: IntegrationGraphs[] = [];
      const start = performance.now();
      let inFlight = 0;
      const worker = async (index: number) => {
        let current: { subscriptionId: string } | undefined;
        const graphs = new IntegrationGraphs({
          config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
          readSecret: (id) => secrets.document(id),
          logger: quiet,
          rateLimits,
        });
        graphsOf.push(graphs);
        const secrets = new IntegrationSecretCache({ client: secretsClient, prefix: webhookSecretPrefix, maxAgeSeconds: RESYNC_DEFAULTS.secretMaxAgeSeconds });
        const publish = { maxAttempts: RESYNC_DEFAULTS.publishMaxAttempts, concurrency: RESYNC_DEFAULTS.publishConcurrency };
        let lastResult: ResyncResult | undefined;
        const runtime: ResyncRuntime = {
          ports: {
            subscriptions,
            connections,
            states,
            graphFor: (id) => graphs.graphClientFor(id),
            publisher: new EventBridgePublisher<EventEntry>(eventsClient, eventBusName, publish),
            summaries: new EventBridgePublisher<ResyncedEventEntry>(eventsClient, eventBusName, publish),
            eventSource: 'graph-relay.bench',
            logger: quiet,
            clock: { now: () => Date.now() },
            onProgress: (progress: ResyncProgress) => {
              const subscriptionId = current?.subscriptionId ?? '';
              const k = interference.killAfter.get(subscriptionId);
              // The worker dies after the page is on the bus and before its checkpoint is saved.
              if (k !== undefined && progress.pages === k && !killed.has(subscriptionId)) {
                killed.add(subscriptionId);
                throw new Error(`bench: worker ${index} killed after page ${k}`);
              }
            },
          },
          requests: queue,
          logger: quiet,
          metrics: { count: () => undefined, record: (result) => void (lastResult = result), flush: () => undefined },
        };
        for (;;) {
          const message = queue.take();
          if (message === undefined) {
            if (queue.size === 0 && inFlight === 0) return;
            await sleep(5);
            continue;
          }
          inFlight += 1;
          const job = parseResyncJob(message.body);
          current = { subscriptionId: job.subscriptionId };
          lastResult = undefined;
          const invokedAt = Date.now();
          const short = interference.shortDeadline.has(job.subscriptionId) && message.receives === 1 && job.trigger !== 'continued';
          // A short invocation: room for about one window of pages before the deadline, then it must stop.
          const timeoutMs = short ? RESYNC_DEFAULTS.deadlineMarginMs + CLIENT_DEFAULTS.requestTimeoutMs + 5_000 + minimum.windowMs / 4 : LAMBDA_TIMEOUT_MS;
          const context: ResyncContext = { getRemainingTimeInMillis: () => invokedAt + timeoutMs - Date.now() };
          const startedAtMs = performance.now() - start;
          const event = { Records: [{ messageId: message.messageId, body: message.body }] } as unknown as SQSEvent;
          const { batchItemFailures } = await runResyncBatch(runtime, event, context);
          if (batchItemFailures.length > 0) queue.failed(message);
          const result = lastResult as ResyncResult | undefined;
          invocations.push({
            worker: index,
            subscriptionId: job.subscriptionId,
            trigger: job.trigger,
            receives: message.receives,
            startedAtMs,
            durationMs: performance.now() - start - startedAtMs,
            outcome: result === undefined ? 'killed' : result.outcome,
            ...(result !== undefined && 'pages' in result ? { pages: result.pages, objects: (result.changed ?? 0) + (result.deleted ?? 0), resumed: result.resumed } : {}),
          });
          inFlight -= 1;
        }
      };
      await Promise.all(Array.from({ length: MAX_CONCURRENCY }, (_, i) => worker(i + 1)));
      const wallMs = performance.now() - start;
      let governor: PhaseResult['governor'];
      if (rateLimits !== false) {
        const all: GovernorStats[] = await Promise.all(graphsOf.map(async (g) => (await g.graphClientFor(integrationId)).governorStats()));
        governor = all.reduce((sum, g) => ({ pacedCalls: sum.pacedCalls + g.pacedCalls, pacedMs: sum.pacedMs + g.pacedMs, throttled: sum.throttled + g.throttled, appHolds: sum.appHolds + g.appHolds }), { pacedCalls: 0, pacedMs: 0, throttled: 0, appHolds: 0 });
      }
      return { wallMs, invocations, queue: { sent: queue.sent, redelivered: queue.redelivered }, governor };
    };

    const jobsFor = (trigger: ResyncJob['trigger']): ResyncJob[] =>
      tenants.map((t) => ({ integrationId, subscriptionId: t.subscriptionId, trigger, requestedAt: new Date().toISOString() }));

    log('taking the baselines (not measured)…');
    await serve(jobsFor('created'), fakeRateLimits(options), { killAfter: new Map(), shortDeadline: new Set() });
    const withoutBaseline: string[] = [];
    for (const t of tenants) {
      const record = await subscriptions.get(integrationId, t.subscriptionId);
      const state = record === undefined ? undefined : await states.get({ integrationId, connectionId: t.connectionId, declaration: declarationOf(record) });
      if (state?.deltaLink === undefined) withoutBaseline.push(t.connectionId);
    }
    if (withoutBaseline.length > 0) throw new BenchAbortError(`no baseline (delta link) for ${withoutBaseline.join(', ')}`);
    if (emulator.events(eventBusName).length > 0) throw new BenchAbortError(`the baselines published ${emulator.events(eventBusName).length} events; a baseline publishes nothing`);

    const runPhase = async (phase: PhaseName, rateLimits: readonly RateLimit[] | false, interference: Interference): Promise<PhaseResult> => {
      // Every user of every tenant changes at Graph; the new name tells this phase's state from the last one's.
      for (const t of tenants) {
        const users = fake.objects(t.tenantId);
        for (const id of userIds) users.upsert('users', { id, displayName: `${phase} ${id}` });
      }
      fake.resetRateLimits();
      fake.resetStats();
      emulator.resetStats();
      emulator.clearEvents();
      log(`${phase}: ${total} users changed; ${options.tenants} missed jobs on the queue, ${MAX_CONCURRENCY} workers${rateLimits === false ? ', no governor' : ''}…`);
      const served = await serve(jobsFor('missed'), rateLimits, interference);

      const events = emulator.events(eventBusName);
      const changes = events.filter((e) => e['detail-type'] === DETAIL_TYPES.change).map((e) => e.detail as Record<string, any>);
      const summaries = events.filter((e) => e['detail-type'] === RESYNC_DETAIL_TYPE).length;
      const counts: TenantCount[] = tenants.map((t) => {
        const mine = changes.filter((d) => d['connectionId'] === t.connectionId && d['metadata']?.['origin'] === 'resync');
        const current = new Set<string>();
        const distinct = new Set<string>();
        for (const d of mine) {
          const n = d['payload']?.['value']?.[0];
          const id = String(n?.['resource'] ?? '').replace(/^Users\//, '');
          distinct.add(id);
          if (n?.['resourceData']?.['displayName'] === `${phase} ${id}`) current.add(id);
        }
        const kill = interference.killAfter.get(t.subscriptionId);
        const what = kill !== undefined ? `killed after page ${kill}` : interference.shortDeadline.has(t.subscriptionId) ? 'deadline stop' : undefined;
        return {
          tenantId: t.tenantId,
          connectionId: t.connectionId,
          expected: userIds.length,
          events: mine.length,
          distinct: distinct.size,
          lost: userIds.filter((id) => !current.has(id)).length,
          duplicates: mine.length - distinct.size,
          ...(what === undefined ? {} : { interference: what }),
          allowedDuplicates: kill === undefined ? 0 : PAGE_SIZE,
        };
      });
      const fakeStats = fake.stats();
      let graphCallsSent = 0;
      for (const [route, byStatus] of Object.entries(fakeStats)) if (route !== 'token') for (const n of Object.values(byStatus ?? {})) graphCallsSent += n;
      const objects = changes.length;
      const throttled429 = count429(fakeStats);
      const outcomes: Record<string, number> = {};
      for (const i of served.invocations) outcomes[i.outcome] = (outcomes[i.outcome] ?? 0) + 1;
      const result: PhaseResult = {
        phase,
        rateLimits,
        wallMs: served.wallMs,
        objects,
        objectsPerSecond: objects / (served.wallMs / 1000),
        graphCallsSent,
        graphCallsPer1000Objects: objects === 0 ? 0 : (graphCallsSent * 1000) / objects,
        throttled429,
        throttledPer1000Calls: graphCallsSent === 0 ? 0 : (throttled429 * 1000) / graphCallsSent,
        tokenRequests: fakeStats.token?.['200'] ?? 0,
        lost: counts.reduce((s, c) => s + c.lost, 0),
        duplicates: counts.reduce((s, c) => s + c.duplicates, 0),
        allowedDuplicates: counts.reduce((s, c) => s + c.allowedDuplicates, 0),
        summaries,
        invocations: served.invocations,
        outcomes,
        queue: served.queue,
        governor: served.governor,
        fakeStats,
        tenants: counts,
      };
      log(
        `${phase}: ${objects} events in ${sec(result.wallMs)} (${result.objectsPerSecond.toFixed(0)}/s), ${graphCallsSent} Graph calls, ${throttled429} × 429, ` +
          `lost ${result.lost}, duplicates ${result.duplicates}; invocations ${JSON.stringify(outcomes)}`,
      );
      return result;
    };

    const none: Interference = { killAfter: new Map(), shortDeadline: new Set() };
    // JIT, DynamoDB Local and the emulator warm up on a first round, which would otherwise count against the baseline.
    const warmUp = await runPhase('warm-up', fakeRateLimits(options), none);
    const holdBack = await runPhase('hold-back', false, none);
    const governed = await runPhase('governed', fakeRateLimits(options), none);
    const learning = await runPhase('learning', GRAPH_RATE_LIMITS, none);
    const killAfter = new Map(options.killAfter.map((k, i) => [tenants[i]?.subscriptionId ?? '', k]));
    const shortDeadline = new Set([tenants[options.killAfter.length]?.subscriptionId ?? '']);
    const kill = await runPhase('kill', fakeRateLimits(options), { killAfter, shortDeadline });

    const { phase: _phase, ...measured } = governed;
    const result: ResyncBenchResult = {
      environment: { ...env, loadAverage: { ...(env['loadAverage'] as object), end: loadavg() }, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) },
      options: {
        ...options,
        pageSize: PAGE_SIZE,
        windowSeconds: FAKE_DEFAULTS.windowSeconds,
        maxConcurrency: MAX_CONCURRENCY,
        lambdaTimeoutMs: LAMBDA_TIMEOUT_MS,
        deadlineMarginMs: RESYNC_DEFAULTS.deadlineMarginMs,
        visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
        declaration: DECLARATION,
      },
      minimum,
      ...measured,
      holdBack,
      learning,
      kill,
      warmUp: { wallMs: warmUp.wallMs, objects: warmUp.objects, lost: warmUp.lost, duplicates: warmUp.duplicates },
      targets: [],
      notes: [],
    };
    result.targets = targets(result, total);
    result.notes = notes(result, options);
    process.stdout.write(render(result, total, options));
    const file = await writeResults(result);
    log(`raw numbers: ${relative(process.cwd(), file)} (and bench/results/resync-latest.json)`);
    const failed = [holdBack, governed, learning, kill].some((p) => p.lost > 0 || p.tenants.some((t) => t.duplicates > t.allowedDuplicates));
    if (failed) console.error('bench:resync: objects were lost or duplicated beyond one page per kill');
    return failed ? 1 : 0;
  } catch (error) {
    if (interrupted) {
      console.error('bench:resync interrupted; no results written');
      return 130;
    }
    if (error instanceof BenchAbortError) {
      console.error(`bench:resync ABORTED, the measurement is not valid: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    log('stopping everything the bench started…');
    await resources.stopAll();
  }
}

function targets(r: ResyncBenchResult, total: number): TargetCheck[] {
  const phases = [r.holdBack, { ...r, phase: 'governed' as const }, r.learning, r.kill];
  const lostEverywhere = phases.reduce((s, p) => s + p.lost, 0);
  const killed = r.kill.tenants.filter((t) => t.interference !== undefined);
  const overBound = phases.flatMap((p) => p.tenants.filter((t) => t.duplicates > t.allowedDuplicates));
  return [
    {
      id: 'R1',
      target: 'objects published per second (governed)',
      goal: 'report',
      measured: `${r.objectsPerSecond.toFixed(0)}/s (${r.objects} in ${sec(r.wallMs)}, ${ratio(r.wallMs, r.minimum.minimumMs)} the ${sec(r.minimum.minimumMs)} the limit allows); hold-back ${r.holdBack.objectsPerSecond.toFixed(0)}/s, learning ${r.learning.objectsPerSecond.toFixed(0)}/s`,
      pass: undefined,
    },
    {
      id: 'R2',
      target: 'Graph calls per 1,000 objects (governed)',
      goal: `report (${(1000 / PAGE_SIZE).toFixed(0)} pages of ${PAGE_SIZE} at best)`,
      measured: `${r.graphCallsPer1000Objects.toFixed(1)} (${r.graphCallsSent} calls); hold-back ${r.holdBack.graphCallsPer1000Objects.toFixed(1)}, learning ${r.learning.graphCallsPer1000Objects.toFixed(1)}`,
      pass: undefined,
    },
    {
      id: 'R3',
      target: '429s per 1,000 Graph calls (governed)',
      goal: `< ${THROTTLED_PER_1000_LIMIT}`,
      measured: `${r.throttledPer1000Calls.toFixed(1)} (${r.throttled429}); hold-back ${r.holdBack.throttledPer1000Calls.toFixed(1)} (${r.holdBack.throttled429}), learning ${r.learning.throttledPer1000Calls.toFixed(1)} (${r.learning.throttled429})`,
      pass: r.throttledPer1000Calls < THROTTLED_PER_1000_LIMIT,
    },
    {
      id: 'R4',
      target: 'objects lost (every phase, kills included)',
      goal: '0',
      measured: `${lostEverywhere} of ${total} per phase × ${phases.length} phases`,
      pass: lostEverywhere === 0,
    },
    {
      id: 'R5',
      target: 'duplicates after a kill',
      goal: `≤ one page (${PAGE_SIZE}) per kill`,
      measured: killed.map((t) => `${t.interference}: ${t.duplicates}`).join('; ') + `; other tenants and phases: ${phases.reduce((s, p) => s + p.duplicates, 0) - killed.reduce((s, t) => s + t.duplicates, 0)}`,
      pass: overBound.length === 0,
    },
  ];
}

function notes(r: ResyncBenchResult, options: Options): string[] {
  const out: string[] = [];
  out.push(
    `The fake limits delta queries to ${options.deltaLimit} per ${FAKE_DEFAULTS.windowSeconds} s per app per tenant (windows of ${sec(r.minimum.windowMs)} at timeScale ${options.timeScale}). Deliberately tight: Graph's directory budget per app per tenant is far larger (the governor's default, 1,750 requests / 10 s), and a limit a 10-page round never reaches would measure only the machine; this one stands for a tenant whose budget other work already uses.`,
  );
  out.push(
    'Baseline: the same incremental catch-up with the Graph clients\' hold-back only (no governor), not a full resync: every user changed, so a full round would read and publish the same pages. The question the baseline answers is what pacing costs or saves against meeting 429s.',
  );
  out.push(
    `Kill: the worker throws from onProgress after the page is on the bus and before its checkpoint (so that page is sent again), SQS redelivers the message after the visibility timeout (${VISIBILITY_TIMEOUT_MS / 1000} s here, 30 min deployed) and the run goes on from the checkpoint. The unwinding run releases its lease; a hard kill would leave it until the deadline + 60 s, delaying the resume (busy, asked again after ${RESYNC_DEFAULTS.busyRetrySeconds} s) without changing what is published. The deadline stop gives one run an invocation that leaves about a quarter window of pages; it stops with its checkpoint and asks for itself again (trigger continued).`,
  );
  const killInvocations = r.kill.invocations.filter((i) => i.outcome !== 'completed' || (i.resumed ?? 0) > 0);
  if (killInvocations.length > 0) out.push(`Kill phase invocations other than straight completions: ${killInvocations.map((i) => `${i.trigger}#${i.receives} ${i.outcome}${i.pages === undefined ? '' : ` (pages ${i.pages}, resumed ${i.resumed})`}`).join(', ')}.`);
  out.push(`A governed warm-up round (${sec(r.warmUp.wallMs)}, not counted) comes first: without it the first measured phase pays for JIT and DynamoDB Local warming up (with a limit that never binds, the first of several phases ran at under half the speed of the later ones).`);
  out.push(`Each phase runs in fresh execution environments (new tokens, empty governors); ${MAX_CONCURRENCY} workers, each one environment, as the event source's maxConcurrency allows. Graph calls exclude token requests (${r.tokenRequests} in the governed phase).`);
  return out;
}

function render(r: ResyncBenchResult, total: number, options: Options): string {
  const lines: string[] = [];
  const phases = [r.holdBack, { ...r, phase: 'governed' as const }, r.learning, r.kill];
  lines.push(`\n## Resync: ${total} changed users, ${options.tenants} tenants × ${options.perTenant}, ${options.deltaLimit} delta requests / ${FAKE_DEFAULTS.windowSeconds} s per tenant, timeScale ${options.timeScale}, ${MAX_CONCURRENCY} workers\n`);
  lines.push(
    `Rate-limit minimum (approximate): ${r.minimum.pagesPerTenant} pages per tenant at ${options.deltaLimit} per window of ${sec(r.minimum.windowMs)} = ${r.minimum.windowsPerTenant} window(s) to wait, × ${r.minimum.waves} waves of ${MAX_CONCURRENCY} tenants = ${sec(r.minimum.minimumMs)}.\n`,
  );
  lines.push('### Phases\n');
  lines.push(
    table(
      ['phase', 'wall time', '× minimum', 'objects published', 'objects / s', 'Graph calls', 'calls / 1,000 objects', '429s', 'invocations', 'lost', 'duplicates (allowed)', 'paced calls (wait)'],
      phases.map((p) => [
        p.phase,
        sec(p.wallMs),
        ratio(p.wallMs, r.minimum.minimumMs),
        String(p.objects),
        p.objectsPerSecond.toFixed(0),
        String(p.graphCallsSent),
        p.graphCallsPer1000Objects.toFixed(1),
        String(p.throttled429),
        Object.entries(p.outcomes).map(([k, n]) => `${k} ${n}`).join(', '),
        String(p.lost),
        `${p.duplicates} (${p.allowedDuplicates})`,
        p.governor === undefined ? '—' : `${p.governor.pacedCalls} (${sec(p.governor.pacedMs)})`,
      ]),
    ),
  );
  lines.push('\n### Kill phase, by tenant\n');
  lines.push(
    table(
      ['connection', 'interference', 'changed', 'events', 'distinct', 'lost', 'duplicates', 'allowed'],
      r.kill.tenants.map((t) => [t.connectionId, t.interference ?? '—', String(t.expected), String(t.events), String(t.distinct), String(t.lost), String(t.duplicates), String(t.allowedDuplicates)]),
    ),
  );
  lines.push('\n### Graph calls of the governed phase (the fake\'s stats, by route and status)\n');
  lines.push(table(['route', 'status', 'calls'], Object.entries(r.fakeStats).flatMap(([route, byStatus]) => Object.entries(byStatus ?? {}).map(([status, n]) => [route, status, String(n)]))));
  lines.push('\n### Targets\n');
  lines.push(table(['#', 'target', 'goal', 'measured', 'verdict'], r.targets.map((t) => [t.id, t.target, t.goal, t.measured, verdict(t.pass)])));
  const e = r.environment;
  lines.push(`\nMachine: ${String(e['cpuModel'])}, ${String(e['cpus'])} CPUs, ${String(e['totalMemoryGiB'])} GiB, Node ${String(e['node'])}; peak RSS of the bench process ${String(e['peakRssMiB'])} MiB (it hosts the fake and the emulator; DynamoDB Local is a separate Java process).`);
  if (r.notes.length > 0) lines.push(`\nNotes:\n${r.notes.map((n) => `- ${n}`).join('\n')}`);
  return `${lines.join('\n')}\n`;
}

async function writeResults(result: ResyncBenchResult): Promise<string> {
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = String(result.environment['date']).replace(/[:.]/g, '-');
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const file = join(dir, `resync-${stamp}.json`);
  await writeFile(file, text);
  await writeFile(join(dir, 'resync-latest.json'), text);
  return file;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
