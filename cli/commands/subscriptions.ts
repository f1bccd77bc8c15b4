import { connectionIdSchema, integrationIdSchema } from '../../shared/store/items';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import type { CommandContext } from '../context';
import { parseArg, printList, UsageError, warn, type Output } from '../output';
import { integrationsToList } from './connections';

export interface ListSubscriptionsArgs {
  integration?: string;
  connection?: string;
  /** As typed, e.g. `24h`; kept for messages. */
  expiringWithin?: string;
  /** `--expiring-within` in milliseconds. */
  expiringWithinMs?: number;
  json?: boolean;
}

const DURATION_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^([1-9][0-9]{0,5})([mhd])$/;

/** `90m`, `24h`, `2d`: a whole number of minutes, hours or days. */
export function parseDuration(text: string, label: string): number {
  const match = DURATION.exec(text.trim());
  const unit = match?.[2] as keyof typeof DURATION_UNITS_MS | undefined;
  if (match === null || unit === undefined) {
    throw new UsageError(`invalid ${label} ${JSON.stringify(text)}: expected a whole number of minutes, hours or days, e.g. 90m, 24h, 2d`);
  }
  return Number(match[1]) * DURATION_UNITS_MS[unit];
}

export function parseListSubscriptionsArgs(args: ListSubscriptionsArgs): ListSubscriptionsArgs {
  return {
    ...args,
    ...(args.integration === undefined ? {} : { integration: parseArg(integrationIdSchema, args.integration, '--integration') }),
    ...(args.connection === undefined ? {} : { connection: parseArg(connectionIdSchema, args.connection, '--connection') }),
    ...(args.expiringWithin === undefined ? {} : { expiringWithinMs: parseDuration(args.expiringWithin, '--expiring-within') }),
  };
}

/**
 * The recorded Graph subscriptions of one integration or of every one, the earliest expiry first. Items that fail
 * to parse are reported on stderr, not fatal.
 */
export async function listSubscriptions(context: CommandContext, args: ListSubscriptionsArgs, output: Output): Promise<void> {
  const now = new Date();
  const integrationIds = await integrationsToList(context, args.integration, output);
  const { connection } = args;
  const listed = await Promise.all(
    integrationIds.map(async (integrationId) => ({
      integrationId,
      ...(await (connection === undefined ? context.subscriptions.listByIntegration(integrationId) : context.subscriptions.listByConnection(integrationId, connection))),
    })),
  );
  for (const { integrationId, invalidItems } of listed) {
    for (const item of invalidItems) warn(output, `skipped invalid item ${item.sk} of integration "${integrationId}": ${item.reason}`);
  }
  const deadline = args.expiringWithinMs === undefined ? undefined : now.getTime() + args.expiringWithinMs;
  const subscriptions = listed
    .flatMap((result) => result.subscriptions)
    .filter((record) => deadline === undefined || Date.parse(record.expiresAt) <= deadline)
    .sort((a, b) => Date.parse(a.expiresAt) - Date.parse(b.expiresAt) || a.subscriptionId.localeCompare(b.subscriptionId));
  printList(output, subscriptions, {
    json: args.json,
    // Stated for every record: those of plain subscriptions carry no includeResourceData at all.
    jsonOf: (rows) => rows.map((s) => ({ ...s, includeResourceData: s.includeResourceData === true })),
    empty: args.expiringWithin === undefined ? 'no subscriptions' : `no subscriptions expiring within ${args.expiringWithin}`,
    headers: ['integration', 'connection', 'tenant', 'resource', 'change types', 'rich', 'id', 'expires', 'status'],
    cells: (s) => [
      s.integrationId,
      s.connectionId,
      s.tenantId,
      s.resource,
      s.changeTypes.join(','),
      s.includeResourceData === true ? 'yes' : 'no',
      s.subscriptionId,
      s.expiresAt,
      statusOf(s, now),
    ],
  });
}

/** A record still active past its expiry means renewal is behind: the table says so. */
function statusOf(record: SubscriptionRecord, now: Date): string {
  return record.status === 'active' && Date.parse(record.expiresAt) <= now.getTime() ? 'active (expired)' : record.status;
}
