import * as z from 'zod';
import { GRAPH_ENV } from '../config/env-names';
import { loadEnv, stringOr } from '../config/env-parsing';

/**
 * A request that reached nothing, naming the URL in use and the variable that sets it: offline, or with a variable
 * pointing at a local fake that is not running, that URL is what the operator has to see.
 */
export function unreachable(kind: 'graph' | 'login', url: string, cause: unknown): string {
  const variable = kind === 'graph' ? GRAPH_ENV.apiUrl : GRAPH_ENV.loginUrl;
  const code = networkCodeOf(cause);
  return `network error${code === undefined ? '' : ` (${code})`} reaching ${url}; check the network, or ${variable} if that is not the ${kind === 'graph' ? 'Graph' : 'login'} URL to use`;
}

/** fetch rejects with `TypeError: fetch failed` whose cause carries the system error code (ECONNREFUSED, ENOTFOUND…). */
function networkCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 3; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Every tunable of the Graph clients, in one place. Microsoft has changed several of these limits over time
 * (Microsoft Graph docs), so nothing else in the code base repeats them.
 */
export const GRAPH_DEFAULTS = {
  apiUrl: 'https://graph.microsoft.com',
  loginUrl: 'https://login.microsoftonline.com',
  /** The Graph client adds it to every relative path; GRAPH_API_URL is the root without it. */
  apiVersion: 'v1.0',

  /** One Graph call. Graph answers most subscription calls within a second or two. */
  requestTimeoutMs: 15_000,
  /** Creating a subscription waits for Graph to validate notificationUrl and lifecycleNotificationUrl (10 s each). */
  createSubscriptionTimeoutMs: 30_000,
  /** One token request to the Microsoft identity platform. */
  tokenTimeoutMs: 10_000,

  /** Attempts per Graph call for 5xx, network failures and 429 without Retry-After (the first attempt included). */
  maxAttempts: 4,
  /**
   * Attempts per Graph call answered 429 with a Retry-After that fits the caller's deadline: Graph said when to come
   * back, so giving up early would only push the work to a later run (and spend the throttled attempts again).
   */
  maxThrottledAttempts: 10,
  /** Attempts per token request for 429, 5xx and network failures (the first attempt included). */
  tokenMaxAttempts: 3,
  /** Exponential backoff when no Retry-After is given: base · 2^(attempt-1), capped, with jitter. */
  backoffBaseMs: 500,
  backoffMaxMs: 8_000,
  /** Without a caller deadline, a Retry-After longer than this is not waited for: the caller gets the error. */
  maxRetryAfterMs: 60_000,

  /** A cached token is replaced this long before it expires. */
  tokenExpiryMarginSeconds: 300,
  /** Lifetime of a certificate client assertion (Microsoft: "5-10 minutes after nbf at most"). */
  clientAssertionLifetimeSeconds: 600,

  /** Guard against a `@odata.nextLink` loop when listing subscriptions. */
  maxListPages: 100,
} as const;

export interface GraphConfig {
  /** Graph root without version or trailing slash, e.g. `https://graph.microsoft.com`. */
  apiUrl: string;
  /** Identity platform root without trailing slash, e.g. `https://login.microsoftonline.com`. */
  loginUrl: string;
  /**
   * `{apiUrl}/.default`: app-only tokens carry every application permission the tenant consented to. A loopback
   * Graph (a local fake) still asks for the public Graph's scope, as the tokens it accepts are Graph's.
   */
  scope: string;
}

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * A base URL: https (plain http only on the loopback interface, for local fakes: a token request carries the
 * client secret), no credentials, query or fragment; trailing slashes dropped.
 */
function baseUrl(kind: 'graph' | 'login') {
  const example = kind === 'graph' ? GRAPH_DEFAULTS.apiUrl : GRAPH_DEFAULTS.loginUrl;
  return z.string().trim().transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be an absolute URL such as ${example}` });
      return z.NEVER;
    }
    const problems: string[] = [];
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname))) {
      problems.push('must use https (plain http only for localhost, 127.x.x.x or [::1])');
    }
    if (url.username !== '' || url.password !== '') problems.push('must not contain credentials');
    if (url.search !== '' || url.hash !== '') problems.push('must not contain a query or fragment');
    const path = url.pathname.replace(/\/+$/, '');
    if (kind === 'graph' && /\/(v1\.0|beta)$/i.test(path)) {
      problems.push(`must be the Graph root without a version segment (the client adds /${GRAPH_DEFAULTS.apiVersion})`);
    }
    if (problems.length > 0) {
      ctx.addIssue({ code: 'custom', message: problems.join('; ') });
      return z.NEVER;
    }
    return `${url.origin}${path}`;
  });
}

/** A blank variable means "not set": the default applies. */
const fields = {
  apiUrl: [GRAPH_ENV.apiUrl, stringOr(GRAPH_DEFAULTS.apiUrl).pipe(baseUrl('graph'))],
  loginUrl: [GRAPH_ENV.loginUrl, stringOr(GRAPH_DEFAULTS.loginUrl).pipe(baseUrl('login'))],
} as const;

/** Parsed once at start-up; a bad URL fails fast naming the variable and what is wrong with it. */
export function loadGraphConfig(env: NodeJS.ProcessEnv = process.env): GraphConfig {
  const { apiUrl, loginUrl } = loadEnv('Graph', fields, env);
  const scopeRoot = LOOPBACK_HOSTS.test(new URL(apiUrl).hostname) ? GRAPH_DEFAULTS.apiUrl : apiUrl;
  return { apiUrl, loginUrl, scope: `${scopeRoot}/.default` };
}

/** `{loginUrl}/{tenantId}/oauth2/v2.0/token`: also the `aud` of a certificate client assertion. */
export function tokenEndpoint(config: Pick<GraphConfig, 'loginUrl'>, tenantId: string): string {
  return `${config.loginUrl}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;
}

/** Retry policy shared by the token and Graph clients. */
export interface RetryPolicy {
  maxAttempts: number;
  maxThrottledAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxRetryAfterMs: number;
}

/**
 * Milliseconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable, so the caller falls back to backoff.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  // Graph sends fractional seconds too (e.g. `Retry-After: 2.128`); a number is never an HTTP-date.
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Exponential backoff with "equal jitter": half the step fixed, half random, so retries spread out. */
export function backoffMs(attempt: number, policy: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>, random: () => number = Math.random): number {
  const step = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

/** The clock and timer the clients use; tests pass one that records waits instead of sleeping. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

/**
 * A fetch port that refuses to send a request (the writer lease's fence) throws a subclass: the clients pass it on
 * as it is, never retrying it as a network failure.
 */
export class RequestNotSentError extends Error {
  override readonly name: string = 'RequestNotSentError';
}

/** The network port: native fetch in production, a function answering like Graph in tests. */
export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;
