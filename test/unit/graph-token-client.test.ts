/**
 * TokenClient against a fake Microsoft identity platform behind the fetch port: form fields, the certificate
 * assertion (verified with the certificate's public key), cache, single flight, invalidation, typed errors,
 * Retry-After and timeouts.
 */
import { constants, createHash, createPublicKey, generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import type { Clock, FetchFn } from '../../shared/graph/graph-config';
import { TokenClient, TokenRequestError, type AppCredentials, type TokenClientOptions } from '../../shared/graph/token-client';

const LOGIN_URL = 'http://127.0.0.1:4011';
const SCOPE = 'https://graph.microsoft.com/.default';
const TENANT_A = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TENANT_B = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
const CLIENT_ID = '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01';
const CLIENT_SECRET = 'test-client-secret-value~0123456789';
const START = Date.UTC(2024, 4, 1, 12, 0, 0);

/** A self-signed test certificate and its key, made for these tests only; not a real credential. */
const TEST_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDlvtT64ntQ4Vj+
1WyRgUwI7TdZw1OB8Ye7Rv2jljqteBgwE1Hl+Uunrs0cDqutKuhzl3u2rc+5CRdv
bH67UnvCtZDpKRp6SSa9nQcyyIfs04dAKxbDKEg4VNPphZn3RaLQaSvpCWN6jC9f
mcFZu2flCUq8MBHfXPpz8xLMUP3WC/N4X0BeViSX1XqBC8CSdIarGaVaF+5aujb0
yfvwDPgIf1n9nmhKzZrUarNtMrz8p2kHrK70LuO4iXvjMDU1o9vEzRnBJIEzm/Hx
nA2DGFd7KRijQ7rzhiFrRrCm+mA5oM/QHJpYkt6O7/F3Z4mSmasVoY/VsNgAle8T
iY9etBVbAgMBAAECggEAFlHIlspbk5BzmRI6jBTlF6BAC9g7gSNp/cotnZpcf09s
U3iqW1lcPbaa1jp1+DVJGY23vEK81uuTW2+it5Jm/pQCt3wW8UFbt6O34s7zfDun
50EoYsjuNzbFKD8ipZCeJXl02sde4uAX7BrfsKwnBuu1AdJOXNucuJipP1sw8H3P
8ozyXoNViuFEG5kSOoEBdwhrvB8+ZOO8r6FXT2jLYqg/wbdUW5glhRFty0tfQFLL
Qy/pGST9p/uFukdx74E5JJBVse1VkxFwNJ/NPnGk1QUO5w2uFfL01mgr2k+RFmPE
bgM7w/PV7tJrq7LxIH8VXSHlauRBkjcONMrv4KVwDQKBgQD0PuS0QitvXi9dIeLO
YhoItw76bVHXG8qc4ibVAc2RqU+DYCoogSMlbnxQaKa+uKpN7oC9RbaIXNdT0tXG
4JHM1b19nBuSbTnfon3oma1xf/FqpUAt1af6LaLNBt011PxXxx8Z5Iggn+YAtey0
gMHo1BtDZpmxfcYlBg7oWeLHLQKBgQDwzUuuVDdALT0ocPHoY299HTMUaOsCFYyv
q4dPZ1nfOFOncEo4xIu6ZNBqv7eCn6l2WGRyCa+av2z0xc6CuE/Ta6ygapSu/P+7
HxM9V4aoaLWU9vldwLJT+mQulM4iKKu6IF1mpTubPbE6SQ7TgsC7UyHSkibfl13Q
qpSzWk0jpwKBgQC2B6WVfnc2ogA0rcuGOvDiK+Qa2ZyT7596esWsHJLji0a6R9JD
q7LQ893sY4JaQ/CQ8j66URlv2ZmVXF18weOHwIhf9BdMcuEd/dFOqDHulAcNjykc
v85YEujxWrtEon6KwNk6B+s4PVNCllNaV1etOV80RWQoNu+UqkYz/sGX5QKBgQDg
nd9Wgd/30TsXGiPMrdQ1VKNtCmEM1KUiyFGzU6iVe6ksqqXRRiVAfQGcUbEP+3bL
mbA4X6iaJK2xtUHo1ZxAjlO8Xy7J+91f4qDDu300Ylfe2HHLbg/qHcqNWOjfHCjz
uXTmZoKvUGCdCcD2sySsl+MY1JPGRR+RoUyL8FO8SQKBgAJ9C79pmO3D0p9LBj5x
eWeQMQ7fzsR/CqiCwSfIxGDzsxQ2f72586gmSCcQ5THKBROUsZ9lKwAT9KY55oRa
amQli1Kr1l18mm4dormrUe3OtE2SiaOugAFZMa3ByqBqnbgwKLreMuId+sl148Iy
ni53gmZ6YoWsRkcqH/7iWPXp
-----END PRIVATE KEY-----`;
const TEST_CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIDUzCCAjugAwIBAgIUPa+vpJ1Nfi/sF3Q9u+2SUVWfcsQwDQYJKoZIhvcNAQEL
BQAwODE2MDQGA1UEAwwtZ3JhcGgtcmVsYXkgdW5pdCB0ZXN0IChub3QgYSByZWFs
IGNyZWRlbnRpYWwpMCAXDTI2MTEyNTIyNDMxN1oYDzIxMjYxMTAxMjI0MzE3WjA4
MTYwNAYDVQQDDC1ncmFwaC1yZWxheSB1bml0IHRlc3QgKG5vdCBhIHJlYWwgY3Jl
ZGVudGlhbCkwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDlvtT64ntQ
4Vj+1WyRgUwI7TdZw1OB8Ye7Rv2jljqteBgwE1Hl+Uunrs0cDqutKuhzl3u2rc+5
CRdvbH67UnvCtZDpKRp6SSa9nQcyyIfs04dAKxbDKEg4VNPphZn3RaLQaSvpCWN6
jC9fmcFZu2flCUq8MBHfXPpz8xLMUP3WC/N4X0BeViSX1XqBC8CSdIarGaVaF+5a
ujb0yfvwDPgIf1n9nmhKzZrUarNtMrz8p2kHrK70LuO4iXvjMDU1o9vEzRnBJIEz
m/HxnA2DGFd7KRijQ7rzhiFrRrCm+mA5oM/QHJpYkt6O7/F3Z4mSmasVoY/VsNgA
le8TiY9etBVbAgMBAAGjUzBRMB0GA1UdDgQWBBSSigNNtp/dryccQIjDBWTbFiDW
bjAfBgNVHSMEGDAWgBSSigNNtp/dryccQIjDBWTbFiDWbjAPBgNVHRMBAf8EBTAD
AQH/MA0GCSqGSIb3DQEBCwUAA4IBAQDDYUW+Zc469+tqrexj+RYsbMKPOGmCeO0D
ZIkYJUufHlgFWZlorsoP2v9NecnseYpfh0ZRE2LXqligXHxJ2N+QPpTC9F8ZZkZH
MeZjz4Y3BxlYDj2QHmYJ1ZWCqdyhX9nOuSaf0n4d0VzrumrbB01YdAbNQTXwhcxA
+XQY8KYopBEy49Qqt7+qGaHSeY2+Dzj/HQ3sJX3Ir0uy45oXq2AlEYfZXWziPzGa
F1lrCZRIMeEwPHXqj27ulZC7gbc7V2nQo31v7L1cb2tJC39I30a/MY2do4IK1SLU
3SI48QO4uNB7hq2QdQcjWU+XRhJ1z/5VoYpG+UYNMaXCbrb+5ZTt
-----END CERTIFICATE-----`;

interface TokenCall {
  url: string;
  headers: Headers;
  form: URLSearchParams;
  signal: AbortSignal | null | undefined;
}

type Answer = (call: TokenCall, index: number) => Response | Promise<Response>;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const issued = (accessToken: string, expiresIn: number | string = 3599) => json(200, { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken });

const aadError = (status: number, error: string, code: number, text: string, headers: Record<string, string> = {}) =>
  json(
    status,
    {
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: 0000aaaa-11bb-cccc-dd33-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2024-05-01 12:00:00Z`,
      error_codes: [code],
      trace_id: '0000aaaa-11bb-cccc-dd33-eeeeee333333',
      correlation_id: 'aaaa0000-bb11-2222-33cc-444444dddddd',
    },
    headers,
  );

/** The identity platform's token endpoint as a fetch function; by default it issues token-1, token-2, ... */
function fakeLogin(answer: Answer = (_call, index) => issued(`token-${index + 1}`)) {
  const calls: TokenCall[] = [];
  const fetch: FetchFn = async (url, init) => {
    const call = { url, headers: new Headers(init.headers), form: new URLSearchParams(String(init.body)), signal: init.signal };
    calls.push(call);
    return answer(call, calls.length - 1);
  };
  return { fetch, calls };
}

function fakeClock(start = START) {
  const waits: number[] = [];
  let now = start;
  const clock: Clock = {
    now: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
  };
  return { clock, waits, advance: (ms: number) => (now += ms) };
}

function tokenClient(fetch: FetchFn, options: Partial<TokenClientOptions> = {}) {
  return new TokenClient({
    credentials: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    config: { loginUrl: LOGIN_URL, scope: SCOPE },
    fetch,
    clock: fakeClock().clock,
    random: () => 0.5,
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<TokenRequestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TokenRequestError) return error;
    throw error;
  }
  throw new Error('expected a TokenRequestError');
}

function decodeJwt(jwt: string) {
  const [header, payload, signature] = jwt.split('.');
  if (header === undefined || payload === undefined || signature === undefined) throw new Error('not a JWT');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>,
    signingInput: `${header}.${payload}`,
    signature: Buffer.from(signature, 'base64url'),
  };
}

/** DER bytes straight from the PEM text, independent of the client's own parsing. */
function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64');
}

const certificateCredentials: AppCredentials = { clientId: CLIENT_ID, certificate: { privateKeyPem: TEST_KEY_PEM, certificatePem: TEST_CERT_PEM } };

describe('TokenClient: client secret', () => {
  it('posts the client-credentials form to the tenant token endpoint and returns the access token', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch);

    // Act
    const token = await tokens.getToken(TENANT_A);

    // Assess
    expect(token).toBe('token-1');
    expect(login.calls).toHaveLength(1);
    const call = login.calls[0]!;
    expect(call.url).toBe(`${LOGIN_URL}/${TENANT_A}/oauth2/v2.0/token`);
    expect(call.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(call.headers.get('client-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Object.fromEntries(call.form)).toEqual({
      client_id: CLIENT_ID,
      scope: SCOPE,
      grant_type: 'client_credentials',
      client_secret: CLIENT_SECRET,
    });
  });

  it('gives every token request a timeout signal', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch);

    // Act
    await tokens.getToken(TENANT_A);

    // Assess
    expect(login.calls[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(login.calls[0]!.signal!.aborted).toBe(false);
  });

  it('accepts expires_in as a numeric string (older endpoints)', async () => {
    // Prepare
    const login = fakeLogin((_call, index) => issued(`token-${index + 1}`, '3599'));
    const time = fakeClock();
    const tokens = tokenClient(login.fetch, { clock: time.clock });

    // Act
    await tokens.getToken(TENANT_A);
    time.advance(60_000);
    const second = await tokens.getToken(TENANT_A);

    // Assess
    expect(second).toBe('token-1');
    expect(login.calls).toHaveLength(1);
  });

  it.each([
    ['the multi-tenant alias "common"', 'common'],
    ['"organizations"', 'organizations'],
    ['a path', '../other/oauth2'],
    ['an empty string', ''],
  ])('refuses %s as tenant id without sending anything', async (_label, tenantId) => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch);

    // Act
    const error = await failure(tokens.getToken(tenantId));

    // Assess
    expect(error.kind).toBe('invalid-request');
    expect(login.calls).toHaveLength(0);
  });

  it('refuses a 200 answer without access_token, naming the field', async () => {
    // Prepare
    const login = fakeLogin(() => json(200, { token_type: 'Bearer', expires_in: 3599 }));
    const tokens = tokenClient(login.fetch);

    // Act
    const error = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(error.message).toContain('access_token');
  });
});

describe('TokenClient: cache', () => {
  it('reuses the token for the same tenant and requests one per other tenant', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch);

    // Act
    const first = await tokens.getToken(TENANT_A);
    const again = await tokens.getToken(TENANT_A);
    const other = await tokens.getToken(TENANT_B);

    // Assess
    expect([first, again, other]).toEqual(['token-1', 'token-1', 'token-2']);
    expect(login.calls.map((c) => c.url)).toEqual([`${LOGIN_URL}/${TENANT_A}/oauth2/v2.0/token`, `${LOGIN_URL}/${TENANT_B}/oauth2/v2.0/token`]);
  });

  it('treats tenant ids case-insensitively', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch);

    // Act
    await tokens.getToken(TENANT_A);
    const upper = await tokens.getToken(TENANT_A.toUpperCase());

    // Assess
    expect(upper).toBe('token-1');
    expect(login.calls).toHaveLength(1);
  });

  it('refreshes the token once it is within the configured margin of its expiry', async () => {
    // Prepare: 3600 s token, 60 s margin: reused until 3540 s after the request started
    const login = fakeLogin((_call, index) => issued(`token-${index + 1}`, 3600));
    const time = fakeClock();
    const tokens = tokenClient(login.fetch, { clock: time.clock, expiryMarginSeconds: 60 });
    await tokens.getToken(TENANT_A);

    // Act
    time.advance(3539_000);
    const beforeMargin = await tokens.getToken(TENANT_A);
    time.advance(1_000);
    const atMargin = await tokens.getToken(TENANT_A);

    // Assess
    expect(beforeMargin).toBe('token-1');
    expect(atMargin).toBe('token-2');
  });

  it('uses a five-minute margin by default', async () => {
    // Prepare
    const login = fakeLogin((_call, index) => issued(`token-${index + 1}`, 3600));
    const time = fakeClock();
    const tokens = tokenClient(login.fetch, { clock: time.clock });
    await tokens.getToken(TENANT_A);

    // Act
    time.advance((3600 - 300) * 1000 - 1);
    const justBefore = await tokens.getToken(TENANT_A);
    time.advance(1);
    const after = await tokens.getToken(TENANT_A);

    // Assess
    expect([justBefore, after]).toEqual(['token-1', 'token-2']);
  });

  it('shares one in-flight request among concurrent callers for the same tenant', async () => {
    // Prepare: the endpoint answers only when released
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const login = fakeLogin(async (_call, index) => {
      await released;
      return issued(`token-${index + 1}`);
    });
    const tokens = tokenClient(login.fetch);

    // Act
    const pending = Array.from({ length: 5 }, () => tokens.getToken(TENANT_A));
    const otherTenant = tokens.getToken(TENANT_B);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const results = await Promise.all(pending);
    await otherTenant;

    // Assess
    expect(results).toEqual(['token-1', 'token-1', 'token-1', 'token-1', 'token-1']);
    expect(login.calls.filter((c) => c.url.includes(TENANT_A))).toHaveLength(1);
    expect(tokens.stats().tokenRequests).toBe(2);
  });

  it('does not cache a failure: the next call asks again', async () => {
    // Prepare
    const login = fakeLogin((_call, index) => (index === 0 ? aadError(400, 'invalid_grant', 65001, 'consent missing') : issued('token-after-consent')));
    const tokens = tokenClient(login.fetch);
    await failure(tokens.getToken(TENANT_A));

    // Act
    const token = await tokens.getToken(TENANT_A);

    // Assess
    expect(token).toBe('token-after-consent');
    expect(login.calls).toHaveLength(2);
  });

  it('forgets the tenant token on invalidate, and only that tenant', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch);
    await tokens.getToken(TENANT_A);
    await tokens.getToken(TENANT_B);

    // Act
    tokens.invalidate(TENANT_A);
    const a = await tokens.getToken(TENANT_A);
    const b = await tokens.getToken(TENANT_B);

    // Assess
    expect(a).toBe('token-3');
    expect(b).toBe('token-2');
  });

  it('keeps a newer token when asked to invalidate one that was already replaced', async () => {
    // Prepare: token-1 rejected, refreshed to token-2 by another caller
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch);
    const rejected = await tokens.getToken(TENANT_A);
    tokens.invalidate(TENANT_A, rejected);
    await tokens.getToken(TENANT_A);

    // Act: a late caller that also saw token-1 rejected
    tokens.invalidate(TENANT_A, rejected);
    const token = await tokens.getToken(TENANT_A);

    // Assess
    expect(token).toBe('token-2');
    expect(login.calls).toHaveLength(2);
  });

  it('keys the cache by client id too: new app credentials get a new token', async () => {
    // Prepare
    const login = fakeLogin();
    let credentials: AppCredentials = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };
    const tokens = tokenClient(login.fetch, { credentials: () => credentials });
    await tokens.getToken(TENANT_A);

    // Act
    credentials = { clientId: 'a7d3f0e2-1111-4222-8333-944455556666', clientSecret: 'another-secret-value-0123456789' };
    const token = await tokens.getToken(TENANT_A);

    // Assess
    expect(token).toBe('token-2');
    expect(login.calls[1]!.form.get('client_id')).toBe('a7d3f0e2-1111-4222-8333-944455556666');
  });
});

describe('TokenClient: errors', () => {
  it.each([
    ['consent missing', 400, 'invalid_grant', 65001, 'consent', true],
    ['app not installed in the tenant', 400, 'unauthorized_client', 700016, 'consent', true],
    ['admin consent required', 400, 'invalid_grant', 90094, 'consent', true],
    ['wrong client secret', 401, 'invalid_client', 7000215, 'credentials', false],
    ['expired client secret', 401, 'invalid_client', 7000222, 'credentials', false],
    ['certificate not registered', 401, 'invalid_client', 700027, 'credentials', false],
    ['tenant not found', 400, 'invalid_request', 90002, 'tenant-not-found', false],
    ['an unknown code on an invalid scope', 400, 'invalid_scope', 12345678, 'invalid-request', false],
  ] as const)('classifies %s', async (_label, status, error, code, kind, needsConsent) => {
    // Prepare
    const login = fakeLogin(() => aadError(status, error, code, 'described by the identity platform'));
    const tokens = tokenClient(login.fetch);

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown).toMatchObject({ status, error, aadsts: `AADSTS${code}`, kind, needsConsent, tenantId: TENANT_A });
    expect(thrown.traceId).toBe('0000aaaa-11bb-cccc-dd33-eeeeee333333');
    expect(login.calls).toHaveLength(1);
  });

  it('falls back to unauthorized_client when the code is not known', async () => {
    // Prepare
    const login = fakeLogin(() => json(400, { error: 'unauthorized_client', error_description: 'The client is not authorized.' }));
    const tokens = tokenClient(login.fetch);

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown).toMatchObject({ kind: 'consent', needsConsent: true, aadsts: undefined });
  });

  it('reads the AADSTS code from error_codes when the description has none', async () => {
    // Prepare
    const login = fakeLogin(() => json(400, { error: 'invalid_grant', error_description: 'no code here', error_codes: [65001] }));
    const tokens = tokenClient(login.fetch);

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown.aadsts).toBe('AADSTS65001');
    expect(thrown.needsConsent).toBe(true);
  });

  it('keeps the first line of the description in the message, and never the secret', async () => {
    // Prepare
    const logged: unknown[] = [];
    const login = fakeLogin(() => aadError(401, 'invalid_client', 7000215, 'Invalid client secret provided.'));
    const tokens = tokenClient(login.fetch, { logger: { warn: (message, fields) => logged.push({ message, fields }) } });

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown.message).toBe(`token request for tenant ${TENANT_A} failed with HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided.`);
    expect(logged).toHaveLength(1);
    expect(JSON.stringify(logged)).toContain('AADSTS7000215');
    expect(JSON.stringify([thrown, thrown.message, logged])).not.toContain(CLIENT_SECRET);
  });
});

describe('TokenClient: throttling, server errors and timeouts', () => {
  it('waits the Retry-After seconds of a 429, then succeeds', async () => {
    // Prepare
    const login = fakeLogin((_call, index) => (index === 0 ? aadError(429, 'temporarily_unavailable', 50196, 'loop detected', { 'retry-after': '2' }) : issued('token-after-wait')));
    const time = fakeClock();
    const tokens = tokenClient(login.fetch, { clock: time.clock });

    // Act
    const token = await tokens.getToken(TENANT_A);

    // Assess
    expect(token).toBe('token-after-wait');
    expect(time.waits).toEqual([2000]);
    expect(tokens.stats().tokenRequests).toBe(2);
  });

  it('reads Retry-After as an HTTP-date', async () => {
    // Prepare
    const retryAt = new Date(START + 7_000).toUTCString();
    const login = fakeLogin((_call, index) => (index === 0 ? json(503, {}, { 'retry-after': retryAt }) : issued('token-1')));
    const time = fakeClock();
    const tokens = tokenClient(login.fetch, { clock: time.clock });

    // Act
    await tokens.getToken(TENANT_A);

    // Assess
    expect(time.waits).toEqual([7000]);
  });

  it('does not wait past the caller deadline: throws throttled with retryAfterMs', async () => {
    // Prepare
    const login = fakeLogin(() => json(429, { error: 'temporarily_unavailable' }, { 'retry-after': '30' }));
    const time = fakeClock();
    const tokens = tokenClient(login.fetch, { clock: time.clock });

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A, { deadline: START + 10_000 }));

    // Assess
    expect(thrown).toMatchObject({ kind: 'throttled', status: 429, retryAfterMs: 30_000 });
    expect(time.waits).toEqual([]);
    expect(login.calls).toHaveLength(1);
  });

  it('backs off exponentially on 5xx and gives up after the configured attempts', async () => {
    // Prepare
    const login = fakeLogin(() => json(503, { error: 'temporarily_unavailable', error_description: 'AADSTS90033: directory unavailable' }));
    const time = fakeClock();
    const tokens = tokenClient(login.fetch, { clock: time.clock, retry: { maxAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 10_000 } });

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess: random() = 0.5 → three quarters of each step (100, 200)
    expect(thrown).toMatchObject({ kind: 'unavailable', status: 503 });
    expect(login.calls).toHaveLength(3);
    expect(time.waits).toEqual([75, 150]);
  });

  it('turns a request that never answers into a timeout error', async () => {
    // Prepare: the endpoint answers only when aborted
    const login = fakeLogin(
      (call) =>
        new Promise<Response>((_resolve, reject) => {
          call.signal?.addEventListener('abort', () => reject(call.signal?.reason));
        }),
    );
    const tokens = tokenClient(login.fetch, { timeoutMs: 20, retry: { maxAttempts: 1 } });

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown.kind).toBe('unavailable');
    expect(thrown.status).toBeUndefined();
    expect(thrown.message).toContain('no answer within 20 ms');
  });

  it('names the login URL and the variable that sets it when the network fails', async () => {
    // Prepare: nothing listens at the login URL
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4011'), { code: 'ECONNREFUSED' });
    const login = fakeLogin(() => {
      throw new TypeError('fetch failed', { cause: refused });
    });
    const tokens = tokenClient(login.fetch, { retry: { maxAttempts: 1 } });

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown.kind).toBe('unavailable');
    expect(thrown.message).toBe(`token request for tenant ${TENANT_A} failed: network error (ECONNREFUSED) reaching ${LOGIN_URL}; check the network, or GRAPH_LOGIN_URL if that is not the login URL to use`);
  });

  it('retries a network failure', async () => {
    // Prepare
    const login = fakeLogin((_call, index) => {
      if (index === 0) throw new TypeError('fetch failed');
      return issued('token-after-network-error');
    });
    const tokens = tokenClient(login.fetch);

    // Act
    const token = await tokens.getToken(TENANT_A);

    // Assess
    expect(token).toBe('token-after-network-error');
    expect(login.calls).toHaveLength(2);
  });
});

describe('TokenClient: certificate credentials', () => {
  it('sends a PS256 client assertion with x5t#S256 and the documented claims, signed by the certificate key', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch, { credentials: certificateCredentials });

    // Act
    await tokens.getToken(TENANT_A);

    // Assess
    const form = login.calls[0]!.form;
    expect(form.get('client_secret')).toBeNull();
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const jwt = decodeJwt(form.get('client_assertion') ?? '');
    expect(jwt.header).toEqual({ alg: 'PS256', typ: 'JWT', 'x5t#S256': createHash('sha256').update(derOf(TEST_CERT_PEM)).digest('base64url') });
    const now = START / 1000;
    expect(jwt.claims).toEqual({
      aud: `${LOGIN_URL}/${TENANT_A}/oauth2/v2.0/token`,
      iss: CLIENT_ID,
      sub: CLIENT_ID,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      nbf: now,
      iat: now,
      exp: now + 600,
    });
    const publicKey = new X509Certificate(TEST_CERT_PEM).publicKey;
    const valid = verify('sha256', Buffer.from(jwt.signingInput), { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, jwt.signature);
    expect(valid).toBe(true);
  });

  it('uses a fresh jti for every token request', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch, { credentials: certificateCredentials });

    // Act
    await tokens.getToken(TENANT_A);
    await tokens.getToken(TENANT_B);

    // Assess
    const [first, second] = login.calls.map((c) => decodeJwt(c.form.get('client_assertion') ?? '').claims);
    expect(first!.jti).not.toBe(second!.jti);
    expect(second!.aud).toBe(`${LOGIN_URL}/${TENANT_B}/oauth2/v2.0/token`);
  });

  it('can sign RS256 with the SHA-1 x5t of the older guidance', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch, { credentials: certificateCredentials, assertionAlgorithm: 'RS256' });

    // Act
    await tokens.getToken(TENANT_A);

    // Assess
    const jwt = decodeJwt(login.calls[0]!.form.get('client_assertion') ?? '');
    expect(jwt.header).toEqual({ alg: 'RS256', typ: 'JWT', x5t: createHash('sha1').update(derOf(TEST_CERT_PEM)).digest('base64url') });
    expect(verify('sha256', Buffer.from(jwt.signingInput), createPublicKey(TEST_CERT_PEM), jwt.signature)).toBe(true);
  });

  it('refuses a private key that does not belong to the certificate, before sending anything', async () => {
    // Prepare
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch, { credentials: { clientId: CLIENT_ID, certificate: { privateKeyPem: otherKey, certificatePem: TEST_CERT_PEM } } });

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown.kind).toBe('credentials');
    expect(thrown.message).toContain('does not belong to the certificate');
    expect(thrown.message).not.toContain('PRIVATE KEY');
    expect(login.calls).toHaveLength(0);
  });

  it('refuses a certificate that is not PEM', async () => {
    // Prepare
    const login = fakeLogin();
    const tokens = tokenClient(login.fetch, { credentials: { clientId: CLIENT_ID, certificate: { privateKeyPem: TEST_KEY_PEM, certificatePem: 'not a certificate' } } });

    // Act
    const thrown = await failure(tokens.getToken(TENANT_A));

    // Assess
    expect(thrown.kind).toBe('credentials');
    expect(thrown.message).toContain('certificatePem');
  });
});
