/**
 * The encryption certificates of an integration's secret, as the intake (decryption) and the reconciler (new rich
 * subscriptions) use them. Each entry is checked on its own: one broken entry never stops the others from working,
 * and plain notifications never depend on any of them.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { describeIssues } from '../graph/change-notification';
import { privateKeyFromPem } from '../rich/encrypted-content';
import { encryptionCertificateSchema } from './integration-secret';

/** A rich notification names a certificate the secret does not hold: our configuration is wrong, not the sender. */
export class UnknownEncryptionCertificateError extends Error {
  override readonly name = 'UnknownEncryptionCertificateError';
  constructor(readonly certificateId: string) {
    super(`no encryption certificate "${certificateId}" in the integration's secret: add it back with graph-relay integrations put … --encryption-certificate-id ${certificateId}`);
  }
}

/** The secret holds the certificate, but it is unusable (bad PEM, key mismatch, wrong size). */
export class InvalidEncryptionCertificateError extends Error {
  override readonly name = 'InvalidEncryptionCertificateError';
  constructor(
    readonly certificateId: string,
    readonly reason: string,
  ) {
    super(`encryption certificate "${certificateId}" in the integration's secret is invalid: ${reason}`);
  }
}

export interface CurrentEncryptionCertificate {
  id: string;
  /** Base64 DER, as a subscription's `encryptionCertificate` wants it. */
  certificateBase64: string;
  notAfter: Date;
}

export interface EncryptionKeys {
  /** Ids of every entry, valid or not, sorted. */
  readonly ids: readonly string[];
  /**
   * The private key for `encryptionCertificateId`.
   * @throws UnknownEncryptionCertificateError / InvalidEncryptionCertificateError
   */
  privateKey(certificateId: string): KeyObject;
  /**
   * What new subscriptions are created with: `currentEncryptionCertificateId`, else the newest valid entry
   * (by `createdAt`, then id). Undefined when the secret holds no usable certificate.
   * @throws InvalidEncryptionCertificateError when the named current one is unusable.
   */
  current(): CurrentEncryptionCertificate | undefined;
}

type Entry = { ok: true; key: KeyObject; certificate: X509Certificate; createdAt: string } | { ok: false; reason: string };

const fromSecret = new WeakMap<object, EncryptionKeys>();

/** The secret's encryption keys; the same object for the same (cached) secret object, so PEMs are parsed once. */
export function encryptionKeysFrom(secret: unknown): EncryptionKeys {
  if (secret === null || typeof secret !== 'object') return readKeys({});
  const known = fromSecret.get(secret);
  if (known !== undefined) return known;
  const keys = readKeys(secret as Record<string, unknown>);
  fromSecret.set(secret, keys);
  return keys;
}

function readKeys(secret: Record<string, unknown>): EncryptionKeys {
  const raw = secret['encryptionCertificates'];
  const entries = new Map<string, Entry>();
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const [id, value] of Object.entries(raw)) entries.set(id, readEntry(value));
  }
  const named = typeof secret['currentEncryptionCertificateId'] === 'string' ? secret['currentEncryptionCertificateId'] : undefined;
  const entryOf = (certificateId: string) => {
    const entry = entries.get(certificateId);
    if (entry === undefined) throw new UnknownEncryptionCertificateError(certificateId);
    if (!entry.ok) throw new InvalidEncryptionCertificateError(certificateId, entry.reason);
    return entry;
  };
  return {
    ids: [...entries.keys()].sort(),
    privateKey: (certificateId) => entryOf(certificateId).key,
    current: () => {
      let id = named;
      if (id === undefined) {
        const valid = [...entries].filter((pair): pair is [string, Extract<Entry, { ok: true }>] => pair[1].ok);
        valid.sort(([a, x], [b, y]) => x.createdAt.localeCompare(y.createdAt) || a.localeCompare(b));
        id = valid.at(-1)?.[0];
      }
      if (id === undefined) return undefined;
      const entry = entryOf(id);
      return { id, certificateBase64: entry.certificate.raw.toString('base64'), notAfter: new Date(entry.certificate.validTo) };
    },
  };
}

function readEntry(value: unknown): Entry {
  const parsed = encryptionCertificateSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: describeIssues(parsed.error) };
  return {
    ok: true,
    key: privateKeyFromPem(parsed.data.privateKeyPem),
    certificate: new X509Certificate(parsed.data.certificatePem),
    createdAt: parsed.data.createdAt ?? '',
  };
}
