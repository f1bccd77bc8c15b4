/** Self-signed certificates made with node:crypto alone: what Graph and OpenSSL-grade parsers expect of them. */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';

describe('createSelfSignedCertificate', () => {
  it('makes an RSA-2048 certificate that parses, matches its key, and names its subject and validity', () => {
    // Prepare
    const validFrom = Date.UTC(2026, 10, 1);
    const validTo = Date.UTC(2028, 10, 1);

    // Act
    const certificate = createSelfSignedCertificate({ commonName: 'graph-relay contoso', validFrom, validTo });

    // Assess
    const x509 = new X509Certificate(certificate.certificatePem);
    expect(x509.subject).toBe('CN=graph-relay contoso');
    expect(x509.issuer).toBe('CN=graph-relay contoso');
    expect(x509.checkPrivateKey(createPrivateKey(certificate.privateKeyPem))).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(certificate.notBefore.getTime()).toBe(validFrom);
    expect(certificate.notAfter.getTime()).toBe(validTo);
    expect(certificate.thumbprint).toBe(x509.fingerprint.replace(/:/g, ''));
    expect(certificate.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('uses GeneralizedTime from 2050 on (RFC 5280)', () => {
    // Act
    const certificate = createSelfSignedCertificate({ commonName: 'long', validFrom: Date.UTC(2049, 0, 1), validTo: Date.UTC(2051, 0, 1) });

    // Assess
    expect(new X509Certificate(certificate.certificateDer).validTo).toBe('Jan  1 00:00:00 2051 GMT');
  });

  it('encodes every serial number minimally (strict parsers refuse a redundant leading zero)', () => {
    // Act: a leading zero byte turns up in about 1 of 128 random serials
    const serials = Array.from({ length: 64 }, () => new X509Certificate(createSelfSignedCertificate({ commonName: 's', modulusLength: 1024 }).certificateDer).serialNumber);

    // Assess
    for (const serial of serials) expect(serial).not.toMatch(/^00/);
    expect(new Set(serials).size).toBe(64);
  });
});
