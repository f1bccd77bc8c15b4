/**
 * The local stand-in for the writer lease's heartbeat (functions/writer-lease and its one-minute schedule): the same
 * shared heartbeat, run in process every `GRAPH_RELAY_LEASE_HEARTBEAT_SECONDS`. After a takeover it runs the local
 * renewal and reconcile at once; while this stack's region is the writer it hands the lifecycle events and resync
 * jobs other stacks handed off to its in-process lifecycle handler and its resync queue.
 *
 * Two `npm start`s with their own data directories, `GRAPH_RELAY_REGION`s and `GRAPH_RELAY_DELIVERIES_TABLE`s, both
 * given `GRAPH_RELAY_DYNAMODB_ENDPOINT` of one DynamoDB Local, share its connections table as the two regions of a
 * multi-region stage share the global table: one of them is the Graph writer at a time.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV } from '../shared/config/env-names';
import { DynamoDbHandoffStore, DynamoDbWriterLeaseStore } from '../shared/leadership/dynamodb-leadership-store';
import { runHeartbeat, type HeartbeatPorts, type HeartbeatReport } from '../shared/leadership/heartbeat';
import type { NotWriter } from '../shared/leadership/writer-gate';
import { WRITER_LEASE_DEFAULTS, WriterLease } from '../shared/leadership/writer-lease';
import { startLocalRenewalSchedule, type LocalRenewalSchedule } from './renewal-schedule';

/** Environment of `npm start` for running as one region of two. */
export const LOCAL_REGION_ENV = {
  region: 'GRAPH_RELAY_REGION',
  writerLease: 'GRAPH_RELAY_WRITER_LEASE',
  heartbeatSeconds: 'GRAPH_RELAY_LEASE_HEARTBEAT_SECONDS',
  ttlSeconds: 'GRAPH_RELAY_WRITER_LEASE_TTL_SECONDS',
  graceSeconds: 'GRAPH_RELAY_WRITER_LEASE_GRACE_SECONDS',
  deliveriesTable: 'GRAPH_RELAY_DELIVERIES_TABLE',
  /**
   * A table of its own for the lease, as deployed (a strongly consistent global table); default the connections
   * table. The failover drill uses it to cut one region off from the lease alone.
   */
  writerLeaseTable: 'GRAPH_RELAY_WRITER_LEASE_TABLE',
} as const;

export const DEFAULT_LOCAL_REGION = 'us-east-1';
/** The deployed schedule's rate. */
export const DEFAULT_LEASE_HEARTBEAT_SECONDS = 60;

export interface LocalWriterLeaseSettings {
  heartbeatSeconds: number;
  ttlSeconds: number;
  graceSeconds: number;
  /** The lease's own table; absent: the connections table. */
  table?: string;
}

export interface LocalRegionSettings {
  region: string;
  /** Absent: the lease is off (one region, always the writer). */
  writerLease?: LocalWriterLeaseSettings;
  deliveriesTable?: string;
}

export class LocalRegionSettingsError extends Error {
  override readonly name = 'LocalRegionSettingsError';
}

/** The region, the lease (on / off and its timings) and the deliveries table name, or a one-line error. */
export function localRegionSettingsFromEnv(env: NodeJS.ProcessEnv): LocalRegionSettings {
  const region = env[LOCAL_REGION_ENV.region]?.trim() || DEFAULT_LOCAL_REGION;
  if (!/^[a-z0-9-]{1,40}$/.test(region)) throw new LocalRegionSettingsError(`${LOCAL_REGION_ENV.region} must be a region name such as eu-west-1, got "${region}"`);
  const mode = env[LOCAL_REGION_ENV.writerLease]?.trim().toLowerCase() || 'off';
  if (mode !== 'on' && mode !== 'off') throw new LocalRegionSettingsError(`${LOCAL_REGION_ENV.writerLease} must be on or off, got "${mode}"`);
  const deliveriesTable = env[LOCAL_REGION_ENV.deliveriesTable]?.trim() || undefined;
  if (deliveriesTable !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(deliveriesTable)) {
    throw new LocalRegionSettingsError(`${LOCAL_REGION_ENV.deliveriesTable} must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got "${deliveriesTable}"`);
  }
  const base = { region, ...(deliveriesTable === undefined ? {} : { deliveriesTable }) };
  if (mode === 'off') return base;
  const table = env[LOCAL_REGION_ENV.writerLeaseTable]?.trim() || undefined;
  if (table !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(table)) {
    throw new LocalRegionSettingsError(`${LOCAL_REGION_ENV.writerLeaseTable} must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got "${table}"`);
  }
  const seconds = (variable: string, fallback: number, min: number) => {
    const text = env[variable]?.trim() || String(fallback);
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) throw new LocalRegionSettingsError(`${variable} must be whole seconds of at least ${min}, got "${text}"`);
    return value;
  };
  return {
    ...base,
    writerLease: {
      heartbeatSeconds: seconds(LOCAL_REGION_ENV.heartbeatSeconds, DEFAULT_LEASE_HEARTBEAT_SECONDS, 1),
      ttlSeconds: seconds(LOCAL_REGION_ENV.ttlSeconds, WRITER_LEASE_DEFAULTS.ttlSeconds, WRITER_LEASE_DEFAULTS.minTtlSeconds),
      graceSeconds: seconds(LOCAL_REGION_ENV.graceSeconds, WRITER_LEASE_DEFAULTS.graceSeconds, WRITER_LEASE_DEFAULTS.minGraceSeconds),
      ...(table === undefined ? {} : { table }),
    },
  };
}

/** What the product code reads for the lease (shared/leadership/writer-lease.ts), set in the stack's environment. */
export function writerLeaseEnv(region: string, lease: LocalWriterLeaseSettings | undefined): Record<string, string> {
  return {
    [ENV.relayRegion]: region,
    [ENV.writerLease]: lease === undefined ? 'off' : 'on',
    ...(lease === undefined ? {} : { [ENV.writerLeaseTtlSeconds]: String(lease.ttlSeconds), [ENV.writerLeaseGraceSeconds]: String(lease.graceSeconds) }),
    ...(lease?.table === undefined ? {} : { [ENV.writerLeaseTable]: lease.table }),
  };
}

/** A run the local stack asked for was skipped: this stack's region does not hold the writer lease. */
export class NotWriterError extends Error {
  override readonly name = 'NotWriterError';
  constructor(
    readonly what: string,
    readonly writer: string | undefined,
  ) {
    super(`${what} skipped: this region is not the Graph writer (${writer === undefined ? 'no region holds the lease' : `${writer} does`})`);
  }
}

export function isNotWriter(answer: unknown): answer is NotWriter {
  return typeof answer === 'object' && answer !== null && (answer as { skipped?: unknown }).skipped === 'not-writer';
}

export interface LocalWriterLeaseOptions {
  region: string;
  settings: LocalWriterLeaseSettings;
  dynamodb: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  connectionsTable: string;
  /** Starts the catch-up runs (not waited for). */
  catchUp: HeartbeatPorts['catchUp'];
  deliver: HeartbeatPorts['deliver'];
  log(line: string): void;
  logError(line: string): void;
}

/** The heartbeat on its interval (and `runNow()`); the first one is for the caller to run. */
export function startLocalWriterLease(options: LocalWriterLeaseOptions): LocalRenewalSchedule<HeartbeatReport> & { destroy(): void } {
  const client = new DynamoDBClient(options.dynamodb);
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const { settings } = options;
  const ports: HeartbeatPorts = {
    lease: new WriterLease(new DynamoDbWriterLeaseStore(documents, settings.table ?? options.connectionsTable), settings),
    region: options.region,
    handoffs: new DynamoDbHandoffStore(documents, options.connectionsTable),
    catchUp: options.catchUp,
    deliver: options.deliver,
    logger: { info: () => undefined, error: (message, fields) => options.logError(`writer lease: ${message} ${JSON.stringify(fields)}`) },
    clock: { now: () => Date.now() },
    // Heartbeats here are seconds apart: deliver for at most half the interval, so the next one comes on time.
    drainBudgetMs: (settings.heartbeatSeconds * 1000) / 2,
  };
  let last: string | undefined;
  const schedule = startLocalRenewalSchedule<HeartbeatReport>({
    intervalMs: settings.heartbeatSeconds * 1000,
    label: 'writer lease heartbeat',
    log: (line) => options.logError(line),
    run: async () => {
      const report = await runHeartbeat(ports);
      // One line per change of state, and per heartbeat that delivered hand-offs, not one a heartbeat.
      const state = report.outcome === 'held-by-other' ? `held by ${report.holder}` : `${options.region} is the Graph writer`;
      if (state !== last || report.outcome === 'acquired') options.log(`writer lease: ${report.outcome === 'acquired' ? `acquired by ${options.region} (epoch ${report.epoch}${report.previousHolder === undefined ? '' : `, from ${report.previousHolder}`})` : state}`);
      last = state;
      if (report.handoffs.delivered + report.handoffs.failed > 0) options.log(`writer lease: ${report.handoffs.delivered} hand-offs delivered, ${report.handoffs.failed} failed`);
      return report;
    },
  });
  return { ...schedule, destroy: () => client.destroy() };
}
