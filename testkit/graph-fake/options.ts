import type { SigningKey } from '../jwks';
import type { FakeClock, FakeClockOptions } from './clock';

/** An app registration as the fake's identity platform knows it. */
export interface RegisteredApp {
  clientId: string;
  /** Accepted client secret(s); two during a rotation. */
  clientSecret?: string | string[];
  /** Accepted certificate(s) for client assertions: X.509 PEM or base64 DER. */
  certificate?: string | string[];
  /** Tenants where the app is installed (consented). Default: every tenant. */
  tenants?: string[];
}

export interface RateLimitOptions {
  /** Window length in Graph seconds (scaled by timeScale). Default 20. */
  windowSeconds?: number;
  /** POST/PATCH/DELETE/reauthorize per app per tenant. Default 500. */
  writesPerAppPerTenant?: number;
  /** POST/PATCH/DELETE/reauthorize per app across tenants. Default 2,000. */
  writesPerApp?: number;
  /** GET /subscriptions per app per tenant. Default 25. */
  listsPerAppPerTenant?: number;
  /** GET /subscriptions/{id} per app per tenant. Default: unlimited (not among the documented limits). */
  getsPerAppPerTenant?: number;
  /**
   * Delta queries (users, groups, messages) per app per tenant. Default: unlimited. Graph throttles them under each
   * service's own limits (e.g. Outlook's per-mailbox budget), which a 20-second window cannot state exactly.
   */
  deltaPerAppPerTenant?: number;
  /**
   * Whether throttled requests also fill the window. Graph's guidance says every request accrues, but then a
   * Retry-After can no longer be a promise; default false keeps "wait Retry-After, then succeed" exact.
   */
  throttledRequestsCount?: boolean;
}

export type RetryAfterFormat = 'auto' | 'decimal' | 'integer';

export interface GraphFakeOptions {
  apps?: RegisteredApp[];
  /** Known tenants; others get AADSTS90002 from the token endpoint. Default: any tenant exists. */
  tenants?: string[];
  clock?: FakeClock | FakeClockOptions;
  /**
   * Real seconds per Graph second for rate-limit windows and computed Retry-After values: 0.01 makes a
   * 20-second window last 200 ms. Lifetimes and expiry use the clock instead. Default 1.
   */
  timeScale?: number;
  /**
   * How Retry-After is written. 'integer': whole real seconds, at least 1 (what HTTP specifies; slow with a
   * small timeScale). 'decimal': real seconds with millisecond precision, e.g. "0.137" (Graph's own
   * throttling sample shows `Retry-After: 2.128`, so clients must parse decimals anyway). 'auto' (default):
   * integer when timeScale is 1, decimal otherwise.
   */
  retryAfterFormat?: RetryAfterFormat;
  rateLimits?: RateLimitOptions;
  /** Subscriptions per app per tenant before 403 (Graph: 100 for directory resources). Default: unlimited. */
  maxSubscriptionsPerAppPerTenant?: number;
  /** Page size of GET /subscriptions. Default 100. */
  listPageSize?: number;
  /** Validation request timeout in real ms. Graph: 10 s. */
  validationTimeoutMs?: number;
  /**
   * How the validation token is URL-encoded: 'percent' (encodeURIComponent, %20 for spaces) or 'form'
   * (+ for spaces, as .NET's UrlEncode would). Graph's exact encoding is not documented. Default 'percent'.
   */
  validationTokenEncoding?: 'percent' | 'form';
  /** Real Graph requires https notification URLs; tests run on http://127.0.0.1, so default false. */
  requireHttps?: boolean;
  /**
   * What makes two subscriptions duplicates (409). Graph's documentation: the same changeType and resource
   * for the same app and tenant. Default 'changeType+resource'.
   */
  duplicateKey?: 'changeType+resource' | 'changeType+resource+notificationUrl';
  /** Timeout of change/lifecycle notification POSTs, real ms. Default 10,000. */
  deliveryTimeoutMs?: number;
  /** Access token lifetime (expires_in). Default 3,599 s. */
  tokenLifetimeSeconds?: number;
  /** Tolerated clock skew on client assertion nbf/exp. Default 300 s. */
  assertionClockSkewSeconds?: number;
  /** Port to listen on (default: a free port on 127.0.0.1). */
  port?: number;
  /** The key the fake's JWKS signs validation tokens with (generating one takes a moment; tests may share one). */
  signingKey?: SigningKey;
}

export interface ResolvedOptions {
  timeScale: number;
  retryAfterFormat: RetryAfterFormat;
  rateLimits: Required<RateLimitOptions>;
  maxSubscriptionsPerAppPerTenant: number;
  listPageSize: number;
  validationTimeoutMs: number;
  validationTokenEncoding: 'percent' | 'form';
  requireHttps: boolean;
  duplicateKey: 'changeType+resource' | 'changeType+resource+notificationUrl';
  deliveryTimeoutMs: number;
  tokenLifetimeSeconds: number;
  assertionClockSkewSeconds: number;
}

/** Graph's documented numbers (Microsoft Graph documentation) in one place. */
export const GRAPH_DEFAULTS = {
  windowSeconds: 20,
  writesPerAppPerTenant: 500,
  writesPerApp: 2000,
  listsPerAppPerTenant: 25,
  validationTimeoutMs: 10_000,
  tokenLifetimeSeconds: 3599,
  listPageSize: 100,
  deliveryTimeoutMs: 10_000,
  assertionClockSkewSeconds: 300,
  maxClientStateLength: 128,
} as const;

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0)) throw new RangeError(`graph-fake option ${name} must be positive, got ${value}`);
  return value;
}

export function resolveOptions(options: GraphFakeOptions): ResolvedOptions {
  const r = options.rateLimits ?? {};
  return {
    timeScale: positive('timeScale', options.timeScale, 1),
    retryAfterFormat: options.retryAfterFormat ?? 'auto',
    rateLimits: {
      windowSeconds: positive('rateLimits.windowSeconds', r.windowSeconds, GRAPH_DEFAULTS.windowSeconds),
      writesPerAppPerTenant: positive('rateLimits.writesPerAppPerTenant', r.writesPerAppPerTenant, GRAPH_DEFAULTS.writesPerAppPerTenant),
      writesPerApp: positive('rateLimits.writesPerApp', r.writesPerApp, GRAPH_DEFAULTS.writesPerApp),
      listsPerAppPerTenant: positive('rateLimits.listsPerAppPerTenant', r.listsPerAppPerTenant, GRAPH_DEFAULTS.listsPerAppPerTenant),
      getsPerAppPerTenant: positive('rateLimits.getsPerAppPerTenant', r.getsPerAppPerTenant, Number.POSITIVE_INFINITY),
      deltaPerAppPerTenant: positive('rateLimits.deltaPerAppPerTenant', r.deltaPerAppPerTenant, Number.POSITIVE_INFINITY),
      throttledRequestsCount: r.throttledRequestsCount ?? false,
    },
    maxSubscriptionsPerAppPerTenant: positive('maxSubscriptionsPerAppPerTenant', options.maxSubscriptionsPerAppPerTenant, Number.POSITIVE_INFINITY),
    listPageSize: Math.floor(positive('listPageSize', options.listPageSize, GRAPH_DEFAULTS.listPageSize)),
    validationTimeoutMs: positive('validationTimeoutMs', options.validationTimeoutMs, GRAPH_DEFAULTS.validationTimeoutMs),
    validationTokenEncoding: options.validationTokenEncoding ?? 'percent',
    requireHttps: options.requireHttps ?? false,
    duplicateKey: options.duplicateKey ?? 'changeType+resource',
    deliveryTimeoutMs: positive('deliveryTimeoutMs', options.deliveryTimeoutMs, GRAPH_DEFAULTS.deliveryTimeoutMs),
    tokenLifetimeSeconds: positive('tokenLifetimeSeconds', options.tokenLifetimeSeconds, GRAPH_DEFAULTS.tokenLifetimeSeconds),
    assertionClockSkewSeconds: options.assertionClockSkewSeconds ?? GRAPH_DEFAULTS.assertionClockSkewSeconds,
  };
}
