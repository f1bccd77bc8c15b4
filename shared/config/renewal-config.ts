import { ENV } from './env-names';
import {
  connectionsTable,
  eventBusName,
  eventSourceOr,
  loadEnv,
  secretMaxAgeSecondsOr,
  webhookBaseUrl,
  webhookSecretPrefix,
  wholeNumber,
  type EnvValues,
} from './env-parsing';
import { INTAKE_DEFAULTS } from './intake-config';

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

const fields = {
  connectionsTable,
  eventBusName,
  webhookSecretPrefix,
  webhookBaseUrl,
  eventSource: eventSourceOr(INTAKE_DEFAULTS.eventSource),
  secretMaxAgeSeconds: secretMaxAgeSecondsOr(RENEWAL_DEFAULTS.secretMaxAgeSeconds),
  runLimit: [ENV.renewalRunLimit, wholeNumber(1, RENEWAL_DEFAULTS.runLimit)],
} as const;

export type RenewalConfig = EnvValues<typeof fields>;

/** Parsed once per execution environment; a missing or bad variable fails fast with its name. */
export function loadRenewalConfig(env: NodeJS.ProcessEnv = process.env): RenewalConfig {
  return loadEnv('renewal', fields, env);
}
