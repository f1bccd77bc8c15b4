import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { ENV } from './env-names';
import { ConfigError } from './intake-config';
import { integer, RENEWAL_DEFAULTS, webhookBaseUrl } from './renewal-config';

/** Defaults for every tunable of the reconciler, in one place. */
export const RECONCILE_DEFAULTS = {
  secretMaxAgeSeconds: RENEWAL_DEFAULTS.secretMaxAgeSeconds,
  /**
   * Time kept free at the end of the invocation: no create or delete is started this close to the Lambda timeout,
   * so the invocation reports its batch item failures (or its scheduled run) before it is cut off.
   */
  deadlineMarginMs: RENEWAL_DEFAULTS.deadlineMarginMs,
  /** (integration, tenant) groups a scheduled full reconcile works on at once. */
  tenantConcurrency: 4,
  /**
   * Connections (and subscription records) a full reconcile reads, plans and applies at a time: its memory stays
   * that of one page however many connections there are.
   */
  pageSize: 100,
  /** A page's listByConnection queries (and index key writes) in flight at once. */
  pageReadConcurrency: 8,
} as const;

const schema = z.object({
  [ENV.connectionsTable]: z.string().min(1),
  [ENV.webhookSecretPrefix]: z.string().min(1),
  [ENV.webhookBaseUrl]: webhookBaseUrl,
  [ENV.secretMaxAgeSeconds]: integer(0, RECONCILE_DEFAULTS.secretMaxAgeSeconds),
});

/** The reconciler publishes no event, so unlike renewal it needs no bus. */
export interface ReconcileConfig {
  connectionsTable: string;
  webhookSecretPrefix: string;
  webhookBaseUrl: string;
  secretMaxAgeSeconds: number;
}

/** Parsed once per execution environment; a missing or bad variable fails fast with its name. */
export function loadReconcileConfig(env: NodeJS.ProcessEnv = process.env): ReconcileConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`reconcile configuration is invalid: ${describeIssues(parsed.error)}`);
  const c = parsed.data;
  return {
    connectionsTable: c[ENV.connectionsTable],
    webhookSecretPrefix: c[ENV.webhookSecretPrefix],
    webhookBaseUrl: c[ENV.webhookBaseUrl],
    secretMaxAgeSeconds: c[ENV.secretMaxAgeSeconds],
  };
}
