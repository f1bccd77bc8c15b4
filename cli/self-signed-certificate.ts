/**
 * Self-signed X.509 certificates with node:crypto alone (node parses certificates but cannot issue them, so the DER
 * is assembled here): `graph-relay certificates create` makes the key pair whose certificate Graph encrypts rich
 * notifications with, and the tests make app certificates for client assertions.
 */
import { createHash, generateKeyPairSync, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';

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

export interface SelfSignedCertificate {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKCS#8 PEM, unencrypted. */
  privateKeyPem: string;
  certificatePem: string;
  certificateDer: Buffer;
  /** Upper-case hex SHA-1 of the DER certificate: what Graph sends as `encryptionCertificateThumbprint`. */
  thumbprint: string;
  notBefore: Date;
  notAfter: Date;
}

export interface SelfSignedCertificateOptions {
  commonName: string;
  /** Epoch ms; default an hour ago (clock skew). */
  validFrom?: number;
  /** Epoch ms; default a year after validFrom. */
  validTo?: number;
  /** RSA modulus bits; Graph accepts 2048 to 4096. Default 2048. */
  modulusLength?: number;
}

/** An RSA key pair and a self-signed certificate for it (SHA-256 with RSA). */
export function createSelfSignedCertificate(options: SelfSignedCertificateOptions): SelfSignedCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: options.modulusLength ?? 2048 });
  const validFrom = options.validFrom ?? Date.now() - 60 * 60 * 1000;
  const validTo = options.validTo ?? validFrom + 365 * 24 * 60 * 60 * 1000;
  const subject = name(options.commonName);
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
  const x509 = new X509Certificate(certificatePem); // fails fast if the encoding above is ever wrong
  return {
    privateKey,
    publicKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificatePem,
    certificateDer,
    thumbprint: createHash('sha1').update(certificateDer).digest('hex').toUpperCase(),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
  };
}
