import { connectionsTable, loadEnv, secretMaxAgeSecondsOr, webhookBaseUrl, webhookSecretPrefix, type EnvValues } from './env-parsing';
import { RENEWAL_DEFAULTS } from './renewal-config';

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

const fields = {
  connectionsTable,
  webhookSecretPrefix,
  webhookBaseUrl,
  secretMaxAgeSeconds: secretMaxAgeSecondsOr(RECONCILE_DEFAULTS.secretMaxAgeSeconds),
} as const;

/** The reconciler publishes no event, so unlike renewal it needs no bus. */
export type ReconcileConfig = EnvValues<typeof fields>;

/** Parsed once per execution environment; a missing or bad variable fails fast with its name. */
export function loadReconcileConfig(env: NodeJS.ProcessEnv = process.env): ReconcileConfig {
  return loadEnv('reconcile', fields, env);
}
