import { ENV } from '../../shared/config/env-names';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { IntegrationNotFoundError, type ConnectionsStore } from '../../shared/store/connections-store';
import { connectionIdSchema, integrationIdSchema, tenantIdSchema, type Connection } from '../../shared/store/items';
import {
  declarationKey,
  formatDeclaration,
  InvalidDeclarationError,
  parseDeclaration,
  parseDeclarations,
  type Declaration,
} from '../../shared/subscriptions/declarations';
import type { CommandContext } from '../context';
import { CommandFailedError, parseArg, printJson, printList, UsageError, warn, type Output } from '../output';

/**
 * Running intakes drop an integration's cached routes when its routes version moves, which they read every
 * registry refresh: operators are told how long to wait.
 */
const ROUTING_DELAY = `one registry refresh of the running intakes (${ENV.registryRefreshSeconds}, ${INTAKE_DEFAULTS.registryRefreshSeconds} s by default); a new intake instance routes it at once`;

export interface ConnectionRef {
  integrationId: string;
  connectionId: string;
}

export interface AddConnectionArgs extends ConnectionRef {
  tenantId: string;
  /** `--subscribe`, repeatable: after parsing, canonical `<resource>:<changeTypes>` strings without duplicates. */
  subscribe?: string[];
  /** `--include-resource-data`: every `--subscribe` value of the command asks for rich notifications. */
  includeResourceData?: boolean;
  /** `--resync`: every `--subscribe` value of the command declares catch-up with delta queries. */
  resync?: boolean;
  json?: boolean;
}

export function parseAddConnectionArgs(args: AddConnectionArgs): AddConnectionArgs {
  const subscribe = args.subscribe ?? [];
  for (const [flag, given] of [['--include-resource-data', args.includeResourceData], ['--resync', args.resync]] as const) {
    if (given === true && subscribe.length === 0) {
      throw new UsageError(`${flag} applies to the --subscribe values of the command: give at least one --subscribe <resource:changeTypes>`);
    }
  }
  const options = { includeResourceData: args.includeResourceData === true, resync: args.resync === true };
  return {
    ...parseConnectionRef(args),
    tenantId: parseArg(tenantIdSchema, args.tenantId, 'tenant id'),
    subscribe: canonicalDeclarations(subscribe.map((text) => parseDeclarationArg(text, options))),
  };
}

export async function addConnection(context: CommandContext, args: AddConnectionArgs, output: Output): Promise<void> {
  const { integrationId, connectionId, tenantId } = args;
  const subscriptions = args.subscribe ?? [];
  const connection = await context.store.addConnection({ integrationId, connectionId, tenantId, subscriptions });
  if (args.json) {
    printJson(output, connection);
    return;
  }
  output.out(`connection "${connectionId}" added to integration "${integrationId}" (tenant ${connection.tenantId})`);
  for (const declaration of subscriptions) output.out(`declared subscription ${declaration}`);
  output.out(`routing picks it up within ${ROUTING_DELAY}`);
}

/** Collects a repeatable option's values, for commander. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export interface ListConnectionsArgs {
  integration?: string;
  json?: boolean;
}

export function parseListConnectionsArgs(args: ListConnectionsArgs): ListConnectionsArgs {
  return args.integration === undefined ? args : { ...args, integration: parseArg(integrationIdSchema, args.integration, '--integration') };
}

/** One integration's connections, or every integration's; items that fail to parse are reported, not fatal. */
export async function listConnections(context: CommandContext, args: ListConnectionsArgs, output: Output): Promise<void> {
  const { store } = context;
  const integrationIds = await integrationsToList(context, args.integration, output);
  const listed = await Promise.all(
    integrationIds.map(async (integrationId) => ({ integrationId, ...(await store.listConnections(integrationId)) })),
  );
  for (const { integrationId, invalidItems } of listed) {
    for (const item of invalidItems) warn(output, `skipped invalid item ${item.sk} of integration "${integrationId}": ${item.reason}`);
  }
  printList(output, listed.flatMap((result) => result.connections), {
    json: args.json,
    empty: 'no connections',
    headers: ['integration', 'connection', 'tenant', 'status', 'created'],
    cells: (c) => [c.integrationId, c.connectionId, c.tenantId, c.status, c.createdAt],
  });
}

/** The one integration named (refused when unknown), or every integration, skipping invalid items with a warning. */
export async function integrationsToList(context: CommandContext, integration: string | undefined, output: Output): Promise<string[]> {
  if (integration !== undefined) {
    if ((await context.store.getIntegration(integration)) === undefined) throw new IntegrationNotFoundError(integration);
    return [integration];
  }
  const { integrations, invalidItems } = await context.store.listIntegrations();
  for (const item of invalidItems) warn(output, `skipped invalid integration item ${item.sk}: ${item.reason}`);
  return integrations.map((integration) => integration.integrationId);
}

export interface GetConnectionArgs extends ConnectionRef {
  json?: boolean;
}

export async function getConnection(context: CommandContext, args: GetConnectionArgs, output: Output): Promise<void> {
  const connection = await context.store.getConnection(args.integrationId, args.connectionId);
  if (connection === undefined) throw await notFound(context.store, args);
  if (args.json) {
    printJson(output, connection);
    return;
  }
  const declared = connection.subscriptions ?? [];
  // One line per declaration, the field name shown once; a declaration edited by hand into nonsense is flagged.
  const subscriptionLines = declared.length === 0 ? ['none'] : declared.map(describeDeclared);
  const fields: [string, string][] = [
    ['integration', connection.integrationId],
    ['connection', connection.connectionId],
    ['tenant', connection.tenantId],
    ['status', describeStatus(connection)],
    ...subscriptionLines.map((value, i): [string, string] => [i === 0 ? 'subscriptions' : '', value]),
    ['created', connection.createdAt],
    ['updated', connection.updatedAt],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  fields.forEach(([name, value]) => output.out(`${name.padEnd(width)}  ${value}`));
}

function describeStatus(connection: Connection): string {
  if (connection.status === 'active') return 'active';
  const since = connection.statusChangedAt === undefined ? '' : ` since ${connection.statusChangedAt}`;
  const said = connection.statusReason === undefined ? '' : `: ${connection.statusReason}`;
  return `needs-consent${since}${said} (once consent is granted again: graph-relay connections resume ${connection.integrationId} ${connection.connectionId})`;
}

function describeDeclared(text: string): string {
  try {
    parseDeclaration(text);
    return text;
  } catch (error) {
    if (!(error instanceof InvalidDeclarationError)) throw error;
    return `${text}  (ignored: ${error.reason})`;
  }
}

export interface EditSubscriptionsArgs extends ConnectionRef {
  declaration: string;
  json?: boolean;
}

/**
 * `connections subscribe`: the declaration is refused before anything is read when it does not parse.
 * `--include-resource-data` and `--resync` are the same as writing `;includeResourceData` and `;resync` after the
 * change types.
 */
export function parseSubscribeArgs(args: EditSubscriptionsArgs & DeclarationOptions): EditSubscriptionsArgs {
  const { includeResourceData, resync, ...rest } = args;
  return {
    ...parseConnectionRef(rest),
    declaration: formatDeclaration(parseDeclarationArg(args.declaration, { includeResourceData: includeResourceData === true, resync: resync === true })),
  };
}

/** Declares the subscription; one already declared with another resync setting is replaced where it stands. */
export async function subscribeConnection(context: CommandContext, args: EditSubscriptionsArgs, output: Output): Promise<void> {
  const declaration = parseDeclaration(args.declaration);
  let replaced: string[] = [];
  const result = await editSubscriptions(context, args, (declared) => {
    const edit = withDeclaration(declared, declaration);
    replaced = edit?.replaced ?? [];
    return edit?.declared;
  });
  const instead = replaced.length === 0 ? '' : ` instead of ${replaced.join(' ')}`;
  reportEdit(output, args, result, result.changed ? `now declares ${args.declaration}${instead}` : `already declares ${args.declaration}; nothing changed`);
}

/**
 * The declared list with `declaration` in it, or undefined when it is there already. Declarations with the same key
 * (the same Graph subscription) but another resync setting are replaced by it, at the first one's place: resync is
 * not part of the key, so the subscription itself stays.
 */
export function withDeclaration(declared: readonly string[], declaration: Declaration): { declared: string[]; replaced: string[] } | undefined {
  const key = declarationKey(declaration);
  const text = formatDeclaration(declaration);
  const same = declared.filter((t) => keyOf(t) === key);
  if (same.length === 0) return { declared: [...declared, text], replaced: [] };
  const [current] = parseDeclarations(same).declarations;
  if ((current?.resync === true) === (declaration.resync === true)) return undefined;
  const first = declared.findIndex((t) => keyOf(t) === key);
  return { declared: declared.flatMap((t, i) => (i === first ? [text] : keyOf(t) === key ? [] : [t])), replaced: same };
}

/**
 * `connections unsubscribe`: removes the declarations asking Graph for the same subscription, or one written exactly
 * as given, so a declaration mistyped in the DynamoDB console can be removed too.
 */
export function parseUnsubscribeArgs(args: EditSubscriptionsArgs): EditSubscriptionsArgs {
  return { ...parseConnectionRef(args), declaration: args.declaration };
}

export async function unsubscribeConnection(context: CommandContext, args: EditSubscriptionsArgs, output: Output): Promise<void> {
  const key = keyOf(args.declaration);
  const matches = (text: string) => text === args.declaration || (key !== undefined && keyOf(text) === key);
  const result = await editSubscriptions(context, args, (declared) =>
    declared.some(matches) ? declared.filter((text) => !matches(text)) : undefined,
  );
  if (!result.changed) {
    const declared = result.connection.subscriptions ?? [];
    throw new CommandFailedError(
      `connection "${args.connectionId}" of integration "${args.integrationId}" does not declare ${JSON.stringify(args.declaration)}; ` +
        (declared.length === 0 ? 'it declares no subscriptions' : `it declares ${declared.join(' ')}`),
    );
  }
  reportEdit(output, args, result, `no longer declares ${args.declaration}`);
}

/** How many times a read-modify-write is retried when another edit lands between the read and the write. */
const EDIT_ATTEMPTS = 3;

/** Applies `change` to the declared list (undefined: nothing to change), never losing a concurrent edit. */
export async function editSubscriptions(
  context: CommandContext,
  ref: ConnectionRef,
  change: (declared: readonly string[]) => string[] | undefined,
): Promise<{ connection: Connection; changed: boolean }> {
  for (let attempt = 1; attempt <= EDIT_ATTEMPTS; attempt += 1) {
    const connection = await context.store.getConnection(ref.integrationId, ref.connectionId);
    if (connection === undefined) throw await notFound(context.store, ref);
    const next = change(connection.subscriptions ?? []);
    if (next === undefined) return { connection, changed: false };
    const updated = await context.store.setSubscriptions(ref.integrationId, ref.connectionId, next, { ifUpdatedAt: connection.updatedAt });
    if (updated !== undefined) return { connection: updated, changed: true };
  }
  throw new CommandFailedError(
    `connection "${ref.connectionId}" of integration "${ref.integrationId}" kept changing while being edited; try again`,
  );
}

function reportEdit(output: Output, args: EditSubscriptionsArgs, result: { connection: Connection }, what: string): void {
  if (args.json) {
    printJson(output, result.connection);
    return;
  }
  output.out(`connection "${args.connectionId}" of integration "${args.integrationId}" ${what}`);
}

/** The command-line flags that add a declaration option: `--include-resource-data` and `--resync`. */
export interface DeclarationOptions {
  includeResourceData?: boolean;
  resync?: boolean;
}

/**
 * A command-line declaration, or a usage error with the parser's one-line message. The flags add their option,
 * checked like one written in the declaration (`--resync` on a resource without a delta query is refused).
 */
export function parseDeclarationArg(text: string, options: DeclarationOptions = {}): Declaration {
  try {
    const declaration = parseDeclaration(text);
    const added = [
      ...(options.includeResourceData === true && declaration.includeResourceData !== true ? [';includeResourceData'] : []),
      ...(options.resync === true && declaration.resync !== true ? [';resync'] : []),
    ];
    return added.length === 0 ? declaration : parseDeclaration(`${formatDeclaration(declaration)}${added.join('')}`);
  } catch (error) {
    if (error instanceof InvalidDeclarationError) throw new UsageError(error.message);
    throw error;
  }
}

/** Canonical strings, each subscription once, in the order given (duplicates merged as parseDeclarations does). */
function canonicalDeclarations(declarations: readonly Declaration[]): string[] {
  return parseDeclarations(declarations.map(formatDeclaration)).declarations.map(formatDeclaration);
}

/** The declaration's key, or undefined when it does not parse (one edited by hand into nonsense). */
export function keyOf(text: string): string | undefined {
  try {
    return declarationKey(parseDeclaration(text));
  } catch (error) {
    if (error instanceof InvalidDeclarationError) return undefined;
    throw error;
  }
}

export async function removeConnection(context: CommandContext, args: ConnectionRef, output: Output): Promise<void> {
  const { integrationId, connectionId } = args;
  if (!(await context.store.removeConnection(integrationId, connectionId))) throw await notFound(context.store, args);
  output.out(`connection "${connectionId}" removed from integration "${integrationId}"`);
  output.out(`notifications may still be routed to it for ${ROUTING_DELAY}`);
}

/** Refuses bad ids before anything is read; also the parser of `get` and `remove`. */
export function parseConnectionRef<T extends ConnectionRef>(args: T): T {
  return {
    ...args,
    integrationId: parseArg(integrationIdSchema, args.integrationId, 'integration id'),
    connectionId: parseArg(connectionIdSchema, args.connectionId, 'connection id'),
  };
}

/** Names the missing integration rather than the connection when that is what is wrong. */
export async function notFound(store: ConnectionsStore, ref: ConnectionRef): Promise<Error> {
  return (await store.getIntegration(ref.integrationId)) === undefined
    ? new IntegrationNotFoundError(ref.integrationId)
    : new CommandFailedError(`connection "${ref.connectionId}" not found in integration "${ref.integrationId}"`);
}
