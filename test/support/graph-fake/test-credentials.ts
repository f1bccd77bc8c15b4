/**
 * App credentials for tests, built with node:crypto alone: an RSA key with a self-signed X.509 certificate
 * (node can parse certificates but not issue them, so the DER is assembled here) and client-assertion JWTs
 * as the Microsoft identity platform expects them (RS256 or PS256, x5t / x5t#S256 header, aud = token URL).
 */
import { constants, createHash, generateKeyPairSync, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, content: Buffer) => Buffer.concat([Buffer.from([tag]), length(content.length), content]);
const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const NULL = Buffer.from([0x05, 0x00]);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const part of rest) {
    const chunk = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** DER INTEGER: minimal (no redundant leading zero bytes, which strict parsers refuse) and positive. */
function integer(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  const minimal = value.subarray(start);
  return tlv(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}

function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = new Date(ms).getUTCFullYear();
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

const name = (commonName: string) => sequence(set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))));

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
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: options.modulusLength ?? 2048 });
  const validFrom = options.validFrom ?? Date.now() - 60 * 60 * 1000;
  const validTo = options.validTo ?? validFrom + 365 * 24 * 60 * 60 * 1000;
  const subject = name(options.commonName ?? 'graph-fake test app');
  const signatureAlgorithm = sequence(oid('1.2.840.113549.1.1.11'), NULL);
  const serial = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    signatureAlgorithm,
    subject,
    sequence(time(validFrom), time(validTo)),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificateDer = sequence(tbs, signatureAlgorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const lines = certificateDer.toString('base64').match(/.{1,64}/g) ?? [];
  const certificatePem = `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
  new X509Certificate(certificatePem); // fails fast if the encoding above is ever wrong
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
