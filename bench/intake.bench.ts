/**
 * `npm run bench`: cold path in fresh processes, bundle size, warm latency and calls per request of the intake,
 * measured on the local stack (DynamoDB Local, the AWS emulator). Prints tables, writes bench/results/*.json.
 * Exit code 0 when the measurement ran (missed targets are printed as MISSED), 1 when it could not run.
 *
 * Warm latency (section 3, target 3) is measured against `node --import tsx local/start.ts` (`npm start`) in its
 * own process, talking to the bench's DynamoDB Local directly; calls per request (section 4), the phase breakdown
 * and the I/O floor come from a second stack inside the bench process, behind the counting proxy and the call
 * tracer, whose requests are interleaved round by round with the child's.
 *
 *   npm run bench -- [--only cold,size,warm] [--cold-runs 20] [--cold-warmup 2] [--requests 200] [--warmup 20] [--cache-samples 5]
 *
 * Investigation only: BENCH_NPM_START_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds node flags to the child.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { startDynamoDbProxy } from '../testkit/dynamodb-proxy';
import { startLocalStack } from '../local/stack';
import { REPO_ROOT } from '../testkit/repo-root';
import { buildAndSnapshot } from './bundle';
import { createIoFloor } from './io-floor';
import { runLogic } from './logic';
import { startCallTracer } from './call-tracer';
import { ColdRunError, killRunningChildren, runColdStart, writeColdStartFiles, type ColdVariant } from './cold-start';
import { CHILD_NODE_ARGS_VARIABLE, NPM_START_COMMAND, NpmStartError, startNpmStart } from '../testkit/npm-start';
import { destroyRichAgent, prepareRichJwks, runRich } from './rich';
import { renderReport, writeResults, kb, ms, type BenchResult, type ColdCallsRecord, type Environment, type TargetCheck } from './report';
import { median } from './stats';
import {
  acceptedProblem,
  BenchAbortError,
  callFigures,
  createOutOfProcessWarm,
  createSeeder,
  delta,
  destroyHttpAgent,
  HANDSHAKE_EVENT,
  HANDSHAKE_TOKEN,
  measureProxyOverhead,
  notificationEvent,
  runColdCache,
  runWarm,
  summarizeCalls,
  type CallsSummary,
  type Instruments,
} from './warm';
import { Resources } from './resources';

// Quiet product code in this process and in every child: no log line per request, no EMF metrics on stdout.
process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
/** The environment before the in-process stack adds its endpoints: the base of the `npm start` child's. */
/** The connections-stream poller's GetRecords calls would show up in the per-request DynamoDB counts: off here. */
const LAUNCH_ENV: NodeJS.ProcessEnv = { ...process.env, GRAPH_RELAY_CONNECTIONS_STREAM: 'false' };

const SECTIONS = ['cold', 'size', 'warm', 'rich'] as const;
type Section = (typeof SECTIONS)[number];
const BATCH_SIZES = [1, 10, 100] as const;
const TENANTS = 10;
const ENTRY_LIMIT_BYTES = 700 * 1024;
const COLD_RATIO_LIMIT = 1.5;
const WARM_P99_LIMIT_MS = 100;
/** Minimum sample sizes for a measurement (below them a median or p99 says little); smaller runs are allowed for quick checks but flagged. */
const MIN_COLD_RUNS = 15;
const MIN_WARM_REQUESTS = 200;
/** The JWKS target is per 1,000 requests: measure at least that many rich ones. */
const RICH_MIN_REQUESTS = 1000;
const JWKS_FETCHES_PER_1000_LIMIT = 1;

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Options {
  only: Section[];
  coldRuns: number;
  coldWarmup: number;
  requests: number;
  warmup: number;
  cacheSamples: number;
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        only: { type: 'string', default: SECTIONS.join(',') },
        'cold-runs': { type: 'string', default: '20' },
        'cold-warmup': { type: 'string', default: '2' },
        requests: { type: 'string', default: String(MIN_WARM_REQUESTS) },
        warmup: { type: 'string', default: '20' },
        'cache-samples': { type: 'string', default: '5' },
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
  const only = values.only.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const unknown = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0 || only.length === 0) throw new UsageError(`--only takes a comma-separated list of ${SECTIONS.join(', ')}; got "${values.only}"`);
  return {
    only: only as Section[],
    coldRuns: int('cold-runs', values['cold-runs'], 1),
    coldWarmup: int('cold-warmup', values['cold-warmup'], 0),
    requests: int('requests', values.requests, 1),
    warmup: int('warmup', values.warmup, 0),
    cacheSamples: int('cache-samples', values['cache-samples'], 1),
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

/**
 * The children's environment: the stack's endpoints, names and credentials, without the NODE_* variables that
 * change how node starts. NODE_EXTRA_CA_CERTS in particular makes every node process parse a CA bundle at
 * start-up (tens of ms here), which Lambda's Node 20 runtime does not do unless the function sets it; left in,
 * it would inflate the bare baseline and flatter every ratio.
 */
function childEnvironment(): { env: NodeJS.ProcessEnv; stripped: string[] } {
  const env: NodeJS.ProcessEnv = {};
  const stripped: string[] = [];
  for (const [name, value] of Object.entries(process.env)) {
    if (/^NODE_/.test(name)) stripped.push(name);
    else env[name] = value;
  }
  return { env, stripped };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bench: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const want = (section: Section) => options.only.includes(section);
  const resources = new Resources(log);
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C reaches this process twice (from the terminal and relayed by tsx): only a later one forces the exit.
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt > 2000) process.exit(130);
      return;
    }
    firstSignalAt = Date.now();
    log(`${signal}: stopping children, the local stack and DynamoDB Local… (again to force)`);
    killRunningChildren();
    void resources.stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const result: BenchResult = { environment: environment(), options: { ...options }, targets: [], notes: [] };
  try {
    const workDir = await mkdtemp(join(tmpdir(), 'graph-relay-bench-'));
    resources.add('temporary files', () => rm(workDir, { recursive: true, force: true }));

    // The cold runs import a private copy of the bundle, so a concurrent rebuild of dist/ cannot change it mid-run.
    const bundle = want('cold') || want('size') ? await buildAndSnapshot(join(workDir, 'bundle'), log) : undefined;
    if (want('size')) result.bundle = bundle?.report;

    // The intake reads GRAPH_JWKS_URL once, at its first notification: point it at the local JWKS before any.
    const jwks = want('rich') ? await prepareRichJwks() : undefined;
    if (jwks !== undefined) resources.add('JWKS server', () => jwks.close());

    let instruments: Instruments | undefined;
    let seeder: ReturnType<typeof createSeeder> | undefined;
    let dynamodbEndpoint = '';
    if (want('cold') || want('warm') || want('rich')) {
      log('starting DynamoDB Local (in memory)…');
      const dynamodb = await startDynamoDbLocal();
      resources.add('DynamoDB Local', () => dynamodb.stop());
      // Last resort if the bench dies without reaching its cleanup: stop() sends SIGTERM synchronously.
      process.once('exit', () => void dynamodb.stop());
      dynamodbEndpoint = dynamodb.endpoint;
      const proxy = await startDynamoDbProxy(dynamodb.endpoint);
      resources.add('DynamoDB counting proxy', () => proxy.close());
      const tracer = await startCallTracer(proxy.url);
      resources.add('DynamoDB call tracer', () => tracer.close());
      const stack = await startLocalStack({ dataDir: join(workDir, 'stack'), port: 0, dynamodbEndpoint: tracer.url, connectionsStream: false });
      resources.add('local stack', () => stack.stop());
      instruments = { stack, proxy, tracer };
      seeder = createSeeder(stack.descriptor, dynamodb.endpoint);
      resources.add('seeding clients', () => seeder?.close());
      resources.add('HTTP agent', () => destroyHttpAgent());
      log(`local stack on ${stack.url}; DynamoDB ${dynamodb.endpoint} ← counting proxy ${proxy.url} ← tracer ${tracer.url}`);
    }

    if (want('cold') && bundle !== undefined && instruments !== undefined && seeder !== undefined) {
      const ins = instruments;
      const seeded = await seeder.seed('bench-cold-start', TENANTS);
      const { runnerPath, bareHandlerPath } = await writeColdStartFiles(workDir);
      // The children get the stack's endpoints, table names and credentials (startLocalStack put them in process.env).
      const { env: childEnv, stripped } = childEnvironment();
      if (stripped.length > 0) log(`cold start: removed ${stripped.join(', ')} from the children's environment`);
      result.options['childEnvStripped'] = stripped;
      const calls: ColdCallsRecord[] = [];
      let before = { ddb: ins.proxy.stats(), emu: ins.stack.emulator.stats() };
      const observe = (variant: string): Pick<ColdVariant, 'before' | 'after'> => ({
        before: () => {
          ins.tracer.take();
          before = { ddb: ins.proxy.stats(), emu: ins.stack.emulator.stats() };
        },
        after: (run) => {
          const figures = callFigures(ins.tracer.take());
          calls.push({
            variant,
            round: run.round,
            dynamodb: delta(ins.proxy.stats(), before.ddb),
            emulator: delta(ins.stack.emulator.stats(), before.emu),
            readRounds: figures.readRounds,
            writeRounds: figures.writeRounds,
          });
          ins.stack.emulator.clearEvents();
        },
      });
      const variants: ColdVariant[] = [
        { name: 'bare', handlerPath: bareHandlerPath, spec: () => ({ event: HANDSHAKE_EVENT, expect: { status: 200 } }), ...observe('bare') },
        {
          name: 'intake: handshake',
          handlerPath: bundle.entryPath,
          spec: () => ({ event: HANDSHAKE_EVENT, expect: { status: 200, body: HANDSHAKE_TOKEN } }),
          ...observe('intake: handshake'),
        },
        {
          name: 'intake: 1 notification',
          handlerPath: bundle.entryPath,
          spec: () => ({ event: notificationEvent(seeded, 1), expect: { status: 202 } }),
          check: (child) => acceptedProblem(child.body, 1),
          ...observe('intake: 1 notification'),
        },
      ];
      log(`cold start: ${options.coldRuns} rounds × ${variants.length} handlers (+${options.coldWarmup} warm-up rounds), each a fresh node process`);
      const cold = await runColdStart({ runnerPath, variants, env: childEnv, rounds: options.coldRuns, warmupRounds: options.coldWarmup, log });
      result.cold = { ...cold, calls };
    }

    if (want('warm') && instruments !== undefined && seeder !== undefined) {
      const seeded = await seeder.seed('bench-warm', TENANTS);
      // The latency that counts: the local stack as `npm start` runs it, in its own process, DynamoDB Local directly.
      log(`starting the local stack as \`${NPM_START_COMMAND}\` runs it, in its own process (DynamoDB ${dynamodbEndpoint} directly)…`);
      const npmStart = await startNpmStart({ dataDir: join(workDir, 'npm-start'), dynamodbEndpoint, baseEnv: LAUNCH_ENV, log });
      resources.add('`npm start` child', () => npmStart.stop());
      log(`\`npm start\` child pid ${npmStart.pid} listening on ${npmStart.descriptor.intakeUrl} after ${ms(npmStart.startupMs, 0)}`);
      if (npmStart.extraNodeArgs.length > 0) log(`\`npm start\` child runs with extra node flags ${npmStart.extraNodeArgs.join(' ')} (from ${CHILD_NODE_ARGS_VARIABLE}): an investigation, not a measurement`);
      result.options['npmStartEnv'] = npmStart.env;
      result.options['npmStartExtraNodeArgs'] = npmStart.extraNodeArgs;
      const npmStartSeeder = createSeeder(npmStart.descriptor, npmStart.descriptor.dynamodbEndpoint);
      resources.add('`npm start` seeding clients', () => npmStartSeeder.close());
      const outOfProcess = createOutOfProcessWarm({
        descriptor: npmStart.descriptor,
        seeded: await npmStartSeeder.seed('bench-warm-npm-start', TENANTS),
        sizes: BATCH_SIZES,
        command: NPM_START_COMMAND,
      });
      log('measuring the cost of the bench proxies per DynamoDB call…');
      result.proxyOverhead = await measureProxyOverhead({
        directEndpoint: dynamodbEndpoint,
        proxiedEndpoint: instruments.tracer.url,
        region: instruments.stack.descriptor.region,
        tableName: instruments.stack.descriptor.connectionsTable,
        calls: 200,
      });
      log('measuring the intake logic without I/O…');
      result.logic = await runLogic({ seeded, sizes: BATCH_SIZES, iterations: options.requests, warmup: options.warmup });
      const ioFloor = createIoFloor({ stack: instruments.stack, seeded, proxiedEndpoint: instruments.tracer.url, directEndpoint: dynamodbEndpoint, sizes: BATCH_SIZES });
      resources.add('I/O floor clients', () => ioFloor.close());
      log(
        `warm: ${options.requests} rounds of [in-process stack: handshake floor, ${BATCH_SIZES.join(', ')} notifications; I/O floor; ` +
          `\`npm start\` child: handshake floor, ${BATCH_SIZES.join(', ')} notifications] after ${options.warmup} warm-up rounds`,
      );
      const warm = await runWarm({
        instruments,
        seeded,
        sizes: BATCH_SIZES,
        requests: options.requests,
        warmupRounds: options.warmup,
        eachRound: async (record, round) => {
          await ioFloor.round(record);
          await outOfProcess.round(record, round);
        },
        log,
      });
      result.warmOutOfProcess = await outOfProcess.result(options.requests, options.warmup);
      // Done with the child: stop it now so it takes no CPU during the cold-cache requests.
      await npmStart.stop();
      log(`warm, \`npm start\` child: p50 ${result.warmOutOfProcess.kinds.map((k) => `${k.kind === 'handshake' ? 'floor' : `${k.kind}×`} ${ms(k.latency.p50)}`).join(', ')}; stopped it`);
      result.ioFloor = ioFloor.results();
      result.warm = warm;
      result.warmCalls = {
        steady: warm.kinds.map((k) => summarizeCalls(k.kind, k.size, k.samples.filter((s) => !s.registryRead))),
        all: warm.kinds.map((k) => summarizeCalls(k.kind, k.size, k.samples)),
      };
      log(`cold cache: first request to ${options.cacheSamples} fresh integrations per batch size`);
      const coldCache = await runColdCache({ instruments, seeder, sizes: BATCH_SIZES, perSize: options.cacheSamples, tenants: TENANTS, log });
      result.coldCache = coldCache;
      result.coldCacheCalls = coldCache.kinds.map((k) => summarizeCalls(k.kind, k.size, k.samples));
    }

    if (want('rich') && instruments !== undefined && jwks !== undefined) {
      const stack = instruments.stack;
      result.rich = await runRich({
        descriptor: stack.descriptor,
        dynamodbEndpoint,
        jwks,
        tenants: TENANTS,
        requests: Math.max(options.requests, RICH_MIN_REQUESTS),
        warmup: options.warmup,
        afterEach: () => stack.emulator.clearEvents(),
        log,
      });
      resources.add('rich HTTP agent', () => destroyRichAgent());
      log(`rich: p50 ${ms(result.rich.rich.p50)} vs plain ${ms(result.rich.plain.p50)}; ${result.rich.jwksFetches.total} JWKS fetch(es)`);
    }

    result.environment.loadAverage.end = loadavg();
    result.targets = targets(result);
    result.notes = notes(result, options);
    process.stdout.write(renderReport(result));
    const file = await writeResults(join(REPO_ROOT, 'bench', 'results'), result);
    log(`raw numbers: ${relative(process.cwd(), file)} (and bench/results/latest.json)`);
    return 0;
  } catch (error) {
    if (firstSignalAt !== undefined) {
      console.error('bench interrupted; no results written');
      return 130;
    }
    if (error instanceof BenchAbortError || error instanceof ColdRunError || error instanceof NpmStartError) {
      console.error(`bench ABORTED, the measurement is not valid: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    log('stopping everything the bench started…');
    killRunningChildren();
    await resources.stopAll();
  }
}

function targets(result: BenchResult): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const cold = result.cold;
  const bare = cold?.variants.find((v) => v.name === 'bare');
  const handshake = cold?.variants.find((v) => v.name === 'intake: handshake');
  if (bare !== undefined && handshake !== undefined) {
    const r = handshake.wall.p50 / bare.wall.p50;
    checks.push({
      id: '1',
      target: 'handshake cold path vs bare (median wall, fresh process)',
      goal: `≤ ${COLD_RATIO_LIMIT}×`,
      measured: `${r.toFixed(2)}× (${ms(handshake.wall.p50)} vs ${ms(bare.wall.p50)}; p90 ${(handshake.wall.p90 / bare.wall.p90).toFixed(2)}×)`,
      pass: r <= COLD_RATIO_LIMIT,
    });
  }
  const b = result.bundle;
  if (b !== undefined) {
    checks.push({ id: '2a', target: 'intake entry index.js size', goal: `≤ ${kb(ENTRY_LIMIT_BYTES)}`, measured: `${kb(b.entryBytes)} (folder ${kb(b.totalBytes)})`, pass: b.entryBytes <= ENTRY_LIMIT_BYTES });
    checks.push({
      id: '2b',
      target: 'AWS SDK absent from the entry',
      goal: 'absent',
      measured: `${kb(b.sdkBytesInEntry)} SDK code, ${Object.values(b.entryMarkers).reduce((s, n) => s + n, 0)} marker strings`,
      pass: b.sdkAbsentFromEntry,
    });
  }
  const warm100 = result.warmOutOfProcess?.kinds.find((k) => k.size === 100);
  if (warm100 !== undefined) {
    const inProcess = result.warm?.kinds.find((k) => k.size === 100);
    checks.push({
      id: '3',
      target: 'warm p99, 100-notification batch (`npm start` stack, own process)',
      goal: `< ${WARM_P99_LIMIT_MS} ms`,
      measured:
        `${ms(warm100.latency.p99, 2)} (p50 ${ms(warm100.latency.p50, 2)})` +
        (inProcess === undefined ? '' : `; in-process with proxies: ${ms(inProcess.latency.p99, 2)} (p50 ${ms(inProcess.latency.p50, 2)})`),
      pass: warm100.latency.p99 < WARM_P99_LIMIT_MS,
    });
  }
  const steady = result.warmCalls?.steady.filter((c) => c.size > 0);
  if (steady !== undefined && steady.length > 0) {
    const worst = (pick: (c: CallsSummary) => number) => Math.max(...steady.map(pick));
    const detail = (pick: (c: CallsSummary) => { min: number; max: number }) =>
      steady.map((c) => `${c.size}→${pick(c).max}`).join(', ');
    checks.push({
      id: '4a',
      target: 'DynamoDB read rounds per warm request, any batch size',
      goal: '≤ 1',
      measured: `max ${worst((c) => c.readRoundsMax)} (calls by size ${detail((c) => c.readCalls)})`,
      pass: worst((c) => c.readRoundsMax) <= 1,
    });
    checks.push({
      id: '4b',
      target: 'DynamoDB write rounds per warm request, any batch size',
      goal: '≤ 1',
      measured: `max ${worst((c) => c.writeRoundsMax)} (calls by size ${detail((c) => c.writeCalls)})`,
      pass: worst((c) => c.writeRoundsMax) <= 1,
    });
    const all = [...steady, ...(result.warmCalls?.all.filter((c) => c.size > 0 && c.registryReads > 0) ?? []), ...(result.coldCacheCalls ?? [])];
    const off = all.reduce((sum, c) => sum + c.putEventsOffTarget, 0);
    checks.push({
      id: '4c',
      target: 'PutEvents calls per request (warm and cold cache)',
      goal: '= ceil(events/10)',
      measured: `${steady.map((c) => `${c.size}→${c.putEvents.max}`).join(', ')}; ${off} request(s) off`,
      pass: off === 0,
    });
  }
  const rich = result.rich;
  if (rich !== undefined) {
    checks.push({
      id: '5a',
      target: 'JWKS fetches per 1,000 rich requests while keys are unchanged',
      goal: `≤ ${JWKS_FETCHES_PER_1000_LIMIT}`,
      measured: `${rich.jwksFetchesPer1000.toFixed(2)} (${rich.jwksFetches.total} in ${rich.warmup + rich.requests} requests)`,
      pass: rich.jwksFetchesPer1000 <= JWKS_FETCHES_PER_1000_LIMIT,
    });
    checks.push({
      id: '5b',
      target: 'warm p50 / p99, 10-item rich batch (verify + decrypt) vs the same batch plain',
      goal: 'report',
      measured: `${ms(rich.rich.p50, 2)} / ${ms(rich.rich.p99, 2)} vs ${ms(rich.plain.p50, 2)} / ${ms(rich.plain.p99, 2)}`,
      pass: undefined,
    });
  }
  if (b !== undefined) {
    checks.push({
      id: '5c',
      target: "rich notifications' code on the handshake path",
      goal: '0 KB',
      measured: `${kb(b.richBytes.onHandshakePath)} (${kb(b.richBytes.total)} in the folder)`,
      pass: b.richBytes.onHandshakePath === 0,
    });
  }
  return checks;
}

function notes(result: BenchResult, options: Options): string[] {
  const list: string[] = [];
  if (options.only.includes('cold') && options.coldRuns < MIN_COLD_RUNS) list.push(`only ${options.coldRuns} cold rounds (the issue asks for ≥ ${MIN_COLD_RUNS}): a quick check, not a measurement.`);
  if (options.only.includes('warm') && options.requests < MIN_WARM_REQUESTS) list.push(`only ${options.requests} warm requests per size (the issue asks for ≥ ${MIN_WARM_REQUESTS}): p99 is not meaningful.`);
  const stripped = result.options['childEnvStripped'];
  if (Array.isArray(stripped) && stripped.length > 0) {
    list.push(
      `cold-start children run without ${stripped.join(', ')} from this shell: NODE_EXTRA_CA_CERTS makes every node start parse a CA bundle (about +80 ms per process on this machine), which Lambda's Node 20 runtime does not do by default; left in, it would inflate the bare baseline and flatter the ratios.`,
    );
  }
  const notification = result.cold?.variants.find((v) => v.name === 'intake: 1 notification');
  const bare = result.cold?.variants.find((v) => v.name === 'bare');
  if (notification !== undefined && bare !== undefined) {
    list.push(
      `notification cold path (no target): ${ms(notification.wall.p50)} p50 wall, ${(notification.wall.p50 / bare.wall.p50).toFixed(1)}× bare; ${ms(notification.inProcess.p50)} of it is import + first invocation (SDK chunks, clients, secret and routing reads, publish) against the local stack.`,
    );
  }
  if (result.bundle !== undefined) {
    const top = result.bundle.topPackages[0];
    if (top !== undefined) list.push(`largest package in the bundle: ${top.name} (${kb(top.bytes)} of ${kb(result.bundle.totalBytes)}), all of it off the handshake path.`);
  }
  const outOfProcess = result.warmOutOfProcess;
  if (outOfProcess !== undefined) {
    const extraArgs = (result.options['npmStartExtraNodeArgs'] as string[] | undefined) ?? [];
    list.push(
      `warm latency (section 3, target 3) is the local stack as \`npm start\` runs it: \`${outOfProcess.command}\` in its own process (pid ${outOfProcess.pid}), the intake handler still running from TypeScript source (tsx) behind the local HTTP adapter, with the AWS emulator (which appends every event to events.ndjson) on the child's event loop, DynamoDB Local (Java) reached directly with no proxy, and the HTTP client in the bench process; all of them on the same ${result.environment.cpus} CPUs. ` +
        'The child gets PORT=0, GRAPH_RELAY_QUIET=true, POWERTOOLS_LOG_LEVEL=SILENT, POWERTOOLS_METRICS_DISABLED=true and no NODE_* variables' +
        (extraArgs.length === 0 ? '' : `; it ran with the extra node flags ${extraArgs.join(' ')} (from ${CHILD_NODE_ARGS_VARIABLE}): an investigation run, NOT a measurement`) +
        '; its in-memory event list is cleared between rounds through the emulator control endpoint, outside the timed requests. Compare rows with the handshake floor rather than reading them as Lambda numbers.',
    );
    const expected = outOfProcess.expectedPutEvents;
    const seen = outOfProcess.emulatorCalls['PutEvents'] ?? 0;
    list.push(
      `the \`npm start\` child's emulator counted ${seen} PutEvents call(s) during the measured rounds, ${seen === expected ? 'as' : 'NOT as'} the answers imply (${expected}), and ${outOfProcess.emulatorCalls['GetSecretValue'] ?? 0} GetSecretValue.`,
    );
  }
  if (result.warm !== undefined) {
    list.push(
      'the in-process run (the in-process columns of section 3, the phase and I/O-floor tables, section 4, cold cache) keeps the old setup because it needs the counters: the intake handler from TypeScript source (tsx) inside the bench process, with the HTTP client, the AWS emulator and both DynamoDB proxies (counting proxy, call tracer) on the same event loop. Its requests are interleaved round by round with the `npm start` ones (never concurrent), so both see the same machine load and DynamoDB Local state; the difference between the two is what running everything in one process costs.',
    );
  }
  const mismatched = [...(result.warmCalls?.all ?? []), ...(result.coldCacheCalls ?? [])].reduce((s, c) => s + c.countMismatches, 0);
  if (mismatched > 0) list.push(`${mismatched} request(s) where the counting proxy and the call tracer disagree on the DynamoDB calls: check the raw JSON.`);
  const medianBoot = bare === undefined ? undefined : median(bare.runs.map((r) => r.child.bootMs));
  if (medianBoot !== undefined) list.push(`node's own start-up (child performance.now() at the runner's first line) is ${ms(medianBoot)} at p50 of the bare wall time ${ms(bare?.wall.p50 ?? NaN)}.`);
  return list;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
