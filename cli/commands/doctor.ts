/**
 * `graph-relay doctor`: checks a stack end to end the way Graph and the renewal will meet it, and says in plain
 * words what is wrong and the command that fixes it. Read-only: it never writes, and never prints a secret value.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { describeIssues } from '../../shared/graph/change-notification';
import { secretFingerprint } from '../../shared/graph/client-state';
import { GRAPH_ENV } from '../../shared/config/env-names';
import { GRAPH_DEFAULTS, loadGraphConfig, type GraphConfig } from '../../shared/graph/graph-config';
import { TokenClient, TokenRequestError, type AppCredentials } from '../../shared/graph/token-client';
import { UNKNOWN_INTEGRATION_BUCKET, type RefusalReason } from '../../shared/intake/refusal-tally';
import { appCredentialsFrom, appCredentialsKind } from '../../shared/secrets/app-credentials';
import { encryptionKeysFrom } from '../../shared/secrets/encryption-keys';
import { integrationSecretName, webhookSecretsPartSchema } from '../../shared/secrets/integration-secret';
import { declarationOf } from '../../shared/resync/run-resync';
import type { Connection, Integration } from '../../shared/store/items';
import type { ResyncLastRun, ResyncState } from '../../shared/store/resync-checkpoints';
import type { PageKey } from '../../shared/store/page-key';
import { parseDeclarations, declarationKey, formatDeclaration } from '../../shared/subscriptions/declarations';
import { planReconcile } from '../../shared/subscriptions/reconcile-plan';
import type { RefusalDay } from '../../shared/store/refusal-store';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import type { CommandContext } from '../context';
import type { Check } from './check';
import { regionChecks } from './doctor-regions';
import { CommandFailedError, printJson, type Output } from '../output';

/** Graph gives the notification endpoint 10 seconds to answer the validation request. */
export const GRAPH_VALIDATION_TIMEOUT_MS = 10_000;
/** An encryption certificate this close to expiry needs a successor now: rich subscriptions renew onto the current one. */
export const CERTIFICATE_WARNING_DAYS = 30;
/** A subscription this close to expiry has missed renewals (unless its whole lifetime is short, see below). */
export const SUBSCRIPTION_WARNING_MS = 6 * 3_600_000;

/**
 * A `;resync` baseline older than this is likely expired at Graph: directory objects' delta tokens last 7 days
 * (https://learn.microsoft.com/graph/delta-query-overview), Outlook's sync state less, so the next run is full.
 */
export const RESYNC_BASELINE_WARNING_MS = 7 * 86_400_000;

/** Refused webhook requests are shown for today and yesterday (UTC days, as the intake stores them). */
export const REFUSAL_DAYS = 2;

const DAY_MS = 86_400_000;
/** Renewal is due at half the granted lifetime: only lifetimes over twice the warning are late inside it. */
const SHORT_LIFETIME_MS = 2 * SUBSCRIPTION_WARNING_MS;

export interface DoctorArgs {
  json: boolean;
}

/** A check and its verdict (cli/commands/check.ts), with what some checks carry besides. */
export interface DoctorCheck extends Check {
  /** Behind a `refused webhook requests` check: what the intake refused over the last REFUSAL_DAYS days. */
  refusals?: RefusalSummary;
  /** Behind a `resync` check: where the declaration's catch-up stands. */
  resync?: ResyncSummary;
}

/** One `;resync` declaration's (or a state left by one) catch-up, as doctor reads it. */
export interface ResyncSummary {
  connectionId: string;
  declaration: string;
  /** Whether the connection still declares it `;resync`. */
  declared: boolean;
  /** The active subscription recorded for it, or the one its last run was for. */
  subscriptionId?: string;
  /** When the baseline (the last delta link) was taken, and how long ago. */
  baselineAt?: string;
  baselineAgeMs?: number;
  lastRun?: ResyncLastRun;
  /** The run in progress: mode, trigger, since when, how far. */
  run?: { mode: string; trigger: string; startedAt: string; pages: number; objects: number; stopped: boolean };
}

/** The resync checks counted, for --json. */
export interface ResyncCounts {
  declarations: number;
  baselineMissing: number;
  baselineOld: number;
  failed: number;
  inProgress: number;
}

/** A bucket's refused webhook requests (an integration, or `(unknown)` for ids that do not exist), summed over the days read. */
export interface RefusalSummary {
  bucket: string;
  requests: number;
  items: number;
  reasons: Partial<Record<RefusalReason, number>>;
  /** For `(unknown)`: some of the ids asked for, the most recent day's first. */
  sampleIds: string[];
  /** The latest refusal reported; absent when there was none. */
  lastAt?: string;
}

export interface DoctorDependencies {
  fetch?: typeof fetch;
  now?: () => Date;
  /** Graph's limit unless a test shortens it. */
  timeoutMs?: number;
  /** The product's token client against GRAPH_LOGIN_URL unless a test stubs it. */
  requestToken?: TokenRequest;
  /** Where GRAPH_LOGIN_URL is read: the process's environment unless a test gives one. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Asks the identity platform for an app-only token for one tenant: what proves app credentials, since a made-up
 * client id and secret are well-formed too. Resolves with the login URL that issued it; throws what the token
 * client throws (TokenRequestError), or ConfigError for a bad GRAPH_LOGIN_URL.
 */
export type TokenRequest = (credentials: AppCredentials, tenantId: string) => Promise<{ loginUrl: string }>;

/** The product's token client (shared/graph/token-client.ts), configured as every CLI command's Graph calls are. */
export function productTokenRequest(env: NodeJS.ProcessEnv = process.env): TokenRequest {
  let config: GraphConfig | undefined;
  return async (credentials, tenantId) => {
    config ??= loadGraphConfig(env);
    await new TokenClient({ credentials, config }).getToken(tenantId);
    return { loginUrl: config.loginUrl };
  };
}

export function parseDoctorArgs(options: { json?: boolean }): DoctorArgs {
  return { json: options.json === true };
}

/** Runs every check, prints them, and fails (exit 1) when any check failed; warnings alone do not. */
export async function doctor(context: CommandContext, args: DoctorArgs, output: Output, dependencies: DoctorDependencies = {}): Promise<void> {
  const checks = await runChecks(context, dependencies);
  if (args.json) {
    printJson(output, { healthy: checks.every((c) => c.ok), warnings: checks.filter((c) => c.ok && c.warning === true).length, resync: countResync(checks), checks });
  }
  else checks.forEach((c) => output.out(formatCheck(c)));
  const failed = checks.filter((c) => !c.ok).length;
  if (failed > 0) throw new CommandFailedError(`${failed} of ${checks.length} checks failed`);
}

export function formatCheck(check: DoctorCheck): string {
  const latency = check.latencyMs === undefined ? '' : ` (${check.latencyMs} ms)`;
  const fix = check.fix === undefined ? '' : ` — fix: ${check.fix}`;
  const mark = !check.ok ? '✗' : check.warning === true ? '⚠' : '✓';
  return `${mark} ${check.check}: ${check.detail}${latency}${fix}`;
}

export async function runChecks(context: CommandContext, dependencies: DoctorDependencies = {}): Promise<DoctorCheck[]> {
  const now = (dependencies.now ?? (() => new Date()))();
  // The regions' /health calls wait up to seconds each: asked while the schedule is read.
  const [schedule, regions] = await Promise.all([scheduleCheck(context), regionsChecks(context, now)]);
  const checks: DoctorCheck[] = [schedule, ...regions];
  const { integrations, invalidItems } = await context.store.listIntegrations();
  for (const item of invalidItems) {
    checks.push({ check: `integration item ${item.sk}`, ok: false, detail: `cannot be read: ${item.reason}`, fix: 'correct or delete the item in the connections table' });
  }
  // One read round for every integration and the unknown ids, made while the other checks run.
  const refused = readRefusals(context, integrations.map((i) => i.integrationId), now);
  if (integrations.length === 0) {
    checks.push({ check: 'integrations', ok: false, detail: 'none: nothing is relayed', fix: 'graph-relay integrations put <integrationId>' });
    return [...checks, ...refusalChecks(await refused, []).rest];
  }
  const perIntegration = await Promise.all(integrations.map((integration) => integrationChecks(context, integration, now, dependencies)));
  const refusals = refusalChecks(await refused, integrations);
  // Each integration's refused webhook requests close its own group; the unknown ids' come last.
  const groups = perIntegration.map((group, i) => {
    const own = refusals.byIntegration.get(integrations[i]?.integrationId ?? '');
    return own === undefined ? group : [...group, own];
  });
  return [...checks, ...groups.flat(), ...refusals.rest];
}

/** A multi-region stage's regions, writer lease and replication; nothing for one region. A report that fails is one ✗. */
async function regionsChecks(context: CommandContext, now: Date): Promise<DoctorCheck[]> {
  if (context.regions === undefined) return [];
  try {
    const report = await context.regions.report();
    return report === undefined ? [] : regionChecks(report, now);
  } catch (error) {
    const problem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return [
      {
        check: 'regions',
        ok: false,
        detail: `the regions, the Graph writer lease and replication could not be read: ${problem}`,
        fix: regionsFix(context),
      },
    ];
  }
}

/** Where a report that failed most likely went wrong, by mode. */
function regionsFix(context: CommandContext): string {
  const lease = context.target.writerLeaseTable ?? context.target.connectionsTable;
  return context.target.primaryRegion === undefined
    ? `check that the local stack's DynamoDB Local answers and that table ${lease} holds a valid writer lease item`
    : `check this identity may read the regional stacks (cloudformation:DescribeStacks), Route 53 health checks, CloudWatch metrics and table ${lease} in ${context.target.region}`;
}

async function scheduleCheck(context: CommandContext): Promise<DoctorCheck> {
  const check = 'renewal schedule';
  if (context.renewalSchedule === undefined) return { check, ok: false, detail: 'cannot be checked in this mode' };
  const status = await context.renewalSchedule.status();
  switch (status.state) {
    case 'enabled':
      return { check, ok: true, detail: status.description };
    case 'disabled':
      return {
        check,
        ok: false,
        detail: `${status.description}: subscriptions expire within days`,
        fix: context.target.renewalIntervalSeconds === undefined
          ? 'enable it (aws scheduler update-schedule … --state ENABLED, or redeploy the stack)'
          : 'restart the local stack without GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS=0',
      };
    case 'unknown':
      return { check, ok: false, detail: status.problem };
  }
}

async function integrationChecks(context: CommandContext, integration: Integration, now: Date, dependencies: DoctorDependencies): Promise<DoctorCheck[]> {
  const { integrationId } = integration;
  // Read once: the connections name the tenants tokens are asked for and the subscriptions each one declares.
  const listed = context.store.listConnections(integrationId);
  const env = dependencies.env ?? process.env;
  const requestToken = dependencies.requestToken ?? productTokenRequest(env);
  // The local stack's functions get the login URL it was started with; the CLI reads its own environment's.
  const localLoginHint =
    context.target.renewalIntervalSeconds !== undefined && env[GRAPH_ENV.loginUrl] === undefined
      ? `the token was asked of ${GRAPH_DEFAULTS.loginUrl}: if the local stack was started with ${GRAPH_ENV.loginUrl}, run doctor with the same`
      : undefined;
  const [handshake, secret, connections, subscriptions, resync] = await Promise.all([
    handshakeCheck(context, integrationId, dependencies),
    listed.then(({ connections: all }) => secretChecks(context, integrationId, all, now, { requestToken, localLoginHint })),
    listed.then((read) => connectionChecks(integrationId, read)),
    listed.then(({ connections: all }) => subscriptionChecks(context, integration, all, now)),
    resyncChecks(context, integrationId, now),
  ]);
  return [handshake, ...secret.checks, ...connections, ...subscriptions(secret), ...resync];
}

/** Like Graph's: spaces, colons and symbols, so a webhook that does not URL-decode (or HTML-escapes) is caught. */
function validationToken(): string {
  return `Validation: graph-relay doctor reachability check Request-Id: ${randomUUID()} +/=%?#;,!*()@$~`;
}

async function handshakeCheck(context: CommandContext, integrationId: string, dependencies: DoctorDependencies): Promise<DoctorCheck> {
  const check = `webhook handshake ${integrationId}`;
  const base = context.target.webhookBaseUrl;
  if (base === undefined) {
    return { check, ok: false, detail: 'the webhook URL is unknown: the stack has no output WebhookBaseUrl, or its names were given as flags', fix: 'run doctor without --connections-table/--webhook-secret-prefix, or redeploy the stack' };
  }
  const token = validationToken();
  // Graph sends the token form-encoded (spaces as "+"); URLSearchParams does the same.
  const url = `${base}${encodeURIComponent(integrationId)}?${new URLSearchParams({ validationToken: token }).toString()}`;
  const timeoutMs = dependencies.timeoutMs ?? GRAPH_VALIDATION_TIMEOUT_MS;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let response: Response;
  let body: string;
  try {
    // Graph does not follow a redirect on the handshake: neither does the check, or it would pass a webhook Graph fails.
    response = await (dependencies.fetch ?? fetch)(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    body = await response.text();
  } catch (error) {
    const latencyMs = elapsed();
    if (error instanceof Error && error.name === 'TimeoutError') {
      return { check, ok: false, detail: `POST ${base}${integrationId} did not answer within ${timeoutMs / 1000} s, Graph's limit`, latencyMs, fix: 'see TROUBLESHOOTING.md "Subscription validation request timed out."' };
    }
    return { check, ok: false, detail: `POST ${base}${integrationId} got no answer: ${reasonOf(error)}`, latencyMs, fix: context.target.renewalIntervalSeconds === undefined ? 'deploy the stack (npx cdk deploy) and check the WebhookBaseUrl output' : 'start the local stack: npm start' };
  }
  const latencyMs = elapsed();
  const contentType = response.headers.get('content-type') ?? '';
  if (response.status !== 200) {
    return { check, ok: false, detail: `answered ${response.status}; Graph needs 200 OK`, latencyMs, fix: 'see TROUBLESHOOTING.md "Notification endpoint must respond with 200 OK to validation request"' };
  }
  if (!/^text\/plain\b/i.test(contentType)) {
    return { check, ok: false, detail: `answered with content-type ${JSON.stringify(contentType)}; Graph needs text/plain`, latencyMs, fix: 'answer the handshake with content-type text/plain' };
  }
  if (body !== token) {
    return {
      check,
      ok: false,
      detail: `the body was ${JSON.stringify(shorten(body))}, not the validation token sent`,
      latencyMs,
      fix: 'see TROUBLESHOOTING.md "Response must exactly match validationToken query parameter"',
    };
  }
  return { check, ok: true, detail: '200 text/plain, the validation token echoed exactly', latencyMs };
}

interface SecretResult {
  checks: DoctorCheck[];
  /** Encryption certificate ids the secret holds; undefined when the secret could not be read. */
  certificateIds: readonly string[] | undefined;
  /** Fingerprints of the webhook secrets (client-state.ts), to tell which secret each subscription's clientState came from. */
  fingerprints?: { current: string; previous?: string };
}

/** How app credentials are proven, and what to add to a refusal's fix on a local stack. */
interface TokenProof {
  requestToken: TokenRequest;
  localLoginHint: string | undefined;
}

async function secretChecks(context: CommandContext, integrationId: string, connections: readonly Connection[], now: Date, proof: TokenProof): Promise<SecretResult> {
  const name = integrationSecretName(context.target.webhookSecretPrefix, integrationId);
  const check = `secret ${integrationId}`;
  const put = `graph-relay integrations put ${integrationId}`;
  const text = await context.secrets.read(name);
  if (text === undefined) return { checks: [{ check, ok: false, detail: `secret ${name} does not exist`, fix: put }], certificateIds: undefined };
  let secret: unknown;
  try {
    secret = JSON.parse(text);
  } catch {
    return { checks: [{ check, ok: false, detail: `secret ${name} is not JSON`, fix: `${put} --rotate (keeps nothing unparseable)` }], certificateIds: undefined };
  }
  const webhook = webhookSecretsPartSchema.safeParse(secret);
  const checks: DoctorCheck[] = [
    webhook.success
      ? { check, ok: true, detail: `secret ${name} holds a webhook secret${webhook.data.previousWebhookSecret === undefined ? '' : ' and a previous one'}` }
      : { check, ok: false, detail: `secret ${name} has no valid webhook secret (${describeIssues(webhook.error)}): every notification is refused`, fix: `${put} --rotate` },
  ];
  checks.push(await credentialsCheck(secret, integrationId, connections, now, proof));
  const keys = encryptionKeysFrom(secret);
  checks.push(...certificateChecks(secret, integrationId, keys.ids, now));
  const fingerprints = webhook.success
    ? {
        current: secretFingerprint(webhook.data.webhookSecret),
        ...(webhook.data.previousWebhookSecret === undefined ? {} : { previous: secretFingerprint(webhook.data.previousWebhookSecret) }),
      }
    : undefined;
  return { checks, certificateIds: keys.ids, ...(fingerprints === undefined ? {} : { fingerprints }) };
}

/**
 * ✓ only when the identity platform issued a token with the credentials, for the tenant of each active connection
 * (one request per tenant): a client id and secret that are merely well-formed prove nothing. A client id alone is a
 * receive-only integration, for which Graph is never called.
 */
async function credentialsCheck(secret: unknown, integrationId: string, connections: readonly Connection[], now: Date, { requestToken, localLoginHint }: TokenProof): Promise<DoctorCheck> {
  const check = `app credentials ${integrationId}`;
  if (appCredentialsKind(secret) === 'receive-only') {
    const { clientId } = secret as { clientId: string };
    return { check, ok: true, detail: `receive only: client id ${clientId}, no credentials (graph-relay never calls Graph for it)` };
  }
  if (appCredentialsKind(secret) === 'none' && !connections.some((connection) => (connection.subscriptions ?? []).length > 0)) {
    // Nothing here asks graph-relay to call Graph: its subscriptions, if any, are created elsewhere (webhook only).
    return {
      check,
      ok: true,
      warning: true,
      detail: 'none: webhook only (no connection declares a subscription, so graph-relay never calls Graph for it)',
      fix: `to let graph-relay create and renew its subscriptions: graph-relay integrations put ${integrationId} --client-id <guid> --client-secret -`,
    };
  }
  let credentials: AppCredentials;
  try {
    credentials = appCredentialsFrom(secret, integrationId);
  } catch (error) {
    // The errors' messages name the integration and the problem and end with the fixing command; never a value.
    return { check, ok: false, detail: reasonOf(error) };
  }
  let kind = 'client secret';
  if ('certificate' in credentials) {
    const validTo = new Date(new X509Certificate(credentials.certificate.certificatePem).validTo);
    if (validTo.getTime() <= now.getTime()) {
      return { check, ok: false, detail: `the client certificate expired ${validTo.toISOString()}`, fix: `graph-relay integrations put ${integrationId} --client-certificate-file <pem>` };
    }
    kind = `client certificate (valid until ${validTo.toISOString()})`;
  }
  const byTenant = new Map<string, string[]>();
  for (const connection of connections) {
    if (connection.status === 'needs-consent') continue;
    byTenant.set(connection.tenantId, [...(byTenant.get(connection.tenantId) ?? []), connection.connectionId]);
  }
  if (byTenant.size === 0) {
    return {
      check,
      ok: true,
      warning: true,
      detail: `${kind} set, not verified: a token is asked for a tenant, and no active connection names one`,
      fix: `graph-relay connections add ${integrationId} <connectionId> --tenant-id <guid>, then run doctor again`,
    };
  }
  const failures: { detail: string; fix?: string }[] = [];
  let loginUrl = '';
  for (const [tenantId, connectionIds] of byTenant) {
    try {
      ({ loginUrl } = await requestToken(credentials, tenantId));
    } catch (error) {
      const failure = tokenFailure(error, integrationId, credentials.clientId, tenantId, connectionIds);
      failures.push({ detail: `refused for connection ${connectionIds.join(', ')}: ${failure.detail}`, ...(failure.fix === undefined ? {} : { fix: failure.fix }) });
      // The app's own credentials, or where its tokens are asked for: every other tenant would be refused the same.
      if (failure.appWide) break;
    }
  }
  if (failures.length > 0) {
    const fixes = [...new Set(failures.flatMap((f) => (f.fix === undefined ? [] : [f.fix]))), ...(localLoginHint === undefined ? [] : [localLoginHint])];
    return { check, ok: false, detail: `${kind} ${failures.map((f) => f.detail).join('; ')}`, ...(fixes.length === 0 ? {} : { fix: fixes.join('; ') }) };
  }
  const tenants = [...byTenant.keys()];
  const whom = tenants.length === 1 ? `tenant ${tenants[0] ?? ''}` : `${tenants.length} tenants (${tenants.join(', ')})`;
  return { check, ok: true, detail: `${kind}: ${loginUrl} issued a token for ${whom}` };
}

/** What a refused token request says, and what fixes it, by the token endpoint's own classification. */
function tokenFailure(error: unknown, integrationId: string, clientId: string, tenantId: string, connectionIds: readonly string[]): { detail: string; fix?: string; appWide: boolean } {
  if (!(error instanceof TokenRequestError)) {
    return { detail: reasonOf(error), fix: `correct ${GRAPH_ENV.loginUrl} (default ${GRAPH_DEFAULTS.loginUrl}) in this environment`, appWide: true };
  }
  const see = error.aadsts === undefined ? '' : `; see TROUBLESHOOTING.md "${error.aadsts}"`;
  const connectionId = connectionIds[0] ?? '<connectionId>';
  switch (error.kind) {
    case 'credentials':
      return {
        detail: error.message,
        fix: `replace them: graph-relay integrations put ${integrationId} --client-id <guid> --client-secret - (or --client-certificate-file <pem>)${see}`,
        appWide: true,
      };
    case 'consent':
      return {
        detail: error.message,
        fix: `have tenant ${tenantId}'s admin grant consent (https://login.microsoftonline.com/${tenantId}/adminconsent?client_id=${clientId}), then graph-relay connections resume ${integrationId} ${connectionId}`,
        appWide: false,
      };
    case 'tenant-not-found':
      return { detail: error.message, fix: `check the tenant id of connection ${connectionId}: graph-relay connections get ${integrationId} ${connectionId}${see}`, appWide: false };
    case 'redirected':
      return { detail: error.message, fix: `set ${GRAPH_ENV.loginUrl} to the identity platform's root itself (default ${GRAPH_DEFAULTS.loginUrl})`, appWide: true };
    case 'throttled':
    case 'unavailable':
      return { detail: error.message, fix: `run doctor again; if it goes on, check that ${GRAPH_ENV.loginUrl} names an identity platform reachable from here`, appWide: true };
    case 'invalid-request':
    case 'unknown':
      return { detail: error.message, ...(see === '' ? {} : { fix: see.slice(2) }), appWide: false };
  }
}

function certificateChecks(secret: unknown, integrationId: string, ids: readonly string[], now: Date): DoctorCheck[] {
  if (ids.length === 0) return [{ check: `encryption certificates ${integrationId}`, ok: true, detail: 'none (needed only for subscriptions with resource data)' }];
  const keys = encryptionKeysFrom(secret);
  let currentId: string | undefined;
  try {
    currentId = keys.current()?.id;
  } catch {
    currentId = undefined;
  }
  const create = `graph-relay certificates create ${integrationId}`;
  return ids.map((id): DoctorCheck => {
    const check = `encryption certificate ${integrationId}/${id}${id === currentId ? ' (current)' : ''}`;
    try {
      keys.privateKey(id);
    } catch (error) {
      return { check, ok: false, detail: reasonOf(error), fix: `${create}, then graph-relay certificates remove ${integrationId} ${id}` };
    }
    const pem = (secret as { encryptionCertificates: Record<string, { certificatePem: string }> }).encryptionCertificates[id]?.certificatePem ?? '';
    const validTo = new Date(new X509Certificate(pem).validTo);
    const daysLeft = Math.floor((validTo.getTime() - now.getTime()) / DAY_MS);
    if (validTo.getTime() <= now.getTime()) return { check, ok: false, detail: `expired ${validTo.toISOString()}`, fix: create };
    if (daysLeft < CERTIFICATE_WARNING_DAYS) {
      return { check, ok: false, detail: `expires ${validTo.toISOString()}, in ${daysLeft} days (under ${CERTIFICATE_WARNING_DAYS})`, fix: `${create} (rich subscriptions move to it as they renew)` };
    }
    return { check, ok: true, detail: `valid until ${validTo.toISOString()}` };
  });
}

function connectionChecks(integrationId: string, { connections, invalidItems }: { connections: readonly Connection[]; invalidItems: readonly { sk: string; reason: string }[] }): DoctorCheck[] {
  const checks: DoctorCheck[] = invalidItems.map((item) => ({
    check: `connection item ${integrationId}/${item.sk}`,
    ok: false,
    detail: `cannot be read: ${item.reason}`,
    fix: 'correct or delete the item in the connections table',
  }));
  const needsConsent = connections.filter((c) => c.status === 'needs-consent');
  checks.push(...needsConsent.map(needsConsentCheck));
  if (needsConsent.length === 0) checks.push({ check: `connections ${integrationId}`, ok: true, detail: `${connections.length} active` });
  return checks;
}

function needsConsentCheck(connection: Connection): DoctorCheck {
  const since = connection.statusChangedAt === undefined ? '' : ` since ${connection.statusChangedAt}`;
  const said = connection.statusReason === undefined ? '' : `: ${connection.statusReason}`;
  return {
    check: `connection ${connection.integrationId}/${connection.connectionId}`,
    ok: false,
    detail: `needs consent${since}${said}`,
    fix: `have tenant ${connection.tenantId}'s admin grant consent again, then graph-relay connections resume ${connection.integrationId} ${connection.connectionId}`,
  };
}

/**
 * Checked once the secret is read: every declaration has a subscription record (a live one: the records' own checks
 * fail expired, failed and needs-consent ones), and rich subscriptions name a certificate the secret still holds.
 */
async function subscriptionChecks(context: CommandContext, integration: Integration, connections: readonly Connection[], now: Date): Promise<(secret: SecretResult) => DoctorCheck[]> {
  const { integrationId } = integration;
  const { subscriptions, invalidItems } = await context.subscriptions.listByIntegration(integrationId);
  // The reconciler's own plan says which declarations lack a subscription: doctor and reconcile never disagree.
  const plan = planReconcile({ integrationId, connections, unreadableConnectionIds: [], subscriptions });
  return ({ certificateIds, fingerprints }) => {
    const checks: DoctorCheck[] = invalidItems.map((item) => ({
      check: `subscription item ${integrationId}/${item.sk}`,
      ok: false,
      detail: `cannot be read: ${item.reason}`,
      fix: 'correct or delete the item in the connections table',
    }));
    for (const invalid of plan.invalidDeclarations) {
      checks.push({
        check: `declaration ${integrationId}/${invalid.connectionId} ${invalid.declaration}`,
        ok: false,
        detail: `cannot be read, so nothing is created for it: ${invalid.reason}`,
        fix: `graph-relay connections unsubscribe ${integrationId} ${invalid.connectionId} ${JSON.stringify(invalid.declaration)}, then subscribe it again as resource:changeTypes`,
      });
    }
    for (const missing of plan.create) {
      const reconcile = `graph-relay reconcile --integration ${integrationId} --connection ${missing.connectionId}`;
      const failure = missing.lastFailure;
      checks.push({
        check: `declaration ${integrationId}/${missing.connectionId} ${formatDeclaration(missing)}`,
        ok: false,
        ...(failure === undefined
          ? { detail: 'declared, but no subscription is recorded for it: Graph sends none of its notifications', fix: `${reconcile} (creates it, or prints the error Graph answers)` }
          : {
              detail: `declared, but no subscription is recorded for it: the reconciler failed to create it ${failure.attempts === 1 ? 'once' : `${failure.attempts} times`}, last at ${failure.at}: ${failure.error}`,
              fix: `see TROUBLESHOOTING.md for the error, then ${reconcile}`,
            }),
      });
    }
    for (const record of subscriptions) {
      const problem = subscriptionProblem(record, now, certificateIds);
      if (problem !== undefined) checks.push({ check: `subscription ${integrationId}/${record.connectionId} ${record.subscriptionId}`, ok: false, ...problem });
    }
    if (checks.length === 0) {
      const earliest = subscriptions.map((s) => s.expiresAt).sort()[0];
      const declared = connections.reduce((sum, c) => sum + parseDeclarations(c.subscriptions ?? []).declarations.length, 0);
      const recorded = subscriptions.length === 0 ? 'none recorded' : `${subscriptions.length} active, the earliest expires ${earliest ?? ''}`;
      checks.push({
        check: `subscriptions ${integrationId}`,
        ok: true,
        detail: declared === 0 ? `none declared, ${recorded}` : `${declared} declared, each with a subscription; ${recorded}`,
      });
    }
    const clientStates = fingerprints === undefined ? undefined : clientStateCheck(integration, subscriptions, fingerprints);
    return clientStates === undefined ? checks : [...checks, clientStates];
  };
}

/**
 * Which clientState the recorded subscriptions carry, against what the intake accepts: their tenant's value made
 * with the current secret (fine), with the previous one (fine until it is dropped), with neither (refused), or the
 * plain secret (refused when the integration refuses it).
 */
export function clientStateCheck(integration: Integration, records: readonly SubscriptionRecord[], fingerprints: { current: string; previous?: string }): DoctorCheck | undefined {
  if (records.length === 0) return undefined;
  const { integrationId } = integration;
  const check = `clientState ${integrationId}`;
  const byKind = { current: [] as SubscriptionRecord[], previous: [] as SubscriptionRecord[], lost: [] as SubscriptionRecord[], plain: [] as SubscriptionRecord[] };
  for (const record of records) {
    const key = record.clientStateKey;
    if (key === undefined) byKind.plain.push(record);
    else if (key === fingerprints.current) byKind.current.push(record);
    else if (key === fingerprints.previous) byKind.previous.push(record);
    else byKind.lost.push(record);
  }
  const sharedAccepted = integration.sharedClientState !== 'refused';
  const recreate = (list: readonly SubscriptionRecord[]) =>
    `recreate them: graph-relay subscriptions delete <id>, then graph-relay reconcile (${list.slice(0, 3).map((r) => r.subscriptionId).join(', ')}${list.length > 3 ? ', …' : ''})`;
  const summary = `${count(byKind.current.length + byKind.previous.length + byKind.lost.length, 'subscription')} with their tenant's own value, ${byKind.plain.length} with the plain secret (${sharedAccepted ? 'accepted' : 'refused'})`;
  if (byKind.lost.length > 0) {
    return { check, ok: false, detail: `${count(byKind.lost.length, 'subscription')} carry a value of a secret the integration no longer has: their notifications are refused; ${summary}`, fix: recreate(byKind.lost) };
  }
  if (byKind.plain.length > 0 && !sharedAccepted) {
    return {
      check,
      ok: false,
      detail: `${count(byKind.plain.length, 'subscription')} carry the plain secret, which the integration refuses: their notifications are refused`,
      fix: `${recreate(byKind.plain)}, or graph-relay integrations put ${integrationId} --shared-client-state accepted`,
    };
  }
  if (byKind.previous.length > 0) {
    return {
      check,
      ok: true,
      warning: true,
      detail: `${count(byKind.previous.length, 'subscription')} still carry a value of the previous secret: keep it until they are recreated; ${summary}`,
      fix: recreate(byKind.previous),
    };
  }
  return { check, ok: true, detail: summary };
}

function subscriptionProblem(record: SubscriptionRecord, now: Date, certificateIds: readonly string[] | undefined): Pick<DoctorCheck, 'detail' | 'fix'> | undefined {
  const renew = `graph-relay subscriptions renew ${record.subscriptionId} --integration ${record.integrationId}`;
  const resume = `graph-relay connections resume ${record.integrationId} ${record.connectionId}`;
  const what = `${record.resource} (${record.changeTypes.join(',')})`;
  const error = record.lastError === undefined ? '' : `: ${record.lastError}`;
  if (record.status === 'needs-consent') return { detail: `${what} needs consent${error}`, fix: `have the tenant's admin grant consent again, then ${resume}` };
  if (record.status === 'failed') return { detail: `${what} failed to renew${error}`, fix: renew };
  const expires = Date.parse(record.expiresAt);
  if (expires <= now.getTime()) return { detail: `${what} expired ${record.expiresAt}: Graph no longer sends its notifications`, fix: `${renew} (recreates it)` };
  const lifetime = expires - Date.parse(record.lastRenewedAt ?? record.createdAt);
  if (expires - now.getTime() <= SUBSCRIPTION_WARNING_MS && lifetime > SHORT_LIFETIME_MS) {
    return { detail: `${what} expires ${record.expiresAt}, within 6 h: renewal is behind`, fix: `${renew}, and check the renewal schedule and its function's logs` };
  }
  if (record.encryptionCertificateId !== undefined && certificateIds !== undefined && !certificateIds.includes(record.encryptionCertificateId)) {
    return {
      detail: `${what} is encrypted with certificate "${record.encryptionCertificateId}", which the secret no longer holds: its rich notifications are refused`,
      fix: `graph-relay integrations put ${record.integrationId} --encryption-certificate-id ${record.encryptionCertificateId} … (add it back), or ${renew}`,
    };
  }
  return undefined;
}

/**
 * One check per `;resync` declaration and per resync state left by one: the baseline's age, the last run and a run
 * in progress. ✗ when the last run failed; ⚠ when a declared baseline is missing or old enough to have expired at
 * Graph. Nothing at all for an integration without either.
 */
async function resyncChecks(context: CommandContext, integrationId: string, now: Date): Promise<DoctorCheck[]> {
  const store = context.resync?.states;
  if (store === undefined) return [];
  const states: ResyncState[] = [];
  const checks: DoctorCheck[] = [];
  let startKey: PageKey | undefined;
  do {
    const page = await store.list(integrationId, startKey === undefined ? {} : { startKey });
    states.push(...page.states);
    checks.push(
      ...page.invalid.map((item) => ({ check: `resync item ${integrationId}/${item.sk}`, ok: false, detail: `cannot be read: ${item.reason}`, fix: 'correct or delete the item in the connections table' })),
    );
    startKey = page.lastKey;
  } while (startKey !== undefined);
  const [{ connections }, { subscriptions }] = await Promise.all([context.store.listConnections(integrationId), context.subscriptions.listByIntegration(integrationId)]);
  const declared = connections.flatMap((connection) =>
    parseDeclarations(connection.subscriptions ?? [])
      .declarations.filter((d) => d.resync === true)
      .map((d) => ({ connectionId: connection.connectionId, declaration: declarationKey(d) })),
  );
  const keyOf = (k: { connectionId: string; declaration: string }) => `${k.connectionId}\n${k.declaration}`;
  const declaredKeys = new Set(declared.map(keyOf));
  const all = [...declared, ...states.filter((state) => !declaredKeys.has(keyOf(state)))].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  for (const { connectionId, declaration } of all) {
    const state = states.find((s) => keyOf(s) === keyOf({ connectionId, declaration }));
    const record = subscriptions.find((r) => r.connectionId === connectionId && r.status === 'active' && declarationOf(r) === declaration);
    checks.push(resyncCheck({ integrationId, connectionId, declaration, declared: declaredKeys.has(keyOf({ connectionId, declaration })), state, subscriptionId: record?.subscriptionId ?? state?.subscriptionId }, now));
  }
  return checks;
}

function resyncCheck(
  input: { integrationId: string; connectionId: string; declaration: string; declared: boolean; state: ResyncState | undefined; subscriptionId: string | undefined },
  now: Date,
): DoctorCheck {
  const { integrationId, connectionId, declaration, declared, state, subscriptionId } = input;
  const check = `resync ${integrationId}/${connectionId} ${declaration}`;
  const baselineAgeMs = state?.deltaLinkAt === undefined ? undefined : Math.max(0, now.getTime() - Date.parse(state.deltaLinkAt));
  const inProgress = state?.run;
  const stopped = inProgress !== undefined && (state?.leaseUntil === undefined || Date.parse(state.leaseUntil) < now.getTime());
  const summary: ResyncSummary = {
    connectionId,
    declaration,
    declared,
    ...(subscriptionId === undefined ? {} : { subscriptionId }),
    ...(state?.deltaLinkAt === undefined ? {} : { baselineAt: state.deltaLinkAt, baselineAgeMs }),
    ...(state?.lastRun === undefined ? {} : { lastRun: state.lastRun }),
    ...(inProgress === undefined
      ? {}
      : { run: { mode: inProgress.mode, trigger: inProgress.trigger, startedAt: inProgress.startedAt, pages: inProgress.pages, objects: inProgress.changed + inProgress.deleted, stopped } }),
  };
  const last = state?.lastRun;
  const parts = [
    baselineAgeMs === undefined ? 'no baseline' : `baseline ${age(baselineAgeMs)} old (${state?.deltaLinkAt ?? ''})`,
    last === undefined ? 'no run yet' : `last run ${last.trigger} ${last.mode} ${last.outcome}, ${count(last.objects, 'object')}, ${last.finishedAt}`,
    ...(inProgress === undefined
      ? []
      : [
          `run in progress: ${inProgress.mode} (${inProgress.trigger}) since ${inProgress.startedAt}, ${count(inProgress.pages, 'page')}, ${count(inProgress.changed + inProgress.deleted, 'object')}` +
            (stopped ? ', stopped: it goes on from its checkpoint at the next run' : ''),
        ]),
    ...(declared ? [] : ['no longer declared ;resync']),
  ];
  const detail = parts.join('; ');
  const resync = subscriptionId === undefined ? undefined : `graph-relay subscriptions resync ${subscriptionId} --integration ${integrationId}`;
  const noSubscription = `graph-relay reconcile --integration ${integrationId} --connection ${connectionId} (no active subscription is recorded for it)`;
  if (last?.outcome === 'failed' && (declared || inProgress !== undefined)) {
    return { check, ok: false, detail: `${detail}: ${last.error ?? 'no error recorded'}`, fix: resync ?? noSubscription, resync: summary };
  }
  if (declared && (baselineAgeMs === undefined || baselineAgeMs > RESYNC_BASELINE_WARNING_MS)) {
    const why =
      baselineAgeMs === undefined
        ? 'changes missed now cannot be told from the rest: the next run will be full'
        : "Graph's directory delta tokens expire after 7 days (Outlook's sooner): the next run will be full";
    return { check, ok: true, warning: true, detail: `${detail}: ${why} (consumers receive every current object again)`, fix: resync ?? noSubscription, resync: summary };
  }
  return { check, ok: true, detail, resync: summary };
}

/** The resync checks counted, for --json. */
export function countResync(checks: readonly DoctorCheck[]): ResyncCounts {
  const summaries = checks.flatMap((c) => (c.resync === undefined ? [] : [{ check: c, resync: c.resync }]));
  const declared = summaries.filter((s) => s.resync.declared);
  return {
    declarations: declared.length,
    baselineMissing: declared.filter((s) => s.resync.baselineAt === undefined).length,
    baselineOld: declared.filter((s) => (s.resync.baselineAgeMs ?? 0) > RESYNC_BASELINE_WARNING_MS).length,
    failed: summaries.filter((s) => !s.check.ok).length,
    inProgress: summaries.filter((s) => s.resync.run !== undefined).length,
  };
}

function age(ms: number): string {
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  if (ms < 2 * DAY_MS) return `${Math.floor(ms / 3_600_000)} h`;
  return `${Math.floor(ms / DAY_MS)} days`;
}

/** The read of the refused webhook requests, or why it could not be made. */
type RefusalRead = { days: RefusalDay[] } | { problem: string };

async function readRefusals(context: CommandContext, integrationIds: readonly string[], now: Date): Promise<RefusalRead> {
  if (context.refusals === undefined) {
    return { problem: 'the deliveries table is unknown: the stack has no output DeliveriesTableName, or its names were given as flags' };
  }
  try {
    return { days: await context.refusals.recent([...integrationIds, UNKNOWN_INTEGRATION_BUCKET], REFUSAL_DAYS, now) };
  } catch (error) {
    return { problem: `the deliveries table could not be read: ${reasonOf(error)}` };
  }
}

/** How the reasons read to an operator, in the order they are listed. */
const REFUSAL_REASONS: Record<RefusalReason, string> = {
  'unknown-integration': 'unknown integration',
  'clientstate-mismatch': 'clientState mismatch',
  'clientstate-unconfirmed': 'clientState not confirmed',
  'no-webhook-secret': 'no webhook secret',
};

/** The days read, summed per bucket; sample ids of the most recent day first, each once. */
export function summarizeRefusals(days: readonly RefusalDay[]): Map<string, RefusalSummary> {
  const summaries = new Map<string, RefusalSummary>();
  for (const day of [...days].sort((a, b) => b.day.localeCompare(a.day))) {
    const summary = summaries.get(day.bucket) ?? { bucket: day.bucket, requests: 0, items: 0, reasons: {}, sampleIds: [] };
    summary.requests += day.requests;
    summary.items += day.items;
    for (const reason of Object.keys(REFUSAL_REASONS) as RefusalReason[]) {
      const count = day.reasons[reason];
      if (count !== undefined) summary.reasons[reason] = (summary.reasons[reason] ?? 0) + count;
    }
    for (const id of day.sampleIds) if (!summary.sampleIds.includes(id)) summary.sampleIds.push(id);
    if (summary.lastAt === undefined || day.lastAt > summary.lastAt) summary.lastAt = day.lastAt;
    summaries.set(day.bucket, summary);
  }
  return summaries;
}

/**
 * Refused requests are warnings, never failures: anyone can send a request to the webhook, so their presence says
 * nothing certain about the stack. A known integration's get the steps that fix what the reasons point to.
 */
function refusalChecks(read: RefusalRead, integrations: readonly Integration[]): { byIntegration: Map<string, DoctorCheck>; rest: DoctorCheck[] } {
  if ('problem' in read) {
    return { byIntegration: new Map(), rest: [{ check: 'refused webhook requests', ok: true, warning: true, detail: `cannot be checked: ${read.problem}` }] };
  }
  const summaries = summarizeRefusals(read.days);
  const summaryOf = (bucket: string): RefusalSummary => summaries.get(bucket) ?? { bucket, requests: 0, items: 0, reasons: {}, sampleIds: [] };
  const byIntegration = new Map(integrations.map((integration) => [integration.integrationId, knownRefusalCheck(integration, summaryOf(integration.integrationId))]));
  return { byIntegration, rest: [unknownRefusalCheck(summaryOf(UNKNOWN_INTEGRATION_BUCKET))] };
}

function knownRefusalCheck(integration: Integration, refusals: RefusalSummary): DoctorCheck {
  const check = `refused webhook requests ${integration.integrationId}`;
  if (refusals.requests === 0) return { check, ok: true, detail: noRefusals(), refusals };
  const fix = knownRefusalFix(integration, refusals.reasons);
  return { check, ok: true, warning: true, detail: describeRefusals(refusals), ...(fix === undefined ? {} : { fix }), refusals };
}

function knownRefusalFix(integration: Integration, reasons: RefusalSummary['reasons']): string | undefined {
  const id = integration.integrationId;
  const fixes: string[] = [];
  if ((reasons['clientstate-mismatch'] ?? 0) > 0) {
    // Only an integration set to refuse the plain secret can be fixed by accepting it again.
    const shared =
      integration.sharedClientState === 'refused'
        ? `, or, for subscriptions that carry the plain webhook secret (made outside graph-relay), accept it again with graph-relay integrations put ${id} --shared-client-state accepted`
        : '';
    fixes.push(
      'subscriptions carry a clientState this integration does not accept: recreate them ' +
        `(graph-relay subscriptions delete <subscriptionId> --integration ${id}, then graph-relay reconcile --integration ${id}), ` +
        `or, if the secret they carry was replaced, accept it again with graph-relay integrations put ${id} --previous-webhook-secret - (the old value on stdin)${shared}`,
    );
  }
  if ((reasons['no-webhook-secret'] ?? 0) > 0) fixes.push(`the integration had no webhook secret: graph-relay integrations put ${id}`);
  return fixes.length === 0 ? undefined : fixes.join('; ');
}

function unknownRefusalCheck(refusals: RefusalSummary): DoctorCheck {
  const check = 'refused webhook requests to unknown integrations';
  if (refusals.requests === 0) return { check, ok: true, detail: noRefusals(), refusals };
  const ids = refusals.sampleIds.length === 0 ? '' : `; ids asked for: ${refusals.sampleIds.join(', ')}`;
  return {
    check,
    ok: true,
    warning: true,
    detail: `${describeRefusals(refusals)}${ids}`,
    fix: 'none needed for ids that are not yours (anyone can post to the webhook); for an id you expect, create its integration: graph-relay integrations put <integrationId>',
    refusals,
  };
}

function noRefusals(): string {
  return `none in the last ${REFUSAL_DAYS} days (UTC)`;
}

function describeRefusals(refusals: RefusalSummary): string {
  const reasons = (Object.keys(REFUSAL_REASONS) as RefusalReason[])
    .filter((reason) => (refusals.reasons[reason] ?? 0) > 0)
    .map((reason) => `${REFUSAL_REASONS[reason]} ${refusals.reasons[reason] ?? 0}`);
  const last = refusals.lastAt === undefined ? '' : `; last ${refusals.lastAt}`;
  return `${count(refusals.requests, 'request')} (${count(refusals.items, 'item')}) refused in the last ${REFUSAL_DAYS} days (UTC): ${reasons.join(', ')}${last}`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(reasonOf).join('; ');
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${reasonOf(error.cause)}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
