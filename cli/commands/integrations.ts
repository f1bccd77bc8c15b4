import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { describeIssues } from '../../shared/graph/change-notification';
import { appCredentialsKind, InvalidAppCredentialsError, MissingAppCredentialsError, type AppCredentialsKind } from '../../shared/secrets/app-credentials';
import {
  appCredentialsPartSchema,
  clientCertificateProblem,
  clientIdSchema,
  clientSecretSchema,
  integrationSecretName,
  webhookSecretsPartSchema,
  webhookSecretSchema,
  type ClientCertificate,
} from '../../shared/secrets/integration-secret';
import type { IntegrationItemCounts } from '../../shared/store/connections-store';
import { integrationIdSchema, sharedClientStateSchema, type SharedClientState } from '../../shared/store/items';
import { notificationUrl } from '../../shared/subscriptions/notification-url';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import {
  applyEncryptionCertificateChanges,
  encryptionCertificatesOverview,
  type AppliedEncryptionChanges,
  type EncryptionCertificateChanges,
} from '../../shared/secrets/encryption-certificate-changes';
import { certificateOfKey, isEncryptedKey, readPemFile, type ArgumentSources } from '../argument-sources';
import type { CommandContext } from '../context';
import { CommandFailedError, UsageError, parseArg, printJson, printList, warn, type Output } from '../output';
import { readSecretObject, type SecretStore } from '../secret-store';
import { TAKES_EFFECT } from '../takes-effect';
import { describeEncryptionChanges, parseEncryptionCertificateArgs, type EncryptionCertificateArgs } from './certificates';
import { deleteAtGraphThenRecord } from './subscription-changes';

/** The provider of an integration created without `--provider`. */
export const DEFAULT_PROVIDER = 'microsoft-oauth2-cc';

export interface PutIntegrationArgs extends EncryptionCertificateArgs {
  integrationId: string;
  /** Undefined keeps the stored one (the default for a new integration): it is every event's `detail.from`. */
  provider?: string;
  /** `-` reads it from stdin, like the other secrets (see STDIN_OPTIONS). */
  webhookSecret?: string;
  previousWebhookSecret?: string;
  rotate?: boolean;
  /** `accepted` or `refused`; undefined keeps what the integration has. */
  sharedClientState?: string;
  /**
   * App credentials for Graph: `--client-id` with `--client-secret` or `--client-certificate-file`; `--client-id`
   * alone for an integration that only receives.
   */
  clientId?: string;
  clientSecret?: string;
  clientCertificateFile?: string;
  /**
   * The secret options given as `-`, in command-line order (e.g. `--webhook-secret`): stdin holds one value per line
   * in this order. Without it, the order of STDIN_OPTIONS.
   */
  stdinOrder?: readonly string[];
  json?: boolean;
}

/**
 * The app-credential fields written into the secret, replacing any stored ones; a client id alone keeps the stored
 * credentials of that same client id.
 */
export type AppCredentialsFields =
  | { clientId: string; clientSecret: string }
  | { clientId: string; clientCertificate: ClientCertificate }
  | { clientId: string };

export interface ParsedPutIntegrationArgs extends Omit<PutIntegrationArgs, 'sharedClientState'> {
  sharedClientState?: SharedClientState;
  appCredentials?: AppCredentialsFields;
  /** From the encryption certificate flags, their files read and checked. */
  encryptionChanges?: EncryptionCertificateChanges;
}

/**
 * The options whose value `-` means "read it from stdin", keeping it out of shell history and `ps`. Given together,
 * stdin holds one value per line, in the order the options are given on the command line.
 */
export const STDIN_OPTIONS = [
  { key: 'webhookSecret', flag: '--webhook-secret' },
  { key: 'previousWebhookSecret', flag: '--previous-webhook-secret' },
  { key: 'clientSecret', flag: '--client-secret' },
] as const satisfies readonly { key: keyof PutIntegrationArgs; flag: string }[];

type SecretChange = 'created' | 'updated' | 'unchanged';

const providerSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'provider must be lower-case letters, digits and "-"');

/**
 * Refuses a bad command line before anything is read or written in AWS; reads the `-` secrets from stdin and the
 * certificate files, so their problems are usage errors too. Flag combinations are checked before stdin is read,
 * so a wrong command line never waits for input.
 */
export async function parsePutIntegrationArgs(args: PutIntegrationArgs, sources: ArgumentSources): Promise<ParsedPutIntegrationArgs> {
  if (args.rotate && (args.webhookSecret !== undefined || args.previousWebhookSecret !== undefined)) {
    throw new UsageError('--rotate generates the new secret and keeps the current one as previous: do not combine it with --webhook-secret or --previous-webhook-secret');
  }
  const integrationId = parseArg(integrationIdSchema, args.integrationId, 'integration id');
  const provider = args.provider === undefined ? undefined : parseArg(providerSchema, args.provider, '--provider');
  const clientId = parseAppCredentialFlags(args);
  const values = { ...args, ...(await secretsFromStdin(args, sources)) };
  const secret = (value: string | undefined, flag: string) => (value === undefined ? undefined : parseArg(webhookSecretSchema, value, flag, { secret: true }));
  const sharedClientState = args.sharedClientState === undefined ? undefined : parseArg(sharedClientStateSchema, args.sharedClientState, '--shared-client-state');
  const { sharedClientState: _raw, ...rest } = values;
  const webhook: ParsedPutIntegrationArgs = {
    ...rest,
    integrationId,
    ...(provider === undefined ? {} : { provider }),
    ...(sharedClientState === undefined ? {} : { sharedClientState }),
    webhookSecret: secret(values.webhookSecret, '--webhook-secret'),
    previousWebhookSecret: secret(values.previousWebhookSecret, '--previous-webhook-secret'),
  };
  const appCredentials = clientId === undefined ? undefined : await parseAppCredentials(clientId, values, sources);
  const encryptionChanges = await parseEncryptionCertificateArgs(args, sources);
  return { ...webhook, ...(appCredentials === undefined ? {} : { appCredentials }), ...(encryptionChanges === undefined ? {} : { encryptionChanges }) };
}

/** The client id when app credentials are given, checked with the flags that go with it; no value is read yet. */
function parseAppCredentialFlags(args: PutIntegrationArgs): string | undefined {
  const { clientId, clientSecret, clientCertificateFile } = args;
  if (clientId === undefined && clientSecret === undefined && clientCertificateFile === undefined) return undefined;
  if (clientSecret !== undefined && clientCertificateFile !== undefined) {
    throw new UsageError('give either --client-secret or --client-certificate-file, not both');
  }
  if (clientId === undefined) throw new UsageError('--client-secret and --client-certificate-file need --client-id');
  return parseArg(clientIdSchema, clientId, '--client-id').toLowerCase();
}

async function parseAppCredentials(clientId: string, args: PutIntegrationArgs, sources: ArgumentSources): Promise<AppCredentialsFields> {
  if (args.clientSecret !== undefined) return { clientId, clientSecret: parseArg(clientSecretSchema, args.clientSecret, '--client-secret', { secret: true }) };
  if (args.clientCertificateFile === undefined) return { clientId };
  return { clientId, clientCertificate: await certificateFromFile(args.clientCertificateFile, sources) };
}

/**
 * The values of the options given as `-`, read from stdin once: the whole input for one option, one line each for
 * several (in command-line order). One trailing newline is dropped (`echo "$SECRET" |` and a typed line end with
 * one that is not part of the secret); an empty value is refused.
 */
async function secretsFromStdin(args: PutIntegrationArgs, sources: ArgumentSources): Promise<Partial<Record<(typeof STDIN_OPTIONS)[number]['key'], string>>> {
  const position = (flag: string) => {
    const index = args.stdinOrder?.indexOf(flag) ?? -1;
    return index === -1 ? Number.MAX_SAFE_INTEGER : index;
  };
  const wanted = STDIN_OPTIONS.filter(({ key }) => args[key] === '-').sort((a, b) => position(a.flag) - position(b.flag));
  if (wanted.length === 0) return {};
  const flags = wanted.map(({ flag }) => flag);
  const text = (await sources.readStdin(flags.length === 1 ? `the ${flags.join('')} value` : `${flags.join(', ')}: one per line`)).replace(/\r?\n$/, '');
  const [only] = wanted;
  if (only !== undefined && wanted.length === 1) {
    if (text === '') throw new UsageError(`${only.flag} -: nothing was read from stdin`);
    return { [only.key]: text };
  }
  const lines = text === '' ? [] : text.split(/\r?\n/);
  if (lines.length !== wanted.length) {
    throw new UsageError(`${flags.map((flag) => `${flag} -`).join(' and ')} read one line each from stdin, in that order: got ${lines.length} line${lines.length === 1 ? '' : 's'}`);
  }
  const values: Partial<Record<(typeof STDIN_OPTIONS)[number]['key'], string>> = {};
  for (const [index, { key, flag }] of wanted.entries()) {
    const line = lines[index] ?? '';
    if (line === '') throw new UsageError(`${flag} -: line ${index + 1} of stdin is empty`);
    values[key] = line;
  }
  return values;
}

/**
 * One PEM file with the certificate and its unencrypted private key (what `az ad sp create-for-rbac
 * --create-cert` writes, or `cat cert.pem key.pem`). With a chain, the certificate of the key is kept.
 */
async function certificateFromFile(path: string, sources: ArgumentSources): Promise<ClientCertificate> {
  const { text, blocks } = await readPemFile(path, '--client-certificate-file', sources);
  const refuse = (why: string) => new UsageError(`invalid --client-certificate-file ${path}: ${why}`);
  if (isEncryptedKey(text, blocks)) {
    throw refuse('the private key is encrypted; export it without a passphrase (openssl pkey -in key.pem -out plain-key.pem)');
  }
  const keys = blocks.filter((block) => block.label.endsWith('PRIVATE KEY'));
  const certificates = blocks.filter((block) => block.label === 'CERTIFICATE');
  if (certificates.length === 0 || keys.length === 0) {
    throw refuse('it must hold the certificate and its private key, both PEM (e.g. cat cert.pem key.pem > app.pem)');
  }
  const [key, ...moreKeys] = keys;
  if (key === undefined || moreKeys.length > 0) throw refuse(`it holds ${keys.length} private keys; keep only the certificate's`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key.pem);
  } catch {
    throw refuse('its private key cannot be read');
  }
  const chosen = { certificatePem: (certificateOfKey(certificates, privateKey) ?? key).pem, privateKeyPem: key.pem };
  const problem = clientCertificateProblem(chosen);
  if (problem !== undefined) throw refuse(problem);
  return chosen;
}

/** Upserts the integration item and its webhook secret; prints a generated secret once, since nothing else can show it. */
export async function putIntegration(context: CommandContext, args: ParsedPutIntegrationArgs, output: Output): Promise<void> {
  const { integrationId, webhookSecret, previousWebhookSecret, appCredentials } = args;
  const secretName = integrationSecretName(context.target.webhookSecretPrefix, integrationId);
  const existing = await readSecretObject(context.secrets, secretName, 'integrations put');
  // A provider not given is kept: it is every event's detail.from, so a put that only rotates must not change it.
  const provider = args.provider ?? (await context.store.getIntegration(integrationId))?.provider ?? DEFAULT_PROVIDER;
  if (args.rotate && existing === undefined) {
    throw new CommandFailedError(`cannot rotate: integration "${integrationId}" has no secret ${secretName} yet; run integrations put without --rotate`);
  }

  const now = new Date();
  const { secret: webhookNext, generated, droppedCredentials } = nextSecret(existing, { rotate: args.rotate === true, webhookSecret, previousWebhookSecret, appCredentials });
  const encryption: AppliedEncryptionChanges | undefined =
    args.encryptionChanges === undefined ? undefined : applyEncryptionCertificateChanges(webhookNext, args.encryptionChanges, { integrationId, now });
  const next = encryption?.secret ?? webhookNext;
  const valid = webhookSecretsPartSchema.safeParse(next);
  if (!valid.success) {
    throw new CommandFailedError(`secret ${secretName} is invalid (${describeIssues(valid.error)}): replace it with --webhook-secret`);
  }
  const validCredentials = appCredentialsPartSchema.safeParse(next);
  if (!validCredentials.success) {
    throw new CommandFailedError(
      `secret ${secretName} has invalid app credentials (${describeIssues(validCredentials.error)}): ` +
        'replace them with --client-id and --client-secret or --client-certificate-file',
    );
  }
  const credentialsKind = appCredentialsKind(next);
  if (appCredentials !== undefined && 'clientCertificate' in appCredentials) warnAboutValidity(appCredentials.clientCertificate, output);
  if (droppedCredentials !== undefined) {
    warn(output, `the ${droppedCredentials.kind} of client ${droppedCredentials.clientId} is removed: it cannot sign in as client ${appCredentials?.clientId}`);
  }
  const encryptionLines = encryption === undefined ? [] : describeEncryptionChanges(encryption, output, now);
  const secretChange: SecretChange =
    existing === undefined ? 'created' : JSON.stringify(existing) === JSON.stringify(next) ? 'unchanged' : 'updated';

  // The secret first: the item's new configVersion tells running intakes to re-read it, so it must already hold
  // the new value; and a new integration is never seen by an intake before its secret exists.
  const value = JSON.stringify(next);
  // A multi-region stage: the same name resolves in every region, a new secret replicated as it is created and an
  // existing one given the replicas it lacks (updates reach replicas by themselves).
  const replicaRegions = context.target.secretReplicaRegions ?? [];
  if (secretChange === 'created') await context.secrets.create(secretName, value, replicaRegions);
  else if (secretChange === 'updated') await context.secrets.update(secretName, value);
  const replicatedTo =
    secretChange === 'created' ? replicaRegions : replicaRegions.length === 0 ? [] : ((await context.secrets.replicate?.(secretName, replicaRegions)) ?? []);
  const { sharedClientState } = args;
  const { integration, created } = await context.store.putIntegration({ integrationId, provider, ...(sharedClientState === undefined ? {} : { sharedClientState }) });
  const stillShared = sharedClientState === 'refused' ? await subscriptionsOnSharedClientState(context, integrationId) : 0;

  const url = context.target.webhookBaseUrl === undefined ? undefined : notificationUrl(context.target.webhookBaseUrl, integrationId);
  if (args.json) {
    const encryptionCertificateChanges =
      encryption === undefined
        ? undefined
        : { added: encryption.added, replaced: encryption.replaced, removed: encryption.removed, currentId: encryption.current };
    printJson(output, {
      ...integration,
      created,
      secretChange,
      appCredentials: credentialsKind,
      encryptionCertificateChanges,
      generatedWebhookSecret: generated,
      notificationUrl: url,
      ...(replicatedTo.length === 0 ? {} : { secretReplicatedTo: replicatedTo }),
      ...(sharedClientState === 'refused' ? { subscriptionsOnSharedClientState: stillShared } : {}),
      takesEffect: TAKES_EFFECT,
    });
    return;
  }
  output.out(`integration "${integrationId}" ${created ? 'created' : 'updated'} (provider ${provider}); webhook secret ${secretName} ${secretChange}`);
  if (replicatedTo.length > 0) output.out(`webhook secret ${secretName} replicated to ${replicatedTo.join(', ')}`);
  if (appCredentials !== undefined) output.out(describeAppCredentials(appCredentials, credentialsKind));
  encryptionLines.forEach((line) => output.out(line));
  if (generated !== undefined) {
    output.out("generated webhook secret, shown only this once; subscriptions graph-relay creates carry per-tenant values derived from it, and those created elsewhere use it as their clientState:");
    output.out(generated);
  }
  const shared = integration.sharedClientState ?? 'accepted';
  output.out(`clientState: each tenant's own value, and the plain secret for every tenant ${shared === 'accepted' ? 'accepted' : 'refused'} (--shared-client-state ${shared === 'accepted' ? 'refused' : 'accepted'} to change)`);
  if (stillShared > 0) {
    warn(output, `${stillShared} recorded subscription(s) of ${integrationId} carry the plain secret, so their notifications are now refused: recreate them (subscriptions delete <id>, then reconcile) or set --shared-client-state accepted`);
  }
  if (args.rotate) {
    output.out(`the previous secret stays accepted until subscriptions use the new one; then drop it with: graph-relay integrations put ${integrationId} --webhook-secret - (the new secret on stdin)`);
  }
  output.out(`notificationUrl for subscriptions: ${url ?? `<stack output WebhookBaseUrl>${integrationId}`}`);
  output.out(TAKES_EFFECT.message);
}

/** Recorded subscriptions whose clientState is the plain secret (made before per-tenant values, or outside graph-relay's create). */
async function subscriptionsOnSharedClientState(context: CommandContext, integrationId: string): Promise<number> {
  const { subscriptions } = await context.subscriptions.listByIntegration(integrationId);
  return subscriptions.filter((record) => record.clientStateKey === undefined).length;
}

export interface ListIntegrationsArgs {
  json?: boolean;
}

export async function listIntegrations(context: CommandContext, args: ListIntegrationsArgs, output: Output): Promise<void> {
  const { integrations, invalidItems } = await context.store.listIntegrations();
  for (const item of invalidItems) warn(output, `skipped invalid integration item ${item.sk}: ${item.reason}`);
  const rows = await Promise.all(
    integrations.map(async (integration) => {
      const name = integrationSecretName(context.target.webhookSecretPrefix, integration.integrationId);
      const secret = await context.secrets.status(name);
      const stored = secret === 'present' ? await storedSecretSummary(context.secrets, name, output) : { appCredentials: 'none' as const, encryptionCertificates: 0 };
      return { ...integration, secret, ...stored };
    }),
  );
  printList(output, rows, {
    json: args.json,
    empty: 'no integrations yet; create one with: graph-relay integrations put <integrationId>',
    headers: ['integration', 'provider', 'created', 'secret', 'shared clientState', 'app credentials', 'encryption certs', 'current cert'],
    cells: (row) => [
      row.integrationId,
      row.provider,
      row.createdAt,
      row.secret,
      row.sharedClientState ?? 'accepted',
      row.appCredentials === 'receive-only' ? 'receive only' : row.appCredentials,
      row.encryptionCertificates === undefined ? '?' : String(row.encryptionCertificates),
      row.currentEncryptionCertificateId ?? '-',
    ],
  });
}

interface StoredSecretSummary {
  appCredentials: AppCredentialsKind | 'unknown';
  /** How many encryption certificates the secret holds; undefined when it cannot be read. */
  encryptionCertificates?: number;
  /** What new rich subscriptions use: the named current one, else the newest valid. */
  currentEncryptionCertificateId?: string;
}

/**
 * Which app credentials and encryption certificates a stored secret holds (its value is read but never shown);
 * `unknown` when it cannot be read.
 */
async function storedSecretSummary(secrets: SecretStore, name: string, output: Output): Promise<StoredSecretSummary> {
  let text: string | undefined;
  try {
    text = await secrets.read(name);
  } catch (error) {
    warn(output, `cannot read secret ${name} to tell its app credentials: ${error instanceof Error ? error.name : String(error)}`);
    return { appCredentials: 'unknown' };
  }
  if (text === undefined) return { appCredentials: 'none', encryptionCertificates: 0 };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { appCredentials: 'invalid' };
  }
  const { count, current } = encryptionCertificatesOverview(json);
  return { appCredentials: appCredentialsKind(json), encryptionCertificates: count, ...(current === undefined ? {} : { currentEncryptionCertificateId: current }) };
}

function describeAppCredentials(credentials: AppCredentialsFields, stored: AppCredentialsKind): string {
  if ('clientSecret' in credentials) return `app credentials set: client ${credentials.clientId}, client secret`;
  if ('clientCertificate' in credentials) {
    return `app credentials set: client ${credentials.clientId}, certificate ${new X509Certificate(credentials.clientCertificate.certificatePem).fingerprint.replace(/:/g, '')}`;
  }
  if (stored !== 'receive-only') return `client id ${credentials.clientId} set; its stored ${stored === 'secret' ? 'client secret' : 'certificate'} is kept`;
  return `client id ${credentials.clientId} without credentials: the integration only receives (rich notifications are verified against this client id); graph-relay makes no Graph call for it`;
}

function warnAboutValidity(certificate: ClientCertificate, output: Output): void {
  const x509 = new X509Certificate(certificate.certificatePem);
  const now = Date.now();
  if (Date.parse(x509.validTo) <= now) warn(output, `the certificate expired ${new Date(x509.validTo).toISOString()}: tokens will be refused until it is replaced`);
  else if (Date.parse(x509.validFrom) > now) warn(output, `the certificate is not valid before ${new Date(x509.validFrom).toISOString()}`);
}

/**
 * The secret's next JSON. `--rotate`: a new current secret, the old one accepted as previous. An explicit
 * `--webhook-secret` replaces the accepted pair; without one the stored pair stays, generated only if missing.
 */
function nextSecret(
  existing: Record<string, unknown> | undefined,
  flags: { rotate: boolean; webhookSecret: string | undefined; previousWebhookSecret: string | undefined; appCredentials: AppCredentialsFields | undefined },
): { secret: Record<string, unknown>; generated?: string; droppedCredentials?: { clientId: string; kind: 'client secret' | 'certificate' } } {
  const kept = flags.rotate ? undefined : (flags.webhookSecret ?? existing?.['webhookSecret']);
  const generated = kept === undefined ? generateWebhookSecret() : undefined;
  const previous = flags.rotate
    ? existing?.['webhookSecret']
    : flags.webhookSecret === undefined
      ? (flags.previousWebhookSecret ?? existing?.['previousWebhookSecret'])
      : flags.previousWebhookSecret;
  const secret: Record<string, unknown> = { ...existing, webhookSecret: kept ?? generated };
  if (previous === undefined) delete secret['previousWebhookSecret'];
  else secret['previousWebhookSecret'] = previous;
  const credentials = flags.appCredentials;
  if (credentials === undefined) return { secret, generated };
  if ('clientSecret' in credentials || 'clientCertificate' in credentials) {
    // New credentials replace the stored ones as a whole: a secret never holds both kinds.
    delete secret['clientSecret' in credentials ? 'clientCertificate' : 'clientSecret'];
    Object.assign(secret, credentials);
    return { secret, generated };
  }
  // A client id alone keeps the credentials of that same app; another app's cannot sign in as this one.
  const storedId = typeof existing?.['clientId'] === 'string' ? existing['clientId'].toLowerCase() : undefined;
  const storedKind = existing?.['clientSecret'] !== undefined ? 'client secret' : existing?.['clientCertificate'] !== undefined ? 'certificate' : undefined;
  secret['clientId'] = credentials.clientId;
  if (storedId === credentials.clientId || storedKind === undefined) return { secret, generated };
  delete secret['clientSecret'];
  delete secret['clientCertificate'];
  return { secret, generated, droppedCredentials: { clientId: storedId ?? 'unknown', kind: storedKind } };
}

/** 32 random bytes: far more entropy than guessing allows, and 43 characters, well within clientState's 128. */
function generateWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface RemoveIntegrationArgs {
  integrationId: string;
  yes?: boolean;
  json?: boolean;
}

/** Asks a question on the terminal and returns the line typed. */
export type Prompt = (question: string) => Promise<string>;

export function parseRemoveIntegrationArgs(args: RemoveIntegrationArgs): RemoveIntegrationArgs {
  return { ...args, integrationId: parseArg(integrationIdSchema, args.integrationId, 'integration id') };
}

interface RemovalPlan {
  integrationId: string;
  provider?: string;
  records: SubscriptionRecord[];
  items: IntegrationItemCounts;
  secretName: string;
  secret: 'present' | 'missing' | 'scheduled for deletion';
}

/**
 * `integrations remove`: its subscriptions deleted at Graph first (each then its record), and only when all are gone
 * its items in the table (connections, tenant routes, resync states, the integration item) and its secret. Nothing
 * is asked without --yes unless stdin is a terminal to confirm on; a failed Graph delete stops before any other record
 * is touched, so a rerun picks up where it stopped.
 */
export async function removeIntegration(context: CommandContext, args: RemoveIntegrationArgs, output: Output, prompt: Prompt | undefined): Promise<void> {
  const { integrationId } = args;
  const plan = await removalPlan(context, integrationId, output);
  if (!args.yes) {
    if (args.json) printJson(output, { ...planJson(plan), removed: false });
    else describePlan(plan).forEach((line) => output.out(line));
    if (prompt === undefined) {
      throw new UsageError(`nothing removed: stdin is not a terminal to confirm; run again with --yes: graph-relay integrations remove ${integrationId} --yes`);
    }
    const answer = await prompt(`type the integration id (${integrationId}) to remove it: `);
    if (answer.trim() !== integrationId) throw new CommandFailedError('not confirmed: nothing removed');
  }

  const atGraph = await deleteSubscriptionsAtGraph(context, plan);
  const { items, integration } = await context.store.removeIntegration(integrationId);
  const secretDeleted = await context.secrets.delete(plan.secretName);
  const removed = { ...items, subscriptions: items.subscriptions + atGraph.deleted + atGraph.alreadyGone };
  if (args.json) {
    printJson(output, {
      integrationId,
      removed: true,
      subscriptionsAtGraph: atGraph,
      items: removed,
      integrationItem: integration,
      secret: secretDeleted ? 'deleted' : 'missing',
      takesEffect: TAKES_EFFECT,
    });
    return;
  }
  const parts = [
    `${atGraph.deleted + atGraph.alreadyGone} subscription(s) deleted at Graph (${atGraph.alreadyGone} already gone) and their records`,
    ...countLines(removed, { withSubscriptions: false }),
    ...(integration ? ['the integration item'] : []),
  ];
  const last = secretDeleted ? `the secret ${plan.secretName}` : `no secret (${plan.secretName} did not exist)`;
  output.out(`removed integration "${integrationId}": ${parts.join(', ')}, and ${last}`);
  output.out(`the intake refuses its notifications (unknown integration) once running intakes see it gone: ${TAKES_EFFECT.message}`);
}

async function removalPlan(context: CommandContext, integrationId: string, output: Output): Promise<RemovalPlan> {
  const secretName = integrationSecretName(context.target.webhookSecretPrefix, integrationId);
  const [integration, items, { subscriptions: records, invalidItems }, secret] = await Promise.all([
    context.store.getIntegration(integrationId),
    context.store.countIntegrationItems(integrationId),
    context.subscriptions.listByIntegration(integrationId),
    context.secrets.status(secretName),
  ]);
  for (const item of invalidItems) warn(output, `invalid subscription item ${item.sk} is removed from the table, but it cannot be deleted at Graph: ${item.reason}`);
  const owned = Object.values(items).reduce((sum, count) => sum + count, 0);
  if (integration === undefined && owned === 0 && secret === 'missing') {
    throw new CommandFailedError(`integration "${integrationId}" does not exist: nothing to remove (graph-relay integrations list shows them)`);
  }
  return { integrationId, ...(integration === undefined ? {} : { provider: integration.provider }), records, items, secretName, secret };
}

function countLines(items: IntegrationItemCounts, options: { withSubscriptions: boolean }): string[] {
  const kinds: [number, string][] = [
    ...(options.withSubscriptions ? ([[items.subscriptions, 'subscription record(s)']] as [number, string][]) : []),
    [items.connections, 'connection(s)'],
    [items.tenantRoutes, 'tenant route(s)'],
    [items.resyncStates, 'resync state(s)'],
    [items.other, 'other item(s) of its partition'],
  ];
  return kinds.filter(([count]) => count > 0).map(([count, what]) => `${count} ${what}`);
}

function describePlan(plan: RemovalPlan): string[] {
  // Records beyond those at Graph (unreadable items) are deleted from the table only.
  const unrecorded = { ...plan.items, subscriptions: Math.max(0, plan.items.subscriptions - plan.records.length) };
  return [
    `integrations remove ${plan.integrationId} removes:`,
    ...(plan.records.length > 0 ? [`  ${plan.records.length} subscription(s) at Graph, deleted there first, and their records`] : []),
    ...countLines(unrecorded, { withSubscriptions: true }).map((line) => `  ${line}`),
    ...(plan.provider === undefined ? [] : [`  the integration item (provider ${plan.provider})`]),
    ...(plan.secret === 'missing' ? [] : [`  the secret ${plan.secretName} (webhook secrets, app credentials, encryption certificates)`]),
  ];
}

function planJson(plan: RemovalPlan): Record<string, unknown> {
  return { integrationId: plan.integrationId, subscriptionsAtGraph: plan.records.length, items: plan.items, integrationItem: plan.provider !== undefined, secret: plan.secret };
}

/** One at a time, each record right after its Graph delete; the first failure stops everything else. */
async function deleteSubscriptionsAtGraph(context: CommandContext, plan: RemovalPlan): Promise<{ deleted: number; alreadyGone: number }> {
  const done = { deleted: 0, alreadyGone: 0 };
  if (plan.records.length === 0) return done;
  const { integrationId, records } = plan;
  const rerun = `fix the cause and run graph-relay integrations remove ${integrationId} --yes again`;
  let graph;
  try {
    graph = await context.graph.graphFor(integrationId);
  } catch (error) {
    if (error instanceof MissingAppCredentialsError || error instanceof InvalidAppCredentialsError || error instanceof CommandFailedError) {
      throw new CommandFailedError(`cannot delete the ${records.length} subscription(s) of ${integrationId} at Graph: ${error.message}; nothing was removed`);
    }
    throw error;
  }
  for (const record of records) {
    try {
      const outcome = await deleteAtGraphThenRecord(context, graph, record);
      if (outcome === 'deleted') done.deleted += 1;
      else done.alreadyGone += 1;
    } catch (error) {
      const count = done.deleted + done.alreadyGone;
      const what = count === 0 ? `nothing of integration "${integrationId}" was removed` : `only its first ${count} subscription(s) and their records were removed`;
      throw new CommandFailedError(
        `cannot delete subscription ${record.subscriptionId} of ${integrationId} at Graph (${error instanceof Error ? error.message : String(error)}): ${what} (${count} of ${records.length} subscriptions deleted); ${rerun}`,
      );
    }
  }
  return done;
}
