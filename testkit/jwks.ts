/**
 * A stand-in for the Microsoft identity platform's JWKS endpoint: an HTTP server on 127.0.0.1 publishing generated
 * RSA keys, with rotation, a request counter and failure modes, and a signer making Graph validation tokens shaped
 * like real ones (v1: sts.windows.net issuer and `appid`; v2: login.microsoftonline.com issuer and `azp`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export const GRAPH_CHANGE_TRACKING = '0bf30f3b-4a52-48df-9a82-234910c4a086';

/** What the server answers: the key set, an HTTP 500, a body that is not JSON, or JSON that is not a key set. */
export type JwksMode = 'ok' | 'error-500' | 'not-json' | 'not-jwks' | 'empty';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /** The SPKI PEM of the public key: what an HS256 key-confusion attack would use as the HMAC secret. */
  publicPem: string;
}

export interface SignOptions {
  /** Defaults to the first published key. */
  kid?: string;
  /** Defaults to RS256; `none` makes an unsigned token. */
  alg?: string;
  /** Defaults to the private key of `kid`. */
  key?: CryptoKey | Uint8Array;
}

export interface ClaimsInput {
  tenantId: string;
  audience: string;
  /** Seconds since the epoch. */
  issuedAt: number;
  /** Seconds; Graph's tokens live about an hour. */
  lifetime?: number;
}

let keyCounter = 0;

export async function generateSigningKey(kid = `test-kid-${++keyCounter}`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const jwk = await exportJWK(publicKey);
  return { kid, privateKey, publicKey, publicJwk: { ...jwk, kid, use: 'sig', x5t: kid }, publicPem: await exportSPKI(publicKey) };
}

/** Claims of a v1 validation token (`ver` 1.0), as Graph sends them. `undefined` values remove a claim. */
export function v1Claims(input: ClaimsInput, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { tenantId, audience, issuedAt, lifetime = 3600 } = input;
  return withOverrides(
    {
      aud: audience,
      iss: `https://sts.windows.net/${tenantId}/`,
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + lifetime,
      aio: 'E2RgYJj5e9v8dLQaDPr2/ZPv7xAHAA==',
      appid: GRAPH_CHANGE_TRACKING,
      appidacr: '2',
      idp: `https://sts.windows.net/${tenantId}/`,
      tid: tenantId,
      uti: 'dN3EyWK0gEOFvTtMv1JZAA',
      ver: '1.0',
    },
    overrides,
  );
}

/** Claims of a v2 validation token (`ver` 2.0), as Graph sends them. `undefined` values remove a claim. */
export function v2Claims(input: ClaimsInput, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { tenantId, audience, issuedAt, lifetime = 3600 } = input;
  return withOverrides(
    {
      aud: audience,
      iss: `https://login.microsoftonline.com/${tenantId}/v2.0`,
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + lifetime,
      aio: 'E2RgYJj5e9v8dLQaDPr2/ZPv7xAHAA==',
      azp: GRAPH_CHANGE_TRACKING,
      azpacr: '2',
      rh: '0.AXwAWIG9hE1tWEmLn51kRVQvlQ.',
      tid: tenantId,
      uti: 'dN3EyWK0gEOFvTtMv1JZAA',
      ver: '2.0',
    },
    overrides,
  );
}

export interface FakeJwks {
  /** `http://127.0.0.1:<port>/common/discovery/v2.0/keys` */
  readonly url: string;
  /** Requests answered so far, in any mode. */
  readonly requests: number;
  /** The keys currently published. */
  readonly keys: readonly SigningKey[];
  mode: JwksMode;
  /** Publishes a new key (rotation) and returns it. */
  addKey(kid?: string): Promise<SigningKey>;
  /** Stops publishing a key; it can still sign, as a retired or foreign key would. */
  removeKey(kid: string): void;
  /** Signs `claims` exactly as given (see v1Claims / v2Claims). */
  sign(claims: Record<string, unknown>, options?: SignOptions): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the fake with one key published: `initialKey` (generating RSA keys is slow, so tests may share one; the
 * fake keeps its own copy of the public JWK) or a new one.
 */
export async function startFakeJwks(initialKey?: SigningKey): Promise<FakeJwks> {
  const first = initialKey ?? (await generateSigningKey());
  const published: SigningKey[] = [{ ...first, publicJwk: { ...first.publicJwk } }];
  const retired: SigningKey[] = [];
  let requests = 0;
  let mode: JwksMode = 'ok';

  const server = createServer((_req, res) => {
    requests += 1;
    const send = (status: number, body: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    switch (mode) {
      case 'ok':
        return send(200, JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
      case 'error-500':
        return send(500, JSON.stringify({ error: 'temporarily_unavailable' }));
      case 'not-json':
        return send(200, '<html>Service Unavailable</html>');
      case 'not-jwks':
        return send(200, JSON.stringify({ issuer: 'https://login.microsoftonline.com/common/v2.0' }));
      case 'empty':
        return send(200, JSON.stringify({ keys: [] }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const findKey = (kid: string | undefined): SigningKey => {
    const key = kid === undefined ? published[0] : [...published, ...retired].find((k) => k.kid === kid);
    if (!key) throw new Error(`fake JWKS has no key ${kid ?? '(none published)'}`);
    return key;
  };

  return {
    url: `http://127.0.0.1:${port}/common/discovery/v2.0/keys`,
    get requests() {
      return requests;
    },
    get keys() {
      return [...published];
    },
    get mode() {
      return mode;
    },
    set mode(value: JwksMode) {
      mode = value;
    },
    async addKey(kid) {
      const key = await generateSigningKey(kid);
      published.push(key);
      return key;
    },
    removeKey(kid) {
      const index = published.findIndex((k) => k.kid === kid);
      if (index < 0) throw new Error(`fake JWKS does not publish ${kid}`);
      retired.push(...published.splice(index, 1));
    },
    async sign(claims, options = {}) {
      const alg = options.alg ?? 'RS256';
      const kid = options.kid ?? published[0]?.kid ?? 'no-key';
      const header = { typ: 'JWT', alg, kid, x5t: kid };
      if (alg === 'none') return `${base64url(header)}.${base64url(claims)}.`;
      const key = options.key ?? findKey(kid).privateKey;
      return new SignJWT(claims).setProtectedHeader(header).sign(key);
    },
    close: () => closeServer(server),
  };
}

/** A loopback URL nothing listens on: a port briefly bound, then released. */
export async function unreachableUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await closeServer(server);
  return `http://127.0.0.1:${port}/common/discovery/v2.0/keys`;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

function withOverrides(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const claims: Record<string, unknown> = { ...base, ...overrides };
  for (const [name, value] of Object.entries(overrides)) if (value === undefined) delete claims[name];
  return claims;
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
