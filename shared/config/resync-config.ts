import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { ENV } from './env-names';
import { ConfigError, INTAKE_DEFAULTS, PAYLOAD_BUCKET_ENV } from './intake-config';
import { integer } from './renewal-config';

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

const schema = z.object({
  [ENV.connectionsTable]: z.string().min(1),
  [ENV.eventBus]: z.string().min(1),
  [ENV.webhookSecretPrefix]: z.string().min(1),
  [ENV.eventSource]: z.string().min(1).default(INTAKE_DEFAULTS.eventSource),
  [ENV.secretMaxAgeSeconds]: integer(0, RESYNC_DEFAULTS.secretMaxAgeSeconds),
  [ENV.resyncQueueUrl]: z.url(),
  [ENV.resyncEveryHours]: integer(0, RESYNC_DEFAULTS.everyHours),
  [PAYLOAD_BUCKET_ENV]: z
    .string()
    .trim()
    .optional()
    .transform((value) => (value === '' ? undefined : value)),
});

export interface ResyncConfig {
  connectionsTable: string;
  eventBusName: string;
  webhookSecretPrefix: string;
  eventSource: string;
  secretMaxAgeSeconds: number;
  /** Its own queue: continuations and busy jobs are asked again there. */
  queueUrl: string;
  /** The safety net's interval; 0: off. */
  everyHours: number;
  payloadBucket?: string;
}

/** Parsed once per execution environment; a missing or bad variable fails fast with its name. */
export function loadResyncConfig(env: NodeJS.ProcessEnv = process.env): ResyncConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`resync configuration is invalid: ${describeIssues(parsed.error)}`);
  const c = parsed.data;
  const payloadBucket = c[PAYLOAD_BUCKET_ENV];
  return {
    connectionsTable: c[ENV.connectionsTable],
    eventBusName: c[ENV.eventBus],
    webhookSecretPrefix: c[ENV.webhookSecretPrefix],
    eventSource: c[ENV.eventSource],
    secretMaxAgeSeconds: c[ENV.secretMaxAgeSeconds],
    queueUrl: c[ENV.resyncQueueUrl],
    everyHours: c[ENV.resyncEveryHours],
    ...(payloadBucket === undefined ? {} : { payloadBucket }),
  };
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
