/** The cost model's arithmetic (bench/cost-model.ts), on round inputs worked out by hand. */
import { US_EAST_1_PRICES, type AwsPrices } from '../../bench/aws-prices';
import {
  compareRegions,
  fixedCostPerMonth,
  intakeCostPerMillion,
  lambdaGbSeconds,
  renewalCostPerMonth,
  renewalPeriodMinutes,
  resyncCost,
  secondRegionCostPerMonth,
  type SecondRegionInputs,
} from '../../bench/cost-model';

const PRICES: AwsPrices = { ...US_EAST_1_PRICES };
const usd = (table: { lines: { item: string; usd: number }[] }, item: string) => table.lines.find((l) => l.item === item)?.usd;

describe('lambdaGbSeconds', () => {
  test('rounds the duration up to the millisecond and scales by configured memory', () => {
    expect(lambdaGbSeconds(10.2, 1024)).toBeCloseTo(0.011, 10);
    expect(lambdaGbSeconds(10, 512)).toBeCloseTo(0.005, 10);
  });
});

describe('intakeCostPerMillion', () => {
  const base = {
    durationMs: 20,
    memoryMb: 1024,
    connectionsPerNotification: 1,
    eventBytes: 1000,
    logBytesPerPost: 1000,
    archiveMonths: 1,
    logMonths: 1,
    markerReadUnits: 0.5,
    markerWriteUnits: 1,
    routeReadUnits: 1,
  };

  test('one notification per POST: a million requests, invocations and events', () => {
    // Prepare / Act
    const cost = intakeCostPerMillion(PRICES, { ...base, batchSize: 1 });

    // Assess
    expect(usd(cost, 'API Gateway HTTP API requests')).toBeCloseTo(1.0, 10);
    expect(usd(cost, 'Lambda requests (intake)')).toBeCloseTo(0.2, 10);
    // 1,000,000 × 0.020 s × 1 GB × $0.0000133334
    expect(usd(cost, 'Lambda duration (intake)')).toBeCloseTo(0.266668, 6);
    expect(usd(cost, 'DynamoDB marker reads')).toBeCloseTo(0.0625, 10);
    // Two route items of 0.5 RRU each, none cached: 1,000,000 RRU at $0.125 per million
    expect(usd(cost, 'DynamoDB route reads')).toBeCloseTo(0.125, 10);
    expect(usd(cost, 'DynamoDB marker writes')).toBeCloseTo(0.625, 10);
    expect(usd(cost, 'EventBridge PutEvents')).toBeCloseTo(1.0, 10);
    // 1 GB processed ($0.10) and stored a month ($0.023)
    expect(usd(cost, 'EventBridge archive')).toBeCloseTo(0.123, 10);
    // 1 GB ingested ($0.50) and stored a month ($0.03)
    expect(usd(cost, 'CloudWatch Logs')).toBeCloseTo(0.53, 10);
    expect(cost.totalUsd).toBeCloseTo(cost.lines.reduce((s, l) => s + l.usd, 0), 10);
  });

  test('batching divides the per-request lines, not the per-notification ones', () => {
    const single = intakeCostPerMillion(PRICES, { ...base, batchSize: 1 });
    const hundred = intakeCostPerMillion(PRICES, { ...base, batchSize: 100 });

    expect(usd(hundred, 'API Gateway HTTP API requests')).toBeCloseTo(0.01, 10);
    expect(usd(hundred, 'EventBridge PutEvents')).toBe(usd(single, 'EventBridge PutEvents'));
    expect(usd(hundred, 'DynamoDB marker writes')).toBe(usd(single, 'DynamoDB marker writes'));
  });

  test('an event over 64 KB is billed as one event per started 64 KB chunk; two connections, two events', () => {
    const cost = intakeCostPerMillion(PRICES, { ...base, batchSize: 1, eventBytes: 64 * 1024 + 1, connectionsPerNotification: 2 });

    expect(cost.lines.find((l) => l.item === 'EventBridge PutEvents')?.quantity).toBe(4_000_000);
  });
});

describe('renewalPeriodMinutes', () => {
  const policy = { renewalIntervalMinutes: 15, lifetimeFraction: 0.5, safetyMarginMinutes: 60 };

  test('half the lifetime for long-lived subscriptions', () => {
    expect(renewalPeriodMinutes({ ...policy, lifetimeMinutes: 41_760 })).toBe(20_880);
    expect(renewalPeriodMinutes({ ...policy, lifetimeMinutes: 10_080 })).toBe(5_040);
  });

  test('every run when the safety margin is as long as the lifetime (presence: 60 minutes)', () => {
    expect(renewalPeriodMinutes({ ...policy, lifetimeMinutes: 60 })).toBe(15);
  });

  test('the margin wins when the lifetime is short: 90 minutes renews 30 minutes after granting', () => {
    expect(renewalPeriodMinutes({ ...policy, lifetimeMinutes: 90 })).toBe(30);
  });
});

describe('renewalCostPerMonth', () => {
  test('10,000 subscriptions renewed every 5,040 minutes: 85,714 renewals priced per unit', () => {
    const cost = renewalCostPerMonth(
      PRICES,
      { subscriptions: 10_000, lifetimeMinutes: 10_080, renewalIntervalMinutes: 15, lifetimeFraction: 0.5, safetyMarginMinutes: 60, msPerRenewal: 10, memoryMb: 512, writeUnitsPerRenewal: 3, readUnitsPerRenewal: 0.125, eventsPerRenewal: 1 },
      'Outlook',
    );
    const renewals = (10_000 * 43_200) / 5_040;

    expect(cost.lines.find((l) => l.item === 'EventBridge PutEvents (renewed events)')?.quantity).toBeCloseTo(renewals, 6);
    expect(usd(cost, 'DynamoDB writes (renewal)')).toBeCloseTo(((renewals * 3) / 1e6) * 0.625, 10);
    expect(usd(cost, 'Lambda duration (renewal)')).toBeCloseTo(renewals * 0.01 * 0.5 * 0.0000133334, 10);
  });
});

describe('fixedCostPerMonth', () => {
  test('alarms, dashboard, key, metrics and secrets at their monthly prices', () => {
    const cost = fixedCostPerMonth(PRICES, { integrations: 2, alarms: 10, dashboards: 1, kmsKeys: 1, customMetrics: 10, scheduledInvocations: 1_000_000, idleQueueReceives: 1_000_000 });

    expect(usd(cost, 'CloudWatch alarms')).toBeCloseTo(1.0, 10);
    expect(usd(cost, 'Secrets Manager secrets')).toBeCloseTo(0.8, 10);
    expect(usd(cost, 'Lambda requests (schedules)')).toBeCloseTo(0.2, 10);
    expect(usd(cost, 'SQS receives (resync queue, idle)')).toBeCloseTo(0.4, 10);
    expect(cost.totalUsd).toBeCloseTo(1.0 + 3.0 + 1.0 + 3.0 + 0.8 + 0.2 + 0.4, 10);
  });
});

describe('resyncCost', () => {
  const base = {
    objects: 1_000_000,
    objectsPerPage: 100,
    msPerPage: 500,
    memoryMb: 512,
    pagesPerJob: 1000,
    sqsRequestsPerJob: 3,
    readUnitsPerJob: 2,
    writeUnitsPerPage: 1,
    eventBytes: 1_000,
    archiveMonths: 1,
  };

  test('a million objects: 10,000 pages in 10 jobs, one event per object, Graph free', () => {
    // Act
    const cost = resyncCost(PRICES, base);

    // Assess
    // 10 jobs × 3 requests at $0.40 per million
    expect(usd(cost, 'SQS requests (resync jobs)')).toBeCloseTo(0.000012, 10);
    expect(usd(cost, 'Lambda requests (resync)')).toBeCloseTo(0.000002, 10);
    // 10,000 pages × 0.5 s × 0.5 GB = 2,500 GB-s
    expect(usd(cost, 'Lambda duration (resync)')).toBeCloseTo(2500 * 0.0000133334, 10);
    expect(usd(cost, 'DynamoDB reads (resync)')).toBeCloseTo(20 * 0.125e-6, 12);
    expect(usd(cost, 'DynamoDB writes (checkpoints)')).toBeCloseTo(10_000 * 0.625e-6, 12);
    expect(usd(cost, 'EventBridge PutEvents (resync)')).toBeCloseTo(1.0, 10);
    expect(usd(cost, 'EventBridge archive (resync)')).toBeCloseTo(0.123, 10);
    expect(usd(cost, 'Graph delta queries')).toBe(0);
    expect(cost.lines.find((l) => l.item === 'Graph delta queries')?.quantity).toBe(10_000);
    expect(cost.totalUsd).toBeCloseTo(cost.lines.reduce((s, l) => s + l.usd, 0), 10);
  });

  test('a partial page and a partial job are whole ones', () => {
    // Act
    const cost = resyncCost(PRICES, { ...base, objects: 1001, pagesPerJob: 5 });

    // Assess: 11 pages, 3 jobs
    expect(cost.lines.find((l) => l.item === 'Graph delta queries')?.quantity).toBe(11);
    expect(cost.lines.find((l) => l.item === 'Lambda requests (resync)')?.quantity).toBe(3);
  });
});

describe('secondRegionCostPerMonth', () => {
  const input: SecondRegionInputs = {
    connectionsTableWriteUnits: 1_000_000,
    replicatedItemBytes: 1000,
    integrations: 2,
    alarms: 20,
    dashboards: 1,
    kmsKeys: 1,
    standbyCustomMetrics: 10,
    standbyScheduledInvocations: 1_000_000,
    idleQueueReceives: 1_000_000,
    healthChecks: 2,
    healthCheckFeatures: 1,
    healthRequestsPerRegion: 1_000_000,
    deepChecksPerRegion: 10_000,
    healthMs: 2,
    intakeMemoryMb: 1024,
    healthLogBytes: 500,
    logMonths: 1,
    heartbeatsPerRegion: 43_200,
    heartbeatMs: 100,
    heartbeatMemoryMb: 256,
    heartbeatLogBytes: 0,
  };

  test('prices replication, the standby, the health checks and probes, and the heartbeat in both regions', () => {
    // Act
    const cost = secondRegionCostPerMonth(PRICES, input);

    // Assess
    expect(usd(cost, 'DynamoDB replicated writes (replica)')).toBeCloseTo(0.625, 10);
    // 1,000,000 × 1,000 bytes = 1 GB at $0.02
    expect(usd(cost, 'Inter-region transfer (replication)')).toBeCloseTo(0.02, 10);
    expect(usd(cost, 'Secrets Manager replica secrets')).toBeCloseTo(0.8, 10);
    expect(usd(cost, 'Standby: CloudWatch alarms')).toBeCloseTo(2.0, 10);
    expect(usd(cost, 'Standby: dashboard, alarm-topic key')).toBeCloseTo(4.0, 10);
    // $0.50 + $1.00 (HTTPS) each
    expect(usd(cost, 'Route 53 health checks')).toBeCloseTo(3.0, 10);
    // 2,000,000 probes × ($1.00 + $0.20) per million
    expect(usd(cost, 'Health probes: HTTP API + Lambda requests')).toBeCloseTo(2.4, 10);
    // 20,000 deep checks × ($0.05 / 10,000 + $1 / M + 0.5 × $0.125 / M)
    expect(usd(cost, 'Health probes: deep checks')).toBeCloseTo(20_000 * (0.000005 + 0.000001 + 0.0000000625), 10);
    // 86,400 × $0.20/M + 86,400 × 0.1 s × 0.25 GB × $0.0000133334
    expect(usd(cost, 'Writer lease: Lambda requests and duration')).toBeCloseTo(0.01728 + 86_400 * 0.025 * 0.0000133334, 8);
    expect(usd(cost, 'Writer lease: Scheduler invocations')).toBeCloseTo(0.0864, 10);
    // 43,200 WRU + (86,400 + 21,600) RRU
    expect(usd(cost, 'Writer lease: DynamoDB')).toBeCloseTo(0.0432 * 0.625 + 0.108 * 0.125, 10);
    // 2,000,000 × 500 bytes = 1 GB, ingested and kept a month
    expect(usd(cost, 'CloudWatch Logs (probes, heartbeats)')).toBeCloseTo(0.53, 10);
  });

  test('sets the two totals side by side', () => {
    // Prepare
    const single = { title: 'single', lines: [], totalUsd: 30 };
    const second = secondRegionCostPerMonth(PRICES, input);

    // Act
    const comparison = compareRegions('scale', [single, single], second);

    // Assess
    expect(comparison).toEqual({ scale: 'scale', singleRegionUsd: 60, secondRegionUsd: second.totalUsd, multiRegionUsd: 60 + second.totalUsd });
  });
});
