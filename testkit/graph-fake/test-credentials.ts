/**
 * App credentials for tests, built with node:crypto alone: an RSA key with a self-signed X.509 certificate
 * (cli/self-signed-certificate.ts) and client-assertion JWTs
 * as the Microsoft identity platform expects them (RS256 or PS256, x5t / x5t#S256 header, aud = token URL).
 */
import { constants, createHash, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';

export interface TestCertificate {
  privateKey: KeyObject;
  publicKey: KeyObject;
  certificatePem: string;
  certificateDer: Buffer;
  /** base64url SHA-1 of the DER certificate (the `x5t` header). */
  x5t: string;
  /** base64url SHA-256 of the DER certificate (the `x5t#S256` header). */
  x5tS256: string;
}

export function createTestCertificate(options: { commonName?: string; validFrom?: number; validTo?: number; modulusLength?: number } = {}): TestCertificate {
  const certificate = createSelfSignedCertificate({ ...options, commonName: options.commonName ?? 'graph-fake test app' });
  const { privateKey, publicKey, certificatePem, certificateDer } = certificate;
  return {
    privateKey,
    publicKey,
    certificatePem,
    certificateDer,
    x5t: createHash('sha1').update(certificateDer).digest('base64url'),
    x5tS256: createHash('sha256').update(certificateDer).digest('base64url'),
  };
}

export interface ClientAssertionInput {
  clientId: string;
  /** The token endpoint URL, e.g. `${loginUrl}/${tenantId}/oauth2/v2.0/token`. */
  audience: string;
  certificate: TestCertificate;
  alg?: 'RS256' | 'PS256';
  /** Which thumbprint header(s) to send. Default 'x5t#S256'. */
  thumbprintHeader?: 'x5t' | 'x5t#S256' | 'both' | 'none';
  /** Seconds since the epoch used for iat/nbf (default: now). */
  nowSeconds?: number;
  lifetimeSeconds?: number;
  /** Claims to add or replace (e.g. a wrong `sub`). */
  claims?: Record<string, unknown>;
  /** Sign with this key instead of the certificate's (a forged assertion). */
  signingKey?: KeyObject;
}

/** A client assertion as MSAL builds it. */
export function createClientAssertion(input: ClientAssertionInput): string {
  const alg = input.alg ?? 'RS256';
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  const thumbprints = input.thumbprintHeader ?? 'x5t#S256';
  const header: Record<string, string> = { alg, typ: 'JWT' };
  if (thumbprints === 'x5t' || thumbprints === 'both') header['x5t'] = input.certificate.x5t;
  if (thumbprints === 'x5t#S256' || thumbprints === 'both') header['x5t#S256'] = input.certificate.x5tS256;
  const payload = {
    aud: input.audience,
    iss: input.clientId,
    sub: input.clientId,
    jti: randomUUID(),
    iat: now,
    nbf: now,
    exp: now + (input.lifetimeSeconds ?? 600),
    ...input.claims,
  };
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode(header)}.${encode(payload)}`;
  const key = input.signingKey ?? input.certificate.privateKey;
  const signature =
    alg === 'RS256'
      ? sign('sha256', Buffer.from(signingInput), key)
      : sign('sha256', Buffer.from(signingInput), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  return `${signingInput}.${signature.toString('base64url')}`;
}
