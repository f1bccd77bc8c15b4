import * as z from 'zod';
import { ENV, PAYLOAD_BUCKET_ENV } from './env-names';
import {
  ConfigError,
  connectionsTable,
  eventBusName,
  eventSourceOr,
  loadEnv,
  secretMaxAgeSecondsOr,
  webhookSecretPrefix,
  wholeNumber,
  type EnvValues,
} from './env-parsing';
import { INTAKE_DEFAULTS } from './intake-config';

/** Defaults for the resync function, in one place. */
export const RESYNC_DEFAULTS = {
  secretMaxAgeSeconds: INTAKE_DEFAULTS.secretMaxAgeSeconds,
  /**
   * Time kept free at the end of an invocation: no delta page is started this close to the Lambda timeout, leaving
   * room to checkpoint, ask for the continuation and flush metrics.
   */
  deadlineMarginMs: 30_000,
  publishMaxAttempts: 4,
  publishConcurrency: 4,
  /** A job that found another run of its declaration in progress is asked again this much later. */
  busyRetrySeconds: 120,
  /**
   * The safety net: every `;resync` declaration is caught up at least this often (an incremental round; it also
   * keeps the delta link from expiring, which Graph does after 7 days for directory objects).
   */
  everyHours: 24,
} as const;

const fields = {
  connectionsTable,
  eventBusName,
  webhookSecretPrefix,
  eventSource: eventSourceOr(INTAKE_DEFAULTS.eventSource),
  secretMaxAgeSeconds: secretMaxAgeSecondsOr(RESYNC_DEFAULTS.secretMaxAgeSeconds),
  /** Its own queue: continuations and busy jobs are asked again there. */
  queueUrl: [ENV.resyncQueueUrl, z.url()],
  /** The safety net's interval; 0: off. */
  everyHours: [ENV.resyncEveryHours, wholeNumber(0, RESYNC_DEFAULTS.everyHours)],
  payloadBucket: [
    PAYLOAD_BUCKET_ENV,
    z
      .string()
      .trim()
      .optional()
      .transform((value) => (value === '' ? undefined : value)),
  ],
} as const;

export type ResyncConfig = Omit<EnvValues<typeof fields>, 'payloadBucket'> & { payloadBucket?: string };

/** Parsed once per execution environment; a missing or bad variable fails fast with its name. */
export function loadResyncConfig(env: NodeJS.ProcessEnv = process.env): ResyncConfig {
  const { payloadBucket, ...config } = loadEnv('resync', fields, env);
  return { ...config, ...(payloadBucket === undefined ? {} : { payloadBucket }) };
}

/**
 * The resync queue the senders (lifecycle, renewal, reconciler) ask on: undefined when RESYNC_QUEUE_URL is unset
 * (resync not deployed); a set but malformed value fails fast with its name.
 */
export function resyncQueueUrlFrom(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[ENV.resyncQueueUrl]?.trim();
  if (value === undefined || value === '') return undefined;
  if (!URL.canParse(value)) throw new ConfigError(`${ENV.resyncQueueUrl} is not a URL: ${value}`);
  return value;
}
