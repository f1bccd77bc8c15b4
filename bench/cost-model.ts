/**
 * What graph-relay costs to run on AWS, from measured figures (benchmark durations, calls and sizes) and list
 * prices (bench/aws-prices.ts). Pure functions: `npm run cost` (bench/cost.ts) feeds them the latest benchmark
 * results and prints the tables; test/unit/cost-model.test.ts checks the arithmetic.
 */
import type { AwsPrices } from './aws-prices';

export interface CostLine {
  item: string;
  quantity: number;
  unit: string;
  usd: number;
  /** Where the quantity comes from: `measured`, or the assumption it rests on. */
  basis: string;
}

export interface CostTable {
  title: string;
  lines: CostLine[];
  totalUsd: number;
}

const MILLION = 1_000_000;
const GB = 1_000_000_000;
/** EventBridge bills each 64 KB chunk of an entry as one event. */
const EVENT_CHUNK_BYTES = 64 * 1024;
const MINUTES_PER_MONTH = 30 * 24 * 60;

function table(title: string, lines: CostLine[]): CostTable {
  return { title, lines, totalUsd: lines.reduce((sum, line) => sum + line.usd, 0) };
}

/** Lambda bills duration rounded up to the millisecond, at the configured memory. */
export function lambdaGbSeconds(durationMs: number, memoryMb: number): number {
  return (Math.ceil(durationMs) / 1000) * (memoryMb / 1024);
}

export interface IntakeInputs {
  /** Notifications per POST Graph sends (Graph batches notifications; 1 is the worst case). */
  batchSize: number;
  /** Measured mean duration of one POST of `batchSize` notifications, ms. */
  durationMs: number;
  /** The intake function's configured memory (infra stage config). */
  memoryMb: number;
  /** Connections each notification is routed to (one event each). */
  connectionsPerNotification: number;
  /** Bytes of one published event (measured from the event contract). */
  eventBytes: number;
  /** Log bytes written per POST: the intake's own line, Lambda's platform lines, the API access log line. */
  logBytesPerPost: number;
  /** Months an event stays in the archive / a log line in CloudWatch Logs (stage config). */
  archiveMonths: number;
  logMonths: number;
  /** DynamoDB units per notification for its redelivery marker: one strongly consistent read (1 RRU, item < 4 KB) and one write (1 WRU). */
  markerReadUnits: number;
  markerWriteUnits: number;
  /**
   * DynamoDB units per notification for its routes, read only when the intake's route cache lacks them: the
   * subscription item and the tenant route item, each an eventually consistent read of an item < 4 KB (0.5 RRU).
   * 0 when every route is cached; 1 when none is (random traffic over more tenants than the cache holds).
   */
  routeReadUnits: number;
}

/** Cost of one million notifications through the intake, by line. */
export function intakeCostPerMillion(prices: AwsPrices, input: IntakeInputs): CostTable {
  const posts = MILLION / input.batchSize;
  const events = MILLION * input.connectionsPerNotification;
  const billedEvents = events * Math.ceil(input.eventBytes / EVENT_CHUNK_BYTES);
  const gbSeconds = posts * lambdaGbSeconds(input.durationMs, input.memoryMb);
  const archiveGb = (events * input.eventBytes) / GB;
  const logGb = (posts * input.logBytesPerPost) / GB;
  return table(`1,000,000 notifications, ${input.batchSize} per POST, ${input.connectionsPerNotification} connection each`, [
    { item: 'API Gateway HTTP API requests', quantity: posts, unit: 'requests', usd: (posts / MILLION) * prices.httpApiPerMillionRequests, basis: `${input.batchSize} notifications per POST` },
    { item: 'Lambda requests (intake)', quantity: posts, unit: 'invocations', usd: (posts / MILLION) * prices.lambdaPerMillionRequests, basis: 'one per POST' },
    { item: 'Lambda duration (intake)', quantity: gbSeconds, unit: 'GB-s', usd: gbSeconds * prices.lambdaArmPerGbSecond, basis: `measured ${input.durationMs.toFixed(1)} ms per POST at ${input.memoryMb} MB` },
    { item: 'DynamoDB marker reads', quantity: MILLION * input.markerReadUnits, unit: 'RRU', usd: ((MILLION * input.markerReadUnits) / MILLION) * prices.dynamoDbPerMillionReadUnits, basis: 'one BatchGetItem key per notification (measured: 1 read round per POST)' },
    { item: 'DynamoDB route reads', quantity: MILLION * input.routeReadUnits, unit: 'RRU', usd: input.routeReadUnits * prices.dynamoDbPerMillionReadUnits, basis: `${input.routeReadUnits} RRU per notification (route cache misses ride in the markers' read round)` },
    { item: 'DynamoDB marker writes', quantity: MILLION * input.markerWriteUnits, unit: 'WRU', usd: ((MILLION * input.markerWriteUnits) / MILLION) * prices.dynamoDbPerMillionWriteUnits, basis: 'one marker item (< 1 KB) per notification' },
    { item: 'EventBridge PutEvents', quantity: billedEvents, unit: 'events', usd: (billedEvents / MILLION) * prices.eventBridgePerMillionEvents, basis: `measured event ${input.eventBytes} bytes (one 64 KB chunk)` },
    { item: 'EventBridge archive', quantity: archiveGb, unit: 'GB', usd: archiveGb * (prices.eventBridgeArchivePerGbProcessed + prices.eventBridgeArchivePerGbMonth * input.archiveMonths), basis: `processed once, kept ${input.archiveMonths} month(s)` },
    { item: 'CloudWatch Logs', quantity: logGb, unit: 'GB', usd: logGb * (prices.cloudWatchLogsPerGbIngested + prices.cloudWatchLogsPerGbMonthStored * input.logMonths), basis: `${input.logBytesPerPost} bytes per POST, kept ${input.logMonths} month(s)` },
  ]);
}

export interface RenewalInputs {
  subscriptions: number;
  /** The resource's maximum lifetime in minutes (shared/graph/subscription-lifetimes.ts). */
  lifetimeMinutes: number;
  /** Minutes between renewal runs (stage config). */
  renewalIntervalMinutes: number;
  /** Renewal is due at this fraction of the granted lifetime, or `safetyMarginMinutes` before expiry, whichever first. */
  lifetimeFraction: number;
  safetyMarginMinutes: number;
  /** Measured renewal function time per renewal, ms (run wall time ÷ renewals, Graph latency and 429 waits included). */
  msPerRenewal: number;
  memoryMb: number;
  /** DynamoDB units per renewal: the subscription item update plus its renewal-index entry moving (delete + put). */
  writeUnitsPerRenewal: number;
  /** The renewal-index Query's share per due item (≈ 1 KB of a 4 KB eventually consistent read unit). */
  readUnitsPerRenewal: number;
  /** Events published per renewal (measured: one SubscriptionRenewed event each). */
  eventsPerRenewal: number;
}

/** Minutes between two renewals of one subscription: due by the policy, but never more often than the schedule runs. */
export function renewalPeriodMinutes(input: Pick<RenewalInputs, 'lifetimeMinutes' | 'renewalIntervalMinutes' | 'lifetimeFraction' | 'safetyMarginMinutes'>): number {
  const due = Math.min(input.lifetimeMinutes * input.lifetimeFraction, input.lifetimeMinutes - input.safetyMarginMinutes);
  return Math.max(due, input.renewalIntervalMinutes);
}

/** Cost of keeping `subscriptions` subscriptions of one resource kind alive for a month. */
export function renewalCostPerMonth(prices: AwsPrices, input: RenewalInputs, kind: string): CostTable {
  const period = renewalPeriodMinutes(input);
  const renewals = input.subscriptions * (MINUTES_PER_MONTH / period);
  const gbSeconds = (renewals * input.msPerRenewal * input.memoryMb) / 1024 / 1000;
  const wru = renewals * input.writeUnitsPerRenewal;
  const rru = renewals * input.readUnitsPerRenewal;
  const events = renewals * input.eventsPerRenewal;
  return table(`${input.subscriptions.toLocaleString('en-US')} ${kind} subscriptions for 30 days (renewed every ${formatMinutes(period)})`, [
    { item: 'Lambda duration (renewal)', quantity: gbSeconds, unit: 'GB-s', usd: gbSeconds * prices.lambdaArmPerGbSecond, basis: `measured ${input.msPerRenewal.toFixed(2)} ms per renewal at ${input.memoryMb} MB; ${Math.round(renewals).toLocaleString('en-US')} renewals` },
    { item: 'DynamoDB writes (renewal)', quantity: wru, unit: 'WRU', usd: (wru / MILLION) * prices.dynamoDbPerMillionWriteUnits, basis: `${input.writeUnitsPerRenewal} WRU per renewal (item + index move)` },
    { item: 'DynamoDB reads (due query)', quantity: rru, unit: 'RRU', usd: (rru / MILLION) * prices.dynamoDbPerMillionReadUnits, basis: `${input.readUnitsPerRenewal} RRU per due item` },
    { item: 'EventBridge PutEvents (renewed events)', quantity: events, unit: 'events', usd: (events / MILLION) * prices.eventBridgePerMillionEvents, basis: 'measured: one event per renewal' },
  ]);
}

export interface ResyncInputs {
  /** Objects a resync publishes (changed objects, or every object of a full resync). */
  objects: number;
  /** Objects per Graph delta page. */
  objectsPerPage: number;
  /** Resync function time per page, ms: the Graph call, publishing the page's events, the checkpoint write. */
  msPerPage: number;
  memoryMb: number;
  /** Pages one invocation gets through before it checkpoints and queues its continuation (function timeout). */
  pagesPerJob: number;
  /** Queue requests per job: its send, the event source's receive and delete. */
  sqsRequestsPerJob: number;
  /** DynamoDB units per job (the subscription record, its connection, the checkpoint: eventually consistent reads). */
  readUnitsPerJob: number;
  /** DynamoDB units per page: the checkpoint update (< 1 KB). */
  writeUnitsPerPage: number;
  /** Bytes of one published event (the object as the delta query returned it, in the event envelope). */
  eventBytes: number;
  archiveMonths: number;
}

/** Cost of publishing `objects` objects through a resync, by line. Graph's delta queries are free on Microsoft's side. */
export function resyncCost(prices: AwsPrices, input: ResyncInputs): CostTable {
  const pages = Math.ceil(input.objects / input.objectsPerPage);
  const jobs = Math.ceil(pages / input.pagesPerJob);
  const sqsRequests = jobs * input.sqsRequestsPerJob;
  const gbSeconds = pages * lambdaGbSeconds(input.msPerPage, input.memoryMb);
  const rru = jobs * input.readUnitsPerJob;
  const wru = pages * input.writeUnitsPerPage;
  const billedEvents = input.objects * Math.ceil(input.eventBytes / EVENT_CHUNK_BYTES);
  const archiveGb = (input.objects * input.eventBytes) / GB;
  return table(`${input.objects.toLocaleString('en-US')} objects published by a resync (${pages} pages of ${input.objectsPerPage}, ${jobs} job${jobs === 1 ? '' : 's'})`, [
    { item: 'SQS requests (resync jobs)', quantity: sqsRequests, unit: 'requests', usd: (sqsRequests / MILLION) * prices.sqsPerMillionRequests, basis: `${input.sqsRequestsPerJob} per job: send, receive, delete` },
    { item: 'Lambda requests (resync)', quantity: jobs, unit: 'invocations', usd: (jobs / MILLION) * prices.lambdaPerMillionRequests, basis: `one per job of up to ${input.pagesPerJob} pages` },
    { item: 'Lambda duration (resync)', quantity: gbSeconds, unit: 'GB-s', usd: gbSeconds * prices.lambdaArmPerGbSecond, basis: `${input.msPerPage} ms per page at ${input.memoryMb} MB` },
    { item: 'DynamoDB reads (resync)', quantity: rru, unit: 'RRU', usd: (rru / MILLION) * prices.dynamoDbPerMillionReadUnits, basis: `${input.readUnitsPerJob} RRU per job: record, connection, checkpoint` },
    { item: 'DynamoDB writes (checkpoints)', quantity: wru, unit: 'WRU', usd: (wru / MILLION) * prices.dynamoDbPerMillionWriteUnits, basis: `${input.writeUnitsPerPage} WRU per page` },
    { item: 'EventBridge PutEvents (resync)', quantity: billedEvents, unit: 'events', usd: (billedEvents / MILLION) * prices.eventBridgePerMillionEvents, basis: `one event per object, ${input.eventBytes} bytes` },
    { item: 'EventBridge archive (resync)', quantity: archiveGb, unit: 'GB', usd: archiveGb * (prices.eventBridgeArchivePerGbProcessed + prices.eventBridgeArchivePerGbMonth * input.archiveMonths), basis: `processed once, kept ${input.archiveMonths} month(s)` },
    { item: 'Graph delta queries', quantity: pages, unit: 'calls', usd: 0, basis: 'free on Microsoft\'s side' },
  ]);
}

export interface FixedInputs {
  integrations: number;
  alarms: number;
  dashboards: number;
  kmsKeys: number;
  customMetrics: number;
  /** Renewal + reconcile invocations a month (schedules), their Lambda request charge only. */
  scheduledInvocations: number;
  /** Receives Lambda's pollers make on the empty resync queue a month (long polls, billed like any request). */
  idleQueueReceives: number;
}

/** What the deployed stack costs a month before any notification: alarms, dashboard, key, metrics, secrets. */
export function fixedCostPerMonth(prices: AwsPrices, input: FixedInputs): CostTable {
  return table('Fixed monthly (any traffic)', [
    { item: 'CloudWatch alarms', quantity: input.alarms, unit: 'alarms', usd: input.alarms * prices.cloudWatchAlarmPerMonth, basis: 'counted in the synthesized prod template' },
    { item: 'CloudWatch dashboard', quantity: input.dashboards, unit: 'dashboards', usd: input.dashboards * prices.cloudWatchDashboardPerMonth, basis: 'free if the account has fewer than 3' },
    { item: 'KMS key (alarm topic)', quantity: input.kmsKeys, unit: 'keys', usd: input.kmsKeys * prices.kmsKeyPerMonth, basis: 'customer managed key; +$1/month per yearly rotation' },
    { item: 'CloudWatch custom metrics', quantity: input.customMetrics, unit: 'metrics', usd: input.customMetrics * prices.cloudWatchCustomMetricPerMonth, basis: 'metric names × the service dimension, counted in code' },
    { item: 'Secrets Manager secrets', quantity: input.integrations, unit: 'secrets', usd: input.integrations * prices.secretsManagerPerSecretMonth, basis: 'one per integration' },
    { item: 'Lambda requests (schedules)', quantity: input.scheduledInvocations, unit: 'invocations', usd: (input.scheduledInvocations / MILLION) * prices.lambdaPerMillionRequests, basis: 'renewal every 15 min + reconcile hourly + the resync safety net\'s hourly sweep; Scheduler itself is within its 14 M free invocations' },
    { item: 'SQS receives (resync queue, idle)', quantity: input.idleQueueReceives, unit: 'requests', usd: (input.idleQueueReceives / MILLION) * prices.sqsPerMillionRequests, basis: 'Lambda long-polls the queue even when it is empty (estimate: AWS does not publish its poller count)' },
  ]);
}

export interface SecondRegionInputs {
  /** Writes to the connections table a month at the modelled scale (renewals, lease renewals), in write units. */
  connectionsTableWriteUnits: number;
  /** Mean size of a replicated item, bytes (inter-region transfer). */
  replicatedItemBytes: number;
  /** Integration secrets, each with a replica in the other region. */
  integrations: number;
  /** The standby region's copy of the fixed resources: alarms, dashboard, alarm-topic key, custom metrics it publishes. */
  alarms: number;
  dashboards: number;
  kmsKeys: number;
  standbyCustomMetrics: number;
  /** Scheduled runs in the standby a month (renewal, reconcile, resync sweep: they start, see they are not the writer, and stop). */
  standbyScheduledInvocations: number;
  idleQueueReceives: number;
  /** Route 53 health checks (one per region), their optional features (HTTPS; fast interval if chosen) and request interval. */
  healthChecks: number;
  healthCheckFeatures: number;
  /** Requests each region's GET /health receives a month from Route 53's checkers. */
  healthRequestsPerRegion: number;
  /** Deep checks a month per region: one per cache window per warm container (the rest are answered from the cache). */
  deepChecksPerRegion: number;
  /** The health answer's function time, ms, and log bytes per request (access log + platform lines). */
  healthMs: number;
  intakeMemoryMb: number;
  healthLogBytes: number;
  logMonths: number;
  /** Heartbeats a month per region (rate(1 minute)), their duration and memory, and log bytes each. */
  heartbeatsPerRegion: number;
  heartbeatMs: number;
  heartbeatMemoryMb: number;
  heartbeatLogBytes: number;
}

/**
 * What the second region of a multi-region stage adds a month: the global table's replicated writes, the standby's
 * idle copy of the stack, Route 53's health checks and the deep health answers they cause in both regions, the
 * secrets' replicas, and the writer lease's heartbeat in both regions.
 */
export function secondRegionCostPerMonth(prices: AwsPrices, input: SecondRegionInputs): CostTable {
  const regions = 2;
  const replicatedGb = (input.connectionsTableWriteUnits * input.replicatedItemBytes) / GB;
  const heartbeats = input.heartbeatsPerRegion * regions;
  const heartbeatGbSeconds = heartbeats * lambdaGbSeconds(input.heartbeatMs, input.heartbeatMemoryMb);
  // The holder renews (a conditional put, replicated); every heartbeat reads the lease consistently (1 RRU), and the
  // holder lists the hand-offs (a Query of an empty partition, 0.5 RRU).
  const leaseWrites = input.heartbeatsPerRegion;
  const leaseReadUnits = heartbeats * 1 + input.heartbeatsPerRegion * 0.5;
  const healthRequests = input.healthRequestsPerRegion * regions;
  const deepChecks = input.deepChecksPerRegion * regions;
  const healthGbSeconds = healthRequests * lambdaGbSeconds(input.healthMs, input.intakeMemoryMb);
  const logGb = (healthRequests * input.healthLogBytes + heartbeats * input.heartbeatLogBytes) / GB;
  return table('Second region, a month (multi-region stage, on top of the single-region total)', [
    { item: 'DynamoDB replicated writes (replica)', quantity: input.connectionsTableWriteUnits, unit: 'rWRU', usd: (input.connectionsTableWriteUnits / MILLION) * prices.dynamoDbPerMillionReplicatedWriteUnits, basis: 'every connections-table write is written again in the replica (renewals with their index moves, lease renewals)' },
    { item: 'Inter-region transfer (replication)', quantity: replicatedGb, unit: 'GB', usd: replicatedGb * prices.interRegionTransferPerGb, basis: `${input.replicatedItemBytes} bytes per replicated write` },
    { item: 'Secrets Manager replica secrets', quantity: input.integrations, unit: 'secrets', usd: input.integrations * prices.secretsManagerPerSecretMonth, basis: 'a replica is billed as a secret of its own' },
    { item: 'Standby: CloudWatch alarms', quantity: input.alarms, unit: 'alarms', usd: input.alarms * prices.cloudWatchAlarmPerMonth, basis: 'the same stack in the second region, writer lease alarms included' },
    { item: 'Standby: dashboard, alarm-topic key', quantity: input.dashboards + input.kmsKeys, unit: 'items', usd: input.dashboards * prices.cloudWatchDashboardPerMonth + input.kmsKeys * prices.kmsKeyPerMonth, basis: 'one of each per regional stack' },
    { item: 'Standby: custom metrics', quantity: input.standbyCustomMetrics, unit: 'metrics', usd: input.standbyCustomMetrics * prices.cloudWatchCustomMetricPerMonth, basis: 'estimate: only what the standby publishes (skipped runs, health); billed only when published' },
    { item: 'Standby: scheduled runs and idle queue', quantity: input.standbyScheduledInvocations, unit: 'invocations', usd: (input.standbyScheduledInvocations / MILLION) * prices.lambdaPerMillionRequests + (input.idleQueueReceives / MILLION) * prices.sqsPerMillionRequests, basis: `renewal, reconcile and sweep start and skip (not the writer); ${input.idleQueueReceives.toLocaleString('en-US')} idle receives` },
    { item: 'Route 53 health checks', quantity: input.healthChecks, unit: 'checks', usd: input.healthChecks * (prices.route53HealthCheckPerMonth + input.healthCheckFeatures * prices.route53HealthCheckFeaturePerMonth), basis: `AWS endpoint, ${input.healthCheckFeatures} optional feature(s) each (HTTPS); alias records and their queries free` },
    { item: 'Health probes: HTTP API + Lambda requests', quantity: healthRequests, unit: 'requests', usd: (healthRequests / MILLION) * (prices.httpApiPerMillionRequests + prices.lambdaPerMillionRequests), basis: `${input.healthRequestsPerRegion.toLocaleString('en-US')} a region: Route 53's checkers every few seconds` },
    { item: 'Health probes: Lambda duration', quantity: healthGbSeconds, unit: 'GB-s', usd: healthGbSeconds * prices.lambdaArmPerGbSecond, basis: `${input.healthMs} ms per answer at ${input.intakeMemoryMb} MB (cached)` },
    { item: 'Health probes: deep checks', quantity: deepChecks, unit: 'checks', usd: deepChecks * (prices.secretsManagerPer10kCalls / 10_000 + prices.eventBridgePerMillionEvents / MILLION + (0.5 * prices.dynamoDbPerMillionReadUnits) / MILLION), basis: 'GetSecretValue + PutEvents (1 event) + GetItem, once per cache window per container' },
    { item: 'Writer lease: Lambda requests and duration', quantity: heartbeats, unit: 'invocations', usd: (heartbeats / MILLION) * prices.lambdaPerMillionRequests + heartbeatGbSeconds * prices.lambdaArmPerGbSecond, basis: `2 regions × ${input.heartbeatsPerRegion.toLocaleString('en-US')} (rate 1 minute), ${input.heartbeatMs} ms at ${input.heartbeatMemoryMb} MB` },
    { item: 'Writer lease: Scheduler invocations', quantity: heartbeats, unit: 'invocations', usd: (heartbeats / MILLION) * prices.schedulerPerMillionInvocations, basis: 'billed without the free tier, like every other line' },
    { item: 'Writer lease: DynamoDB', quantity: leaseWrites, unit: 'WRU', usd: (leaseWrites / MILLION) * prices.dynamoDbPerMillionWriteUnits + (leaseReadUnits / MILLION) * prices.dynamoDbPerMillionReadUnits, basis: `the holder's renewals (their replica writes are in the first line); ${leaseReadUnits.toLocaleString('en-US')} RRU of lease reads and hand-off queries` },
    { item: 'CloudWatch Logs (probes, heartbeats)', quantity: logGb, unit: 'GB', usd: logGb * (prices.cloudWatchLogsPerGbIngested + prices.cloudWatchLogsPerGbMonthStored * input.logMonths), basis: `${input.healthLogBytes} bytes per probe, ${input.heartbeatLogBytes} per heartbeat` },
  ]);
}

/** The single-region and the multi-region monthly totals at one scale, side by side. */
export interface RegionComparison {
  scale: string;
  singleRegionUsd: number;
  secondRegionUsd: number;
  multiRegionUsd: number;
}

export function compareRegions(scale: string, singleRegion: readonly CostTable[], secondRegion: CostTable): RegionComparison {
  const singleRegionUsd = singleRegion.reduce((sum, t) => sum + t.totalUsd, 0);
  return { scale, singleRegionUsd, secondRegionUsd: secondRegion.totalUsd, multiRegionUsd: singleRegionUsd + secondRegion.totalUsd };
}

export function renderRegionComparison(comparison: RegionComparison): string {
  const pct = comparison.singleRegionUsd === 0 ? '' : ` (+${((comparison.secondRegionUsd / comparison.singleRegionUsd) * 100).toFixed(0)}%)`;
  return [
    `Single region vs multi-region, a month: ${comparison.scale}`,
    '| stage | USD/month |',
    '|---|---|',
    `| single region | ${formatUsd(comparison.singleRegionUsd)} |`,
    `| multi-region (two regions) | ${formatUsd(comparison.multiRegionUsd)}${pct} |`,
  ].join('\n');
}

export function formatMinutes(minutes: number): string {
  if (minutes < 120) return `${Math.round(minutes)} min`;
  if (minutes < 48 * 60) return `${(minutes / 60).toFixed(minutes % 60 === 0 ? 0 : 1)} h`;
  return `${(minutes / 1440).toFixed(1)} days`;
}

export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

export function renderCostTable(cost: CostTable): string {
  const rows = cost.lines.map((l) => [l.item, `${formatQuantity(l.quantity)} ${l.unit}`, formatUsd(l.usd), l.basis]);
  rows.push(['total', '', formatUsd(cost.totalUsd), '']);
  const header = ['item', 'quantity', 'USD', 'basis'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [`${cost.title}`, line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function formatQuantity(q: number): string {
  if (q >= 100) return Math.round(q).toLocaleString('en-US');
  if (q >= 1) return q.toFixed(1);
  return q.toPrecision(2);
}
