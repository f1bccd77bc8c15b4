import { ENV } from '../../shared/config/env-names';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { IntegrationNotFoundError, type ConnectionsStore } from '../../shared/store/connections-store';
import { connectionIdSchema, integrationIdSchema, tenantIdSchema, type Connection } from '../../shared/store/items';
import {
  declarationKey,
  formatDeclaration,
  InvalidDeclarationError,
  parseDeclaration,
  type Declaration,
} from '../../shared/subscriptions/declarations';
import type { CommandContext } from '../context';
import { CommandFailedError, formatTable, parseArg, printJson, UsageError, warn, type Output } from '../output';

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
  json?: boolean;
}

export function parseAddConnectionArgs(args: AddConnectionArgs): AddConnectionArgs {
  const subscribe = args.subscribe ?? [];
  if (args.includeResourceData === true && subscribe.length === 0) {
    throw new UsageError('--include-resource-data applies to the --subscribe values of the command: give at least one --subscribe <resource:changeTypes>');
  }
  const options = { includeResourceData: args.includeResourceData === true };
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
  let integrationIds: string[];
  if (args.integration === undefined) {
    const { integrations, invalidItems } = await store.listIntegrations();
    for (const item of invalidItems) warn(output, `skipped invalid integration item ${item.sk}: ${item.reason}`);
    integrationIds = integrations.map((integration) => integration.integrationId);
  } else {
    if ((await store.getIntegration(args.integration)) === undefined) throw new IntegrationNotFoundError(args.integration);
    integrationIds = [args.integration];
  }
  const listed = await Promise.all(
    integrationIds.map(async (integrationId) => ({ integrationId, ...(await store.listConnections(integrationId)) })),
  );
  for (const { integrationId, invalidItems } of listed) {
    for (const item of invalidItems) warn(output, `skipped invalid item ${item.sk} of integration "${integrationId}": ${item.reason}`);
  }
  const connections = listed.flatMap((result) => result.connections);
  if (args.json) {
    printJson(output, connections);
    return;
  }
  if (connections.length === 0) {
    output.out('no connections');
    return;
  }
  const table = formatTable(
    ['integration', 'connection', 'tenant', 'status', 'created'],
    connections.map((c) => [c.integrationId, c.connectionId, c.tenantId, c.status, c.createdAt]),
  );
  table.forEach((line) => output.out(line));
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
 * `--include-resource-data` is the same as writing `;includeResourceData` after the change types.
 */
export function parseSubscribeArgs(args: EditSubscriptionsArgs & { includeResourceData?: boolean }): EditSubscriptionsArgs {
  const { includeResourceData, ...rest } = args;
  return {
    ...parseConnectionRef(rest),
    declaration: formatDeclaration(parseDeclarationArg(args.declaration, { includeResourceData: includeResourceData === true })),
  };
}

export async function subscribeConnection(context: CommandContext, args: EditSubscriptionsArgs, output: Output): Promise<void> {
  const key = declarationKey(parseDeclaration(args.declaration));
  const result = await editSubscriptions(context, args, (declared) =>
    declared.some((text) => keyOf(text) === key) ? undefined : [...declared, args.declaration],
  );
  reportEdit(output, args, result, result.changed ? `now declares ${args.declaration}` : `already declares ${args.declaration}; nothing changed`);
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

/**
 * A command-line declaration, or a usage error with the parser's one-line message. `includeResourceData` (the
 * `--include-resource-data` flag) adds the option, checked like one written in the declaration.
 */
export function parseDeclarationArg(text: string, options: { includeResourceData?: boolean } = {}): Declaration {
  try {
    const declaration = parseDeclaration(text);
    if (options.includeResourceData !== true || declaration.includeResourceData === true) return declaration;
    return parseDeclaration(`${formatDeclaration(declaration)};includeResourceData`);
  } catch (error) {
    if (error instanceof InvalidDeclarationError) throw new UsageError(error.message);
    throw error;
  }
}

/** Canonical strings, each subscription once, in the order given. */
function canonicalDeclarations(declarations: readonly Declaration[]): string[] {
  return [...new Map(declarations.map((declaration) => [declarationKey(declaration), formatDeclaration(declaration)])).values()];
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
