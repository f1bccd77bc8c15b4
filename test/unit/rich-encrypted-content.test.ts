/**
 * Decryption of rich notifications against Microsoft's own test vector (test/fixtures/rich-notification), and
 * every way a tampered or mis-keyed item is refused before anything is decrypted.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decryptContent, encryptedContentSchema, EncryptedContentError, privateKeyFromPem, type ContentRefusal } from '../../shared/rich/encrypted-content';
import { encryptContent, encryptPlaintext } from '../../testkit/rich-content';

const FIXTURES = join(__dirname, '..', 'fixtures', 'rich-notification');
const vector = JSON.parse(readFileSync(join(FIXTURES, 'vector.json'), 'utf8')) as { encryptedContent: Record<string, string> };
const decrypted = JSON.parse(readFileSync(join(FIXTURES, 'decrypted.json'), 'utf8')) as unknown;
const vectorKey = privateKeyFromPem(readFileSync(join(FIXTURES, 'key.pem'), 'utf8'));
const content = encryptedContentSchema.parse(vector.encryptedContent);

/** The same bytes with one bit flipped at `index`, base64 again. */
function flipBit(base64: string, index: number): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

function refusalOf(run: () => unknown): ContentRefusal {
  try {
    run();
  } catch (error) {
    if (error instanceof EncryptedContentError) return error.refusal;
    throw error;
  }
  throw new Error('expected an EncryptedContentError');
}

describe("decryptContent: Microsoft's SDK vector", () => {
  it('decrypts to the documented chatMessage', () => {
    // Act
    const resource = decryptContent(content, vectorKey) as { etag: string; body: { content: string; contentType: string } };

    // Assess
    expect(resource.body).toMatchObject({ content: 'Hello World', contentType: 'text' });
    expect(resource.etag).toBe('1625126194597');
    expect(resource).toEqual(decrypted);
  });

  it.each([
    ['data', 'signature-mismatch'],
    ['dataSignature', 'signature-mismatch'],
    ['dataKey', 'key-unwrap-failed'],
  ] as const)('refuses the vector with one bit of %s flipped (%s)', (field, refusal) => {
    // Prepare
    const tampered = { ...content, [field]: flipBit(content[field], 7) };

    // Act / Assess
    expect(refusalOf(() => decryptContent(tampered, vectorKey))).toBe(refusal);
  });

  it("refuses the vector under another certificate's key", () => {
    // Prepare
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

    // Act / Assess
    expect(refusalOf(() => decryptContent(content, privateKey))).toBe('key-unwrap-failed');
  });

  it('refuses a signature of the wrong length without comparing', () => {
    // Act / Assess
    expect(refusalOf(() => decryptContent({ ...content, dataSignature: Buffer.alloc(16).toString('base64') }, vectorKey))).toBe('signature-mismatch');
  });

  it('never puts key material or data in the error message', () => {
    // Prepare
    const tampered = { ...content, data: flipBit(content.data, 3) };

    // Act
    let message = '';
    try {
      decryptContent(tampered, vectorKey);
    } catch (error) {
      message = (error as Error).message;
    }

    // Assess
    expect(message).toMatch(/HMAC-SHA256/);
    for (const value of [tampered.data, content.dataKey, content.dataSignature]) expect(message).not.toContain(value.slice(0, 12));
  });
});

describe('decryptContent: content made with a certificate of our own', () => {
  let keys: { publicKey: KeyObject; privateKey: KeyObject };
  beforeAll(() => {
    keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  });

  it('round-trips a resource encrypted the way Graph encrypts it', () => {
    // Prepare
    const resource = { id: 'AAMkAGI2', subject: 'Größe ✓', body: { content: 'x'.repeat(10_000) } };
    const encrypted = encryptContent(resource, { publicKey: keys.publicKey, id: 'cert-2026' });

    // Act / Assess
    expect(decryptContent(encrypted, keys.privateKey)).toEqual(resource);
  });

  it('refuses a correctly signed plaintext that is not JSON', () => {
    // Prepare
    const encrypted = encryptPlaintext('<html>not a resource</html>', { publicKey: keys.publicKey, id: 'cert-2026' });

    // Act / Assess
    expect(refusalOf(() => decryptContent(encrypted, keys.privateKey))).toBe('not-json');
  });
});

describe('encryptedContentSchema', () => {
  it.each([
    [{ ...vector.encryptedContent, data: 'not base64!' }, 'data is not base64'],
    [{ ...vector.encryptedContent, dataKey: '' }, 'dataKey is empty'],
    [{ ...vector.encryptedContent, encryptionCertificateId: 'x'.repeat(129) }, 'encryptionCertificateId'],
  ])('refuses a malformed encryptedContent with a clear message (%#)', (input, expected) => {
    // Act
    const parsed = encryptedContentSchema.safeParse(input);

    // Assess
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain(expected);
  });

  it('refuses a private key that is not RSA', () => {
    // Prepare
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

    // Act / Assess
    expect(() => privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow('an encryption key must be RSA, got ec');
  });
});
