/**
 * The validationTokens verifier against a local JWKS server with generated RSA keys: every claim check, the
 * algorithm allow-list (alg none, HS256 key confusion), key lookup and rotation, the JWKS cache and its refetch
 * cooldown, typed errors when the JWKS is unavailable, and the GRAPH_JWKS_URL setting.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigError } from '../../shared/config/env-parsing';
import type { FetchFn } from '../../shared/graph/graph-config';
import {
  createValidationTokenVerifier,
  JwksUnavailableError,
  jwksUrlFromEnv,
  VALIDATION_TOKEN_DEFAULTS,
  type ValidationTokenVerifier,
  type ValidationTokenVerifierOptions,
  type VerificationResult,
} from '../../shared/rich/validation-tokens';
import { generateSigningKey, startFakeJwks, unreachableUrl, v1Claims, v2Claims, type FakeJwks, type SigningKey } from '../../testkit/jwks';

const APP_ID = '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01';
const OTHER_APP_ID = 'a1b2c3d4-0000-4000-8000-0123456789ab';
const TENANT_A = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TENANT_B = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
const TENANT_C = '7ed9bdab-9c7d-4c10-a25d-3f4ff0e34577';
const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const ISSUED_AT = START / 1000 - 60;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const EXPECTED = { audiences: [APP_ID], tenantIds: [TENANT_A, TENANT_B] };
const claimsA = { tenantId: TENANT_A, audience: APP_ID, issuedAt: ISSUED_AT };
const claimsB = { tenantId: TENANT_B, audience: APP_ID, issuedAt: ISSUED_AT };

let initialKey: SigningKey;
let jwks: FakeJwks;
let now: number;

beforeAll(async () => {
  initialKey = await generateSigningKey();
});

beforeEach(async () => {
  jwks = await startFakeJwks(initialKey);
  now = START;
});

afterEach(async () => {
  await jwks.close();
});

function verifier(options: ValidationTokenVerifierOptions = {}): ValidationTokenVerifier {
  return createValidationTokenVerifier({ jwksUrl: jwks.url, clock: { now: () => now }, ...options });
}

/** A refusal at `index` whose one-line reason matches, and which never repeats a token. */
function expectRefused(result: VerificationResult, index: number, reason: RegExp, tokens: readonly string[]): void {
  expect(result).toEqual({ valid: false, index, reason: expect.stringMatching(reason) });
  if (result.valid) return;
  expect(result.reason).not.toMatch(/\n/);
  for (const token of tokens.filter((t) => t.length > 0)) expect(result.reason).not.toContain(token);
}

describe('valid tokens', () => {
  it('accepts a v1 token (sts.windows.net issuer, appid)', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expect(result).toEqual({ valid: true, tenantIds: [TENANT_A.toLowerCase()] });
  });

  it('accepts a v2 token (login.microsoftonline.com issuer, azp)', async () => {
    // Prepare
    const tokens = [await jwks.sign(v2Claims(claimsB))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expect(result).toMatchObject({ valid: true });
  });

  it('accepts several tokens for several tenants and apps when all are valid', async () => {
    // Prepare
    const tokens = [
      await jwks.sign(v1Claims(claimsA)),
      await jwks.sign(v2Claims(claimsB)),
      await jwks.sign(v2Claims({ ...claimsA, audience: OTHER_APP_ID })),
    ];

    // Act
    const result = await verifier().verify(tokens, { audiences: [APP_ID, OTHER_APP_ID], tenantIds: [TENANT_A, TENANT_B] });

    // Assess: the tenants the tokens vouch for, each once
    expect(result).toEqual({ valid: true, tenantIds: [TENANT_A.toLowerCase(), TENANT_B.toLowerCase()] });
  });

  it('compares tenant ids and audiences case-insensitively', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA)), await jwks.sign(v2Claims(claimsB))];

    // Act
    const result = await verifier().verify(tokens, { audiences: [APP_ID.toUpperCase()], tenantIds: [TENANT_A.toUpperCase(), TENANT_B.toUpperCase()] });

    // Assess
    expect(result).toMatchObject({ valid: true });
  });

  it('tolerates up to 5 minutes of clock skew on exp and nbf', async () => {
    // Prepare
    const nowSeconds = START / 1000;
    const tokens = [
      await jwks.sign(v1Claims(claimsA, { exp: nowSeconds - 4 * 60 })),
      await jwks.sign(v2Claims(claimsB, { nbf: nowSeconds + 4 * 60, iat: nowSeconds + 4 * 60 })),
    ];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expect(VALIDATION_TOKEN_DEFAULTS.clockToleranceSeconds).toBe(300);
    expect(result).toMatchObject({ valid: true });
  });
});

describe('refused tokens', () => {
  it('reports the index of the one invalid token among valid ones', async () => {
    // Prepare
    const tokens = [
      await jwks.sign(v1Claims(claimsA)),
      await jwks.sign(v2Claims(claimsB)),
      await jwks.sign(v2Claims(claimsA, { aud: OTHER_APP_ID })),
      await jwks.sign(v1Claims(claimsB)),
    ];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 2, /^token 2: audience "a1b2c3d4-0000-4000-8000-0123456789ab" is not the app's client id$/, tokens);
  });

  it('refuses an expired token', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA, { exp: START / 1000 - 6 * 60 }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: expired/, tokens);
  });

  it('refuses a token without exp', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA, { exp: undefined }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: claim "exp" is invalid: missing required "exp" claim$/, tokens);
  });

  it('refuses a token that is not yet valid', async () => {
    // Prepare
    const later = START / 1000 + 10 * 60;
    const tokens = [await jwks.sign(v2Claims(claimsA, { nbf: later, iat: later, exp: later + 3600 }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: not yet valid/, tokens);
  });

  it('refuses a token for another audience', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims({ ...claimsA, audience: OTHER_APP_ID }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: audience "a1b2c3d4-0000-4000-8000-0123456789ab" is not the app's client id$/, tokens);
  });

  it('refuses a v1 token whose appid is not Graph change tracking', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA, { appid: OTHER_APP_ID, azp: '0bf30f3b-4a52-48df-9a82-234910c4a086' }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: appid "a1b2c3d4-0000-4000-8000-0123456789ab" is not Microsoft Graph Change Tracking/, tokens);
  });

  it('refuses a v2 token whose azp is not Graph change tracking', async () => {
    // Prepare
    const tokens = [await jwks.sign(v2Claims(claimsA, { azp: OTHER_APP_ID, appid: '0bf30f3b-4a52-48df-9a82-234910c4a086' }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: azp "a1b2c3d4-0000-4000-8000-0123456789ab" is not Microsoft Graph Change Tracking/, tokens);
  });

  it('refuses a v2 token without azp', async () => {
    // Prepare
    const tokens = [await jwks.sign(v2Claims(claimsA, { azp: undefined }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: azp undefined is not Microsoft Graph Change Tracking/, tokens);
  });

  it("refuses a token whose issuer is another tenant than its tid", async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA, { iss: `https://sts.windows.net/${TENANT_B}/` }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, new RegExp(`^token 0: tid "${TENANT_A}" does not match the issuer's tenant ${TENANT_B}$`), tokens);
  });

  it('refuses a token whose tenant is not in the batch', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA)), await jwks.sign(v2Claims({ ...claimsA, tenantId: TENANT_C }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 1, new RegExp(`^token 1: issuer tenant ${TENANT_C} is not a tenant of this notification batch$`), tokens);
  });

  it.each([
    ['v1 without the trailing slash', `https://sts.windows.net/${TENANT_A}`],
    ['v2 without /v2.0', `https://login.microsoftonline.com/${TENANT_A}/`],
    ['another host', `https://sts.example.com/${TENANT_A}/`],
    ['plain http', `http://sts.windows.net/${TENANT_A}/`],
    ['the common endpoint', 'https://login.microsoftonline.com/common/v2.0'],
    ['a tenant that is not a GUID', 'https://sts.windows.net/contoso.onmicrosoft.com/'],
    ['a longer path', `https://sts.windows.net/${TENANT_A}/x/`],
    ['not a string', 42],
  ])('refuses a malformed issuer: %s', async (_name, iss) => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA, { iss }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: issuer .* is not a Microsoft identity platform tenant issuer$/, tokens);
  });

  it('refuses a token whose payload was altered after signing', async () => {
    // Prepare
    const genuine = await jwks.sign(v1Claims({ ...claimsA, audience: OTHER_APP_ID }));
    const [header, , signature] = genuine.split('.');
    const forgedPayload = Buffer.from(JSON.stringify(v1Claims(claimsA))).toString('base64url');
    const tokens = [`${header}.${forgedPayload}.${signature}`];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: signature does not verify$/, tokens);
  });

  it('refuses a token signed by another key under a published kid', async () => {
    // Prepare
    const impostor = await generateSigningKey();
    const tokens = [await jwks.sign(v1Claims(claimsA), { kid: jwks.keys[0]?.kid, key: impostor.privateKey })];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: signature does not verify$/, tokens);
  });

  it('refuses alg none without fetching the key set', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA), { alg: 'none' })];
    const subject = verifier();

    // Act
    const result = await subject.verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: algorithm "none" is not allowed \(RS256 only\)$/, tokens);
    expect(jwks.requests).toBe(0);
  });

  it.each([
    ['the public key PEM', (pem: string) => new TextEncoder().encode(pem)],
    ['the public JWK JSON', (_pem: string) => new TextEncoder().encode(JSON.stringify(jwks.keys[0]?.publicJwk))],
  ])('refuses HS256 signed with %s as the HMAC secret', async (_name, secret) => {
    // Prepare
    const published = jwks.keys[0];
    if (!published) throw new Error('the fake publishes a key');
    const tokens = [await jwks.sign(v1Claims(claimsA), { alg: 'HS256', kid: published.kid, key: secret(published.publicPem) })];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: algorithm "HS256" is not allowed \(RS256 only\)$/, tokens);
  });

  it('refuses a token without a kid', async () => {
    // Prepare
    const published = jwks.keys[0];
    if (!published) throw new Error('the fake publishes a key');
    const tokens = [await new SignJWT(v1Claims(claimsA)).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(published.privateKey)];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: no key id \(kid\) in the header$/, tokens);
  });

  it.each([
    ['an empty string', ''],
    ['a word', 'garbage'],
    ['two segments', 'abc.def'],
    ['three empty segments', '..'],
    ['segments that are not base64url JSON', 'not.a.jwt'],
    ['a header that is JSON but not an object', `${Buffer.from('"x"').toString('base64url')}.e30.sig`],
  ])('refuses garbage: %s', async (_name, garbage) => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA)), garbage];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 1, /^token 1: not a JWT/, tokens);
  });

  it('refuses an empty token list', async () => {
    // Prepare
    const subject = verifier();

    // Act
    const result = await subject.verify([], EXPECTED);

    // Assess
    expect(result).toEqual({ valid: false, index: 0, reason: 'no validation tokens' });
    expect(subject.stats()).toMatchObject({ jwksFetches: 0, verified: 0, refused: 1 });
  });

  it('truncates a long sender-supplied value in the reason', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA, { aud: `x\n${'y'.repeat(500)}` }))];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: audience "x\\nyyy.*\.\.\. is not the app's client id$/, tokens);
    expect(result.valid ? '' : result.reason).toHaveLength('token 0: audience  is not the app\'s client id'.length + 80);
  });
});

describe('tokens already verified', () => {
  it('checks a token seen again (Graph reuses tokens across POSTs) without a signature check', async () => {
    // Prepare
    const subject = verifier();
    const tokens = [await jwks.sign(v1Claims(claimsA))];
    await subject.verify(tokens, EXPECTED);

    // Act
    const again = await subject.verify(tokens, EXPECTED);

    // Assess
    expect(again).toEqual({ valid: true, tenantIds: [TENANT_A.toLowerCase()] });
    expect(subject.stats()).toMatchObject({ verified: 2, cacheHits: 1 });
  });

  it('still refuses a remembered token once it has expired', async () => {
    // Prepare
    const subject = verifier();
    const tokens = [await jwks.sign(v1Claims(claimsA, { exp: START / 1000 + 60 }))];
    expect(await subject.verify(tokens, EXPECTED)).toMatchObject({ valid: true });
    now = START + 60_000 + VALIDATION_TOKEN_DEFAULTS.clockToleranceSeconds * 1000 + 1;

    // Act
    const result = await subject.verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /expired/, tokens);
    expect(subject.stats().cacheHits).toBe(0);
  });

  it('still refuses a remembered token for another integration (audience) or a batch without its tenant', async () => {
    // Prepare
    const subject = verifier();
    const tokens = [await jwks.sign(v1Claims(claimsA))];
    await subject.verify(tokens, EXPECTED);

    // Act
    const otherApp = await subject.verify(tokens, { audiences: [OTHER_APP_ID], tenantIds: [TENANT_A] });
    const otherBatch = await subject.verify(tokens, { audiences: [APP_ID], tenantIds: [TENANT_B] });

    // Assess
    expectRefused(otherApp, 0, /audience/, tokens);
    expectRefused(otherBatch, 0, /not a tenant of this notification batch/, tokens);
    expect(subject.stats().cacheHits).toBe(0);
  });
});

describe('signing keys and the JWKS cache', () => {
  /** A verifier whose cache was filled an hour ago, as in a warm Lambda: the refetch cooldown has long passed. */
  async function warmVerifier(): Promise<ValidationTokenVerifier> {
    const subject = verifier();
    expect(await subject.verify([await jwks.sign(v1Claims(claimsA))], EXPECTED)).toMatchObject({ valid: true });
    now += HOUR;
    return subject;
  }
  const inAnHour = { ...claimsA, issuedAt: (START + HOUR) / 1000 - 60 };

  it('refetches once for an unknown kid, then refuses it without refetching during the cooldown', async () => {
    // Prepare
    const subject = await warmVerifier();
    const foreign = await generateSigningKey('unknown-kid');
    const tokens = [await jwks.sign(v1Claims(inAnHour), { kid: foreign.kid, key: foreign.privateKey })];

    // Act
    const first = await subject.verify(tokens, EXPECTED);
    now += VALIDATION_TOKEN_DEFAULTS.refetchCooldownMs - 1;
    const second = await subject.verify(tokens, EXPECTED);

    // Assess
    expectRefused(first, 0, /^token 0: signing key "unknown-kid" is not in the Microsoft identity platform's key set$/, tokens);
    expectRefused(second, 0, /^token 0: signing key "unknown-kid" is not in/, tokens);
    expect(VALIDATION_TOKEN_DEFAULTS.refetchCooldownMs).toBe(5 * MINUTE);
    expect(jwks.requests).toBe(2);
    expect(subject.stats()).toMatchObject({ jwksFetches: 2, verified: 1, refused: 2 });
  });

  it('refetches for an unknown kid again once the cooldown has passed', async () => {
    // Prepare
    const subject = await warmVerifier();
    const foreign = await generateSigningKey();
    const tokens = [await jwks.sign(v1Claims(inAnHour), { kid: foreign.kid, key: foreign.privateKey })];
    await subject.verify(tokens, EXPECTED);

    // Act
    now += VALIDATION_TOKEN_DEFAULTS.refetchCooldownMs;
    await subject.verify(tokens, EXPECTED);

    // Assess
    expect(jwks.requests).toBe(3);
  });

  it('does not refetch for an unknown kid right after the first fetch', async () => {
    // Prepare
    const foreign = await generateSigningKey();
    const tokens = [await jwks.sign(v1Claims(claimsA), { kid: foreign.kid, key: foreign.privateKey })];

    // Act
    const result = await verifier().verify(tokens, EXPECTED);

    // Assess
    expectRefused(result, 0, /^token 0: signing key .* is not in/, tokens);
    expect(jwks.requests).toBe(1);
  });

  it('accepts a token signed by a newly published key after one refetch (rotation)', async () => {
    // Prepare
    const subject = await warmVerifier();
    const rotated = await jwks.addKey();
    const tokens = [await jwks.sign(v2Claims({ ...inAnHour, tenantId: TENANT_B }), { kid: rotated.kid })];

    // Act
    const result = await subject.verify(tokens, EXPECTED);

    // Assess
    expect(result).toMatchObject({ valid: true });
    expect(jwks.requests).toBe(2);
  });

  it('lets a token with a newly published kid wait for a refetch already under way', async () => {
    // Prepare
    const subject = await warmVerifier();
    const foreign = await generateSigningKey();
    const rotated = await jwks.addKey();
    const forged = [await jwks.sign(v1Claims(inAnHour), { kid: foreign.kid, key: foreign.privateKey })];
    const genuine = [await jwks.sign(v1Claims(inAnHour), { kid: rotated.kid })];

    // Act
    const [forgedResult, genuineResult] = await Promise.all([subject.verify(forged, EXPECTED), subject.verify(genuine, EXPECTED)]);

    // Assess
    expectRefused(forgedResult, 0, /^token 0: signing key .* is not in/, forged);
    expect(genuineResult).toMatchObject({ valid: true });
    expect(jwks.requests).toBe(2);
  });

  it('stops accepting a removed key once the cache max age has passed', async () => {
    // Prepare
    const subject = verifier();
    const retiring = jwks.keys[0];
    if (!retiring) throw new Error('the fake publishes a key');
    await jwks.addKey();
    const tokens = [await jwks.sign(v1Claims(claimsA), { kid: retiring.kid })];
    expect(await subject.verify(tokens, EXPECTED)).toMatchObject({ valid: true });
    jwks.removeKey(retiring.kid);

    // Act
    now += VALIDATION_TOKEN_DEFAULTS.cacheMaxAgeMs - 1;
    const beforeMaxAge = await subject.verify([await jwks.sign(v1Claims({ ...claimsA, issuedAt: (now - MINUTE) / 1000 }), { kid: retiring.kid })], EXPECTED);
    now += 1;
    const atMaxAge = await subject.verify([await jwks.sign(v1Claims({ ...claimsA, issuedAt: (now - MINUTE) / 1000 }), { kid: retiring.kid })], EXPECTED);

    // Assess
    expect(VALIDATION_TOKEN_DEFAULTS.cacheMaxAgeMs).toBe(24 * HOUR);
    expect(beforeMaxAge).toMatchObject({ valid: true });
    expect(atMaxAge).toMatchObject({ valid: false, reason: expect.stringMatching(/signing key .* is not in/) });
    expect(jwks.requests).toBe(2);
  });

  it('fetches the key set once for 1,000 verifications with unchanged keys', async () => {
    // Prepare
    const subject = verifier();
    const batches = [
      [await jwks.sign(v1Claims(claimsA))],
      [await jwks.sign(v2Claims(claimsB))],
      [await jwks.sign(v1Claims(claimsB)), await jwks.sign(v2Claims(claimsA))],
    ];

    // Act
    const results: VerificationResult[] = [];
    for (let i = 0; i < 1000; i += 1) {
      results.push(await subject.verify(batches[i % batches.length] ?? [], EXPECTED));
      now += 3_000;
    }

    // Assess
    expect(results.every((r) => r.valid)).toBe(true);
    expect(jwks.requests).toBe(1);
    expect(subject.stats()).toMatchObject({ jwksFetches: 1, verified: 1000, refused: 0 });
  });

  it('refetches at most once for a burst of tokens with random unknown kids', async () => {
    // Prepare
    const subject = await warmVerifier();
    const foreign = await generateSigningKey();
    const burst = await Promise.all(
      Array.from({ length: 50 }, () => jwks.sign(v1Claims(inAnHour), { kid: randomUUID(), key: foreign.privateKey })),
    );

    // Act
    const results = await Promise.all(burst.map((token) => subject.verify([token], EXPECTED)));
    now += MINUTE;
    const later = await Promise.all(burst.slice(0, 10).map((token) => subject.verify([token], EXPECTED)));

    // Assess
    expect([...results, ...later].every((r) => !r.valid)).toBe(true);
    expect(jwks.requests).toBe(2);
    expect(subject.stats()).toMatchObject({ jwksFetches: 2, verified: 1, refused: 60 });
  });

  it('shares one fetch between concurrent first verifications', async () => {
    // Prepare
    const subject = verifier();
    const token = await jwks.sign(v1Claims(claimsA));

    // Act
    const results = await Promise.all(Array.from({ length: 20 }, () => subject.verify([token], EXPECTED)));

    // Assess
    expect(results.every((r) => r.valid)).toBe(true);
    expect(jwks.requests).toBe(1);
  });
});

describe('JWKS unavailable', () => {
  it('throws JwksUnavailableError when the JWKS is unreachable', async () => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA))];
    const subject = verifier({ jwksUrl: await unreachableUrl() });

    // Act
    const outcome = subject.verify(tokens, EXPECTED);

    // Assess
    await expect(outcome).rejects.toThrow(JwksUnavailableError);
    await expect(outcome).rejects.toThrow('JWKS fetch failed: network error');
    expect(subject.stats()).toMatchObject({ jwksFetches: 1, verified: 0, refused: 0 });
  });

  it.each([
    ['error-500', 'JWKS fetch answered HTTP 500'],
    ['not-json', 'JWKS response is not JSON'],
    ['not-jwks', 'JWKS response is not a key set with at least one key'],
    ['empty', 'JWKS response is not a key set with at least one key'],
  ] as const)('throws JwksUnavailableError when the JWKS answers %s', async (mode, message) => {
    // Prepare
    const tokens = [await jwks.sign(v1Claims(claimsA))];
    jwks.mode = mode;

    // Act
    const outcome = verifier().verify(tokens, EXPECTED);

    // Assess
    await expect(outcome).rejects.toThrow(JwksUnavailableError);
    await expect(outcome).rejects.toThrow(message);
  });

  it('throws JwksUnavailableError when the key set has a key that cannot be imported', async () => {
    // Prepare
    const published = jwks.keys[0];
    if (!published) throw new Error('the fake publishes a key');
    published.publicJwk.n = 'AQAB';
    const tokens = [await jwks.sign(v1Claims(claimsA))];

    // Act
    const outcome = verifier().verify(tokens, EXPECTED);

    // Assess
    await expect(outcome).rejects.toThrow(JwksUnavailableError);
    await expect(outcome).rejects.toThrow(`JWKS key "${published.kid}" cannot be used`);
  });

  it('throws JwksUnavailableError when the refetch for an unknown kid fails', async () => {
    // Prepare
    const subject = verifier();
    expect(await subject.verify([await jwks.sign(v1Claims(claimsA))], EXPECTED)).toMatchObject({ valid: true });
    now += HOUR;
    const rotated = await jwks.addKey();
    const tokens = [await jwks.sign(v1Claims({ ...claimsA, issuedAt: (START + HOUR) / 1000 - 60 }), { kid: rotated.kid })];
    jwks.mode = 'error-500';

    // Act
    const outcome = subject.verify(tokens, EXPECTED);

    // Assess
    await expect(outcome).rejects.toThrow(JwksUnavailableError);
  });

  it('fetches again on the next verification after a failed fetch, and recovers', async () => {
    // Prepare
    const subject = verifier();
    const tokens = [await jwks.sign(v1Claims(claimsA))];
    jwks.mode = 'error-500';
    await expect(subject.verify(tokens, EXPECTED)).rejects.toThrow(JwksUnavailableError);
    jwks.mode = 'ok';

    // Act
    const result = await subject.verify(tokens, EXPECTED);

    // Assess
    expect(result).toMatchObject({ valid: true });
    expect(jwks.requests).toBe(2);
  });

  it('passes a timeout signal to fetch and reports a timeout as JwksUnavailableError', async () => {
    // Prepare
    const calls: Parameters<FetchFn>[] = [];
    const fetchPort: FetchFn = async (url, init) => {
      calls.push([url, init]);
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    };
    const tokens = [await jwks.sign(v1Claims(claimsA))];

    // Act
    const outcome = verifier({ fetch: fetchPort }).verify(tokens, EXPECTED);

    // Assess
    await expect(outcome).rejects.toThrow('JWKS fetch failed: no answer within 5000 ms');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.[0]).toBe(jwks.url);
    expect(calls[0]?.[1]).toMatchObject({ method: 'GET', redirect: 'manual' });
    expect(calls[0]?.[1].signal).toBeInstanceOf(AbortSignal);
  });
});

describe('jwksUrlFromEnv', () => {
  it.each([
    ['unset', {}, VALIDATION_TOKEN_DEFAULTS.jwksUrl],
    ['blank', { GRAPH_JWKS_URL: '  ' }, VALIDATION_TOKEN_DEFAULTS.jwksUrl],
    ['https', { GRAPH_JWKS_URL: 'https://login.example.com/common/discovery/v2.0/keys?appid=x' }, 'https://login.example.com/common/discovery/v2.0/keys?appid=x'],
    ['http on loopback', { GRAPH_JWKS_URL: 'http://127.0.0.1:4011/keys' }, 'http://127.0.0.1:4011/keys'],
  ])('uses the JWKS URL when %s', (_name, env, url) => {
    // Act
    const result = jwksUrlFromEnv(env);

    // Assess
    expect(result).toBe(url);
  });

  it.each([
    ['not a URL', 'login.microsoftonline.com/keys', /must be an absolute http\(s\) URL/],
    ['another scheme', 'ftp://login.example.com/keys', /must use https/],
    ['plain http off loopback', 'http://login.example.com/keys', /must use https/],
    ['credentials', 'https://user:pass@login.example.com/keys', /must not contain credentials/],
  ])('refuses %s with a ConfigError naming GRAPH_JWKS_URL', (_name, value, message) => {
    // Act
    const act = () => jwksUrlFromEnv({ GRAPH_JWKS_URL: value });

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(message);
    expect(act).toThrow(/GRAPH_JWKS_URL/);
  });
});
