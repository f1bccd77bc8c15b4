import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { ENV } from './env-names';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** A blank variable means "not set", so the default applies rather than an empty value. */
const blankAs = (fallback: unknown) => (v: unknown) => (v === undefined || (typeof v === 'string' && v.trim() === '') ? fallback : v);

/** A variable that must be set: a table, bus or secret prefix name. */
export const requiredName = () => z.string().min(1);

/** A name with a default when unset. */
export const nameOr = (fallback: string) => z.string().min(1).default(fallback);

/** A whole number of at least `min`; a blank variable means "not set" (falls back to the default), not zero. */
export const wholeNumber = (min: number, fallback: number) => z.preprocess(blankAs(fallback), z.coerce.number().int().min(min));

/** A string with a default; a blank variable means "not set". */
export const stringOr = (fallback: string) => z.preprocess(blankAs(fallback), z.string());

/** Absolute http(s) URL ending in `/`, so `<base><integrationId>` is the notificationUrl. */
const webhookBaseUrlSchema = z
  .string()
  .trim()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'must be an absolute http(s) URL such as https://example.com/webhook/')
  .refine((value) => value.endsWith('/'), 'must end with "/" (the integration id is appended)');

/**
 * The variables several functions read, each parsed the same way wherever it is read; a configuration lists them
 * by name beside its own fields.
 */
export const connectionsTable = [ENV.connectionsTable, requiredName()] as const;
export const eventBusName = [ENV.eventBus, requiredName()] as const;
export const webhookSecretPrefix = [ENV.webhookSecretPrefix, requiredName()] as const;
export const webhookBaseUrl = [ENV.webhookBaseUrl, webhookBaseUrlSchema] as const;
export const eventSourceOr = (fallback: string) => [ENV.eventSource, nameOr(fallback)] as const;
export const secretMaxAgeSecondsOr = (fallback: number) => [ENV.secretMaxAgeSeconds, wholeNumber(0, fallback)] as const;

/** Each field of a configuration: the variable it is read from and how that variable is parsed. */
export type EnvFields = Record<string, readonly [variable: string, schema: z.ZodType]>;

export type EnvValues<F extends EnvFields> = { [K in keyof F]: z.output<F[K][1]> };

/**
 * Reads every field from its variable, once at start-up; a missing or bad variable fails fast with a message
 * naming the variable: `<what> configuration is invalid: <VARIABLE>: <problem>; …`.
 */
export function loadEnv<F extends EnvFields>(what: string, fields: F, env: NodeJS.ProcessEnv): EnvValues<F> {
  const schema = z.object(Object.fromEntries(Object.values(fields).map(([variable, parse]) => [variable, parse])));
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`${what} configuration is invalid: ${describeIssues(parsed.error)}`);
  const values = parsed.data as Record<string, unknown>;
  return Object.fromEntries(Object.entries(fields).map(([field, [variable]]) => [field, values[variable]])) as EnvValues<F>;
}
