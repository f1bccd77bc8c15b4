import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { ENV } from './env-names';
import { ConfigError, INTAKE_DEFAULTS } from './intake-config';

/** Defaults for every tunable of the scheduled renewal, in one place. */
export const RENEWAL_DEFAULTS = {
  /**
   * Due subscriptions taken per run. A 5-minute run at ~16 calls in flight renews a few thousand; what is left
   * stays due and is taken by the next run, earliest due first.
   */
  runLimit: 2000,
  /** The integration secret is asked for on every token refresh and recreation; rotation shows within this. */
  secretMaxAgeSeconds: INTAKE_DEFAULTS.secretMaxAgeSeconds,
  /**
   * Time kept free at the end of the invocation: the run stops starting Graph calls this long before the Lambda
   * timeout, leaving room to publish the run's events and flush metrics.
   */
  deadlineMarginMs: 20_000,
  publishMaxAttempts: 4,
  publishConcurrency: 4,
} as const;

/** A blank variable means "not set" (falls back to the default), not zero. */
export const integer = (min: number, fallback: number) =>
  z.preprocess((v) => (v === undefined || (typeof v === 'string' && v.trim() === '') ? fallback : v), z.coerce.number().int().min(min));

/** Absolute http(s) URL ending in `/`, so `<base><integrationId>` is the notificationUrl. */
export const webhookBaseUrl = z
  .string()
  .trim()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'must be an absolute http(s) URL such as https://example.com/webhook/')
  .refine((value) => value.endsWith('/'), 'must end with "/" (the integration id is appended)');

const schema = z.object({
  [ENV.connectionsTable]: z.string().min(1),
  [ENV.eventBus]: z.string().min(1),
  [ENV.webhookSecretPrefix]: z.string().min(1),
  [ENV.webhookBaseUrl]: webhookBaseUrl,
  [ENV.eventSource]: z.string().min(1).default(INTAKE_DEFAULTS.eventSource),
  [ENV.secretMaxAgeSeconds]: integer(0, RENEWAL_DEFAULTS.secretMaxAgeSeconds),
  [ENV.renewalRunLimit]: integer(1, RENEWAL_DEFAULTS.runLimit),
});

export interface RenewalConfig {
  connectionsTable: string;
  eventBusName: string;
  webhookSecretPrefix: string;
  webhookBaseUrl: string;
  eventSource: string;
  secretMaxAgeSeconds: number;
  runLimit: number;
}

/** Parsed once per execution environment; a missing or bad variable fails fast with its name. */
export function loadRenewalConfig(env: NodeJS.ProcessEnv = process.env): RenewalConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`renewal configuration is invalid: ${describeIssues(parsed.error)}`);
  const c = parsed.data;
  return {
    connectionsTable: c[ENV.connectionsTable],
    eventBusName: c[ENV.eventBus],
    webhookSecretPrefix: c[ENV.webhookSecretPrefix],
    webhookBaseUrl: c[ENV.webhookBaseUrl],
    eventSource: c[ENV.eventSource],
    secretMaxAgeSeconds: c[ENV.secretMaxAgeSeconds],
    runLimit: c[ENV.renewalRunLimit],
  };
}
