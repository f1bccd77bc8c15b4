/**
 * `subscriptions create | renew | delete`: one Graph subscription changed by hand, with the same requests, expiry
 * and recording as the reconciler and the renewal schedule (shared/subscriptions), so nothing the CLI does looks
 * different to them afterwards.
 */
import { newSubscriptionClientState } from '../../shared/graph/client-state';
import { z } from 'zod';
import type { SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { SUBSCRIPTION_DETAIL_TYPES } from '../../shared/events/subscription-events';
import { GraphRequestError } from '../../shared/graph/graph-client';
import { GRAPH_DEFAULTS } from '../../shared/graph/graph-config';
import type { DeleteOutcome } from '../../shared/graph/subscriptions-api';
import type { CurrentEncryptionCertificate } from '../../shared/secrets/encryption-keys';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { IntegrationNotFoundError } from '../../shared/store/connections-store';
import { integrationIdSchema } from '../../shared/store/items';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { askForResyncs, resyncJob } from '../../shared/resync/resync-job';
import { declarationOf } from '../../shared/resync/run-resync';
import type { Connection } from '../../shared/store/items';
import { declarationKey, formatDeclaration, parseDeclarations, type Declaration } from '../../shared/subscriptions/declarations';
import { encryptionCertificateFrom, MissingEncryptionCertificateError } from '../../shared/subscriptions/integration-graphs';
import { notificationUrl } from '../../shared/subscriptions/notification-url';
import { renewDue, type RenewalPorts } from '../../shared/subscriptions/renew-due';
import { currentEncryptionCertificate, ExpiryOutOfRangeError, newSubscriptionRequest, requestedExpiry } from '../../shared/subscriptions/subscription-requests';
import type { CommandContext } from '../context';
import type { CliGraph } from '../graph-access';
import { CommandFailedError, parseArg, printJson, UsageError, warn, type Output } from '../output';
import { editSubscriptions, keyOf, notFound, parseConnectionRef, parseDeclarationArg, withDeclaration } from './connections';
import { parseDuration } from './subscriptions';

/** Graph's subscription ids are GUIDs; anything id-like is accepted, nothing that could be a path. */
const subscriptionIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'expected a Graph subscription id such as 7f105c7d-2dc5-4530-97cd-4e7ae6534c07');

/** A manual change has no Lambda timeout; this only bounds how long Graph's Retry-After is waited for. */
const COMMAND_BUDGET_MS = 5 * 60_000;

export interface CreateSubscriptionArgs {
  integrationId: string;
  connectionId: string;
  resource: string;
  changeType: string;
  expiresIn?: string;
  /** `--include-resource-data`: rich notifications, encrypted with the integration's current certificate. */
  includeResourceData?: boolean;
  /** `--resync`: the declaration asks for catch-up with the resource's delta query. */
  resync?: boolean;
  json?: boolean;
}

interface ParsedCreateArgs {
  integrationId: string;
  connectionId: string;
  declaration: Declaration;
  /** A lifetime shorter than the maximum, checked against the lifetime table. */
  lifetimeMs?: number;
  json?: boolean;
}

/** Refused with the declaration parser's message (unknown resource: the supported ones listed) before any call. */
export function parseCreateSubscriptionArgs(args: CreateSubscriptionArgs): ParsedCreateArgs {
  const ref = parseConnectionRef(args);
  const declaration = parseDeclarationArg(`${args.resource}:${args.changeType}`, {
    includeResourceData: args.includeResourceData === true,
    resync: args.resync === true,
  });
  const lifetimeMs = args.expiresIn === undefined ? undefined : parseDuration(args.expiresIn, '--expires-in');
  if (lifetimeMs !== undefined) {
    try {
      requestedExpiry(declaration.resource, new Date(), lifetimeMs, lifetimeOptions(declaration));
    } catch (error) {
      if (error instanceof ExpiryOutOfRangeError) throw new UsageError(`--expires-in ${args.expiresIn}: ${error.message}`);
      throw error;
    }
  }
  return {
    integrationId: ref.integrationId,
    connectionId: ref.connectionId,
    declaration,
    ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
    ...(args.json === undefined ? {} : { json: args.json }),
  };
}

/**
 * Creates the subscription at Graph and records it. The declaration is added to the connection first: otherwise
 * the reconciler's next run would delete a subscription its connection does not ask for, and declaring after
 * creating would leave a window for exactly that. If Graph refuses, a declaration this command added is removed again.
 */
export async function createSubscription(context: CommandContext, args: ParsedCreateArgs, output: Output): Promise<void> {
  const { integrationId, connectionId, declaration } = args;
  const text = formatDeclaration(declaration);
  const connection = await context.store.getConnection(integrationId, connectionId);
  if (connection === undefined) throw await notFound(context.store, args);
  const { subscriptions: records } = await context.subscriptions.listByConnection(integrationId, connectionId);
  const existing = records.find((r) => declarationKey(r) === declarationKey(declaration) && r.tenantId.toLowerCase() === connection.tenantId.toLowerCase());
  if (existing !== undefined) {
    throw new CommandFailedError(
      `connection "${connectionId}" of integration "${integrationId}" already has subscription ${existing.subscriptionId} for ${text} ` +
        `(expires ${existing.expiresAt}, ${existing.status}); renew it with: graph-relay subscriptions renew ${existing.subscriptionId}`,
    );
  }
  // Everything that can be refused without Graph is checked before the declaration is written.
  const notificationUrl = notificationUrlOf(context, integrationId);
  const graph = await context.graph.graphFor(integrationId);
  const { clientState, clientStateKey } = newSubscriptionClientState(await context.graph.webhookSecretOf(integrationId), integrationId, connection.tenantId);
  const encryption = declaration.includeResourceData === true ? await certificateForCreate(context, integrationId) : undefined;

  const key = declarationKey(declaration);
  // Without --resync a declaration already there is left as it is; with it, resync is added to it. Only a
  // declaration this command added is removed again when Graph refuses.
  let added = false;
  const declared = await editSubscriptions(context, args, (list) => {
    const alreadyDeclared = list.some((t) => keyOf(t) === key);
    added = !alreadyDeclared;
    return alreadyDeclared && declaration.resync !== true ? undefined : withDeclaration(list, declaration)?.declared;
  });
  output.err(`graph-relay: creating ${text} for ${integrationId}/${connectionId}: Graph validates ${notificationUrl} first`);
  const now = new Date();
  let created;
  try {
    created = await graph.createSubscription(
      connection.tenantId,
      newSubscriptionRequest({
        resource: declaration.resource,
        changeTypes: declaration.changeTypes,
        notificationUrl,
        clientState,
        now,
        ...(args.lifetimeMs === undefined ? {} : { expiresAt: requestedExpiry(declaration.resource, now, args.lifetimeMs, lifetimeOptions(declaration)) }),
        ...(encryption === undefined ? {} : { encryption }),
      }),
      { deadline: now.getTime() + COMMAND_BUDGET_MS, timeoutMs: GRAPH_DEFAULTS.createSubscriptionTimeoutMs },
    );
  } catch (error) {
    // 409: it exists already (a reconciler run triggered by the new declaration was faster): the declaration stays.
    const duplicate = error instanceof GraphRequestError && error.status === 409;
    if (declared.changed && added && !duplicate) await undeclare(context, args, key, output);
    throw error;
  }
  const expiresAt = new Date(created.expirationDateTime).toISOString();
  let record: SubscriptionRecord;
  try {
    record = await context.subscriptions.put({
      integrationId,
      connectionId,
      tenantId: connection.tenantId,
      resource: declaration.resource,
      changeTypes: declaration.changeTypes,
      ...(encryption === undefined ? {} : { includeResourceData: true, encryptionCertificateId: encryption.id }),
      clientStateKey,
      subscriptionId: created.id,
      expiresAt,
      status: 'active',
    });
  } catch (error) {
    // Nothing would renew or delete an unrecorded subscription: it goes again (the reconciler retries the declaration).
    await graph.deleteSubscription(connection.tenantId, created.id).catch(() => undefined);
    throw new CommandFailedError(`subscription ${created.id} was created but could not be recorded, so it was deleted again: ${messageOf(error)}`);
  }
  if (args.json) {
    printJson(output, { subscription: record, declaration: text, declarationAdded: declared.changed });
    return;
  }
  output.out(`created subscription ${created.id} for ${text} of ${integrationId}/${connectionId} (tenant ${connection.tenantId}); expires ${expiresAt}`);
  output.out(
    declared.changed
      ? `declared ${text} on connection "${connectionId}", so renewal and the reconciler keep it (remove with: graph-relay connections unsubscribe ${integrationId} ${connectionId} ${text})`
      : `connection "${connectionId}" already declared ${text}`,
  );
}

async function undeclare(context: CommandContext, ref: { integrationId: string; connectionId: string }, key: string, output: Output): Promise<void> {
  try {
    await editSubscriptions(context, ref, (list) => (list.some((t) => keyOf(t) === key) ? list.filter((t) => keyOf(t) !== key) : undefined));
  } catch (error) {
    warn(output, `the declaration added to connection "${ref.connectionId}" could not be removed again: ${messageOf(error)}`);
  }
}

export interface SubscriptionRefArgs {
  subscriptionId: string;
  integration?: string;
  json?: boolean;
}

export function parseSubscriptionRefArgs(args: SubscriptionRefArgs): SubscriptionRefArgs {
  return {
    ...args,
    subscriptionId: parseArg(subscriptionIdSchema, args.subscriptionId, 'subscription id'),
    ...(args.integration === undefined ? {} : { integration: parseArg(integrationIdSchema, args.integration, '--integration') }),
  };
}

/** One record's renewal: the event renewDue published for it, if it got that far. */
export interface RenewalResult {
  record: SubscriptionRecord;
  /** Undefined: throttled past the wait allowed, or a fault of our own side (warned about). */
  event?: SubscriptionEventEntry;
}

/**
 * Exactly what the renewal schedule does for due subscriptions (PATCH to the maximum expiry; 404 → recreated under
 * a new id; 401/403 → needs-consent, the connection marked too), one call at a time, with the events on the
 * stack's bus. Records in any status are tried: that is how an operator brings one back after fixing the cause.
 */
export async function renewRecords(
  context: CommandContext,
  records: readonly SubscriptionRecord[],
  output: Output,
  options: { askResyncOnRecreation?: boolean } = {},
): Promise<RenewalResult[]> {
  const published: SubscriptionEventEntry[] = [];
  const resync = options.askResyncOnRecreation === true ? context.resync?.requests : undefined;
  const now = new Date();
  const ports: RenewalPorts = {
    store: {
      findDue: async () => ({ due: [...records], invalidItems: [] }),
      recordRenewal: (...a) => context.subscriptions.recordRenewal(...a),
      markNeedsConsent: (...a) => context.subscriptions.markNeedsConsent(...a),
      markFailed: (...a) => context.subscriptions.markFailed(...a),
      put: (input) => context.subscriptions.put(input),
      delete: (...a) => context.subscriptions.delete(...a),
    },
    connections: context.store,
    graphFor: (id) => context.graph.graphFor(id),
    providerOf: async (id) => (await context.store.getIntegration(id))?.provider,
    webhookSecretOf: (id) => context.graph.webhookSecretOf(id),
    encryptionCertificateOf: (id) => encryptionCertificateOf(context, id),
    notificationUrlFor: (id) => notificationUrlOf(context, id),
    publisher: {
      async publish(events) {
        published.push(...events);
        if (context.events === undefined) {
          warn(output, `the event bus is unknown (names given as flags): ${events.map((e) => e.detailType).join(', ')} not published`);
          return;
        }
        await context.events.publish(events);
      },
    },
    eventSource: context.events?.source ?? 'graph-relay',
    logger: { info: () => undefined, warn: () => undefined, error: (message, fields) => warn(output, `${message}: ${String(fields['error'] ?? '')}`) },
    // A recreation asks the resync function to catch up what the gone subscription missed (;resync declarations).
    ...(resync === undefined ? {} : { resync }),
    clock: { now: () => Date.now() },
  };
  await renewDue(ports, { now, deadline: now.getTime() + COMMAND_BUDGET_MS, limit: Math.max(1, records.length), perTenantConcurrency: 1, tenantConcurrency: 1 });
  return records.map((record) => {
    const event = published.find((e) => e.detail.subscriptionId === record.subscriptionId || e.detail.previousSubscriptionId === record.subscriptionId);
    return event === undefined ? { record } : { record, event };
  });
}

/**
 * `subscriptions renew`: one subscription renewed as the schedule would (renewRecords). Success shows consent is
 * back, so its connection's needs-consent, if any, is cleared.
 */
export async function renewSubscription(context: CommandContext, args: SubscriptionRefArgs, output: Output): Promise<void> {
  const record = await findRecord(context, args);
  const [result] = await renewRecords(context, [record], output, { askResyncOnRecreation: true });
  const event = result?.event;
  if (event === undefined) {
    throw new CommandFailedError(`subscription ${record.subscriptionId} was not renewed: Graph throttled the request past the wait allowed; try again later`);
  }
  const detail = event.detail;
  const failed = event.detailType === SUBSCRIPTION_DETAIL_TYPES.renewalFailed;
  const resumed = failed ? false : await resumeAfterSuccess(context, record, output);
  if (args.json) {
    printJson(output, {
      outcome: outcomeOf(event),
      integrationId: record.integrationId,
      previousSubscriptionId: detail.previousSubscriptionId,
      subscriptionId: detail.subscriptionId,
      expiresAt: detail.expirationDateTime,
      failure: detail.failure,
      connectionResumed: resumed,
    });
    if (failed) throw new CommandFailedError(renewalFailure(record, event));
    return;
  }
  switch (event.detailType) {
    case SUBSCRIPTION_DETAIL_TYPES.renewed:
      output.out(`renewed subscription ${record.subscriptionId} (${formatDeclaration(record)} of ${record.integrationId}/${record.connectionId}); expires ${detail.expirationDateTime ?? '?'}`);
      break;
    case SUBSCRIPTION_DETAIL_TYPES.recreated:
      output.out(
        `subscription ${record.subscriptionId} no longer existed at Graph (404): recreated as ${detail.subscriptionId}, expires ${detail.expirationDateTime ?? '?'}; ` +
          `consumers were sent ${SUBSCRIPTION_DETAIL_TYPES.recreated} to resync`,
      );
      break;
    case SUBSCRIPTION_DETAIL_TYPES.renewalFailed:
      throw new CommandFailedError(renewalFailure(record, event));
  }
  if (resumed) output.out(`connection "${record.connectionId}" of integration "${record.integrationId}" ${consentRegained(record)}`);
}

/** Clears the connection's needs-consent; true if it had it. A store fault is a warning: the renewal itself is done. */
async function resumeAfterSuccess(context: CommandContext, record: SubscriptionRecord, output: Output): Promise<boolean> {
  try {
    return await context.store.clearNeedsConsent(record.integrationId, record.connectionId);
  } catch (error) {
    warn(output, `connection "${record.connectionId}" could not be marked active again (run: graph-relay connections resume ${record.integrationId} ${record.connectionId}): ${messageOf(error)}`);
    return false;
  }
}

function consentRegained(ref: { integrationId: string; connectionId: string }): string {
  return (
    `no longer needs consent: the reconciler creates its missing subscriptions on its next run ` +
    `(now: graph-relay reconcile --integration ${ref.integrationId} --connection ${ref.connectionId})`
  );
}

export interface ResumeConnectionArgs {
  integrationId: string;
  connectionId: string;
  json?: boolean;
}

type ResumeOutcome = 'renewed' | 'recreated' | 'failed' | 'not-renewed';

/**
 * `connections resume`, after the tenant's admin granted consent again: every needs-consent or failed subscription
 * of the connection is renewed once (renewRecords), then the connection's needs-consent is cleared unless one of them
 * still ended needs-consent. Fails (exit 1) if any subscription still fails.
 */
export async function resumeConnection(context: CommandContext, args: ResumeConnectionArgs, output: Output): Promise<void> {
  const { integrationId, connectionId } = args;
  const connection = await context.store.getConnection(integrationId, connectionId);
  if (connection === undefined) throw await notFound(context.store, args);
  const { subscriptions, invalidItems } = await context.subscriptions.listByConnection(integrationId, connectionId);
  for (const item of invalidItems) warn(output, `skipped invalid item ${item.sk} of integration "${integrationId}": ${item.reason}`);
  const toRenew = subscriptions.filter((record) => record.status !== 'active');
  const results = toRenew.length === 0 ? [] : await renewRecords(context, toRenew, output);
  const stillNeedsConsent = results.some((result) => result.event?.detail.failure?.reason === 'needs-consent');
  const cleared = !stillNeedsConsent && connection.status === 'needs-consent' && (await context.store.clearNeedsConsent(integrationId, connectionId));
  const status = stillNeedsConsent ? 'needs-consent' : cleared ? 'active' : ((await context.store.getConnection(integrationId, connectionId))?.status ?? connection.status);
  const outcomes = results.map(({ record, event }) => ({
    subscriptionId: record.subscriptionId,
    resource: record.resource,
    changeTypes: record.changeTypes,
    outcome: (event === undefined ? 'not-renewed' : outcomeOf(event)) satisfies ResumeOutcome,
    ...(event?.detailType === SUBSCRIPTION_DETAIL_TYPES.recreated ? { newSubscriptionId: event.detail.subscriptionId } : {}),
    ...(event?.detail.expirationDateTime === undefined ? {} : { expiresAt: event.detail.expirationDateTime }),
    ...(event?.detail.failure === undefined ? {} : { failure: event.detail.failure }),
  }));
  const stillFailing = outcomes.filter((o) => o.outcome === 'failed' || o.outcome === 'not-renewed').length;
  // Changes made while consent was missing were never notified: the ;resync declarations catch up.
  const resyncRequested = stillNeedsConsent ? 0 : await askResumedResyncs(context, connection, output);

  if (args.json) {
    printJson(output, { integrationId, connectionId, tenantId: connection.tenantId, status, cleared, subscriptions: outcomes, resyncRequested });
  } else {
    for (const { record, event } of results) output.out(describeResumed(record, event));
    const count = (outcome: ResumeOutcome) => outcomes.filter((o) => o.outcome === outcome).length;
    const tried = outcomes.length === 0 ? 'no needs-consent or failed subscriptions to renew' : `${count('renewed')} renewed, ${count('recreated')} recreated, ${stillFailing} still failing`;
    const state = stillNeedsConsent
      ? `still needs consent: have the admin of tenant ${connection.tenantId} grant the app consent, then run this again`
      : cleared
        ? consentRegained(args)
        : `status ${status}`;
    output.out(`connection "${connectionId}" of integration "${integrationId}": ${tried}; ${state}`);
    if (resyncRequested > 0) output.out(`asked the resync function to catch up ${resyncRequested === 1 ? 'the subscription' : `${resyncRequested} subscriptions`} declared ;resync (graph-relay doctor shows the outcome)`);
  }
  if (stillFailing > 0) {
    throw new CommandFailedError(`resume of connection "${connectionId}" of integration "${integrationId}": ${stillFailing} of ${outcomes.length} subscriptions still fail`);
  }
}

/**
 * A `resumed` catch-up of each active subscription (recreated ones under their new ids) whose declaration is
 * `;resync`, on the resync queue. The number asked; 0 without a queue (a note says what to run instead), or when the
 * request failed (a warning names the command to run: the resume itself is done and is not repeated).
 */
async function askResumedResyncs(context: CommandContext, connection: Connection, output: Output): Promise<number> {
  const { integrationId, connectionId } = connection;
  const declared = new Set(parseDeclarations(connection.subscriptions ?? []).declarations.filter((d) => d.resync === true).map((d) => declarationKey(d)));
  if (declared.size === 0) return 0;
  const { subscriptions } = await context.subscriptions.listByConnection(integrationId, connectionId);
  const due = subscriptions.filter((record) => record.status === 'active' && declared.has(declarationOf(record)));
  if (due.length === 0) return 0;
  const requests = context.resync?.requests;
  const commands = due.map((record) => `graph-relay subscriptions resync ${record.subscriptionId} --integration ${integrationId}`).join('; ');
  if (requests === undefined) {
    warn(output, `${context.resync?.noQueue ?? 'the target has no resync queue'}: to catch up on changes missed while consent was missing, run: ${commands}`);
    return 0;
  }
  const now = new Date();
  const asked = await askForResyncs(
    requests,
    due.map((record) => resyncJob(integrationId, record.subscriptionId, 'resumed', now)),
    { error: (message, fields) => warn(output, `resync not requested (${String(fields['error'])}): run ${commands}`) },
  );
  return asked ? due.length : 0;
}

function describeResumed(record: SubscriptionRecord, event: SubscriptionEventEntry | undefined): string {
  const what = `${record.subscriptionId} (${formatDeclaration(record)})`;
  if (event === undefined) return `not renewed ${what}: throttled past the wait allowed, or failed (see the warnings); try again later`;
  const { detail } = event;
  switch (event.detailType) {
    case SUBSCRIPTION_DETAIL_TYPES.renewed:
      return `renewed ${what}; expires ${detail.expirationDateTime ?? '?'}`;
    case SUBSCRIPTION_DETAIL_TYPES.recreated:
      return `recreated ${what} as ${detail.subscriptionId} (Graph no longer had it); expires ${detail.expirationDateTime ?? '?'}`;
    default: {
      const failure = detail.failure;
      const status = failure?.status === undefined ? '' : `, HTTP ${failure.status}`;
      return `FAILED ${what}: ${failure?.reason ?? 'unknown'}${status}: ${failure?.message ?? 'no detail'}`;
    }
  }
}

function outcomeOf(event: SubscriptionEventEntry): 'renewed' | 'recreated' | 'failed' {
  if (event.detailType === SUBSCRIPTION_DETAIL_TYPES.renewed) return 'renewed';
  return event.detailType === SUBSCRIPTION_DETAIL_TYPES.recreated ? 'recreated' : 'failed';
}

function renewalFailure(record: SubscriptionRecord, event: SubscriptionEventEntry): string {
  const failure = event.detail.failure;
  const status = failure?.status === undefined ? '' : `, HTTP ${failure.status}`;
  const consent =
    failure?.reason === 'needs-consent'
      ? `; it and its connection are marked needs-consent: grant the app consent in the tenant, then run: graph-relay connections resume ${record.integrationId} ${record.connectionId}`
      : '';
  return `renewal of subscription ${record.subscriptionId} failed (${failure?.reason ?? 'unknown'}${status}): ${failure?.message ?? 'no detail'}${consent}`;
}

/** A recorded subscription deleted at Graph first (404 = already gone), then its record, so nothing is left unrenewed at Graph. */
export async function deleteAtGraphThenRecord(context: CommandContext, graph: CliGraph, record: SubscriptionRecord): Promise<DeleteOutcome> {
  const atGraph = await graph.deleteSubscription(record.tenantId, record.subscriptionId, { deadline: Date.now() + COMMAND_BUDGET_MS });
  await context.subscriptions.delete(record.integrationId, record.subscriptionId);
  return atGraph;
}

/** `subscriptions delete`: see deleteAtGraphThenRecord. */
export async function deleteSubscription(context: CommandContext, args: SubscriptionRefArgs, output: Output): Promise<void> {
  const record = await findRecord(context, args);
  const atGraph = await deleteAtGraphThenRecord(context, await context.graph.graphFor(record.integrationId), record);
  const connection = await context.store.getConnection(record.integrationId, record.connectionId);
  const stillDeclared = (connection?.subscriptions ?? []).some((t) => keyOf(t) === declarationKey(record));
  const text = formatDeclaration(record);
  if (args.json) {
    printJson(output, { subscriptionId: record.subscriptionId, integrationId: record.integrationId, connectionId: record.connectionId, atGraph, stillDeclared });
  } else {
    output.out(
      atGraph === 'deleted'
        ? `deleted subscription ${record.subscriptionId} (${text} of ${record.integrationId}/${record.connectionId}) at Graph and its record`
        : `subscription ${record.subscriptionId} was already gone at Graph (404); its record is deleted`,
    );
  }
  if (stillDeclared) {
    warn(
      output,
      `connection "${record.connectionId}" still declares ${text}: the reconciler will create it again; to stop that: ` +
        `graph-relay connections unsubscribe ${record.integrationId} ${record.connectionId} ${text}`,
    );
  }
}

/** The record by id: in the named integration, or in whichever single integration has it. */
export async function findRecord(context: CommandContext, args: SubscriptionRefArgs): Promise<SubscriptionRecord> {
  if (args.integration !== undefined) {
    const record = await context.subscriptions.get(args.integration, args.subscriptionId);
    if (record !== undefined) return record;
    if ((await context.store.getIntegration(args.integration)) === undefined) throw new IntegrationNotFoundError(args.integration);
    throw new CommandFailedError(`no subscription ${args.subscriptionId} recorded in integration "${args.integration}" (see graph-relay subscriptions list)`);
  }
  const { integrations } = await context.store.listIntegrations();
  const found = (await Promise.all(integrations.map((i) => context.subscriptions.get(i.integrationId, args.subscriptionId)))).filter(
    (record): record is SubscriptionRecord => record !== undefined,
  );
  const [first, ...others] = found;
  if (first === undefined) throw new CommandFailedError(`no subscription ${args.subscriptionId} recorded in any integration (see graph-relay subscriptions list)`);
  if (others.length > 0) {
    throw new UsageError(`subscription ${args.subscriptionId} is recorded in integrations ${found.map((r) => `"${r.integrationId}"`).join(', ')}: name one with --integration`);
  }
  return first;
}

/** `<webhook base URL><integrationId>`, as the stack's functions address new subscriptions. */
export function notificationUrlOf(context: CommandContext, integrationId: string): string {
  return notificationUrl(webhookBaseUrlOf(context), integrationId);
}

/** The local stack's (GRAPH_RELAY_PUBLIC_URL applied) or the stack output WebhookBaseUrl. */
export function webhookBaseUrlOf(context: CommandContext): string {
  const base = context.target.webhookBaseUrl;
  if (base === undefined) {
    throw new CommandFailedError('the webhook base URL is unknown (names given as flags): drop --connections-table/--webhook-secret-prefix so the stack output WebhookBaseUrl is read');
  }
  return base;
}

function lifetimeOptions(declaration: Declaration): { includeResourceData: boolean } {
  return { includeResourceData: declaration.includeResourceData === true };
}

/**
 * The integration's current encryption certificate, read from its secret, for subscriptions with resource data.
 * @throws MissingEncryptionCertificateError (renewal reports it as missing-credentials), CommandFailedError when the
 * secret is absent or not JSON.
 */
export async function encryptionCertificateOf(context: Pick<CommandContext, 'secrets' | 'target'>, integrationId: string): Promise<CurrentEncryptionCertificate> {
  const name = integrationSecretName(context.target.webhookSecretPrefix, integrationId);
  const text = await context.secrets.read(name);
  if (text === undefined) throw new CommandFailedError(`secret ${name} does not exist: create it with graph-relay integrations put ${integrationId}`);
  let secret: unknown;
  try {
    secret = JSON.parse(text) as unknown;
  } catch {
    // The text is never quoted: it holds secrets.
    throw new CommandFailedError(`secret ${name} is not JSON: replace it with graph-relay integrations put ${integrationId}`);
  }
  return encryptionCertificateFrom(secret, integrationId);
}

/** For commands that create a rich subscription themselves: the missing certificate as a one-line failure. */
async function certificateForCreate(context: CommandContext, integrationId: string): Promise<CurrentEncryptionCertificate> {
  try {
    // Through the same check as the reconciler's: an expired certificate is refused before Graph refuses it.
    return await currentEncryptionCertificate({ encryptionCertificateOf: (id) => encryptionCertificateOf(context, id) }, integrationId, { now: new Date() });
  } catch (error) {
    if (error instanceof MissingEncryptionCertificateError) throw new CommandFailedError(error.message);
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
