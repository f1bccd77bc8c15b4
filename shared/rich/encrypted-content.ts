/**
 * Decrypts the `encryptedContent` of a rich notification, as Microsoft documents it
 * (learn.microsoft.com/graph/change-notifications-with-resource-data#decrypting-resource-data-from-change-notifications):
 *
 * 1. `dataKey` is a symmetric key wrapped with the subscription's certificate: RSA-OAEP with SHA-1 (and MGF1-SHA1).
 * 2. `dataSignature` is HMAC-SHA256, keyed with that symmetric key, over the base64-decoded `data`. It is checked
 *    first, in constant time: nothing that fails it is ever decrypted.
 * 3. `data` is AES-256-CBC with PKCS7 padding; the IV is the first 16 bytes of the symmetric key.
 *
 * Node's crypto only, so the intake's notification chunk carries no extra library for it.
 */
import { constants, createDecipheriv, createHmac, createPrivateKey, privateDecrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import * as z from 'zod';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const base64 = (what: string) => z.string().min(1, `${what} is empty`).regex(BASE64, `${what} is not base64`);

/** The `encryptedContent` object of a change notification. */
export const encryptedContentSchema = z.object({
  data: base64('data'),
  dataKey: base64('dataKey'),
  dataSignature: base64('dataSignature'),
  encryptionCertificateId: z.string().min(1).max(128),
  encryptionCertificateThumbprint: z.string().optional(),
});

export type EncryptedContent = z.infer<typeof encryptedContentSchema>;

/** Why an encrypted item cannot be trusted: it is never published. */
export type ContentRefusal = 'key-unwrap-failed' | 'signature-mismatch' | 'decryption-failed' | 'not-json';

export class EncryptedContentError extends Error {
  override readonly name = 'EncryptedContentError';
  constructor(
    readonly refusal: ContentRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** AES-256: the wrapped key must unwrap to 32 bytes. */
const SYMMETRIC_KEY_BYTES = 32;
const IV_BYTES = 16;

/** A PEM private key (PKCS#8 or PKCS#1) as a KeyObject; parse once and keep it. */
export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey({ key: pem, format: 'pem' });
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError(`an encryption key must be RSA, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

/**
 * The decrypted resource, parsed as JSON.
 * @throws EncryptedContentError naming the step that failed; the message never contains key material or data.
 */
export function decryptContent(content: Pick<EncryptedContent, 'data' | 'dataKey' | 'dataSignature'>, privateKey: KeyObject): unknown {
  let symmetricKey: Buffer;
  try {
    symmetricKey = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(content.dataKey, 'base64'));
  } catch {
    throw new EncryptedContentError('key-unwrap-failed', 'dataKey does not unwrap with the certificate\'s private key (RSA-OAEP)');
  }
  if (symmetricKey.length !== SYMMETRIC_KEY_BYTES) {
    throw new EncryptedContentError('key-unwrap-failed', `dataKey unwraps to ${symmetricKey.length} bytes, not ${SYMMETRIC_KEY_BYTES}`);
  }

  const data = Buffer.from(content.data, 'base64');
  const expected = createHmac('sha256', symmetricKey).update(data).digest();
  const actual = Buffer.from(content.dataSignature, 'base64');
  // Lengths are public (a SHA-256 is 32 bytes); only equal-length buffers are compared, in constant time.
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new EncryptedContentError('signature-mismatch', 'dataSignature does not match data (HMAC-SHA256)');
  }

  let plaintext: string;
  try {
    const decipher = createDecipheriv('aes-256-cbc', symmetricKey, symmetricKey.subarray(0, IV_BYTES));
    plaintext = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch {
    throw new EncryptedContentError('decryption-failed', 'data does not decrypt (AES-256-CBC, PKCS7)');
  }
  try {
    return JSON.parse(plaintext) as unknown;
  } catch {
    throw new EncryptedContentError('not-json', 'the decrypted resource is not JSON');
  }
}
