/** Encryption certificates in an integration's secret: lookup by id, rotation, the current one, broken entries. */
import { X509Certificate } from 'node:crypto';
import { createSelfSignedCertificate, type SelfSignedCertificate } from '../../cli/self-signed-certificate';
import {
  encryptionKeysFrom,
  InvalidEncryptionCertificateError,
  UnknownEncryptionCertificateError,
} from '../../shared/secrets/encryption-keys';
import { integrationSecretSchema } from '../../shared/secrets/integration-secret';

const entry = (certificate: SelfSignedCertificate, createdAt?: string) => ({
  certificatePem: certificate.certificatePem,
  privateKeyPem: certificate.privateKeyPem,
  ...(createdAt === undefined ? {} : { createdAt }),
});

describe('encryptionKeysFrom', () => {
  let older: SelfSignedCertificate;
  let newer: SelfSignedCertificate;
  let small: SelfSignedCertificate;
  beforeAll(() => {
    older = createSelfSignedCertificate({ commonName: 'older' });
    newer = createSelfSignedCertificate({ commonName: 'newer' });
    small = createSelfSignedCertificate({ commonName: 'small', modulusLength: 1024 });
  });

  it('finds each key by id during a rotation, and picks the newest as current', () => {
    // Prepare
    const secret = { webhookSecret: 'x'.repeat(20), encryptionCertificates: { 'cert-2025': entry(older, '2025-01-01T00:00:00Z'), 'cert-2026': entry(newer, '2026-01-01T00:00:00Z') } };

    // Act
    const keys = encryptionKeysFrom(secret);

    // Assess
    expect(keys.ids).toEqual(['cert-2025', 'cert-2026']);
    expect(keys.privateKey('cert-2025').equals(older.privateKey)).toBe(true);
    expect(keys.privateKey('cert-2026').equals(newer.privateKey)).toBe(true);
    const current = keys.current();
    expect(current?.id).toBe('cert-2026');
    expect(new X509Certificate(Buffer.from(current?.certificateBase64 ?? '', 'base64')).fingerprint).toBe(new X509Certificate(newer.certificatePem).fingerprint);
    expect(current?.notAfter).toEqual(newer.notAfter);
  });

  it('uses currentEncryptionCertificateId when the secret names one', () => {
    // Prepare
    const secret = { encryptionCertificates: { a: entry(older, '2025-01-01T00:00:00Z'), b: entry(newer, '2026-01-01T00:00:00Z') }, currentEncryptionCertificateId: 'a' };

    // Act / Assess
    expect(encryptionKeysFrom(secret).current()?.id).toBe('a');
  });

  it('refuses an unknown id and a broken entry with errors that say which and why, while other entries work', () => {
    // Prepare
    const secret = { encryptionCertificates: { good: entry(newer), short: entry(small), mismatched: { certificatePem: older.certificatePem, privateKeyPem: newer.privateKeyPem } } };

    // Act
    const keys = encryptionKeysFrom(secret);

    // Assess
    expect(keys.privateKey('good').equals(newer.privateKey)).toBe(true);
    expect(() => keys.privateKey('gone')).toThrow(UnknownEncryptionCertificateError);
    expect(() => keys.privateKey('short')).toThrow(new InvalidEncryptionCertificateError('short', 'the RSA key has 1024 bits; Graph accepts 2048 to 4096'));
    expect(() => keys.privateKey('mismatched')).toThrow('the private key does not belong to the certificate');
    expect(keys.current()?.id).toBe('good');
  });

  it('has no current certificate when the secret holds none, and returns the same object for the same secret', () => {
    // Prepare
    const secret = { webhookSecret: 'x'.repeat(20) };

    // Act / Assess
    expect(encryptionKeysFrom(secret).current()).toBeUndefined();
    expect(encryptionKeysFrom(secret)).toBe(encryptionKeysFrom(secret));
    expect(encryptionKeysFrom('not an object').ids).toEqual([]);
  });

  it('the full secret schema refuses a current id that is not among the certificates, and a bad entry', () => {
    // Act
    const dangling = integrationSecretSchema.safeParse({ webhookSecret: 'x'.repeat(20), encryptionCertificates: { a: entry(newer) }, currentEncryptionCertificateId: 'b' });
    const badId = integrationSecretSchema.safeParse({ webhookSecret: 'x'.repeat(20), encryptionCertificates: { 'has space': entry(newer) } });

    // Assess
    expect(dangling.error?.issues.map((issue) => issue.message)).toEqual(['currentEncryptionCertificateId "b" is not among encryptionCertificates']);
    expect(JSON.stringify(badId.error?.issues)).toContain('encryption certificate id must be 1-128 characters');
  });
});
