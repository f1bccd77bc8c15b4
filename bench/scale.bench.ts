/**
 * `npm run bench:scale`: does the intake's cost per request stay flat as an integration grows from 10 to 50,000
 * tenants? One local stack (`npm start`'s code path, in its own process) on DynamoDB Local (data on /dev/shm when
 * it exists) behind a counting proxy (bench/scale-proxy.ts); integrations of 10, 1,000, 10,000 and 50,000 tenants
 * (one connection per tenant, three subscriptions each) written in bulk with BatchWriteItem, secrets set with
 * `graph-relay --local integrations put`, route items built by `graph-relay --local migrate` (timed). Then, side by
 * side in one run:
 *
 * 1. first POST per integration right after a restart of the stack (every cache cold), over several restarts
 *    (a small extra integration takes the process's own first request, so each measured POST pays only for its
 *    integration's cold caches), median per integration;
 * 2. warm p50/p99 per integration, single-notification POSTs to random tenants and subscriptions, interleaved;
 * 3. DynamoDB read units (the 202 body's `readUnits`, cross-checked against ConsumedCapacity seen by the proxy),
 *    DynamoDB read calls and Secrets Manager GetSecretValue calls per request, cold and warm;
 * 4. RSS of the stack process after POSTs to random unknown integration ids (and the reads they caused), and
 *    before/during/after a sweep posting one notification to every tenant of the largest integration;
 * 5. the handshake (`?validationToken=`, no I/O) as the machine's floor, interleaved with the above.
 *
 *   npm run bench:scale -- [--scale full|small] [--restarts 5] [--warm-requests 500] [--unknown 10000] [--concurrency 8] [--sweep-batch 10]
 *
 * --sweep-batch: notifications per POST in the sweep (each for another tenant; 1 for single-notification POSTs,
 * about 5 times slower). Memory depends on the routes touched, not on the number of POSTs.
 *
 * Prints tables and writes bench/results/scale-<timestamp>.json and scale-latest.json. Exit 0 when the measurement
 * ran (missed targets are printed as MISSED), 1 when it could not run, 2 on a bad command line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import type { LocalStackDescriptor } from '../local/descriptor';
import { INTAKE_DEFAULTS } from '../shared/config/intake-config';
import { ENV } from '../shared/config/env-names';
import { REPO_ROOT } from '../testkit/repo-root';
import { NpmStartError, npmStartEnvironment, startNpmStart, type NpmStartStack } from '../testkit/npm-start';
import { table, verdict, type Environment, type TargetCheck } from './report';
import { Resources } from './resources';
import {
  bulkLoad,
  makeIntegration,
  notificationBody,
  notificationsBody,
  SUBSCRIPTIONS_PER_CONNECTION,
  unknownIntegrationBody,
  type BulkLoadReport,
  type ScaleIntegration,
  type ScaleTenant,
} from './scale-data';
import { startScaleProxy, statsDelta, sumOf, type ScaleProxy, type ScaleProxyStats } from './scale-proxy';
import { elapsedMs, median, summarize, type Summary } from './stats';
import { acceptedProblem, HANDSHAKE_QUERY, HANDSHAKE_TOKEN } from './warm';

const SCALES = { full: [10, 1_000, 10_000, 50_000], small: [10, 100, 1_000, 5_000] } as const;
type Scale = keyof typeof SCALES;
/**
 * The route cache bound the stack runs with: the product default at full scale; at small scale a tenth, so the
 * sweep (5,000 tenants, two entries each) still runs past it.
 */
const CACHE_ENTRIES: Record<Scale, number> = { full: INTAKE_DEFAULTS.routeCacheMaxEntries, small: INTAKE_DEFAULTS.routeCacheMaxEntries / 10 };
/**
 * One route cache entry's heap, as measured (shared/config/intake-config.ts: 20,000 GUID-keyed entries took 26.5 MiB
 * after GC, about 1.4 KB each).
 */
const BYTES_PER_CACHE_ENTRY = 1_400;
const FIRST_POST_RATIO_LIMIT = 1.5;
const READ_UNITS_TOLERANCE = 0.1;
const WARMUP_INTEGRATION = 'scale-warmup';
const WARMUP_TENANTS = 10;
/**
 * POSTs to the warm-up integration after each restart, before the measured first POSTs: the process's own first
 * requests (SDK chunks, clients, JIT, the registry) cost far more than one, and must not fall on a measured one.
 */
const WARMUP_POSTS = 20;
/** RSS samples over the sweep. */
const RSS_SAMPLES = 100;
/** Below this, keeping every route would not show above RSS noise: the memory target is not decided. */
const MIN_DECIDABLE_MIB = 10;
/** Read capacity of one key (items < 4 KB) on DynamoDB: strongly consistent 1, eventually consistent 0.5, found or not. */
const RCU_STRONG = 1;
const RCU_EVENTUAL = 0.5;
const LOAD_CONCURRENCY = 16;
const RSS_CHECKPOINTS = 10;
const MiB = 1024 * 1024;

/** The environment before anything was started: the base of every child's. */
const LAUNCH_ENV: NodeJS.ProcessEnv = { ...process.env };

const log = (line: string): void => {
  process.stderr.write(`[scale] ${line}\n`);
};

class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The measurement cannot be trusted (an answer was wrong, a child failed): reported, no results written. */
class ScaleAbortError extends Error {
  override readonly name = 'ScaleAbortError';
}

interface Options {
  scale: Scale;
  restarts: number;
  warmRequests: number;
  unknown: number;
  concurrency: number;
  sweepBatch: number;
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        scale: { type: 'string', default: 'full' },
        restarts: { type: 'string', default: '5' },
        'warm-requests': { type: 'string', default: '500' },
        unknown: { type: 'string', default: '10000' },
        concurrency: { type: 'string', default: '8' },
        'sweep-batch': { type: 'string', default: '10' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const int = (name: string, text: string, min: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${text}"`);
    return value;
  };
  if (values.scale !== 'full' && values.scale !== 'small') throw new UsageError(`--scale takes full or small, got "${values.scale}"`);
  return {
    scale: values.scale,
    restarts: int('restarts', values.restarts, 1),
    warmRequests: int('warm-requests', values['warm-requests'], 1),
    unknown: int('unknown', values.unknown, 1),
    concurrency: int('concurrency', values.concurrency, 1),
    sweepBatch: int('sweep-batch', values['sweep-batch'], 1),
  };
}

function environment(): Environment {
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
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

interface Answer {
  status: number;
  body: string;
  ms: number;
}

const sequentialAgent = new Agent({ keepAlive: true, maxSockets: 1 });
let concurrentAgent = new Agent({ keepAlive: true, maxSockets: 8 });

function call(method: string, url: string, body: string | undefined, agent: Agent = sequentialAgent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: elapsedMs(started) }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function handshake(d: LocalStackDescriptor): Promise<number> {
  const answer = await call('POST', `${d.intakeUrl}/webhook/${WARMUP_INTEGRATION}?${HANDSHAKE_QUERY}`, undefined);
  if (answer.status !== 200 || answer.body !== HANDSHAKE_TOKEN) throw new ScaleAbortError(`handshake answered ${answer.status} ${answer.body.slice(0, 200)}`);
  return answer.ms;
}

/** One fresh notification to a random tenant and subscription of the integration (or the tenant given); checked. */
async function postNotification(d: LocalStackDescriptor, integration: ScaleIntegration, tenantIndex?: number, agent?: Agent): Promise<{ ms: number; readUnits: number }> {
  const index = tenantIndex ?? Math.floor(Math.random() * integration.tenants.length);
  const tenant = integration.tenants[index];
  if (tenant === undefined) throw new ScaleAbortError(`no tenant ${index} in ${integration.integrationId}`);
  const body = notificationBody(integration, tenant, Math.floor(Math.random() * SUBSCRIPTIONS_PER_CONNECTION));
  const answer = await call('POST', `${d.intakeUrl}/webhook/${integration.integrationId}`, body, agent);
  if (answer.status !== 202) throw new ScaleAbortError(`POST to ${integration.integrationId} answered ${answer.status} ${answer.body.slice(0, 300)}; expected 202`);
  const problem = acceptedProblem(answer.body, 1);
  if (problem !== undefined) throw new ScaleAbortError(`POST to ${integration.integrationId} (tenant ${tenant.tenantId}): ${problem}`);
  const readUnits = (JSON.parse(answer.body) as { readUnits?: unknown }).readUnits;
  if (typeof readUnits !== 'number') throw new ScaleAbortError(`the 202 body has no readUnits: ${answer.body.slice(0, 300)}`);
  return { ms: answer.ms, readUnits };
}

/** One POST with a fresh notification for each tenant given (by index); checked: all published once. */
async function postBatch(d: LocalStackDescriptor, integration: ScaleIntegration, tenantIndexes: readonly number[], agent: Agent): Promise<{ ms: number; readUnits: number }> {
  const tenants = tenantIndexes.map((i) => integration.tenants[i] as ScaleTenant);
  const answer = await call('POST', `${d.intakeUrl}/webhook/${integration.integrationId}`, notificationsBody(integration, tenants), agent);
  if (answer.status !== 202) throw new ScaleAbortError(`POST of ${tenants.length} to ${integration.integrationId} answered ${answer.status} ${answer.body.slice(0, 300)}; expected 202`);
  const problem = acceptedProblem(answer.body, tenants.length);
  if (problem !== undefined) throw new ScaleAbortError(`POST of ${tenants.length} to ${integration.integrationId}: ${problem}`);
  return { ms: answer.ms, readUnits: Number((JSON.parse(answer.body) as { readUnits?: unknown }).readUnits) };
}

async function emulatorControl(d: LocalStackDescriptor, method: 'GET' | 'DELETE', path: string): Promise<string> {
  const answer = await call(method, `${d.awsEmulatorEndpoint}${path}`, undefined, concurrentAgent);
  if (answer.status !== 200) throw new ScaleAbortError(`${method} ${path} answered ${answer.status} ${answer.body.slice(0, 200)}`);
  return answer.body;
}

const emulatorStats = async (d: LocalStackDescriptor): Promise<Record<string, number>> => JSON.parse(await emulatorControl(d, 'GET', '/_emulator/stats')) as Record<string, number>;

function emuDelta(after: Record<string, number>, before: Record<string, number>, operation: string): number {
  return (after[operation] ?? 0) - (before[operation] ?? 0);
}

/** Runs `count` tasks with `concurrency` in flight; `task(i)` for i in 0..count-1. */
async function runConcurrent(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next;
        next += 1;
        await task(i);
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Memory

interface Memory {
  rssMiB: number;
  peakMiB: number;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (match === null) throw new ScaleAbortError(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) / 1024;
  };
  return { rssMiB: kib('VmRSS'), peakMiB: kib('VmHWM') };
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

interface CliRun {
  args: string[];
  code: number | null;
  ms: number;
  stdout: string;
  stderr: string;
}

/** `graph-relay --local <args>` as an operator runs it (bin/graph-relay.mjs), against the stack in `dataDir`. */
function runCli(dataDir: string, args: string[], onStderrLine?: (line: string) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const env = npmStartEnvironment(LAUNCH_ENV, { GRAPH_RELAY_DATA_DIR: dataDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'graph-relay.mjs'), '--local', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderr += text;
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onStderrLine?.(line);
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ args, code, ms: elapsedMs(started), stdout, stderr }));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Measurement records

interface RequestRecord {
  ms: number;
  /** From the 202 body. */
  readUnits: number;
  /** Read capacity the proxy saw DynamoDB report during the request. */
  proxyReadUnits: number;
  /**
   * What DynamoDB bills for the keys read: 0.5 per route key (eventually consistent), 1 per redelivery marker
   * (strongly consistent), found or not. DynamoDB Local reports only the items it found (see the notes).
   */
  modelledReadUnits: number;
  /** Read calls other than the registry's (BatchGetItem, GetItem, Query, Scan). */
  readCalls: number;
  registryQueries: number;
  /** Route keys (connections table) the request's BatchGetItem asked for: 0 when its routes were cached. */
  routeKeys: number;
  markerKeys: number;
  calls: Record<string, number>;
  /** GetSecretValue calls during the request (cold rounds only; warm: per phase). */
  getSecretValue?: number;
}

interface StackContext {
  stack: NpmStartStack;
  proxy: ScaleProxy;
  connectionsTable: string;
  deliveriesTable: string;
}

/** A POST whose DynamoDB calls are attributed to it (the proxy is idle before and after). */
async function measuredPost(ctx: StackContext, integration: ScaleIntegration, withSecretCalls: boolean): Promise<RequestRecord> {
  const d = ctx.stack.descriptor;
  await ctx.proxy.idle();
  const emuBefore = withSecretCalls ? await emulatorStats(d) : undefined;
  const before = ctx.proxy.stats();
  const { ms, readUnits } = await postNotification(d, integration);
  await ctx.proxy.idle();
  const delta = statsDelta(ctx.proxy.stats(), before);
  const record: RequestRecord = {
    ms,
    readUnits,
    proxyReadUnits: sumOf(delta.readCapacity),
    modelledReadUnits: (delta.batchGetKeys[ctx.connectionsTable] ?? 0) * RCU_EVENTUAL + (delta.batchGetKeys[ctx.deliveriesTable] ?? 0) * RCU_STRONG,
    readCalls: delta.otherReads,
    registryQueries: delta.registryQueries,
    routeKeys: delta.batchGetKeys[ctx.connectionsTable] ?? 0,
    markerKeys: delta.batchGetKeys[ctx.deliveriesTable] ?? 0,
    calls: delta.calls,
  };
  if (emuBefore !== undefined) record.getSecretValue = emuDelta(await emulatorStats(d), emuBefore, 'GetSecretValue');
  return record;
}

interface RestartRecord {
  round: number;
  order: string[];
  startupMs: number;
  rssAfterStartMiB: number;
  /** The process's first request (handshake: no I/O, no SDK import). */
  firstHandshakeMs: number;
  /** The process's first notification (the warm-up integration): SDK chunks loaded, clients made, registry read. */
  firstNotificationMs: number;
  cold: Record<string, RequestRecord>;
  handshakeMs: number[];
}

interface IntegrationSummary {
  integrationId: string;
  tenants: number;
  cold: {
    firstPostMs: Summary;
    readUnitsMean: number;
    proxyReadUnitsMean: number;
    modelledReadUnitsMean: number;
    readCallsMean: number;
    routeKeysMean: number;
    getSecretValuePerRequest: number;
  };
  warm: {
    latency: Summary;
    readUnitsMean: number;
    proxyReadUnitsMean: number;
    modelledReadUnitsMean: number;
    readCallsMean: number;
    routeKeysMean: number;
    /** Requests whose routes all came from the cache (no route key read). */
    routeCacheHitRate: number;
    /** Read units of the requests that read both route keys (nothing of theirs cached), mean; NaN if none. */
    readUnitsAllMissMean: number;
    modelledReadUnitsAllMissMean: number;
    readUnitsByRouteKeys: Record<string, { requests: number; readUnitsMean: number; modelledReadUnitsMean: number }>;
  };
}

function summarizeIntegration(integration: ScaleIntegration, cold: RequestRecord[], warm: RequestRecord[]): IntegrationSummary {
  const mean = (values: number[]) => (values.length === 0 ? NaN : values.reduce((s, v) => s + v, 0) / values.length);
  const byKeys: Record<string, { requests: number; readUnitsMean: number; modelledReadUnitsMean: number }> = {};
  for (const keys of [...new Set(warm.map((r) => r.routeKeys))].sort()) {
    const list = warm.filter((r) => r.routeKeys === keys);
    byKeys[String(keys)] = { requests: list.length, readUnitsMean: mean(list.map((r) => r.readUnits)), modelledReadUnitsMean: mean(list.map((r) => r.modelledReadUnits)) };
  }
  return {
    integrationId: integration.integrationId,
    tenants: integration.tenants.length,
    cold: {
      firstPostMs: summarize(cold.map((r) => r.ms)),
      readUnitsMean: mean(cold.map((r) => r.readUnits)),
      proxyReadUnitsMean: mean(cold.map((r) => r.proxyReadUnits)),
      modelledReadUnitsMean: mean(cold.map((r) => r.modelledReadUnits)),
      readCallsMean: mean(cold.map((r) => r.readCalls)),
      routeKeysMean: mean(cold.map((r) => r.routeKeys)),
      getSecretValuePerRequest: mean(cold.map((r) => r.getSecretValue ?? NaN)),
    },
    warm: {
      latency: summarize(warm.map((r) => r.ms)),
      readUnitsMean: mean(warm.map((r) => r.readUnits)),
      proxyReadUnitsMean: mean(warm.map((r) => r.proxyReadUnits)),
      modelledReadUnitsMean: mean(warm.map((r) => r.modelledReadUnits)),
      readCallsMean: mean(warm.map((r) => r.readCalls)),
      routeKeysMean: mean(warm.map((r) => r.routeKeys)),
      routeCacheHitRate: warm.length === 0 ? NaN : warm.filter((r) => r.routeKeys === 0).length / warm.length,
      readUnitsAllMissMean: mean(warm.filter((r) => r.routeKeys === 2).map((r) => r.readUnits)),
      modelledReadUnitsAllMissMean: mean(warm.filter((r) => r.routeKeys === 2).map((r) => r.modelledReadUnits)),
      readUnitsByRouteKeys: byKeys,
    },
  };
}

interface ScaleResult {
  environment: Environment;
  options: Options & { routeCacheMaxEntries: number; npmStartEnv?: Record<string, string>; dynamodbDataDir: string; cliCommand: string };
  dataset: { integrations: { integrationId: string; tenants: number; connections: number; subscriptions: number }[]; warmupIntegration: string };
  bulkLoad?: BulkLoadReport;
  secrets?: { integrations: number; ms: number };
  migrate?: { ms: number; report: unknown; dynamodb: ScaleProxyStats; routeItemsExpected: number };
  restarts: RestartRecord[];
  integrations: IntegrationSummary[];
  warm?: {
    rounds: number;
    durationMs: number;
    handshake: Summary;
    getSecretValue: number;
    registryQueries: number;
    requests: number;
    putEvents: number;
  };
  coldHandshake?: Summary;
  unknown?: {
    requests: number;
    concurrency: number;
    durationMs: number;
    statuses: Record<string, number>;
    latency: Summary;
    getSecretValue: number;
    dynamodb: ScaleProxyStats;
    /** The most registry reads the registry's own rules allow in that time (one at most per minRefreshSeconds, plus its refresh). */
    registryQueriesAllowed: number;
    rssBefore: Memory;
    rssAfter: Memory;
  };
  sweep?: {
    integrationId: string;
    tenants: number;
    tenantsPerPost: number;
    posts: number;
    concurrency: number;
    durationMs: number;
    /** Per POST. */
    latency: Summary;
    readUnitsPerNotification: number;
    modelledReadUnitsPerNotification: number;
    readCallsPerPost: number;
    getSecretValue: number;
    rssBefore: Memory;
    /** RSS of the stack process as the sweep went (tenants swept so far). */
    samples: { swept: number; rssMiB: number }[];
    rssAfter: Memory;
    cacheBound: { maxEntries: number; entriesTouched: number; estimatedMiB: number; fullAtTenants: number };
    growth: {
      totalMiB: number;
      /** Up to the point where the cache is full (median of the samples within 5 % of it). */
      whileFillingMiB: number;
      /** From that point to the end. */
      afterFullMiB: number;
      /** The same from the least-squares trend of the samples after that point (less sensitive to one GC). */
      afterFullTrendMiB: number;
      /** What keeping every route after that point would add, at the measured ~1.4 KB per entry. */
      unboundedExtrapolationMiB: number;
    };
  };
  targets: TargetCheck[];
  notes: string[];
  wallMs?: number;
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bench:scale: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const started = process.hrtime.bigint();
  concurrentAgent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const resources = new Resources(log);
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt > 2000) process.exit(130);
      return;
    }
    firstSignalAt = Date.now();
    log(`${signal}: stopping the stack and DynamoDB Local… (again to force)`);
    void resources.stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const sizes = SCALES[options.scale];
  const cacheEntries = CACHE_ENTRIES[options.scale];
  const workDir = await mkdtemp(join(tmpdir(), 'graph-relay-scale-'));
  resources.add('temporary files', () => rm(workDir, { recursive: true, force: true }));
  const shm = existsSync('/dev/shm') ? await mkdtemp('/dev/shm/graph-relay-scale-dynamodb-').catch(() => undefined) : undefined;
  const dynamodbDir = shm ?? join(workDir, 'dynamodb');
  if (shm !== undefined) resources.add('DynamoDB Local data on /dev/shm', () => rm(shm, { recursive: true, force: true }));
  await mkdir(dynamodbDir, { recursive: true });
  const dataDir = join(workDir, 'stack');

  const result: ScaleResult = {
    environment: environment(),
    options: { ...options, routeCacheMaxEntries: cacheEntries, dynamodbDataDir: dynamodbDir, cliCommand: 'node bin/graph-relay.mjs --local …' },
    dataset: { integrations: [], warmupIntegration: WARMUP_INTEGRATION },
    restarts: [],
    integrations: [],
    targets: [],
    notes: [],
  };

  try {
    log(`DynamoDB Local with its data in ${dynamodbDir}…`);
    const dynamodb = await startDynamoDbLocal({ dbPath: dynamodbDir });
    resources.add('DynamoDB Local', () => dynamodb.stop());
    process.once('exit', () => void dynamodb.stop());
    const proxy = await startScaleProxy(dynamodb.endpoint);
    resources.add('DynamoDB counting proxy', () => proxy.close());

    const settings: Record<string, string> = {
      // No scheduled renewal or reconcile, no start-up route backfill: `graph-relay migrate` builds the routes, and
      // nothing but the intake (and the registry) reads DynamoDB while it is measured.
      GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS: '0',
      // The stream pollers would build the routes as the items are written (not the upgrade path measured here)
      // and their GetRecords calls would pass through the counting proxy.
      GRAPH_RELAY_CONNECTIONS_STREAM: 'false',
      [ENV.routeCacheMaxEntries]: String(cacheEntries),
    };
    const startStack = async (): Promise<NpmStartStack> => {
      const next = await startNpmStart({ dataDir, dynamodbEndpoint: proxy.url, baseEnv: LAUNCH_ENV, log, settings });
      resources.add(`\`npm start\` child ${next.pid}`, () => next.stop());
      return next;
    };
    log('starting the local stack (`npm start` in its own process, DynamoDB through the counting proxy)…');
    let stack = await startStack();
    result.options.npmStartEnv = stack.env;
    const d0 = stack.descriptor;
    log(`stack pid ${stack.pid} on ${d0.intakeUrl} after ${(stack.startupMs / 1000).toFixed(1)} s; DynamoDB ${dynamodb.endpoint} ← proxy ${proxy.url}`);

    // Data set.
    const integrations = sizes.map((n) => makeIntegration(`scale-${n}`, n));
    const warmup = makeIntegration(WARMUP_INTEGRATION, WARMUP_TENANTS);
    const all = [warmup, ...integrations];
    result.dataset.integrations = integrations.map((i) => ({
      integrationId: i.integrationId,
      tenants: i.tenants.length,
      connections: i.tenants.length,
      subscriptions: i.tenants.length * SUBSCRIPTIONS_PER_CONNECTION,
    }));

    log(`secrets and integration items: graph-relay --local integrations put <id> --webhook-secret … (${all.length} integrations)…`);
    const secretsStarted = process.hrtime.bigint();
    for (const integration of all) {
      const run = await runCli(dataDir, ['integrations', 'put', integration.integrationId, '--webhook-secret', integration.webhookSecret, '--json']);
      if (run.code !== 0) throw new ScaleAbortError(`graph-relay integrations put ${integration.integrationId} exited ${run.code}: ${run.stderr.trim().slice(-500)}`);
    }
    result.secrets = { integrations: all.length, ms: elapsedMs(secretsStarted) };

    const total = all.reduce((n, i) => n + i.tenants.length, 0);
    log(
      `bulk load: ${total.toLocaleString('en-US')} connections and ${(total * SUBSCRIPTIONS_PER_CONNECTION).toLocaleString('en-US')} subscriptions ` +
        `(${all.map((i) => i.tenants.length.toLocaleString('en-US')).join(' + ')} tenants) with BatchWriteItem, ${LOAD_CONCURRENCY} calls in flight, straight to DynamoDB Local…`,
    );
    result.bulkLoad = await bulkLoad({ endpoint: dynamodb.endpoint, region: d0.region, tableName: d0.connectionsTable, integrations: all, concurrency: LOAD_CONCURRENCY, log });
    log(`bulk load: ${result.bulkLoad.items.toLocaleString('en-US')} items in ${(result.bulkLoad.ms / 1000).toFixed(1)} s (${result.bulkLoad.calls} calls, ${result.bulkLoad.retries} retried)`);

    // The upgrade: route items from the connection items.
    log('graph-relay --local migrate (timed; its DynamoDB calls go through the counting proxy)…');
    proxy.reset();
    const migrate = await runCli(dataDir, ['migrate', '--json'], (line) => log(`  ${line}`));
    await proxy.idle();
    if (migrate.code !== 0) throw new ScaleAbortError(`graph-relay migrate exited ${migrate.code}: ${migrate.stderr.trim().slice(-800)}`);
    let migrateReport: { routes?: { added?: number; removed?: number; connectionsScanned?: number; invalidConnections?: number } };
    try {
      migrateReport = JSON.parse(migrate.stdout) as typeof migrateReport;
    } catch {
      throw new ScaleAbortError(`graph-relay migrate --json printed no JSON: ${migrate.stdout.slice(0, 300)}`);
    }
    result.migrate = { ms: migrate.ms, report: migrateReport, dynamodb: proxy.stats(), routeItemsExpected: total };
    log(`migrate: ${(migrate.ms / 1000).toFixed(1)} s; ${JSON.stringify(migrateReport.routes)}`);
    if (migrateReport.routes?.added !== total) {
      result.notes.push(`migrate added ${migrateReport.routes?.added} route memberships, not the ${total} connections written: check the raw JSON.`);
    }

    // Cold: restart, then the first POST per integration.
    const coldRecords = new Map<string, RequestRecord[]>(integrations.map((i) => [i.integrationId, []]));
    const coldHandshakes: number[] = [];
    for (let round = 0; round < options.restarts; round += 1) {
      await stack.stop();
      stack = await startStack();
      const d = stack.descriptor;
      const ctx: StackContext = { stack, proxy, connectionsTable: d.connectionsTable, deliveriesTable: d.deliveriesTable };
      const rssAfterStartMiB = memoryOf(stack.pid).rssMiB;
      const firstHandshakeMs = await handshake(d);
      const firstNotificationMs = (await postNotification(d, warmup)).ms;
      for (let i = 1; i < WARMUP_POSTS; i += 1) await postNotification(d, warmup);
      await handshake(d);
      await proxy.idle();
      // Each integration takes each position in turn.
      const order = integrations.map((_, i) => integrations[(i + round) % integrations.length] as ScaleIntegration);
      const record: RestartRecord = { round, order: order.map((i) => i.integrationId), startupMs: stack.startupMs, rssAfterStartMiB, firstHandshakeMs, firstNotificationMs, cold: {}, handshakeMs: [] };
      for (const integration of order) {
        const h = await handshake(d);
        record.handshakeMs.push(h);
        coldHandshakes.push(h);
        const r = await measuredPost(ctx, integration, true);
        record.cold[integration.integrationId] = r;
        coldRecords.get(integration.integrationId)?.push(r);
      }
      result.restarts.push(record);
      log(
        `restart ${round + 1}/${options.restarts} (pid ${stack.pid}, up in ${(stack.startupMs / 1000).toFixed(1)} s; first handshake ${firstHandshakeMs.toFixed(1)} ms, ` +
          `first notification ${firstNotificationMs.toFixed(0)} ms): first POST ${order.map((i) => `${i.tenants.length}→${record.cold[i.integrationId]?.ms.toFixed(1)} ms/${record.cold[i.integrationId]?.readUnits} RU`).join(', ')}`,
      );
    }
    result.coldHandshake = summarize(coldHandshakes);

    // Warm, in the last restarted process.
    const d = stack.descriptor;
    const ctx: StackContext = { stack, proxy, connectionsTable: d.connectionsTable, deliveriesTable: d.deliveriesTable };
    const warmRecords = new Map<string, RequestRecord[]>(integrations.map((i) => [i.integrationId, []]));
    const warmHandshakes: number[] = [];
    log(`warm: ${options.warmRequests} rounds of [handshake, one POST per integration] in rotating order, random tenants and subscriptions…`);
    await emulatorControl(d, 'DELETE', '/_emulator/events');
    const warmEmuBefore = await emulatorStats(d);
    const warmProxyBefore = proxy.stats();
    const warmStarted = process.hrtime.bigint();
    for (let round = 0; round < options.warmRequests; round += 1) {
      const rotated = integrations.map((_, i) => integrations[(i + round) % integrations.length] as ScaleIntegration);
      const order = round % 2 === 1 ? rotated.reverse() : rotated;
      warmHandshakes.push(await handshake(d));
      for (const integration of order) warmRecords.get(integration.integrationId)?.push(await measuredPost(ctx, integration, false));
      if ((round + 1) % 100 === 0 || round + 1 === options.warmRequests) {
        await emulatorControl(d, 'DELETE', '/_emulator/events');
        log(
          `warm: ${round + 1}/${options.warmRequests}; p50 ${integrations.map((i) => `${i.tenants.length}→${median((warmRecords.get(i.integrationId) ?? []).map((r) => r.ms)).toFixed(1)} ms`).join(', ')}; handshake ${median(warmHandshakes).toFixed(2)} ms`,
        );
      }
    }
    const warmDurationMs = elapsedMs(warmStarted);
    const warmEmuAfter = await emulatorStats(d);
    const warmProxy = statsDelta(proxy.stats(), warmProxyBefore);
    const warmRequests = options.warmRequests * integrations.length;
    result.warm = {
      rounds: options.warmRequests,
      durationMs: warmDurationMs,
      handshake: summarize(warmHandshakes),
      getSecretValue: emuDelta(warmEmuAfter, warmEmuBefore, 'GetSecretValue'),
      registryQueries: warmProxy.registryQueries,
      requests: warmRequests,
      putEvents: emuDelta(warmEmuAfter, warmEmuBefore, 'PutEvents'),
    };
    result.integrations = integrations.map((i) => summarizeIntegration(i, coldRecords.get(i.integrationId) ?? [], warmRecords.get(i.integrationId) ?? []));

    // Unknown integration ids: answered from the registry in memory.
    log(`unknown ids: ${options.unknown.toLocaleString('en-US')} POSTs to random unknown integration ids, ${options.concurrency} in flight…`);
    await emulatorControl(d, 'DELETE', '/_emulator/events');
    await new Promise((r) => setTimeout(r, 1000));
    const unknownRssBefore = memoryOf(stack.pid);
    await proxy.idle();
    const unknownEmuBefore = await emulatorStats(d);
    const unknownProxyBefore = proxy.stats();
    const statuses: Record<string, number> = {};
    const unknownMs: number[] = [];
    const unknownStarted = process.hrtime.bigint();
    await runConcurrent(options.unknown, options.concurrency, async () => {
      const id = `unknown-${randomBytes(8).toString('hex')}`;
      const answer = await call('POST', `${d.intakeUrl}/webhook/${id}`, unknownIntegrationBody(), concurrentAgent);
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      unknownMs.push(answer.ms);
    });
    const unknownDurationMs = elapsedMs(unknownStarted);
    await proxy.idle();
    const unknownProxy = statsDelta(proxy.stats(), unknownProxyBefore);
    const unknownEmuAfter = await emulatorStats(d);
    await new Promise((r) => setTimeout(r, 1000));
    const unknownRssAfter = memoryOf(stack.pid);
    const minRefresh = INTAKE_DEFAULTS.registryMinRefreshSeconds;
    const refresh = Number(stack.env[ENV.registryRefreshSeconds] ?? INTAKE_DEFAULTS.registryRefreshSeconds);
    result.unknown = {
      requests: options.unknown,
      concurrency: options.concurrency,
      durationMs: unknownDurationMs,
      statuses,
      latency: summarize(unknownMs),
      getSecretValue: emuDelta(unknownEmuAfter, unknownEmuBefore, 'GetSecretValue'),
      dynamodb: unknownProxy,
      registryQueriesAllowed: Math.ceil(unknownDurationMs / 1000 / minRefresh) + Math.ceil(unknownDurationMs / 1000 / refresh) + 1,
      rssBefore: unknownRssBefore,
      rssAfter: unknownRssAfter,
    };
    log(
      `unknown ids: ${JSON.stringify(statuses)} in ${(unknownDurationMs / 1000).toFixed(1)} s; GetSecretValue ${result.unknown.getSecretValue}; ` +
        `registry queries ${unknownProxy.registryQueries}, other reads ${unknownProxy.otherReads}; RSS ${unknownRssBefore.rssMiB.toFixed(1)} → ${unknownRssAfter.rssMiB.toFixed(1)} MiB`,
    );

    // The sweep: one notification to every tenant of the largest integration, in batches of --sweep-batch tenants.
    const largest = integrations[integrations.length - 1] as ScaleIntegration;
    const tenantsCount = largest.tenants.length;
    const batch = options.sweepBatch;
    log(
      `sweep: one notification to each of the ${tenantsCount.toLocaleString('en-US')} tenants of ${largest.integrationId}, random order, ${batch} tenant(s) per POST, ` +
        `${options.concurrency} POSTs in flight; route cache bound ${cacheEntries.toLocaleString('en-US')} entries…`,
    );
    await emulatorControl(d, 'DELETE', '/_emulator/events');
    await new Promise((r) => setTimeout(r, 1000));
    const sweepRssBefore = memoryOf(stack.pid);
    const order = largest.tenants.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i -= 1) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    const batches: number[][] = [];
    for (let i = 0; i < order.length; i += batch) batches.push(order.slice(i, i + batch));
    await proxy.idle();
    const sweepEmuBefore = await emulatorStats(d);
    const sweepProxyBefore = proxy.stats();
    const sweepMs: number[] = [];
    let sweepReadUnits = 0;
    let swept = 0;
    const samples: { swept: number; rssMiB: number }[] = [{ swept: 0, rssMiB: sweepRssBefore.rssMiB }];
    const sampleEvery = Math.max(1, Math.floor(tenantsCount / RSS_SAMPLES));
    const logEvery = Math.ceil(tenantsCount / RSS_CHECKPOINTS);
    let nextSample = sampleEvery;
    let nextLog = logEvery;
    let clearing = false;
    // The emulator keeps delivered events in memory (for tests): cleared every second so they do not count as the intake's.
    const clearTimer = setInterval(() => {
      if (clearing) return;
      clearing = true;
      void emulatorControl(d, 'DELETE', '/_emulator/events')
        .catch(() => undefined)
        .finally(() => (clearing = false));
    }, 1000);
    const sweepStarted = process.hrtime.bigint();
    try {
      await runConcurrent(batches.length, options.concurrency, async (i) => {
        const tenantIndexes = batches[i] as number[];
        const answer = await postBatch(d, largest, tenantIndexes, concurrentAgent);
        sweepMs.push(answer.ms);
        sweepReadUnits += answer.readUnits;
        swept += tenantIndexes.length;
        if (swept >= nextSample || swept === tenantsCount) {
          nextSample += sampleEvery;
          samples.push({ swept, rssMiB: memoryOf(stack.pid).rssMiB });
        }
        if (swept >= nextLog || swept === tenantsCount) {
          nextLog += logEvery;
          log(`sweep: ${swept.toLocaleString('en-US')} / ${tenantsCount.toLocaleString('en-US')} tenants; RSS ${memoryOf(stack.pid).rssMiB.toFixed(1)} MiB; p50 ${median(sweepMs).toFixed(1)} ms per POST`);
        }
      });
    } finally {
      clearInterval(clearTimer);
    }
    const sweepDurationMs = elapsedMs(sweepStarted);
    await proxy.idle();
    const sweepProxy = statsDelta(proxy.stats(), sweepProxyBefore);
    const sweepEmuAfter = await emulatorStats(d);
    await emulatorControl(d, 'DELETE', '/_emulator/events');
    await new Promise((r) => setTimeout(r, 1000));
    const sweepRssAfter = memoryOf(stack.pid);
    samples.push({ swept: tenantsCount, rssMiB: sweepRssAfter.rssMiB });
    // Two entries per tenant (its route and the subscription's): the cache is full after maxEntries / 2 tenants.
    const fullAtTenants = Math.min(tenantsCount, Math.ceil(cacheEntries / 2));
    const afterFull = samples.filter((p) => p.swept >= fullAtTenants);
    const slope = leastSquaresSlope(afterFull.map((p) => [p.swept, p.rssMiB]));
    const rssAtFull = median(samples.filter((p) => Math.abs(p.swept - fullAtTenants) <= tenantsCount * 0.05).map((p) => p.rssMiB));
    result.sweep = {
      integrationId: largest.integrationId,
      tenants: tenantsCount,
      tenantsPerPost: batch,
      posts: batches.length,
      concurrency: options.concurrency,
      durationMs: sweepDurationMs,
      latency: summarize(sweepMs),
      readUnitsPerNotification: sweepReadUnits / tenantsCount,
      readCallsPerPost: sweepProxy.otherReads / batches.length,
      modelledReadUnitsPerNotification:
        ((sweepProxy.batchGetKeys[d.connectionsTable] ?? 0) * RCU_EVENTUAL + (sweepProxy.batchGetKeys[d.deliveriesTable] ?? 0) * RCU_STRONG) / tenantsCount,
      getSecretValue: emuDelta(sweepEmuAfter, sweepEmuBefore, 'GetSecretValue'),
      rssBefore: sweepRssBefore,
      samples,
      rssAfter: sweepRssAfter,
      cacheBound: { maxEntries: cacheEntries, entriesTouched: tenantsCount * 2, estimatedMiB: (cacheEntries * BYTES_PER_CACHE_ENTRY) / MiB, fullAtTenants },
      growth: {
        totalMiB: sweepRssAfter.rssMiB - sweepRssBefore.rssMiB,
        whileFillingMiB: rssAtFull - sweepRssBefore.rssMiB,
        afterFullMiB: sweepRssAfter.rssMiB - rssAtFull,
        afterFullTrendMiB: slope * (tenantsCount - fullAtTenants),
        unboundedExtrapolationMiB: ((tenantsCount - fullAtTenants) * 2 * BYTES_PER_CACHE_ENTRY) / MiB,
      },
    };
    log(`sweep: done in ${(sweepDurationMs / 1000).toFixed(1)} s; RSS ${sweepRssBefore.rssMiB.toFixed(1)} → ${sweepRssAfter.rssMiB.toFixed(1)} MiB (peak ${sweepRssAfter.peakMiB.toFixed(1)})`);

    await stack.stop();
    result.environment.loadAverage.end = loadavg();
    result.wallMs = elapsedMs(started);
    result.targets = targets(result);
    result.notes.push(...notes(result));
    process.stdout.write(render(result));
    const file = await writeScaleResults(join(REPO_ROOT, 'bench', 'results'), result);
    log(`raw numbers: ${relative(process.cwd(), file)} (and bench/results/scale-latest.json); wall time ${(result.wallMs / 1000).toFixed(0)} s`);
    return 0;
  } catch (error) {
    if (firstSignalAt !== undefined) {
      console.error('bench:scale interrupted; no results written');
      return 130;
    }
    if (error instanceof ScaleAbortError || error instanceof NpmStartError) {
      console.error(`bench:scale ABORTED, the measurement is not valid: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    log('stopping everything the bench started…');
    sequentialAgent.destroy();
    concurrentAgent.destroy();
    await resources.stopAll();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Targets, report

/** Slope of the least-squares line through the points (0 for fewer than two distinct x). */
function leastSquaresSlope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [px]) => s + px, 0) / n;
  const my = points.reduce((s, [, py]) => s + py, 0) / n;
  const sxx = points.reduce((s, [px]) => s + (px - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, [px, py]) => s + (px - mx) * (py - my), 0) / sxx;
}

function targets(result: ScaleResult): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const [base] = result.integrations;
  const top = result.integrations[result.integrations.length - 1];
  if (base !== undefined && top !== undefined && base !== top) {
    const r = top.cold.firstPostMs.p50 / base.cold.firstPostMs.p50;
    checks.push({
      id: '1',
      target: `first POST after a restart, ${top.tenants.toLocaleString('en-US')} vs ${base.tenants} tenants (median of ${top.cold.firstPostMs.n} restarts)`,
      goal: `≤ ${FIRST_POST_RATIO_LIMIT}×`,
      measured: `${r.toFixed(2)}× (${top.cold.firstPostMs.p50.toFixed(2)} ms vs ${base.cold.firstPostMs.p50.toFixed(2)} ms; ${result.integrations.map((i) => `${i.tenants}→${i.cold.firstPostMs.p50.toFixed(1)}`).join(', ')})`,
      pass: r <= FIRST_POST_RATIO_LIMIT,
    });
    const within = (value: number, reference: number) => Number.isFinite(value) && Math.abs(value / reference - 1) <= READ_UNITS_TOLERANCE;
    const pair = (reported: number, modelled: number) => `${f(reported)}/${f(modelled)}`;
    checks.push({
      id: '2a',
      target: 'read units per request, cold (nothing cached): reported/billed, by tenants',
      goal: `±${READ_UNITS_TOLERANCE * 100} % of 10`,
      measured: result.integrations.map((i) => `${i.tenants}→${pair(i.cold.readUnitsMean, i.cold.modelledReadUnitsMean)}`).join(', '),
      pass: result.integrations.every((i) => within(i.cold.readUnitsMean, base.cold.readUnitsMean) && within(i.cold.modelledReadUnitsMean, base.cold.modelledReadUnitsMean)),
    });
    const misses = result.integrations.filter((i) => Number.isFinite(i.warm.readUnitsAllMissMean));
    checks.push({
      id: '2b',
      target: 'read units per warm request that reads its routes (route cache miss): reported/billed',
      goal: `±${READ_UNITS_TOLERANCE * 100} % of cold 10`,
      measured: result.integrations.map((i) => `${i.tenants}→${Number.isFinite(i.warm.readUnitsAllMissMean) ? pair(i.warm.readUnitsAllMissMean, i.warm.modelledReadUnitsAllMissMean) : 'none'}`).join(', '),
      pass: misses.length > 0 && misses.every((i) => within(i.warm.readUnitsAllMissMean, base.cold.readUnitsMean) && within(i.warm.modelledReadUnitsAllMissMean, base.cold.modelledReadUnitsMean)),
    });
    checks.push({
      id: '2c',
      target: 'read units per warm request, mean over random tenants (route cache hits included): reported/billed',
      goal: `±${READ_UNITS_TOLERANCE * 100} % of 10`,
      measured: result.integrations.map((i) => `${i.tenants}→${pair(i.warm.readUnitsMean, i.warm.modelledReadUnitsMean)} (hits ${(i.warm.routeCacheHitRate * 100).toFixed(0)} %)`).join(', '),
      pass: result.integrations.every((i) => within(i.warm.readUnitsMean, base.warm.readUnitsMean) && within(i.warm.modelledReadUnitsMean, base.warm.modelledReadUnitsMean)),
    });
  }
  const u = result.unknown;
  if (u !== undefined) {
    // The same answer as a failed clientState: the status never tells which ids exist.
    const refused = u.statuses['403'] ?? 0;
    checks.push({
      id: '3',
      target: `${u.requests.toLocaleString('en-US')} POSTs to random unknown integration ids: Secrets Manager calls, DynamoDB reads beyond the registry's`,
      goal: '0 and 0, all 403',
      measured: `GetSecretValue ${u.getSecretValue}, other DynamoDB reads ${u.dynamodb.otherReads}; registry queries ${u.dynamodb.registryQueries} (its rules allow ≤ ${u.registryQueriesAllowed} in ${(u.durationMs / 1000).toFixed(1)} s); ${refused} × 403`,
      pass: u.getSecretValue === 0 && u.dynamodb.otherReads === 0 && u.dynamodb.registryQueries <= u.registryQueriesAllowed && refused === u.requests,
    });
  }
  const s = result.sweep;
  if (s !== undefined) {
    // Bounded: once the cache is full, RSS stops following the routes touched. The threshold is halfway between
    // "bounded" (no growth) and "every route kept" (the extrapolation), on the least-squares trend of the samples.
    const threshold = s.growth.unboundedExtrapolationMiB / 2;
    const decidable = s.growth.unboundedExtrapolationMiB >= MIN_DECIDABLE_MIB;
    checks.push({
      id: '4',
      target: `stack RSS while sweeping ${s.tenants.toLocaleString('en-US')} tenants, after the route cache is full (${s.cacheBound.maxEntries.toLocaleString('en-US')} entries ≈ ${s.cacheBound.estimatedMiB.toFixed(1)} MiB, at ${s.cacheBound.fullAtTenants.toLocaleString('en-US')} tenants)`,
      goal: decidable ? `trend ≤ +${threshold.toFixed(1)} MiB` : 'bounded (too small to decide)',
      measured:
        `trend ${signed(s.growth.afterFullTrendMiB)} MiB, end-point ${signed(s.growth.afterFullMiB)} MiB over the last ${(s.tenants - s.cacheBound.fullAtTenants).toLocaleString('en-US')} tenants ` +
        `(keeping every route: ≈ +${s.growth.unboundedExtrapolationMiB.toFixed(1)} MiB); RSS ${s.rssBefore.rssMiB.toFixed(1)} → ${s.rssAfter.rssMiB.toFixed(1)} MiB`,
      pass: decidable ? s.growth.afterFullTrendMiB <= threshold : undefined,
    });
  }
  return checks;
}

const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;

function notes(result: ScaleResult): string[] {
  const list: string[] = [];
  const mismatch = result.integrations.filter((i) => Math.abs(i.cold.readUnitsMean - i.cold.proxyReadUnitsMean) > 1e-6 || Math.abs(i.warm.readUnitsMean - i.warm.proxyReadUnitsMean) > 1e-6);
  list.push(
    `read units are given twice: as reported (the 202 body's readUnits, the ConsumedCapacity DynamoDB returned; ${mismatch.length === 0 ? 'the ConsumedCapacity sums the proxy saw agree' : 'the proxy saw other sums, see below'}) and as DynamoDB bills them ` +
      '(0.5 per route key read eventually consistent, 1 per redelivery marker read strongly consistent, found or not; every item < 4 KB). ' +
      'DynamoDB Local reports capacity for the items it finds only, so a marker that is not there (every fresh notification) costs 0 in its figure, which AWS does not do.',
  );
  const [base] = result.integrations;
  if (base !== undefined && Number.isFinite(base.warm.routeCacheHitRate) && base.warm.routeCacheHitRate > 0.3) {
    list.push(
      `warm read units differ by integration only through the route cache: the ${base.tenants}-tenant integration's routes (${base.tenants * (1 + SUBSCRIPTIONS_PER_CONNECTION)} entries) stay cached, so ` +
        `${(base.warm.routeCacheHitRate * 100).toFixed(0)} % of its warm requests read only their redelivery marker, while random tenants of the larger ones mostly miss. ` +
        'A request that reads its routes costs the same at every size (2b); 2c is the mix of hits and misses that random traffic gives.',
    );
  }
  if (mismatch.length > 0) list.push(`the 202 body's readUnits and the ConsumedCapacity the proxy saw differ for ${mismatch.map((i) => i.integrationId).join(', ')}: check the raw JSON.`);
  const w = result.warm;
  if (w !== undefined && w.putEvents !== w.requests) list.push(`the emulator counted ${w.putEvents} PutEvents for ${w.requests} warm single-notification requests.`);
  const s = result.sweep;
  if (s !== undefined && s.tenantsPerPost > 1) {
    list.push(`the sweep posts ${s.tenantsPerPost} notifications (each for another tenant) per POST to keep the run short; memory depends on the routes touched, not on the number of POSTs. --sweep-batch 1 posts them one by one.`);
  }
  list.push(
    `each measured first POST follows ${WARMUP_POSTS} POSTs to a separate ${WARMUP_TENANTS}-tenant integration (${WARMUP_INTEGRATION}), so the process's own first-request costs (SDK chunks, clients, JIT, the registry read) are not counted as an integration's; the process's very first notification is reported on its own.`,
    'every stack runs with GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS=0 (no start-up reconcile or route backfill) and GRAPH_RELAY_CONNECTIONS_STREAM=false (no stream pollers), so the intake and its registry are the only DynamoDB readers while it is measured; ' +
      'its DynamoDB endpoint is the counting proxy in the bench process, which adds its own latency to every call (the same at every size). The stack process also hosts the AWS emulator: its RSS includes it.',
  );
  return list;
}

const f = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const x = (value: number, reference: number) => (Number.isFinite(value / reference) ? `${(value / reference).toFixed(2)}×` : 'n/a');

function render(result: ScaleResult): string {
  const env = result.environment;
  const out: string[] = [];
  out.push(
    `# graph-relay scale bench — ${env.date}`,
    '',
    `node ${env.node} on ${env.platform}/${env.arch}, ${env.cpus} CPU (${env.cpuModel}), ${env.totalMemoryGiB} GiB; load average at start ${env.loadAverage.start.map((l) => l.toFixed(2)).join(' ')}` +
      (env.loadAverage.end === undefined ? '' : `, at end ${env.loadAverage.end.map((l) => l.toFixed(2)).join(' ')}`) +
      (env.git === undefined ? '' : `; git ${env.git.commit.slice(0, 10)}${env.git.dirtyFiles > 0 ? ` (+${env.git.dirtyFiles} uncommitted files)` : ''}`) +
      `; --scale ${result.options.scale}, ${result.options.restarts} restarts, ${result.options.warmRequests} warm POSTs per integration, route cache ${result.options.routeCacheMaxEntries.toLocaleString('en-US')} entries`,
    '',
    '## Targets',
    '',
    table(['#', 'target', 'goal', 'measured', 'result'], result.targets.map((t) => [t.id, t.target, t.goal, t.measured, verdict(t.pass)])),
  );
  const [base] = result.integrations;
  if (base !== undefined) {
    out.push(
      '',
      `## Per integration (× = ratio to ${base.tenants} tenants; RU = read units per request, reported / billed)`,
      '',
      table(
        ['tenants', 'first POST p50', '×', 'warm p50', '×', 'warm p99', '×', 'RU cold', 'RU warm', '× billed', 'RU warm miss', 'route cache hits', 'DDB reads/req cold', 'warm', 'GetSecretValue/req cold'],
        result.integrations.map((i) => [
          i.tenants.toLocaleString('en-US'),
          `${f(i.cold.firstPostMs.p50)} ms`,
          x(i.cold.firstPostMs.p50, base.cold.firstPostMs.p50),
          `${f(i.warm.latency.p50)} ms`,
          x(i.warm.latency.p50, base.warm.latency.p50),
          `${f(i.warm.latency.p99)} ms`,
          x(i.warm.latency.p99, base.warm.latency.p99),
          `${f(i.cold.readUnitsMean)} / ${f(i.cold.modelledReadUnitsMean)}`,
          `${f(i.warm.readUnitsMean)} / ${f(i.warm.modelledReadUnitsMean)}`,
          x(i.warm.modelledReadUnitsMean, base.warm.modelledReadUnitsMean),
          `${f(i.warm.readUnitsAllMissMean)} / ${f(i.warm.modelledReadUnitsAllMissMean)}`,
          `${f(i.warm.routeCacheHitRate * 100, 0)} %`,
          f(i.cold.readCallsMean),
          f(i.warm.readCallsMean),
          f(i.cold.getSecretValuePerRequest),
        ]),
      ),
    );
  }
  const rows: string[][] = [];
  const b = result.bulkLoad;
  if (b !== undefined) {
    rows.push([
      'bulk load (BatchWriteItem straight to DynamoDB Local, 16 in flight)',
      `${b.items.toLocaleString('en-US')} items (${b.connections.toLocaleString('en-US')} connections, ${b.subscriptions.toLocaleString('en-US')} subscriptions) in ${f(b.ms / 1000, 1)} s (${Math.round(b.itemsPerSecond).toLocaleString('en-US')} items/s)`,
    ]);
  }
  const m = result.migrate;
  if (m !== undefined) {
    const routes = (m.report as { routes?: Record<string, unknown> }).routes ?? {};
    rows.push([
      'graph-relay --local migrate',
      `${f(m.ms / 1000, 1)} s wall (CLI start included; ${Math.round(m.routeItemsExpected / (m.ms / 1000)).toLocaleString('en-US')} connections/s); ${String(routes['added'])} memberships added for ${m.routeItemsExpected.toLocaleString('en-US')} connections; ` +
        `DynamoDB calls ${Object.entries(m.dynamodb.calls).map(([op, n]) => `${op} ${n.toLocaleString('en-US')}`).join(', ')}`,
    ]);
  }
  if (result.coldHandshake !== undefined && result.warm !== undefined) {
    rows.push(['handshake floor (no I/O), p50 in the cold rounds / warm', `${f(result.coldHandshake.p50)} ms / ${f(result.warm.handshake.p50)} ms (warm p99 ${f(result.warm.handshake.p99)} ms)`]);
  }
  const firsts = result.restarts;
  if (firsts.length > 0) {
    rows.push([
      'each restart: stack up / first handshake / first notification of the process',
      `${f(median(firsts.map((r) => r.startupMs)) / 1000, 1)} s / ${f(median(firsts.map((r) => r.firstHandshakeMs)))} ms / ${f(median(firsts.map((r) => r.firstNotificationMs)), 0)} ms (medians of ${firsts.length})`,
    ]);
  }
  const w = result.warm;
  if (w !== undefined) rows.push(['warm phase: GetSecretValue / registry queries', `${w.getSecretValue} / ${w.registryQueries} in ${w.requests.toLocaleString('en-US')} POSTs over ${f(w.durationMs / 1000, 1)} s`]);
  const u = result.unknown;
  if (u !== undefined) {
    rows.push([
      `${u.requests.toLocaleString('en-US')} unknown ids (${u.concurrency} in flight)`,
      `${JSON.stringify(u.statuses)} in ${f(u.durationMs / 1000, 1)} s (p50 ${f(u.latency.p50)} ms); GetSecretValue ${u.getSecretValue}; registry queries ${u.dynamodb.registryQueries}; other DynamoDB reads ${u.dynamodb.otherReads}; ` +
        `RSS ${f(u.rssBefore.rssMiB, 1)} → ${f(u.rssAfter.rssMiB, 1)} MiB`,
    ]);
  }
  const s = result.sweep;
  if (s !== undefined) {
    rows.push([
      `sweep: ${s.tenants.toLocaleString('en-US')} tenants, ${s.tenantsPerPost} per POST (${s.concurrency} in flight)`,
      `${f(s.durationMs / 1000, 1)} s, per POST p50 ${f(s.latency.p50)} ms, p99 ${f(s.latency.p99)} ms; per notification ${f(s.readUnitsPerNotification)} / ${f(s.modelledReadUnitsPerNotification)} RU; ${f(s.readCallsPerPost)} read calls per POST; GetSecretValue ${s.getSecretValue}`,
    ]);
    const at = (fraction: number) => s.samples.find((p) => p.swept >= s.tenants * fraction);
    const marks = [0.1, 0.2, 0.4, 0.6, 0.8].map((fr) => at(fr)).filter((p): p is { swept: number; rssMiB: number } => p !== undefined);
    rows.push([
      'sweep: stack RSS before → during (tenants swept) → after',
      `${f(s.rssBefore.rssMiB, 1)} → ${marks.map((p) => `${(p.swept / 1000).toFixed(1)}k: ${p.rssMiB.toFixed(1)}`).join(', ')} → ${f(s.rssAfter.rssMiB, 1)} MiB (peak ${f(s.rssAfter.peakMiB, 1)}); ` +
        `growth while the cache fills ${signed(s.growth.whileFillingMiB)} MiB, after ${signed(s.growth.afterFullMiB)} MiB (trend ${signed(s.growth.afterFullTrendMiB)})`,
    ]);
  }
  if (result.wallMs !== undefined) rows.push(['wall time of the whole run', `${f(result.wallMs / 1000, 0)} s (${f(result.wallMs / 60_000, 1)} min)`]);
  out.push('', '## Run', '', table(['what', 'measured'], rows));
  if (result.notes.length > 0) out.push('', '## Notes', '', ...result.notes.map((n) => `- ${n}`));
  out.push('');
  return `${out.join('\n')}\n`;
}

async function writeScaleResults(dir: string, result: ScaleResult): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = result.environment.date.replace(/[:.]/g, '-');
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const file = join(dir, `scale-${stamp}.json`);
  await writeFile(file, text);
  await writeFile(join(dir, 'scale-latest.json'), text);
  return file;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench:scale failed:', error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
