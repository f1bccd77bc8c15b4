/**
 * `npm run cost`: what graph-relay costs on AWS per million notifications and per 10,000 subscriptions a month,
 * from this machine's latest benchmark results (`npm run bench:warm`, `npm run bench:renewal`) and the list prices
 * in bench/aws-prices.ts. Prints the tables and writes bench/results/cost-<time>.json and cost-latest.json.
 *
 *   npm run cost [-- --intake <intake-result.json>] [--renewal <renewal-result.json>] [--json]
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import * as z from 'zod';
import { buildEvents, idempotencyKey } from '../shared/events/contract';
import { entrySize } from '../shared/events/publisher';
import { parseNotificationBody } from '../shared/graph/change-notification';
import { RESOURCE_LIFETIMES } from '../shared/graph/subscription-lifetimes';
import { RENEWAL_LIFETIME_FRACTION, RENEWAL_SAFETY_MARGIN_MINUTES } from '../shared/subscriptions/renewal-policy';
import { US_EAST_1_PRICES } from './aws-prices';
import { DEPLOYED } from './cost-inputs';
import { REPO_ROOT } from '../testkit/repo-root';
import {
  compareRegions,
  fixedCostPerMonth,
  intakeCostPerMillion,
  renderCostTable,
  renderRegionComparison,
  renewalCostPerMonth,
  resyncCost,
  secondRegionCostPerMonth,
  type CostTable,
  type ResyncInputs,
  type SecondRegionInputs,
} from './cost-model';

const RESULTS = join(REPO_ROOT, 'bench', 'results');

const USAGE = `Usage: npm run cost -- [--intake <intake-result.json>] [--renewal <renewal-result.json>] [--json]

Cost of graph-relay on AWS per million notifications and per 10,000 subscriptions a month, from the newest
benchmark results in bench/results (npm run bench:warm, npm run bench:renewal) and the prices in bench/aws-prices.ts.
Writes bench/results/cost-<time>.json and cost-latest.json. Exit 2 on bad input or missing results.`;


/**
 * Log bytes per POST. The intake's own "notifications processed" line is 389 bytes (seen in the reliability
 * suite's output); Lambda's START/END/REPORT platform lines and the API access log line are not produced locally
 * and are estimated at 300 and 250 bytes.
 */
const LOG_BYTES_PER_POST = 389 + 300 + 250;

/**
 * A resync of 1,000 objects, until `npm run bench:resync` measures one: Graph's directory delta pages of about 100
 * objects, answered in a few hundred milliseconds, and a user object of about 2 KB in its event (one 64 KB chunk).
 * The Lambda line stays a fraction of a cent even at several times these figures; EventBridge dominates.
 */
const RESYNC_ASSUMED: Omit<ResyncInputs, 'memoryMb' | 'pagesPerJob' | 'archiveMonths'> = {
  objects: 1000,
  objectsPerPage: 100,
  msPerPage: 400,
  sqsRequestsPerJob: 3,
  readUnitsPerJob: 1.5,
  writeUnitsPerPage: 1,
  eventBytes: 2048,
};

/**
 * Receives on the empty resync queue a month: Lambda's SQS event source starts with five pollers, each long-polling
 * 20 s (three receives a minute); an estimate, as AWS does not publish how many pollers an idle queue keeps.
 */
const IDLE_QUEUE_RECEIVES_PER_MONTH = 5 * 3 * 30 * 24 * 60;

/**
 * The second region's assumptions (infra/constructs/webhook-domain.ts, writer-lease.ts): Route 53's ~15 checkers
 * probe each region's GET /health about 30 times a minute at the 30 s interval; one warm intake container answers
 * them and runs the deep checks once per HEALTH_CACHE_SECONDS (10); the heartbeat runs every minute in each region.
 * Durations and log sizes are estimates until a deployed stage measures them.
 */
const MINUTES_PER_MONTH = 30 * 24 * 60;
const SECOND_REGION_ASSUMED = {
  replicatedItemBytes: 1024,
  standbyCustomMetrics: 10,
  healthChecks: 2,
  healthCheckFeatures: 1,
  healthRequestsPerRegion: 30 * MINUTES_PER_MONTH,
  deepChecksPerRegion: (MINUTES_PER_MONTH * 60) / 10,
  healthMs: 2,
  healthLogBytes: 250 + 300,
  heartbeatsPerRegion: MINUTES_PER_MONTH,
  heartbeatMs: 100,
  heartbeatMemoryMb: 256,
  heartbeatLogBytes: 300 + 200,
  /** The writer lease's two alarms (dead letters, failed heartbeats) in each region. */
  writerLeaseAlarmsPerRegion: 2,
} as const;

const latencySchema = z.object({ mean: z.number().positive(), p50: z.number().positive() });
const intakeResultSchema = z.object({
  environment: z.object({ date: z.string(), git: z.object({ commit: z.string() }).optional() }),
  warm: z.object({ kinds: z.array(z.object({ kind: z.string(), size: z.number().int(), latency: latencySchema })) }),
});
const renewalResultSchema = z.object({
  environment: z.object({ date: z.string() }),
  wallMs: z.number().positive(),
  graphCalls: z.object({ patch200: z.number().int().positive() }),
  end: z.object({ eventsOnBus: z.number().int() }),
});

class CostInputError extends Error {}

async function newest(prefix: string, accept: (json: unknown) => boolean): Promise<string> {
  const names = (await readdir(RESULTS).catch(() => [] as string[])).filter((n) => n.startsWith(prefix) && /\d{4}-\d{2}-\d{2}T/.test(n)).sort().reverse();
  for (const name of names) {
    const path = join(RESULTS, name);
    if (accept(JSON.parse(await readFile(path, 'utf8')))) return path;
  }
  throw new CostInputError(`no ${prefix}*.json result with the figures needed in ${RESULTS}: run ${prefix === 'intake-' ? 'npm run bench:warm' : 'npm run bench:renewal'} first`);
}

async function load<T>(path: string, schema: z.ZodType<T>): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CostInputError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CostInputError(`${path} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new CostInputError(`${path} is not a benchmark result this model reads: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** Bytes of the event a typical Graph notification becomes (Microsoft's documented example payload). */
async function measuredEventBytes(): Promise<number> {
  const body = await readFile(join(REPO_ROOT, 'test', 'fixtures', 'graph-docs', 'webhooks-message-created-basic.json'), 'utf8');
  const notification = parseNotificationBody(body).notifications[0]?.notification;
  if (notification === undefined) throw new CostInputError('the Graph example payload has no valid notification');
  const [event] = buildEvents({
    source: 'graph-relay',
    provider: 'microsoft-oauth2-cc',
    integrationId: 'contoso-graph',
    notification,
    idempotencyKey: idempotencyKey('contoso-graph', notification),
    connectionIds: ['contoso-tenant-1'],
    receivedAt: new Date().toISOString(),
  });
  if (event === undefined) throw new CostInputError('no event built');
  const entry: PutEventsRequestEntry = { Source: event.source, DetailType: event.detailType, Detail: JSON.stringify(event.detail), EventBusName: 'graph-relay-prod' };
  return entrySize(entry);
}

async function main(): Promise<number> {
  let values: { intake?: string; renewal?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { intake: { type: 'string' }, renewal: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } }));
  } catch (error) {
    throw new CostInputError(`${error instanceof Error ? error.message : String(error)}; see npm run cost -- --help`);
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const intakePath = values.intake ?? (await newest('intake-', (j) => intakeResultSchema.safeParse(j).success));
  const renewalPath = values.renewal ?? (await newest('renewal-', (j) => renewalResultSchema.safeParse(j).success));
  const intake = await load(intakePath, intakeResultSchema);
  const renewal = await load(renewalPath, renewalResultSchema);
  const prices = US_EAST_1_PRICES;
  const eventBytes = await measuredEventBytes();

  const intakeTables: CostTable[] = [];
  for (const kind of intake.warm.kinds.filter((k) => k.size > 0).sort((a, b) => a.size - b.size)) {
    intakeTables.push(
      intakeCostPerMillion(prices, {
        batchSize: kind.size,
        durationMs: kind.latency.mean,
        memoryMb: DEPLOYED.intakeMemoryMb,
        connectionsPerNotification: 1,
        eventBytes,
        logBytesPerPost: LOG_BYTES_PER_POST,
        archiveMonths: DEPLOYED.archiveMonths,
        logMonths: DEPLOYED.logMonths,
        markerReadUnits: 1,
        markerWriteUnits: 1,
        // The worst case: no route cached (a 50,000-tenant integration under random traffic, bench:scale).
        routeReadUnits: 1,
      }),
    );
  }

  const msPerRenewal = renewal.wallMs / renewal.graphCalls.patch200;
  const eventsPerRenewal = renewal.end.eventsOnBus / renewal.graphCalls.patch200;
  const kinds = ['user, group and other directory resources', 'Outlook message/event/contact', 'presence'];
  const renewalTables = kinds.map((kind) => {
    const lifetime = RESOURCE_LIFETIMES.find((l) => l.kind === kind);
    if (lifetime === undefined) throw new CostInputError(`no lifetime for ${kind}`);
    return renewalCostPerMonth(
      prices,
      {
        subscriptions: 10_000,
        lifetimeMinutes: lifetime.maxMinutes,
        renewalIntervalMinutes: DEPLOYED.renewalIntervalMinutes,
        lifetimeFraction: RENEWAL_LIFETIME_FRACTION,
        safetyMarginMinutes: RENEWAL_SAFETY_MARGIN_MINUTES,
        msPerRenewal,
        memoryMb: DEPLOYED.renewalMemoryMb,
        writeUnitsPerRenewal: 3,
        readUnitsPerRenewal: 0.125,
        eventsPerRenewal,
      },
      kind,
    );
  });
  const resync = resyncCost(prices, {
    ...RESYNC_ASSUMED,
    memoryMb: DEPLOYED.resyncMemoryMb,
    // A job stops starting pages shortly before its timeout; a tenth is left for that.
    pagesPerJob: Math.floor((0.9 * DEPLOYED.resyncTimeoutSeconds * 1000) / RESYNC_ASSUMED.msPerPage),
    archiveMonths: DEPLOYED.archiveMonths,
  });
  const fixed = fixedCostPerMonth(prices, {
    integrations: 1,
    alarms: DEPLOYED.alarms,
    dashboards: DEPLOYED.dashboards,
    kmsKeys: DEPLOYED.kmsKeys,
    customMetrics: DEPLOYED.customMetrics,
    scheduledInvocations: (30 * 24 * 60) / DEPLOYED.renewalIntervalMinutes + (30 * 24 * 60) / DEPLOYED.reconcileIntervalMinutes + (30 * 24 * 60) / DEPLOYED.resyncSweepIntervalMinutes,
    idleQueueReceives: IDLE_QUEUE_RECEIVES_PER_MONTH,
  });

  // The single-region month at the model's scale (the worst-case intake table, Outlook subscriptions), and what
  // a second region adds to it.
  const scheduledInvocations = (30 * 24 * 60) / DEPLOYED.renewalIntervalMinutes + (30 * 24 * 60) / DEPLOYED.reconcileIntervalMinutes + (30 * 24 * 60) / DEPLOYED.resyncSweepIntervalMinutes;
  const monthIntake = intakeTables[0]!;
  const monthRenewal = renewalTables[1]!;
  const renewalWriteUnits = monthRenewal.lines.find((line) => line.unit === 'WRU')?.quantity ?? 0;
  const { writerLeaseAlarmsPerRegion, ...assumed } = SECOND_REGION_ASSUMED;
  const secondRegionInputs: SecondRegionInputs = {
    ...assumed,
    connectionsTableWriteUnits: renewalWriteUnits + SECOND_REGION_ASSUMED.heartbeatsPerRegion,
    integrations: 1,
    alarms: DEPLOYED.alarms + 2 * writerLeaseAlarmsPerRegion,
    dashboards: DEPLOYED.dashboards,
    kmsKeys: DEPLOYED.kmsKeys,
    standbyScheduledInvocations: scheduledInvocations,
    idleQueueReceives: IDLE_QUEUE_RECEIVES_PER_MONTH,
    intakeMemoryMb: DEPLOYED.intakeMemoryMb,
    logMonths: DEPLOYED.logMonths,
  };
  const secondRegion = secondRegionCostPerMonth(prices, secondRegionInputs);
  const regions = compareRegions(
    `${monthIntake.title}, ${monthRenewal.title}, fixed costs with 1 integration`,
    [monthIntake, monthRenewal, fixed],
    secondRegion,
  );

  const report = {
    generatedAt: new Date().toISOString(),
    prices: { region: prices.region, asOf: prices.asOf, source: prices.source },
    inputs: {
      intakeResult: { path: intakePath, date: intake.environment.date, commit: intake.environment.git?.commit },
      renewalResult: { path: renewalPath, date: renewal.environment.date },
      eventBytes,
      logBytesPerPost: LOG_BYTES_PER_POST,
      msPerRenewal,
      eventsPerRenewal,
      deployed: DEPLOYED,
      resyncAssumed: RESYNC_ASSUMED,
      secondRegion: secondRegionInputs,
    },
    perMillionNotifications: intakeTables,
    per10kSubscriptionsMonth: renewalTables,
    per1000ResyncObjects: resync,
    fixedMonthly: fixed,
    secondRegionMonthly: secondRegion,
    singleVsMultiRegionMonthly: regions,
  };
  await mkdir(RESULTS, { recursive: true });
  const stamp = report.generatedAt.replace(/[:.]/g, '-');
  await writeFile(join(RESULTS, `cost-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(RESULTS, 'cost-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  console.log(`graph-relay cost model: ${prices.region} list prices as of ${prices.asOf} (bench/aws-prices.ts), no free tier`);
  console.log(`intake durations from ${intakePath} (${intake.environment.date}); renewal from ${renewalPath} (${renewal.environment.date})`);
  console.log(`event ${eventBytes} bytes; ${msPerRenewal.toFixed(2)} ms of renewal function time per renewal; ${LOG_BYTES_PER_POST} log bytes per POST\n`);
  for (const t of [...intakeTables, ...renewalTables, resync, fixed, secondRegion]) console.log(`${renderCostTable(t)}\n`);
  console.log(`${renderRegionComparison(regions)}\n`);
  console.log(`written to ${join(RESULTS, 'cost-latest.json')}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`cost: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof CostInputError ? 2 : 1);
  },
);
