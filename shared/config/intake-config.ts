import * as z from 'zod';
import { ENV, PAYLOAD_BUCKET_ENV } from './env-names';
import {
  ConfigError,
  connectionsTable,
  eventBusName,
  eventSourceOr,
  loadEnv,
  requiredName,
  secretMaxAgeSecondsOr,
  webhookSecretPrefix,
  wholeNumber,
  type EnvValues,
} from './env-parsing';
import { relayRegionOf } from './relay-region';

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
  /**
   * The deep health answer (`GET /health`: table, secret, bus) is reused this long per instance, so Route 53's
   * health checkers, about one request a second in all, cost a few AWS calls per period.
   */
  healthCacheSeconds: 10,
  /** Each health check (table, secret, bus) is failed after this long, so the answer beats Route 53's 4 s timeout. */
  healthCheckTimeoutMs: 2000,
  /** The whole health answer, whose secret check waits for the table's, is given at most this long. */
  healthDeadlineMs: 3000,
} as const;

/** S3's bucket naming rules (general purpose buckets): 3-63 lower-case letters, digits, dots and hyphens. */
const bucketName = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lower-case letters, digits, "." and "-")')
    .optional(),
);

const fields = {
  connectionsTable,
  deliveriesTable: [ENV.deliveriesTable, requiredName()],
  eventBusName,
  webhookSecretPrefix,
  eventSource: eventSourceOr(INTAKE_DEFAULTS.eventSource),
  secretMaxAgeSeconds: secretMaxAgeSecondsOr(INTAKE_DEFAULTS.secretMaxAgeSeconds),
  routeCacheMaxEntries: [ENV.routeCacheMaxEntries, wholeNumber(1, INTAKE_DEFAULTS.routeCacheMaxEntries)],
  routeCacheMaxAgeSeconds: [ENV.routeCacheMaxAgeSeconds, wholeNumber(0, INTAKE_DEFAULTS.routeCacheMaxAgeSeconds)],
  routeCacheNegativeMaxAgeSeconds: [ENV.routeCacheNegativeMaxAgeSeconds, wholeNumber(0, INTAKE_DEFAULTS.routeCacheNegativeMaxAgeSeconds)],
  registryRefreshSeconds: [ENV.registryRefreshSeconds, wholeNumber(1, INTAKE_DEFAULTS.registryRefreshSeconds)],
  registryMinRefreshSeconds: [ENV.registryMinRefreshSeconds, wholeNumber(0, INTAKE_DEFAULTS.registryMinRefreshSeconds)],
  redeliveryWindowSeconds: [ENV.redeliveryWindowSeconds, wholeNumber(INTAKE_DEFAULTS.redeliveryWindowSeconds, INTAKE_DEFAULTS.redeliveryWindowSeconds)],
  /** Absent: events too large for EventBridge are refused. */
  payloadBucket: [PAYLOAD_BUCKET_ENV, bucketName],
  healthCacheSeconds: [ENV.healthCacheSeconds, wholeNumber(0, INTAKE_DEFAULTS.healthCacheSeconds)],
} as const;

export type IntakeConfig = EnvValues<typeof fields> & {
  /** This deployment's region (RELAY_REGION, else AWS_REGION): events and the health answer name it. */
  region: string;
};

/** Parsed once at start-up; a missing or bad variable fails fast with its name. */
export function loadIntakeConfig(env: NodeJS.ProcessEnv = process.env): IntakeConfig {
  const config = loadEnv('intake', fields, env);
  const region = relayRegionOf(env);
  if (region === undefined) throw new ConfigError(`intake configuration is invalid: ${ENV.relayRegion}: neither it nor AWS_REGION is set`);
  return { ...config, region };
}
