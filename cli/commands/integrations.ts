import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { describeIssues } from '../../shared/graph/change-notification';
import { integrationSecretName, integrationSecretSchema, webhookSecretSchema } from '../../shared/secrets/integration-secret';
import { integrationIdSchema } from '../../shared/store/items';
import type { CommandContext } from '../context';
import { CommandFailedError, UsageError, formatTable, parseArg, printJson, warn, type Output } from '../output';
import type { SecretStore } from '../secret-store';

export const DEFAULT_PROVIDER = 'microsoft-oauth2-cc';

export interface PutIntegrationArgs {
  integrationId: string;
  provider: string;
  webhookSecret?: string;
  previousWebhookSecret?: string;
  rotate?: boolean;
  json?: boolean;
}

type SecretChange = 'created' | 'updated' | 'unchanged';

const providerSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'provider must be lower-case letters, digits and "-"');

/** Refuses a bad command line before anything is read or written. */
export function parsePutIntegrationArgs(args: PutIntegrationArgs): PutIntegrationArgs {
  if (args.rotate && (args.webhookSecret !== undefined || args.previousWebhookSecret !== undefined)) {
    throw new UsageError('--rotate generates the new secret and keeps the current one as previous: do not combine it with --webhook-secret or --previous-webhook-secret');
  }
  const secret = (value: string | undefined, flag: string) => (value === undefined ? undefined : parseArg(webhookSecretSchema, value, flag, { secret: true }));
  return {
    ...args,
    integrationId: parseArg(integrationIdSchema, args.integrationId, 'integration id'),
    provider: parseArg(providerSchema, args.provider, '--provider'),
    webhookSecret: secret(args.webhookSecret, '--webhook-secret'),
    previousWebhookSecret: secret(args.previousWebhookSecret, '--previous-webhook-secret'),
  };
}

/** Upserts the integration item and its webhook secret; prints a generated secret once, since nothing else can show it. */
export async function putIntegration(context: CommandContext, args: PutIntegrationArgs, output: Output): Promise<void> {
  const { integrationId, provider, webhookSecret, previousWebhookSecret } = args;
  const secretName = integrationSecretName(context.target.webhookSecretPrefix, integrationId);
  const existing = await readSecretObject(context.secrets, secretName);
  if (args.rotate && existing === undefined) {
    throw new CommandFailedError(`cannot rotate: integration "${integrationId}" has no secret ${secretName} yet; run integrations put without --rotate`);
  }

  const { secret: next, generated } = nextSecret(existing, { rotate: args.rotate === true, webhookSecret, previousWebhookSecret });
  const valid = integrationSecretSchema.safeParse(next);
  if (!valid.success) {
    throw new CommandFailedError(`secret ${secretName} is invalid (${describeIssues(valid.error)}): replace it with --webhook-secret`);
  }
  const secretChange: SecretChange =
    existing === undefined ? 'created' : JSON.stringify(existing) === JSON.stringify(next) ? 'unchanged' : 'updated';

  const { integration, created } = await context.store.putIntegration({ integrationId, provider });
  const value = JSON.stringify(next);
  if (secretChange === 'created') await context.secrets.create(secretName, value);
  else if (secretChange === 'updated') await context.secrets.update(secretName, value);

  const url = context.target.webhookBaseUrl === undefined ? undefined : notificationUrl(context.target.webhookBaseUrl, integrationId);
  if (args.json) {
    printJson(output, { ...integration, created, secretChange, generatedWebhookSecret: generated, notificationUrl: url });
    return;
  }
  output.out(`integration "${integrationId}" ${created ? 'created' : 'updated'} (provider ${provider}); webhook secret ${secretName} ${secretChange}`);
  if (generated !== undefined) {
    output.out('generated webhook secret, shown only this once; use it as the subscriptions\' clientState:');
    output.out(generated);
  }
  if (args.rotate) {
    output.out(`the previous secret stays accepted until subscriptions use the new one; then drop it with: graph-relay integrations put ${integrationId} --webhook-secret <new secret>`);
  }
  output.out(`notificationUrl for subscriptions: ${url ?? `<stack output WebhookBaseUrl>${integrationId}`}`);
}

export interface ListIntegrationsArgs {
  json?: boolean;
}

export async function listIntegrations(context: CommandContext, args: ListIntegrationsArgs, output: Output): Promise<void> {
  const { integrations, invalidItems } = await context.store.listIntegrations();
  for (const item of invalidItems) warn(output, `skipped invalid integration item ${item.sk}: ${item.reason}`);
  const rows = await Promise.all(
    integrations.map(async (integration) => ({
      ...integration,
      secret: await context.secrets.status(integrationSecretName(context.target.webhookSecretPrefix, integration.integrationId)),
    })),
  );
  if (args.json) {
    printJson(output, rows);
    return;
  }
  if (rows.length === 0) {
    output.out('no integrations yet; create one with: graph-relay integrations put <integrationId>');
    return;
  }
  const table = formatTable(
    ['integration', 'provider', 'created', 'secret'],
    rows.map((row) => [row.integrationId, row.provider, row.createdAt, row.secret]),
  );
  table.forEach((line) => output.out(line));
}

/**
 * The secret's next JSON. `--rotate`: a new current secret, the old one accepted as previous. An explicit
 * `--webhook-secret` replaces the accepted pair; without one the stored pair stays, generated only if missing.
 */
function nextSecret(
  existing: Record<string, unknown> | undefined,
  flags: { rotate: boolean; webhookSecret: string | undefined; previousWebhookSecret: string | undefined },
): { secret: Record<string, unknown>; generated?: string } {
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
  return { secret, generated };
}

/** 32 random bytes: far more entropy than guessing allows, and 43 characters, well within clientState's 128. */
function generateWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** `<webhookBaseUrl><integrationId>`, tolerating a base URL without its trailing slash. */
function notificationUrl(webhookBaseUrl: string, integrationId: string): string {
  return webhookBaseUrl.endsWith('/') ? `${webhookBaseUrl}${integrationId}` : `${webhookBaseUrl}/${integrationId}`;
}

/** The stored secret as a JSON object, so fields this command does not own survive the update. */
async function readSecretObject(secrets: SecretStore, name: string): Promise<Record<string, unknown> | undefined> {
  const text = await secrets.read(name);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CommandFailedError(`secret ${name} is not JSON; fix or delete it before running integrations put`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CommandFailedError(`secret ${name} is not a JSON object; fix or delete it before running integrations put`);
  }
  return json as Record<string, unknown>;
}
