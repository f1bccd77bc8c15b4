import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { ENV } from './env-names';

/** Defaults for every tunable of the intake, in one place. */
export const INTAKE_DEFAULTS = {
  eventSource: 'graph-relay',
  secretMaxAgeSeconds: 300,
  /** At most one forced secret re-read per integration in this interval, after a clientState mismatch. */
  secretRefreshIntervalSeconds: 10,
  /** While Secrets Manager fails, the last secret read keeps being used for up to an hour (never after a mismatch). */
  secretStaleIfErrorSeconds: 3600,
  /**
   * Routes (a subscription's connection, a tenant's connections) kept per instance: about 1.4 KB of heap each
   * (measured with GUID ids), so the default bounds the cache near 27 MB whatever the number of tenants.
   */
  routeCacheMaxEntries: 20_000,
  /** How long a cached route is used; a connection change also drops them within one registry refresh. */
  routeCacheMaxAgeSeconds: 300,
  /** How long "no such subscription" or "no connection for this tenant" is remembered. */
  routeCacheNegativeMaxAgeSeconds: 30,
  /** The integration registry (ids, providers, versions) is read again in the background after this long. */
  registryRefreshSeconds: 30,
  /** An unknown integration id may bring a registry read forward at most once per this many seconds, in total. */
  registryMinRefreshSeconds: 5,
  /** Graph retries for up to 4 hours; markers outlive that by half an hour. */
  redeliveryWindowSeconds: 4.5 * 3600,
  publishMaxAttempts: 4,
  publishConcurrency: 10,
  /** Graph's own payloads stay far below this; anything larger is refused with 413. */
  maxBodyBytes: 1024 * 1024,
  /**
   * Refused requests (unknown integration, clientState not accepted) are logged and stored for `doctor` at most
   * once per this many seconds per integration (unknown ids share one), per instance: a flood costs one line.
   */
  refusalReportSeconds: 60,
} as const;

/**
 * Bucket for the full detail of events too large for EventBridge (their event carries `payloadRef`). Optional:
 * without it such notifications are refused, as they were before the bucket existed.
 */
export const PAYLOAD_BUCKET_ENV = 'PAYLOAD_BUCKET';

/** S3's bucket naming rules (general purpose buckets): 3-63 lower-case letters, digits, dots and hyphens. */
const bucketName = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lower-case letters, digits, "." and "-")')
    .optional(),
);

/** A whole number; a blank variable means "not set" (falls back to the default), not zero. */
const whole = (min: number, fallback: number) =>
  z.preprocess((v) => (v === undefined || (typeof v === 'string' && v.trim() === '') ? fallback : v), z.coerce.number().int().min(min));

const schema = z.object({
  [ENV.connectionsTable]: z.string().min(1),
  [ENV.deliveriesTable]: z.string().min(1),
  [ENV.eventBus]: z.string().min(1),
  [ENV.webhookSecretPrefix]: z.string().min(1),
  [ENV.eventSource]: z.string().min(1).default(INTAKE_DEFAULTS.eventSource),
  [ENV.secretMaxAgeSeconds]: whole(0, INTAKE_DEFAULTS.secretMaxAgeSeconds),
  [ENV.routeCacheMaxEntries]: whole(1, INTAKE_DEFAULTS.routeCacheMaxEntries),
  [ENV.routeCacheMaxAgeSeconds]: whole(0, INTAKE_DEFAULTS.routeCacheMaxAgeSeconds),
  [ENV.routeCacheNegativeMaxAgeSeconds]: whole(0, INTAKE_DEFAULTS.routeCacheNegativeMaxAgeSeconds),
  [ENV.registryRefreshSeconds]: whole(1, INTAKE_DEFAULTS.registryRefreshSeconds),
  [ENV.registryMinRefreshSeconds]: whole(0, INTAKE_DEFAULTS.registryMinRefreshSeconds),
  [ENV.redeliveryWindowSeconds]: whole(INTAKE_DEFAULTS.redeliveryWindowSeconds, INTAKE_DEFAULTS.redeliveryWindowSeconds),
  [PAYLOAD_BUCKET_ENV]: bucketName,
});

export interface IntakeConfig {
  connectionsTable: string;
  deliveriesTable: string;
  eventBusName: string;
  webhookSecretPrefix: string;
  eventSource: string;
  secretMaxAgeSeconds: number;
  routeCacheMaxEntries: number;
  routeCacheMaxAgeSeconds: number;
  routeCacheNegativeMaxAgeSeconds: number;
  registryRefreshSeconds: number;
  registryMinRefreshSeconds: number;
  redeliveryWindowSeconds: number;
  /** Absent: events too large for EventBridge are refused. */
  payloadBucket: string | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parsed once at start-up; a missing or bad variable fails fast with its name. */
export function loadIntakeConfig(env: NodeJS.ProcessEnv = process.env): IntakeConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`intake configuration is invalid: ${describeIssues(parsed.error)}`);
  const c = parsed.data;
  return {
    connectionsTable: c[ENV.connectionsTable],
    deliveriesTable: c[ENV.deliveriesTable],
    eventBusName: c[ENV.eventBus],
    webhookSecretPrefix: c[ENV.webhookSecretPrefix],
    eventSource: c[ENV.eventSource],
    secretMaxAgeSeconds: c[ENV.secretMaxAgeSeconds],
    routeCacheMaxEntries: c[ENV.routeCacheMaxEntries],
    routeCacheMaxAgeSeconds: c[ENV.routeCacheMaxAgeSeconds],
    routeCacheNegativeMaxAgeSeconds: c[ENV.routeCacheNegativeMaxAgeSeconds],
    registryRefreshSeconds: c[ENV.registryRefreshSeconds],
    registryMinRefreshSeconds: c[ENV.registryMinRefreshSeconds],
    redeliveryWindowSeconds: c[ENV.redeliveryWindowSeconds],
    payloadBucket: c[PAYLOAD_BUCKET_ENV],
  };
}
