/**
 * App-only (client credentials) tokens for Microsoft Graph, one per tenant, from the Microsoft identity platform
 * (Microsoft Graph docs).
 *
 * Why not @azure/msal-node: tried against a local fake (msal-node 7.2), it refuses an http authority
 * (`authority_uri_insecure`), so a fake is reachable only through an invented https authority plus
 * `authorityMetadata` whose token_endpoint is http — a scheme check MSAL does not make today and may add. It also
 * sends one token request per concurrent caller on a cold cache (no single flight) and answers a 429 by failing
 * later calls locally until Retry-After passes instead of waiting within a budget. What is left to MSAL is the
 * client assertion, which node:crypto signs in a few lines (no dependency; jose 6 is ESM-only and does not load
 * under this repository's CommonJS Jest transform).
 */
import { createHash, createPrivateKey, constants as cryptoConstants, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import * as z from 'zod';
import { GRAPH_ENV } from '../config/env-names';
import {
  backoffMs,
  GRAPH_DEFAULTS,
  parseRetryAfter,
  RequestNotSentError,
  systemClock,
  tokenEndpoint,
  type Clock,
  type FetchFn,
  type GraphConfig,
  type RetryPolicy,
  unreachable,
} from './graph-config';
import { isRedirect, NO_REDIRECTS, refusedRedirect } from './redirects';

export type AppCredentials =
  | { clientId: string; clientSecret: string }
  | { clientId: string; certificate: { privateKeyPem: string; certificatePem: string } };

/** Credentials or a function reading them (e.g. from a secret cache with a max age, so rotation is picked up). */
export type CredentialsSource = AppCredentials | (() => AppCredentials | Promise<AppCredentials>);

/**
 * What went wrong, for the caller's decision:
 * - `consent`: the app is not (or no longer) consented/installed in this tenant: mark the connection needs-consent.
 * - `tenant-not-found`: the tenant id does not exist (deleted tenant, wrong cloud).
 * - `credentials`: this app's secret or certificate is wrong or expired: affects every tenant, an operator fixes it.
 * - `throttled` / `unavailable`: retry later. `invalid-request`: a bug on our side.
 * - `redirected`: the token endpoint answered a redirect, never followed (the request carries the app's secret):
 *   GRAPH_LOGIN_URL is wrong or something intercepts it; not retried. `unknown`: anything else.
 */
export type TokenErrorKind = 'consent' | 'tenant-not-found' | 'credentials' | 'throttled' | 'unavailable' | 'invalid-request' | 'redirected' | 'unknown';

export class TokenRequestError extends Error {
  override readonly name = 'TokenRequestError';
  readonly tenantId: string;
  /** HTTP status; undefined for a network failure or timeout. */
  readonly status: number | undefined;
  /** OAuth `error`, e.g. `invalid_client`, `unauthorized_client`. */
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  /** `AADSTS65001`, from error_description or error_codes. */
  readonly aadsts: string | undefined;
  readonly kind: TokenErrorKind;
  /** The app needs (admin) consent in this tenant before it can get a token. */
  readonly needsConsent: boolean;
  /** For `throttled`: how long the identity platform asked us to wait. */
  readonly retryAfterMs: number | undefined;
  /** The identity platform's trace_id and correlation_id, for a support request. */
  readonly traceId: string | undefined;
  readonly correlationId: string | undefined;

  constructor(fields: {
    tenantId: string;
    status?: number | undefined;
    error?: string | undefined;
    errorDescription?: string | undefined;
    aadsts?: string | undefined;
    kind: TokenErrorKind;
    retryAfterMs?: number | undefined;
    traceId?: string | undefined;
    correlationId?: string | undefined;
    message: string;
  }) {
    super(fields.message);
    this.tenantId = fields.tenantId;
    this.status = fields.status;
    this.error = fields.error;
    this.errorDescription = fields.errorDescription;
    this.aadsts = fields.aadsts;
    this.kind = fields.kind;
    this.needsConsent = fields.kind === 'consent';
    this.retryAfterMs = fields.retryAfterMs;
    this.traceId = fields.traceId;
    this.correlationId = fields.correlationId;
  }
}

/**
 * AADSTS codes by meaning (learn.microsoft.com/entra/identity-platform/reference-error-codes). Microsoft warns
 * codes change, so the OAuth `error` decides when no code here matches.
 */
const AADSTS_KINDS: Readonly<Record<string, TokenErrorKind>> = {
  // Consent missing, declined, or the app is not installed / disabled in the tenant.
  AADSTS65001: 'consent',
  AADSTS65004: 'consent',
  AADSTS650052: 'consent',
  AADSTS650056: 'consent',
  AADSTS90008: 'consent',
  AADSTS90094: 'consent',
  AADSTS90099: 'consent',
  AADSTS500011: 'consent',
  AADSTS700016: 'consent',
  AADSTS700011: 'consent',
  AADSTS70001: 'consent',
  AADSTS7000112: 'consent',
  // Tenant does not exist (or lives in another cloud).
  AADSTS90002: 'tenant-not-found',
  AADSTS900023: 'tenant-not-found',
  AADSTS90038: 'tenant-not-found',
  // Our own credentials.
  AADSTS7000215: 'credentials',
  AADSTS7000222: 'credentials',
  AADSTS7000218: 'credentials',
  AADSTS70002: 'credentials',
  AADSTS700027: 'credentials',
  AADSTS700024: 'credentials',
  AADSTS50012: 'credentials',
  AADSTS50048: 'credentials',
  // Throttled or transient on the identity platform's side.
  AADSTS50196: 'throttled',
  AADSTS90055: 'throttled',
  AADSTS50033: 'unavailable',
  AADSTS90006: 'unavailable',
  AADSTS90012: 'unavailable',
  AADSTS90024: 'unavailable',
  AADSTS90033: 'unavailable',
  AADSTS90090: 'unavailable',
};

const OAUTH_ERROR_KINDS: Readonly<Record<string, TokenErrorKind>> = {
  unauthorized_client: 'consent',
  invalid_resource: 'consent',
  consent_required: 'consent',
  invalid_client: 'credentials',
  temporarily_unavailable: 'unavailable',
  invalid_request: 'invalid-request',
  invalid_scope: 'invalid-request',
  unsupported_grant_type: 'invalid-request',
};

function classify(status: number, error: string | undefined, aadsts: string | undefined): TokenErrorKind {
  const byCode = aadsts === undefined ? undefined : AADSTS_KINDS[aadsts];
  if (byCode !== undefined) return byCode;
  if (status === 429) return 'throttled';
  if (status >= 500) return 'unavailable';
  const byError = error === undefined ? undefined : OAUTH_ERROR_KINDS[error];
  return byError ?? 'unknown';
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  // v2.0 answers a number; older endpoints answered a numeric string.
  expires_in: z.coerce.number().int().positive(),
});

const errorResponseSchema = z
  .object({
    error: z.string().optional(),
    error_description: z.string().optional(),
    error_codes: z.array(z.number()).optional(),
    trace_id: z.string().optional(),
    correlation_id: z.string().optional(),
  })
  .loose();

/** Tenant GUID or verified domain; the multi-tenant aliases cannot issue app-only tokens for one tenant. */
const TENANT_ID = /^[0-9a-z][0-9a-z.-]{0,252}$/i;
const NOT_A_TENANT = new Set(['common', 'organizations', 'consumers']);

export interface TokenLogger {
  warn(message: string, fields: Record<string, unknown>): void;
}

export interface TokenClientOptions {
  credentials: CredentialsSource;
  config: Pick<GraphConfig, 'loginUrl' | 'scope'>;
  fetch?: FetchFn;
  clock?: Clock;
  logger?: TokenLogger;
  /** Refresh a token this long before it expires. */
  expiryMarginSeconds?: number;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** PS256 with `x5t#S256` (current Microsoft guidance, the default) or RS256 with SHA-1 `x5t` (older guidance). */
  assertionAlgorithm?: 'PS256' | 'RS256';
  random?: () => number;
}

export interface TokenRequestOptions {
  /** Epoch ms: a Retry-After that would end past this is not waited for. */
  deadline?: number;
}

interface CachedToken {
  accessToken: string;
  /** Epoch ms after which the token is refreshed (expiry minus margin). */
  refreshAt: number;
}

interface PreparedCertificate {
  key: KeyObject;
  sha256Thumbprint: string;
  sha1Thumbprint: string;
}

/** Client-credentials tokens per (tenant, clientId), cached, single-flight, retried within bounds. */
export class TokenClient {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<CachedToken>>();
  private readonly certificates = new WeakMap<object, PreparedCertificate>();
  private readonly fetchFn: FetchFn;
  private readonly clock: Clock;
  private readonly retry: RetryPolicy;
  private readonly marginMs: number;
  private readonly timeoutMs: number;
  private readonly random: () => number;
  private requests = 0;

  constructor(private readonly options: TokenClientOptions) {
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.marginMs = (options.expiryMarginSeconds ?? GRAPH_DEFAULTS.tokenExpiryMarginSeconds) * 1000;
    this.timeoutMs = options.timeoutMs ?? GRAPH_DEFAULTS.tokenTimeoutMs;
    this.retry = {
      maxAttempts: GRAPH_DEFAULTS.tokenMaxAttempts,
      // The token endpoint's throttling is rare and not per tenant: the plain attempt budget applies.
      maxThrottledAttempts: GRAPH_DEFAULTS.tokenMaxAttempts,
      backoffBaseMs: GRAPH_DEFAULTS.backoffBaseMs,
      backoffMaxMs: GRAPH_DEFAULTS.backoffMaxMs,
      maxRetryAfterMs: GRAPH_DEFAULTS.maxRetryAfterMs,
      ...options.retry,
    };
  }

  /** A valid access token for the tenant: cached, or one shared request for all concurrent callers. */
  async getToken(tenantId: string, options: TokenRequestOptions = {}): Promise<string> {
    if (!TENANT_ID.test(tenantId) || NOT_A_TENANT.has(tenantId.toLowerCase())) {
      throw new TokenRequestError({ tenantId, kind: 'invalid-request', message: 'token request refused: tenantId must be a tenant GUID or domain' });
    }
    const credentials = await this.credentials();
    const key = cacheKey(tenantId, credentials.clientId);
    const cached = this.cache.get(key);
    if (cached !== undefined && this.clock.now() < cached.refreshAt) return cached.accessToken;

    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.requestToken(tenantId, credentials, options).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return (await pending).accessToken;
  }

  /**
   * Forget the tenant's cached token (after Graph answered 401). With `rejectedToken`, a token that was already
   * replaced by a concurrent refresh is kept.
   */
  invalidate(tenantId: string, rejectedToken?: string): void {
    const prefix = cacheKey(tenantId, '');
    for (const [key, token] of this.cache) {
      if (key.startsWith(prefix) && (rejectedToken === undefined || token.accessToken === rejectedToken)) this.cache.delete(key);
    }
  }

  /** HTTP requests sent to the token endpoint (retries included). */
  stats(): { tokenRequests: number } {
    return { tokenRequests: this.requests };
  }

  private async credentials(): Promise<AppCredentials> {
    const source = this.options.credentials;
    return typeof source === 'function' ? await source() : source;
  }

  private async requestToken(tenantId: string, credentials: AppCredentials, options: TokenRequestOptions): Promise<CachedToken> {
    const url = tokenEndpoint(this.options.config, tenantId);
    for (let attempt = 1; ; attempt += 1) {
      const startedAt = this.clock.now();
      const clientRequestId = randomUUID();
      let response: Response;
      try {
        // Built per attempt: a client assertion is single-use (its jti) and short-lived.
        const body = this.form(tenantId, credentials, url);
        this.requests += 1;
        response = await this.fetchFn(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
            'client-request-id': clientRequestId,
            'return-client-request-id': 'true',
          },
          body,
          ...NO_REDIRECTS,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        if (cause instanceof TokenRequestError || cause instanceof RequestNotSentError) throw cause;
        const failure = new TokenRequestError({
          tenantId,
          kind: 'unavailable',
          message: `token request for tenant ${tenantId} failed: ${isTimeout(cause) ? `no answer within ${this.timeoutMs} ms from ${this.options.config.loginUrl}` : unreachable('login', this.options.config.loginUrl, cause)}`,
        });
        this.log(failure, attempt, clientRequestId);
        await this.waitOrThrow(failure, attempt, undefined, options);
        continue;
      }

      if (isRedirect(response)) {
        const because = `the request carries the app's ${'clientSecret' in credentials ? 'client secret' : 'client assertion'}`;
        const failure = new TokenRequestError({
          tenantId,
          status: response.status,
          kind: 'redirected',
          message: `token request for tenant ${tenantId} refused (HTTP ${response.status}): ${await refusedRedirect(url, response, because)}; check ${GRAPH_ENV.loginUrl}`,
        });
        this.log(failure, attempt, clientRequestId);
        throw failure;
      }

      if (response.ok) {
        const parsed = tokenResponseSchema.safeParse(await readJson(response));
        if (!parsed.success) {
          throw new TokenRequestError({ tenantId, status: response.status, kind: 'unknown', message: `token response for tenant ${tenantId} is invalid: ${parsed.error.issues.map((i) => i.path.join('.') || '(body)').join(', ')}` });
        }
        const token = { accessToken: parsed.data.access_token, refreshAt: startedAt + parsed.data.expires_in * 1000 - this.marginMs };
        this.cache.set(cacheKey(tenantId, credentials.clientId), token);
        return token;
      }

      const failure = errorFrom(tenantId, response, await readJson(response), this.clock.now());
      this.log(failure, attempt, clientRequestId);
      if (failure.kind !== 'throttled' && failure.kind !== 'unavailable') throw failure;
      await this.waitOrThrow(failure, attempt, failure.retryAfterMs, options);
    }
  }

  /** Waits before the next attempt, or throws `failure` when attempts, the cap or the caller's deadline say stop. */
  private async waitOrThrow(failure: TokenRequestError, attempt: number, retryAfterMs: number | undefined, options: TokenRequestOptions): Promise<void> {
    if (attempt >= this.retry.maxAttempts) throw failure;
    const wait = retryAfterMs ?? backoffMs(attempt, this.retry, this.random);
    if (wait > this.retry.maxRetryAfterMs) throw failure;
    if (options.deadline !== undefined && this.clock.now() + wait > options.deadline) throw failure;
    await this.clock.sleep(wait);
  }

  private form(tenantId: string, credentials: AppCredentials, audience: string): URLSearchParams {
    const form = new URLSearchParams({
      client_id: credentials.clientId,
      scope: this.options.config.scope,
      grant_type: 'client_credentials',
    });
    if ('clientSecret' in credentials) {
      form.set('client_secret', credentials.clientSecret);
    } else {
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', this.clientAssertion(tenantId, credentials, audience));
    }
    return form;
  }

  /**
   * A signed JWT proving possession of the app's certificate (learn.microsoft.com/entra/identity-platform/
   * certificate-credentials): `aud` = the token endpoint, `iss` = `sub` = client id, unique `jti`, short `exp`.
   */
  private clientAssertion(tenantId: string, credentials: Extract<AppCredentials, { certificate: unknown }>, audience: string): string {
    const certificate = this.prepare(tenantId, credentials);
    const algorithm = this.options.assertionAlgorithm ?? 'PS256';
    const header =
      algorithm === 'PS256'
        ? { alg: 'PS256', typ: 'JWT', 'x5t#S256': certificate.sha256Thumbprint }
        : { alg: 'RS256', typ: 'JWT', x5t: certificate.sha1Thumbprint };
    const now = Math.floor(this.clock.now() / 1000);
    const claims = {
      aud: audience,
      iss: credentials.clientId,
      sub: credentials.clientId,
      jti: randomUUID(),
      nbf: now,
      iat: now,
      exp: now + GRAPH_DEFAULTS.clientAssertionLifetimeSeconds,
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign(
      'sha256',
      Buffer.from(input),
      algorithm === 'PS256'
        ? { key: certificate.key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: cryptoConstants.RSA_PSS_SALTLEN_DIGEST }
        : certificate.key,
    );
    return `${input}.${signature.toString('base64url')}`;
  }

  /** Parses the PEMs once per credentials object and checks the key belongs to the certificate. */
  private prepare(tenantId: string, credentials: Extract<AppCredentials, { certificate: unknown }>): PreparedCertificate {
    const known = this.certificates.get(credentials.certificate);
    if (known !== undefined) return known;
    const invalid = (why: string) =>
      new TokenRequestError({ tenantId, kind: 'credentials', message: `certificate credentials of client ${credentials.clientId} are invalid: ${why}` });
    let certificate: X509Certificate;
    let key: KeyObject;
    try {
      certificate = new X509Certificate(credentials.certificate.certificatePem);
    } catch {
      throw invalid('certificatePem is not a PEM X.509 certificate');
    }
    try {
      key = createPrivateKey(credentials.certificate.privateKeyPem);
    } catch {
      throw invalid('privateKeyPem is not a PEM private key');
    }
    if (key.asymmetricKeyType !== 'rsa') throw invalid('the private key must be RSA');
    if (!certificate.checkPrivateKey(key)) throw invalid('the private key does not belong to the certificate');
    const prepared = {
      key,
      sha256Thumbprint: createHash('sha256').update(certificate.raw).digest('base64url'),
      sha1Thumbprint: createHash('sha1').update(certificate.raw).digest('base64url'),
    };
    this.certificates.set(credentials.certificate, prepared);
    return prepared;
  }

  private log(failure: TokenRequestError, attempt: number, clientRequestId: string): void {
    this.options.logger?.warn('token request failed', {
      tenantId: failure.tenantId,
      attempt,
      status: failure.status,
      // The identity platform's own error code; `detail` is the whole failure, naming the login URL when unreachable.
      error: failure.error,
      aadsts: failure.aadsts,
      kind: failure.kind,
      detail: failure.message,
      traceId: failure.traceId,
      correlationId: failure.correlationId,
      clientRequestId,
    });
  }
}

function cacheKey(tenantId: string, clientId: string): string {
  return `${tenantId.toLowerCase()}\n${clientId}`;
}

function errorFrom(tenantId: string, response: Response, body: unknown, now: number): TokenRequestError {
  const parsed = errorResponseSchema.safeParse(body);
  const fields = parsed.success ? parsed.data : {};
  const fromDescription = fields.error_description?.match(/AADSTS\d+/)?.[0];
  const firstCode = fields.error_codes?.[0];
  const aadsts = fromDescription ?? (firstCode === undefined ? undefined : `AADSTS${firstCode}`);
  const kind = classify(response.status, fields.error, aadsts);
  // The description's first line only: the rest repeats trace and correlation ids kept in their own fields.
  const description = fields.error_description?.split(/\r?\n/)[0]?.trim();
  return new TokenRequestError({
    tenantId,
    status: response.status,
    error: fields.error,
    errorDescription: fields.error_description,
    aadsts,
    kind,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now),
    traceId: fields.trace_id,
    correlationId: fields.correlation_id,
    message: `token request for tenant ${tenantId} failed with HTTP ${response.status}${fields.error ? ` ${fields.error}` : ''}${description ? `: ${description}` : ''}`,
  });
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** AbortSignal.timeout rejects with a DOMException named TimeoutError (not always an `instanceof Error`). */
function isTimeout(error: unknown): boolean {
  const name = typeof error === 'object' && error !== null && 'name' in error ? error.name : undefined;
  return name === 'TimeoutError' || name === 'AbortError';
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
