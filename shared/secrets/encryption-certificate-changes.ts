/**
 * Changes to the encryption certificates held in an integration's secret (adding, replacing, removing, choosing the
 * current one), beside encryption-keys.ts which reads them: every change is checked against the stored state before
 * the secret is written.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { describeIssues } from '../graph/change-notification';
import { encryptionKeysFrom } from './encryption-keys';
import { encryptionCertificateSchema } from './integration-secret';

/** The stored state does not allow a change (a missing id, the current one removed without a successor). */
export class EncryptionCertificateChangeError extends Error {
  override readonly name = 'EncryptionCertificateChangeError';
}

/** What `integrations put` and `certificates remove` ask for: everything is checked before the secret is written. */
export interface EncryptionCertificateChanges {
  /** Added, or replacing the entry of the same id. */
  add: readonly { id: string; certificatePem: string; privateKeyPem: string }[];
  remove: readonly string[];
  current?: string;
}

export interface EncryptionCertificateSummary {
  id: string;
  thumbprint: string;
  notAfter: string;
}

export interface AppliedEncryptionChanges {
  secret: Record<string, unknown>;
  added: EncryptionCertificateSummary[];
  replaced: EncryptionCertificateSummary[];
  removed: string[];
  /** What new rich subscriptions use after the change: the named current one, else the newest valid. */
  current: string | undefined;
}

function summary(id: string, certificatePem: string): EncryptionCertificateSummary {
  const x509 = new X509Certificate(certificatePem);
  return { id, thumbprint: thumbprintOf(x509), notAfter: new Date(x509.validTo).toISOString() };
}

/** Upper-case hex SHA-1 of the DER certificate, as Graph sends `encryptionCertificateThumbprint`. */
export function thumbprintOf(x509: X509Certificate): string {
  return createHash('sha1').update(x509.raw).digest('hex').toUpperCase();
}

export function storedEntries(secret: Record<string, unknown> | undefined): Record<string, unknown> {
  const raw = secret?.['encryptionCertificates'];
  return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
}

/**
 * What new rich subscriptions use: the named current one (usable or not), else the newest valid entry; undefined
 * when none. Never throws: the default is only ever picked among valid entries.
 */
export function effectiveCurrent(secret: Record<string, unknown>): string | undefined {
  const named = secret['currentEncryptionCertificateId'];
  if (typeof named === 'string') return named;
  return encryptionKeysFrom(secret).current()?.id;
}

/**
 * The secret with the changes applied, or a refusal (exit 1) when the stored state does not allow them: an id to
 * remove is missing, the current one would be removed without another made current, the new current one is missing
 * or unusable.
 */
export function applyEncryptionCertificateChanges(
  existing: Record<string, unknown> | undefined,
  changes: EncryptionCertificateChanges,
  options: { integrationId: string; now: Date },
): AppliedEncryptionChanges {
  const before = { ...existing };
  const entries = { ...storedEntries(existing) };
  const { integrationId } = options;
  const previousCurrent = existing === undefined ? undefined : effectiveCurrent(before);
  for (const id of changes.remove) {
    if (!(id in entries)) {
      throw new EncryptionCertificateChangeError(`cannot remove encryption certificate "${id}": integration "${integrationId}" has no such certificate`);
    }
    if (id === previousCurrent && changes.current === undefined) {
      throw new EncryptionCertificateChangeError(
        `cannot remove encryption certificate "${id}": it is the current one that new rich subscriptions use; make another current in the same command ` +
          `(graph-relay integrations put ${integrationId} --current-encryption-certificate <id> --remove-encryption-certificate ${id})`,
      );
    }
    delete entries[id];
  }
  const added: EncryptionCertificateSummary[] = [];
  const replaced: EncryptionCertificateSummary[] = [];
  for (const entry of changes.add) {
    (entry.id in entries ? replaced : added).push(summary(entry.id, entry.certificatePem));
    entries[entry.id] = { certificatePem: entry.certificatePem, privateKeyPem: entry.privateKeyPem, createdAt: options.now.toISOString() };
  }
  const secret: Record<string, unknown> = { ...before, encryptionCertificates: entries };
  if (changes.current !== undefined) {
    const chosen = entries[changes.current];
    if (chosen === undefined) {
      throw new EncryptionCertificateChangeError(`cannot make encryption certificate "${changes.current}" current: integration "${integrationId}" has no such certificate`);
    }
    const valid = encryptionCertificateSchema.safeParse(chosen);
    if (!valid.success) {
      throw new EncryptionCertificateChangeError(`cannot make encryption certificate "${changes.current}" current: it is invalid (${describeIssues(valid.error)})`);
    }
    secret['currentEncryptionCertificateId'] = changes.current;
  }
  if (Object.keys(entries).length === 0) {
    delete secret['encryptionCertificates'];
    delete secret['currentEncryptionCertificateId'];
  }
  return { secret, added, replaced, removed: [...changes.remove], current: effectiveCurrent(secret) };
}

/** The encryption certificates of a stored secret, as `integrations list` shows them. */
export function encryptionCertificatesOverview(secret: unknown): { count: number; current: string | undefined } {
  if (secret === null || typeof secret !== 'object' || Array.isArray(secret)) return { count: 0, current: undefined };
  const object = secret as Record<string, unknown>;
  return { count: Object.keys(storedEntries(object)).length, current: effectiveCurrent(object) };
}
