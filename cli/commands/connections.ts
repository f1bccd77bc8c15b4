import { ENV } from '../../shared/config/env-names';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { IntegrationNotFoundError, type ConnectionsStore } from '../../shared/store/connections-store';
import { connectionIdSchema, integrationIdSchema, tenantIdSchema } from '../../shared/store/items';
import type { CommandContext } from '../context';
import { CommandFailedError, formatTable, parseArg, printJson, warn, type Output } from '../output';

/** Routing is cached by the intake, so changes are not seen at once: operators are told how long to wait. */
const ROUTING_DELAY = `the intake's routing cache max age (${ENV.routingCacheMaxAgeSeconds}, ${INTAKE_DEFAULTS.routingCacheMaxAgeSeconds} s by default)`;

export interface ConnectionRef {
  integrationId: string;
  connectionId: string;
}

export interface AddConnectionArgs extends ConnectionRef {
  tenantId: string;
  json?: boolean;
}

export function parseAddConnectionArgs(args: AddConnectionArgs): AddConnectionArgs {
  return { ...parseConnectionRef(args), tenantId: parseArg(tenantIdSchema, args.tenantId, 'tenant id') };
}

export async function addConnection(context: CommandContext, args: AddConnectionArgs, output: Output): Promise<void> {
  const { integrationId, connectionId, tenantId } = args;
  const connection = await context.store.addConnection({ integrationId, connectionId, tenantId });
  if (args.json) {
    printJson(output, connection);
    return;
  }
  output.out(`connection "${connectionId}" added to integration "${integrationId}" (tenant ${connection.tenantId})`);
  output.out(`routing picks it up within ${ROUTING_DELAY}`);
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
    ['integration', 'connection', 'tenant', 'created'],
    connections.map((c) => [c.integrationId, c.connectionId, c.tenantId, c.createdAt]),
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
  const fields: [string, string][] = [
    ['integration', connection.integrationId],
    ['connection', connection.connectionId],
    ['tenant', connection.tenantId],
    ['created', connection.createdAt],
    ['updated', connection.updatedAt],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  fields.forEach(([name, value]) => output.out(`${name.padEnd(width)}  ${value}`));
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
async function notFound(store: ConnectionsStore, ref: ConnectionRef): Promise<Error> {
  return (await store.getIntegration(ref.integrationId)) === undefined
    ? new IntegrationNotFoundError(ref.integrationId)
    : new CommandFailedError(`connection "${ref.connectionId}" not found in integration "${ref.integrationId}"`);
}
