/**
 * Verification of certificate client assertions the way the Microsoft identity platform describes it
 * (learn.microsoft.com/entra/identity-platform/certificate-credentials): a JWT signed RS256 or PS256 with the
 * private key of a certificate registered on the app, identified by the `x5t` (SHA-1) or `x5t#S256` (SHA-256)
 * thumbprint header; `aud` = the token endpoint, `iss` = `sub` = client id, within nbf/exp.
 * Failures throw AadHttpError with the AADSTS codes the platform uses for them.
 */
import { constants, createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { AadHttpError, graphDateTime } from './errors';

export interface RegisteredCertificate {
  publicKey: KeyObject;
  sha1: Buffer;
  sha256: Buffer;
  validFrom: number;
  validTo: number;
}

export function parseCertificate(text: string): RegisteredCertificate {
  const trimmed = text.trim();
  const x509 = new X509Certificate(trimmed.startsWith('-----BEGIN') ? trimmed : Buffer.from(trimmed, 'base64'));
  return {
    publicKey: x509.publicKey,
    sha1: createHash('sha1').update(x509.raw).digest(),
    sha256: createHash('sha256').update(x509.raw).digest(),
    validFrom: Date.parse(x509.validFrom),
    validTo: Date.parse(x509.validTo),
  };
}

const invalidClient = (aadsts: number, message: string) => new AadHttpError(401, 'invalid_client', aadsts, message);
const malformed = (detail: string) => invalidClient(50027, `JWT token is invalid or malformed. ${detail}`);

function decodeJson(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** base64url or base64, as bytes; x5t values are compared as bytes so either alphabet matches. */
function thumbprintBytes(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

export interface AssertionContext {
  clientId: string;
  certificates: readonly RegisteredCertificate[];
  acceptedAudiences: readonly string[];
  now: number;
  skewSeconds: number;
}

export function verifyClientAssertion(assertion: string, context: AssertionContext): void {
  const parts = assertion.split('.');
  if (parts.length !== 3) throw malformed('The assertion must have three dot-separated parts.');
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  const header = decodeJson(headerPart);
  const payload = decodeJson(payloadPart);
  if (header === undefined || payload === undefined) throw malformed('The header or payload is not base64url-encoded JSON.');

  const sha1 = thumbprintBytes(header['x5t']);
  const sha256 = thumbprintBytes(header['x5t#S256']);
  if (sha1 === undefined && sha256 === undefined) throw malformed('No certificate thumbprint specified in token header.');
  const shown = (sha256 ?? sha1 ?? Buffer.alloc(0)).toString('hex').toUpperCase();
  const certificate = context.certificates.find((c) => (sha1 !== undefined && c.sha1.equals(sha1)) || (sha256 !== undefined && c.sha256.equals(sha256)));
  if (certificate === undefined) {
    throw invalidClient(
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${shown}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${context.clientId}'.]`,
    );
  }
  if (context.now < certificate.validFrom || context.now > certificate.validTo) {
    throw invalidClient(700027, `Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '${shown}', Found key 'Start=${new Date(certificate.validFrom).toISOString()}, End=${new Date(certificate.validTo).toISOString()}']`);
  }

  const alg = header['alg'];
  if (alg !== 'RS256' && alg !== 'PS256') throw malformed(`Unsupported signing algorithm '${String(alg)}': use RS256 or PS256.`);
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');
  const key =
    alg === 'RS256'
      ? { key: certificate.publicKey, padding: constants.RSA_PKCS1_PADDING }
      : { key: certificate.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  let valid = false;
  try {
    valid = verify('sha256', signed, key, signature);
  } catch {
    valid = false;
  }
  if (!valid) {
    throw invalidClient(700027, `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${shown}']`);
  }

  const aud = payload['aud'];
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((a) => typeof a === 'string' && context.acceptedAudiences.includes(a))) {
    throw invalidClient(50012, `Client assertion audience claim does not match Realm issuer. Expected one of: ${context.acceptedAudiences.join(', ')}.`);
  }
  if (payload['iss'] !== context.clientId || payload['sub'] !== context.clientId) {
    throw malformed(`The 'iss' and 'sub' claims must both be the client id '${context.clientId}'.`);
  }
  const exp = payload['exp'];
  const nbf = payload['nbf'];
  if (typeof exp !== 'number') throw malformed("The 'exp' claim is required.");
  const skewMs = context.skewSeconds * 1000;
  const notBefore = typeof nbf === 'number' ? nbf * 1000 : undefined;
  if (context.now > exp * 1000 + skewMs || (notBefore !== undefined && context.now + skewMs < notBefore)) {
    throw invalidClient(
      700024,
      `Client assertion is not within its valid time range. Current time: ${graphDateTime(context.now)}, assertion valid from ${graphDateTime(notBefore ?? 0)}, expiry time of assertion ${graphDateTime(exp * 1000)}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
    );
  }
}
