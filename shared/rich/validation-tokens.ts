/**
 * Verifies the `validationTokens` Graph sends with rich notifications (includeResourceData): one JWT per
 * (app, tenant) pair in the POST, signed by the Microsoft identity platform. A POST whose tokens do not all verify
 * is suspicious as a whole (Microsoft Graph docs: "Validate the authenticity of notifications").
 *
 * The signing keys come from Microsoft's JWKS, cached here with an explicit max age and a refetch cooldown (see
 * VALIDATION_TOKEN_DEFAULTS). No AWS SDK: this module is loaded on the intake's notification path.
 */
import { createHash } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTPayload } from 'jose';
import { ConfigError } from '../config/env-parsing';
import type { Clock, FetchFn } from '../graph/graph-config';
import { isRedirect, NO_REDIRECTS, refusedRedirect } from '../graph/redirects';

/** Every tunable of the verifier, in one place. */
export const VALIDATION_TOKEN_DEFAULTS = {
  jwksUrl: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
  /** One JWKS request, body included. */
  fetchTimeoutMs: 5_000,
  /** Microsoft rotates its signing keys every few weeks and publishes new keys ahead of use; an unknown kid refetches. */
  cacheMaxAgeMs: 24 * 60 * 60 * 1000,
  /** At most one unknown-kid refetch per interval, so tokens with forged kids cannot make us hammer Microsoft. */
  refetchCooldownMs: 5 * 60 * 1000,
  /** Allowed skew on `exp` and `nbf` between Microsoft's clock and ours. */
  clockToleranceSeconds: 5 * 60,
} as const;

/** The variable naming the JWKS; tests and the local stack point it at a fake. */
export const JWKS_URL_ENV = 'GRAPH_JWKS_URL';

/** Verified tokens remembered (oldest dropped first): a few per tenant within a token's hour. */
const MAX_VERIFIED_TOKENS = 10_000;

/** The application id of "Microsoft Graph Change Tracking", the client Graph's validation tokens are issued to. */
export const GRAPH_CHANGE_TRACKING_APP_ID = '0bf30f3b-4a52-48df-9a82-234910c4a086';

/** The only algorithm the Microsoft identity platform signs these tokens with; `none` and HMAC are refused. */
const ALLOWED_ALGORITHM = 'RS256';

const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** v1 tokens: `https://sts.windows.net/{tid}/`; v2 tokens: `https://login.microsoftonline.com/{tid}/v2.0`. */
const ISSUERS = [new RegExp(`^https://sts\\.windows\\.net/(${GUID})/$`, 'i'), new RegExp(`^https://login\\.microsoftonline\\.com/(${GUID})/v2\\.0$`, 'i')];

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

export interface ValidationTokenVerifierOptions {
  /** Defaults to Microsoft's common JWKS; the intake passes `jwksUrlFromEnv(process.env)`. */
  jwksUrl?: string;
  /** The network port; defaults to native fetch. */
  fetch?: FetchFn;
  /** Defaults to the system clock; drives `exp`/`nbf` checks, the cache max age and the cooldown. */
  clock?: Pick<Clock, 'now'>;
  fetchTimeoutMs?: number;
  cacheMaxAgeMs?: number;
  refetchCooldownMs?: number;
  clockToleranceSeconds?: number;
}

export interface ExpectedValidationTokens {
  /** The integration's app client id(s): each token's `aud` must be one of them. */
  audiences: readonly string[];
  /** The tenants of the notifications in the POST: each token's issuer must be one of them. */
  tenantIds: readonly string[];
}

/**
 * `index` is the 0-based position of the first refused token (0 for an empty list); `reason` is one line naming the
 * failed check, never the token.
 */
export type VerificationResult =
  /** `tenantIds`: the tenants the tokens vouch for (lower-case, each once). */
  | { valid: true; tenantIds: string[] }
  | { valid: false; index: number; reason: string };

export interface ValidationTokenStats {
  /** JWKS requests made, failed ones included. */
  jwksFetches: number;
  /** `verify` calls that answered valid. */
  verified: number;
  /** `verify` calls that answered invalid. */
  refused: number;
  /** Tokens accepted from the cache of tokens already verified (no signature check). */
  cacheHits: number;
}

export interface ValidationTokenVerifier {
  /**
   * Checks every token, in order, stopping at the first refused one. Throws JwksUnavailableError when a JWKS
   * fetch is needed and fails: the caller answers 5xx so Graph retries, neither dropping nor trusting the POST.
   */
  verify(tokens: readonly string[], expected: ExpectedValidationTokens): Promise<VerificationResult>;
  stats(): ValidationTokenStats;
}

/** The JWKS could not be fetched or was not a usable key set. */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
}

/** `GRAPH_JWKS_URL` when set (https; plain http only on the loopback interface, for local fakes), else Microsoft's. */
export function jwksUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const value = env[JWKS_URL_ENV]?.trim() ?? '';
  if (value === '') return VALIDATION_TOKEN_DEFAULTS.jwksUrl;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${JWKS_URL_ENV} must be an absolute http(s) URL such as ${VALIDATION_TOKEN_DEFAULTS.jwksUrl}`);
  }
  // The JWKS is the trust anchor of every token: a plain-http fetch across a network could be answered by anyone.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname))) {
    throw new ConfigError(`${JWKS_URL_ENV} must use https (plain http only for localhost, 127.x.x.x or [::1])`);
  }
  if (url.username !== '' || url.password !== '' || url.hash !== '') {
    throw new ConfigError(`${JWKS_URL_ENV} must not contain credentials or a fragment`);
  }
  return url.href;
}

type KeySet = ReturnType<typeof createLocalJWKSet>;

/** Creates a verifier with its own JWKS cache; create one per process (module scope) so the cache is shared. */
export function createValidationTokenVerifier(options: ValidationTokenVerifierOptions = {}): ValidationTokenVerifier {
  const jwksUrl = options.jwksUrl ?? VALIDATION_TOKEN_DEFAULTS.jwksUrl;
  const fetchFn: FetchFn = options.fetch ?? ((url, init) => fetch(url, init));
  const clock = options.clock ?? { now: () => Date.now() };
  const fetchTimeoutMs = options.fetchTimeoutMs ?? VALIDATION_TOKEN_DEFAULTS.fetchTimeoutMs;
  const cacheMaxAgeMs = options.cacheMaxAgeMs ?? VALIDATION_TOKEN_DEFAULTS.cacheMaxAgeMs;
  const refetchCooldownMs = options.refetchCooldownMs ?? VALIDATION_TOKEN_DEFAULTS.refetchCooldownMs;
  const clockToleranceSeconds = options.clockToleranceSeconds ?? VALIDATION_TOKEN_DEFAULTS.clockToleranceSeconds;

  const counters: ValidationTokenStats = { jwksFetches: 0, verified: 0, refused: 0, cacheHits: 0 };
  /**
   * Tokens that passed every check, by SHA-256: Graph reuses a token across POSTs for its lifetime, so its RS256
   * signature is checked once. A hit still has its expiry, audience and tenant checked against this POST.
   */
  const verifiedTokens = new Map<string, { audience: string; tenantId: string; expiresAtMs: number }>();
  let keys: { set: KeySet; fetchedAt: number } | undefined;
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<KeySet> | undefined;

  async function fetchKeySet(): Promise<KeySet> {
    counters.jwksFetches += 1;
    lastAttemptAt = clock.now();
    const signal = AbortSignal.timeout(fetchTimeoutMs);
    let body: unknown;
    try {
      // The request carries no secret, but the answer is the trust anchor: a redirect would let its target (any
      // scheme, any host) supply the keys, past the https rule on GRAPH_JWKS_URL. Microsoft's JWKS answers 200 at
      // its documented URL, so a redirect is refused like a failed fetch (the POST is answered 5xx, Graph retries).
      const response = await fetchFn(jwksUrl, { method: 'GET', headers: { accept: 'application/json' }, ...NO_REDIRECTS, signal });
      if (isRedirect(response)) throw new JwksUnavailableError(`JWKS fetch refused (HTTP ${response.status}): ${await refusedRedirect(jwksUrl, response, 'the answer is the key set every validation token is checked with')}`);
      if (response.status !== 200) throw new JwksUnavailableError(`JWKS fetch answered HTTP ${response.status}`);
      try {
        body = await response.json();
      } catch (cause) {
        if (signal.aborted) throw cause;
        throw new JwksUnavailableError('JWKS response is not JSON', { cause });
      }
    } catch (cause) {
      if (cause instanceof JwksUnavailableError) throw cause;
      const detail = isTimeout(cause) ? `no answer within ${fetchTimeoutMs} ms` : 'network error';
      throw new JwksUnavailableError(`JWKS fetch failed: ${detail}`, { cause });
    }
    if (!isKeySet(body)) throw new JwksUnavailableError('JWKS response is not a key set with at least one key');
    let set: KeySet;
    try {
      set = createLocalJWKSet(body);
    } catch (cause) {
      throw new JwksUnavailableError('JWKS response is not a usable key set', { cause });
    }
    keys = { set, fetchedAt: clock.now() };
    return set;
  }

  /** One fetch at a time: concurrent callers share it. */
  function refresh(): Promise<KeySet> {
    pending ??= fetchKeySet().finally(() => {
      pending = undefined;
    });
    return pending;
  }

  async function currentKeySet(): Promise<KeySet> {
    if (pending) return pending;
    if (keys && clock.now() < keys.fetchedAt + cacheMaxAgeMs) return keys.set;
    return refresh();
  }

  /** The key for `kid`, refetching once per cooldown when it is unknown; undefined when still unknown. */
  async function keyFor(kid: string): Promise<CryptoKey | undefined> {
    const header = { alg: ALLOWED_ALGORITHM, kid };
    const found = await lookup(await currentKeySet(), header);
    if (found) return found;
    // A fetch already under way may publish the key; otherwise refetch unless one was tried recently.
    if (pending) return lookup(await pending, header);
    if (clock.now() < lastAttemptAt + refetchCooldownMs) return undefined;
    return lookup(await refresh(), header);
  }

  /** The token's tenant when every check passes, else `{ failure }` naming the first check that failed. */
  async function check(token: unknown, expected: ExpectedValidationTokens): Promise<{ failure: string } | { tenantId: string }> {
    const digest = typeof token === 'string' ? createHash('sha256').update(token).digest('base64url') : undefined;
    const known = digest === undefined ? undefined : verifiedTokens.get(digest);
    if (
      known !== undefined &&
      clock.now() < known.expiresAtMs + clockToleranceSeconds * 1000 &&
      expected.audiences.some((a) => a.toLowerCase() === known.audience) &&
      expected.tenantIds.some((t) => t.toLowerCase() === known.tenantId)
    ) {
      counters.cacheHits += 1;
      return { tenantId: known.tenantId };
    }
    // Anything else (unknown, expired, another audience or tenant) takes the full path and its precise reason.
    const result = await firstFailure(token, expected);
    if (typeof result === 'string') return { failure: result };
    if (digest !== undefined) {
      if (verifiedTokens.size >= MAX_VERIFIED_TOKENS) verifiedTokens.delete(verifiedTokens.keys().next().value as string);
      verifiedTokens.set(digest, { audience: result.audience, tenantId: result.tenantId, expiresAtMs: result.expiresAtMs });
    }
    return { tenantId: result.tenantId };
  }

  async function firstFailure(
    token: unknown,
    expected: ExpectedValidationTokens,
  ): Promise<string | { tenantId: string; audience: string; expiresAtMs: number }> {
    if (typeof token !== 'string' || token.split('.').length !== 3) return 'not a JWT';
    let alg: unknown;
    let kid: unknown;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch {
      return 'not a JWT (unreadable header)';
    }
    if (alg !== ALLOWED_ALGORITHM) return `algorithm ${quote(alg)} is not allowed (${ALLOWED_ALGORITHM} only)`;
    if (typeof kid !== 'string' || kid === '') return 'no key id (kid) in the header';

    let key: CryptoKey | undefined;
    try {
      key = await keyFor(kid);
    } catch (cause) {
      if (cause instanceof JwksUnavailableError) throw cause;
      // A published key jose cannot import (or a duplicated kid) is a key set problem, not the token's.
      throw new JwksUnavailableError(`JWKS key ${quote(kid)} cannot be used`, { cause });
    }
    if (!key) return `signing key ${quote(kid)} is not in the Microsoft identity platform's key set`;

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [ALLOWED_ALGORITHM],
        requiredClaims: ['exp'],
        clockTolerance: clockToleranceSeconds,
        currentDate: new Date(clock.now()),
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError) return describeJoseFailure(error);
      // jose throws a TypeError for a key it will not use (e.g. an RSA modulus under 2048 bits): the key set's fault.
      throw new JwksUnavailableError(`JWKS key ${quote(kid)} cannot be used`, { cause: error });
    }

    const audiences = expected.audiences.map((a) => a.toLowerCase());
    if (typeof payload.aud !== 'string' || !audiences.includes(payload.aud.toLowerCase())) {
      return `audience ${quote(payload.aud)} is not the app's client id`;
    }

    // v1 tokens name the client in `appid`, v2 tokens in `azp`; a token without `ver` is read by what it carries.
    const clientClaim = payload['ver'] === '2.0' ? 'azp' : payload['ver'] === '1.0' ? 'appid' : 'appid' in payload ? 'appid' : 'azp';
    const client = payload[clientClaim];
    if (typeof client !== 'string' || client.toLowerCase() !== GRAPH_CHANGE_TRACKING_APP_ID) {
      return `${clientClaim} ${quote(client)} is not Microsoft Graph Change Tracking (${GRAPH_CHANGE_TRACKING_APP_ID})`;
    }

    const issuerTenant = tenantOfIssuer(payload.iss);
    if (!issuerTenant) return `issuer ${quote(payload.iss)} is not a Microsoft identity platform tenant issuer`;
    if (!expected.tenantIds.some((t) => t.toLowerCase() === issuerTenant)) {
      return `issuer tenant ${issuerTenant} is not a tenant of this notification batch`;
    }
    const tid = payload['tid'];
    if (tid !== undefined && (typeof tid !== 'string' || tid.toLowerCase() !== issuerTenant)) {
      return `tid ${quote(tid)} does not match the issuer's tenant ${issuerTenant}`;
    }
    // exp is required by jwtVerify above, so it is a number here.
    return { tenantId: issuerTenant, audience: payload.aud.toLowerCase(), expiresAtMs: (payload.exp ?? 0) * 1000 };
  }

  return {
    async verify(tokens, expected) {
      if (tokens.length === 0) {
        counters.refused += 1;
        return { valid: false, index: 0, reason: 'no validation tokens' };
      }
      const tenantIds = new Set<string>();
      for (const [index, token] of tokens.entries()) {
        const result = await check(token, expected);
        if ('failure' in result) {
          counters.refused += 1;
          return { valid: false, index, reason: `token ${index}: ${result.failure}` };
        }
        tenantIds.add(result.tenantId);
      }
      counters.verified += 1;
      return { valid: true, tenantIds: [...tenantIds] };
    },
    stats: () => ({ ...counters }),
  };
}

/** The tenant id of a Microsoft identity platform issuer, lower-cased; undefined for any other issuer. */
function tenantOfIssuer(iss: unknown): string | undefined {
  if (typeof iss !== 'string') return undefined;
  for (const pattern of ISSUERS) {
    const tenant = pattern.exec(iss)?.[1];
    if (tenant) return tenant.toLowerCase();
  }
  return undefined;
}

async function lookup(set: KeySet, header: { alg: string; kid: string }): Promise<CryptoKey | undefined> {
  try {
    return await set(header);
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey) return undefined;
    throw error;
  }
}

function isKeySet(value: unknown): value is JSONWebKeySet {
  if (typeof value !== 'object' || value === null || !('keys' in value)) return false;
  const { keys } = value;
  return Array.isArray(keys) && keys.length > 0 && keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k));
}

/** One line naming the failed check; jose's own messages are short and never contain the token. */
function describeJoseFailure(error: InstanceType<typeof errors.JOSEError>): string {
  if (error instanceof errors.JWTExpired) return 'expired (exp is in the past)';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' && error.reason === 'check_failed') return 'not yet valid (nbf is in the future)';
    return `claim ${quote(error.claim)} is invalid: ${error.message}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  return `not a valid JWT (${error.code})`;
}

/** Claim values come from the sender: quoted (one line) and truncated. */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** AbortSignal.timeout rejects with a DOMException named TimeoutError (not always an `instanceof Error`). */
function isTimeout(error: unknown): boolean {
  const name = typeof error === 'object' && error !== null && 'name' in error ? error.name : undefined;
  return name === 'TimeoutError' || name === 'AbortError';
}
