/**
 * Encrypts a resource the way Graph does for a rich notification (the inverse of shared/rich/encrypted-content.ts),
 * so tests and the Graph fake can make `encryptedContent` for any certificate.
 */
import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes, type KeyLike } from 'node:crypto';
import type { EncryptedContent } from '../shared/rich/encrypted-content';

export interface ContentCertificate {
  publicKey: KeyLike;
  id: string;
  thumbprint?: string;
}

export function encryptContent(resource: unknown, certificate: ContentCertificate, symmetricKey?: Buffer): EncryptedContent {
  return encryptPlaintext(JSON.stringify(resource), certificate, symmetricKey);
}

/** Any text, JSON or not (to test what a decryptor does with a plaintext that is not a resource). */
export function encryptPlaintext(plaintext: string, certificate: ContentCertificate, symmetricKey: Buffer = randomBytes(32)): EncryptedContent {
  const cipher = createCipheriv('aes-256-cbc', symmetricKey, symmetricKey.subarray(0, 16));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    data: data.toString('base64'),
    dataKey: publicEncrypt({ key: certificate.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, symmetricKey).toString('base64'),
    dataSignature: createHmac('sha256', symmetricKey).update(data).digest('base64'),
    encryptionCertificateId: certificate.id,
    ...(certificate.thumbprint === undefined ? {} : { encryptionCertificateThumbprint: certificate.thumbprint }),
  };
}
