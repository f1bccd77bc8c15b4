/**
 * The encryption certificates of an integration: Graph encrypts rich notifications with a certificate we
 * give it, and the intake decrypts them with the private key kept in the integration's secret. Private keys are
 * read from files or generated here, stored in the secret, and never printed.
 */
import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import * as z from 'zod';
import { describeIssues } from '../../shared/graph/change-notification';
import {
  applyEncryptionCertificateChanges,
  effectiveCurrent,
  storedEntries,
  thumbprintOf,
  type AppliedEncryptionChanges,
  type EncryptionCertificateChanges,
  type EncryptionCertificateSummary,
} from '../../shared/secrets/encryption-certificate-changes';
import {
  encryptionCertificateIdSchema,
  encryptionCertificateProblem,
  encryptionCertificateSchema,
  integrationSecretName,
} from '../../shared/secrets/integration-secret';
import { integrationIdSchema } from '../../shared/store/items';
import { certificateOfKey, isEncryptedKey, readPemFile, type ArgumentSources } from '../argument-sources';
import type { CommandContext } from '../context';
import { CommandFailedError, PROGRAM, UsageError, parseArg, printJson, printList, warn, type Output } from '../output';
import { readSecretObject } from '../secret-store';
import { createSelfSignedCertificate } from '../self-signed-certificate';
import { TAKES_EFFECT } from '../takes-effect';

/** The flags of `integrations put` for encryption certificates, as commander collects them. */
export interface EncryptionCertificateArgs {
  encryptionCertificateId?: string[];
  encryptionCertificateFile?: string[];
  encryptionKeyFile?: string[];
  currentEncryptionCertificate?: string;
  removeEncryptionCertificate?: string[];
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * Refuses a bad set of encryption flags (exit 2) and reads their files: the three adding flags go together, paired
 * in order; every certificate is checked as the secret's schema checks it. Undefined when no such flag is given.
 */
export async function parseEncryptionCertificateArgs(
  args: EncryptionCertificateArgs,
  sources: Pick<ArgumentSources, 'readFile'>,
): Promise<EncryptionCertificateChanges | undefined> {
  const ids = args.encryptionCertificateId ?? [];
  const certificateFiles = args.encryptionCertificateFile ?? [];
  const keyFiles = args.encryptionKeyFile ?? [];
  const removals = args.removeEncryptionCertificate ?? [];
  const current = args.currentEncryptionCertificate;
  if (ids.length + certificateFiles.length + keyFiles.length + removals.length === 0 && current === undefined) return undefined;
  if (ids.length !== certificateFiles.length || ids.length !== keyFiles.length) {
    throw new UsageError(
      '--encryption-certificate-id, --encryption-certificate-file and --encryption-key-file go together, one of each per certificate, paired in order: ' +
        `got ${plural(ids.length, 'id', 'ids')}, ${plural(certificateFiles.length, 'certificate file', 'certificate files')}, ${plural(keyFiles.length, 'key file', 'key files')}`,
    );
  }
  const id = (value: string, flag: string) => parseArg(encryptionCertificateIdSchema, value, flag);
  const addedIds = ids.map((value) => id(value, '--encryption-certificate-id'));
  const removed = [...new Set(removals.map((value) => id(value, '--remove-encryption-certificate')))];
  const currentId = current === undefined ? undefined : id(current, '--current-encryption-certificate');
  const duplicate = addedIds.find((value, index) => addedIds.indexOf(value) !== index);
  if (duplicate !== undefined) throw new UsageError(`--encryption-certificate-id "${duplicate}" is given twice`);
  const both = addedIds.find((value) => removed.includes(value));
  if (both !== undefined) throw new UsageError(`encryption certificate "${both}" is both added and removed`);
  if (currentId !== undefined && removed.includes(currentId)) {
    throw new UsageError(`encryption certificate "${currentId}" cannot be made current and removed in the same command`);
  }
  const add: EncryptionCertificateChanges['add'][number][] = [];
  for (const [index, certificateId] of addedIds.entries()) {
    add.push({ id: certificateId, ...(await encryptionCertificateFromFiles(certificateId, certificateFiles[index] ?? '', keyFiles[index] ?? '', sources)) });
  }
  return { add, remove: removed, ...(currentId === undefined ? {} : { current: currentId }) };
}

/** The certificate and key of one entry; both may come from the same file (certificate and key concatenated). */
async function encryptionCertificateFromFiles(
  id: string,
  certificateFile: string,
  keyFile: string,
  sources: Pick<ArgumentSources, 'readFile'>,
): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const keyText = await readPemFile(keyFile, '--encryption-key-file', sources);
  const certificateText = certificateFile === keyFile ? keyText : await readPemFile(certificateFile, '--encryption-certificate-file', sources);
  const refuseKey = (why: string) => new UsageError(`invalid --encryption-key-file ${keyFile}: ${why}`);
  if (isEncryptedKey(keyText.text, keyText.blocks)) {
    throw refuseKey('the private key is encrypted; export it without a passphrase (openssl pkey -in key.pem -out plain-key.pem)');
  }
  const keys = keyText.blocks.filter((block) => block.label.endsWith('PRIVATE KEY'));
  const [key, ...moreKeys] = keys;
  if (key === undefined) throw refuseKey('it holds no PEM private key');
  if (moreKeys.length > 0) throw refuseKey(`it holds ${keys.length} private keys; keep only the certificate's`);
  const certificates = certificateText.blocks.filter((block) => block.label === 'CERTIFICATE');
  if (certificates.length === 0) throw new UsageError(`invalid --encryption-certificate-file ${certificateFile}: it holds no PEM certificate`);
  let privateKey: KeyObject | undefined;
  try {
    privateKey = createPrivateKey(key.pem);
  } catch {
    privateKey = undefined; // encryptionCertificateProblem names the problem below
  }
  const entry = { certificatePem: (certificateOfKey(certificates, privateKey) ?? key).pem, privateKeyPem: key.pem };
  const problem = encryptionCertificateProblem(entry);
  if (problem !== undefined) throw new UsageError(`invalid encryption certificate "${id}": ${problem}`);
  return entry;
}

/** One line per change, for the human output of `integrations put`; warnings for certificates outside their validity. */
export function describeEncryptionChanges(applied: AppliedEncryptionChanges, output: Output, now: Date): string[] {
  const lines: string[] = [];
  const describe = (verb: string) => (entry: EncryptionCertificateSummary) => {
    lines.push(`encryption certificate "${entry.id}" ${verb}: thumbprint ${entry.thumbprint}, not after ${entry.notAfter}`);
    if (Date.parse(entry.notAfter) <= now.getTime()) warn(output, `encryption certificate "${entry.id}" expired ${entry.notAfter}: Graph refuses it for new subscriptions`);
  };
  applied.added.forEach(describe('added'));
  applied.replaced.forEach(describe('replaced'));
  for (const id of applied.removed) lines.push(`encryption certificate "${id}" removed`);
  lines.push(
    applied.current === undefined
      ? 'no current encryption certificate: rich subscriptions cannot be created'
      : `current encryption certificate: "${applied.current}" (new rich subscriptions use it)`,
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------------------------
// graph-relay certificates create | list | remove

export const DEFAULT_VALID_DAYS = 365;
export const MAX_VALID_DAYS = 3650;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CreateCertificateArgs {
  integrationId: string;
  id?: string;
  validDays?: string;
  commonName?: string;
  json?: boolean;
}

export interface ParsedCreateCertificateArgs {
  integrationId: string;
  id?: string;
  validDays: number;
  commonName: string;
  json: boolean;
}

const validDaysSchema = z
  .string()
  .regex(/^[1-9][0-9]*$/, 'expected a whole number of days, e.g. 365')
  .transform(Number)
  .refine((days) => days <= MAX_VALID_DAYS, `at most ${MAX_VALID_DAYS} days`);

/** X.509's upper bound for a common name is 64 characters; control characters would be a paste mistake. */
const commonNameSchema = z
  .string()
  .min(1, 'common name must not be empty')
  .max(64, 'common name must be at most 64 characters')
  .regex(/^[^\p{Cc}]+$/u, 'common name must not hold control characters');

export function parseCreateCertificateArgs(args: CreateCertificateArgs): ParsedCreateCertificateArgs {
  const integrationId = parseArg(integrationIdSchema, args.integrationId, 'integration id');
  return {
    integrationId,
    ...(args.id === undefined ? {} : { id: parseArg(encryptionCertificateIdSchema, args.id, '--id') }),
    validDays: args.validDays === undefined ? DEFAULT_VALID_DAYS : parseArg(validDaysSchema, args.validDays, '--valid-days'),
    commonName: parseArg(commonNameSchema, args.commonName ?? `graph-relay ${integrationId}`, '--common-name'),
    json: args.json === true,
  };
}

export interface CertificateRefArgs {
  integrationId: string;
  id?: string;
  json?: boolean;
}

export function parseCertificateRefArgs<A extends CertificateRefArgs>(args: A): A {
  return {
    ...args,
    integrationId: parseArg(integrationIdSchema, args.integrationId, 'integration id'),
    ...(args.id === undefined ? {} : { id: parseArg(encryptionCertificateIdSchema, args.id, 'encryption certificate id') }),
  };
}

/** The integration's secret, which these commands only ever change, never create. */
async function existingSecret(context: CommandContext, integrationId: string, command: string): Promise<{ name: string; secret: Record<string, unknown> }> {
  const name = integrationSecretName(context.target.webhookSecretPrefix, integrationId);
  const secret = await readSecretObject(context.secrets, name, command);
  if (secret === undefined) {
    throw new CommandFailedError(`integration "${integrationId}" has no secret ${name}: create it with ${PROGRAM} integrations put ${integrationId}`);
  }
  return { name, secret };
}

/** `graph-relay-20261126`, with a short random suffix when that id is taken. */
function defaultCertificateId(now: Date, taken: Record<string, unknown>): string {
  const base = `graph-relay-${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  let id = base;
  while (id in taken) id = `${base}-${randomBytes(3).toString('hex')}`;
  return id;
}

/** Generates a self-signed RSA-2048 pair, stores it as a new entry and makes it current; prints no key material. */
export async function createCertificate(context: CommandContext, args: ParsedCreateCertificateArgs, output: Output, now = new Date()): Promise<void> {
  const { integrationId } = args;
  const { name, secret } = await existingSecret(context, integrationId, 'certificates create');
  const entries = storedEntries(secret);
  if (args.id !== undefined && args.id in entries) {
    throw new CommandFailedError(
      `integration "${integrationId}" already has encryption certificate "${args.id}": choose another --id, or leave it out for a generated one`,
    );
  }
  const id = args.id ?? defaultCertificateId(now, entries);
  const previous = effectiveCurrent(secret);
  const generated = createSelfSignedCertificate({ commonName: args.commonName, validFrom: now.getTime() - 60 * 60 * 1000, validTo: now.getTime() + args.validDays * DAY_MS });
  const applied = applyEncryptionCertificateChanges(
    secret,
    { add: [{ id, certificatePem: generated.certificatePem, privateKeyPem: generated.privateKeyPem }], remove: [], current: id },
    { integrationId, now },
  );
  await context.secrets.update(name, JSON.stringify(applied.secret));
  // Running intakes re-read the secret (to decrypt with the new key) once they see the new configuration version.
  await context.store.bumpConfigVersion(integrationId);

  const notAfter = generated.notAfter.toISOString();
  if (args.json) {
    printJson(output, {
      integrationId,
      id,
      current: true,
      thumbprint: generated.thumbprint,
      notBefore: generated.notBefore.toISOString(),
      notAfter,
      previousCurrentId: previous,
      takesEffect: TAKES_EFFECT,
    });
    return;
  }
  output.out(`encryption certificate "${id}" created for integration "${integrationId}" and made current`);
  output.out(`thumbprint  ${generated.thumbprint}`);
  output.out(`not after   ${notAfter}`);
  output.out(
    previous === undefined
      ? 'new rich subscriptions are created with it'
      : `new rich subscriptions are created with it; existing ones keep working with the previous key ("${previous}") until they are renewed`,
  );
  output.out(TAKES_EFFECT.message);
}

type CertificateStatus = 'valid' | 'expired' | 'not yet valid' | 'invalid';

interface CertificateRow {
  id: string;
  current: boolean;
  thumbprint?: string;
  notBefore?: string;
  notAfter?: string;
  createdAt?: string;
  status: CertificateStatus;
  reason?: string;
}

/** One entry of the secret as shown: never its private key. Thumbprint and dates when the certificate parses at all. */
function certificateRow(id: string, value: unknown, current: string | undefined, now: Date): CertificateRow {
  const fields = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const row: CertificateRow = { id, current: id === current, status: 'valid' };
  if (typeof fields['createdAt'] === 'string') row.createdAt = fields['createdAt'];
  try {
    const x509 = new X509Certificate(String(fields['certificatePem']));
    row.thumbprint = thumbprintOf(x509);
    row.notBefore = new Date(x509.validFrom).toISOString();
    row.notAfter = new Date(x509.validTo).toISOString();
  } catch {
    // The schema below says why.
  }
  const parsed = encryptionCertificateSchema.safeParse(value);
  if (!parsed.success) return { ...row, status: 'invalid', reason: describeIssues(parsed.error) };
  if (row.notAfter !== undefined && Date.parse(row.notAfter) <= now.getTime()) {
    return { ...row, status: 'expired', reason: 'Graph refuses it for new subscriptions; its key still decrypts notifications of subscriptions created with it' };
  }
  if (row.notBefore !== undefined && Date.parse(row.notBefore) > now.getTime()) return { ...row, status: 'not yet valid' };
  return row;
}

export async function listCertificates(context: CommandContext, args: CertificateRefArgs, output: Output, now = new Date()): Promise<void> {
  const { integrationId } = args;
  const { secret } = await existingSecret(context, integrationId, 'certificates list');
  const current = effectiveCurrent(secret);
  const rows = Object.entries(storedEntries(secret))
    .map(([id, value]) => certificateRow(id, value, current, now))
    .sort((a, b) => a.id.localeCompare(b.id));
  printList(output, rows, {
    json: args.json,
    empty: `integration "${integrationId}" has no encryption certificates; create one with: ${PROGRAM} certificates create ${integrationId}`,
    headers: ['id', 'current', 'thumbprint', 'not after', 'status'],
    cells: (row) => [row.id, row.current ? 'yes' : 'no', row.thumbprint ?? '-', row.notAfter ?? '-', row.reason === undefined ? row.status : `${row.status}: ${row.reason}`],
  });
}

export async function removeCertificate(context: CommandContext, args: { integrationId: string; id: string; json?: boolean }, output: Output): Promise<void> {
  const { integrationId, id } = args;
  const { name, secret } = await existingSecret(context, integrationId, 'certificates remove');
  const applied = applyEncryptionCertificateChanges(secret, { add: [], remove: [id] }, { integrationId, now: new Date() });
  await context.secrets.update(name, JSON.stringify(applied.secret));
  await context.store.bumpConfigVersion(integrationId);
  if (args.json) {
    printJson(output, { integrationId, removed: id, currentId: applied.current, takesEffect: TAKES_EFFECT });
    return;
  }
  output.out(`encryption certificate "${id}" removed from integration "${integrationId}"`);
  output.out('rich notifications of subscriptions still created with it can no longer be decrypted: renew or recreate them first');
  output.out(TAKES_EFFECT.message);
}
