import * as z from 'zod';

/**
 * The connections table keeps human-readable items so operators can also manage them in the console:
 *
 * | item         | pk                      | sk                            |
 * |--------------|-------------------------|-------------------------------|
 * | integration  | `INTEGRATIONS`          | `INTEGRATION#<integrationId>` |
 * | connection   | `INTEGRATION#<id>`      | `CONNECTION#<connectionId>`   |
 * | subscription | `INTEGRATION#<id>`      | `SUBSCRIPTION#<subscriptionId>` |
 * | tenant route | `INTEGRATION#<id>`      | `TENANT#<tenantId>`           |
 * | resync state | `INTEGRATION#<id>`      | `RESYNC#<connectionId>#<declaration>` |
 *
 * A resync state (shared/store/resync-checkpoints.ts) belongs to a connection's `;resync` declaration, not to one
 * subscription: its delta link outlives a recreation, which is exactly when it is needed.
 *
 * Subscription items (shared/store/subscription-items.ts) that are `active` also carry the renewal index keys
 * (shared/store/renewal-index.ts).
 *
 * The intake routes by key, never by reading a partition: a notification's subscription item
 * (`SUBSCRIPTION#<subscriptionId>`) and its tenant's route item (`TENANT#<tenantId>`, the ids of the tenant's
 * connections). Route items are derived from connection items (shared/routing/route-index.ts, from the table's
 * stream), so an operator only ever edits connection items.
 */
export const keys = {
  integration: (integrationId: string) => ({ pk: 'INTEGRATIONS', sk: `INTEGRATION#${integrationId}` }),
  integrationsPartition: 'INTEGRATIONS',
  integrationPartition: (integrationId: string) => `INTEGRATION#${integrationId}`,
  connection: (integrationId: string, connectionId: string) => ({
    pk: `INTEGRATION#${integrationId}`,
    sk: `CONNECTION#${connectionId}`,
  }),
  connectionPrefix: 'CONNECTION#',
  subscription: (integrationId: string, subscriptionId: string) => ({
    pk: `INTEGRATION#${integrationId}`,
    sk: `SUBSCRIPTION#${subscriptionId}`,
  }),
  subscriptionPrefix: 'SUBSCRIPTION#',
  tenantRoute: (integrationId: string, tenantId: string) => ({
    pk: `INTEGRATION#${integrationId}`,
    sk: `TENANT#${tenantId.toLowerCase()}`,
  }),
  tenantRoutePrefix: 'TENANT#',
  resync: (integrationId: string, connectionId: string, declaration: string) => ({
    pk: `INTEGRATION#${integrationId}`,
    sk: `RESYNC#${connectionId}#${declaration}`,
  }),
  resyncPrefix: 'RESYNC#',
} as const;

/** Integration ids appear in URLs, secret names and keys: a conservative alphabet keeps all three safe. */
export const integrationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'integration id must be 1-64 characters: letters, digits, ".", "_", "-"');

export const connectionIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, 'connection id must be 1-128 characters: letters, digits, ".", "_", ":", "@", "-"');

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Tenant ids are GUIDs compared case-insensitively, so they are stored lower-case. */
export const tenantIdSchema = z
  .string()
  .regex(GUID, 'tenant id must be a GUID such as 84bd8158-6d4d-4958-8b9f-9d6445542f95')
  .transform((s) => s.toLowerCase());

export function normalizeTenantId(tenantId: string): string {
  return tenantId.toLowerCase();
}

const timestamp = z.iso.datetime({ offset: true });

export const SHARED_CLIENT_STATE = ['accepted', 'refused'] as const;
export const sharedClientStateSchema = z.enum(SHARED_CLIENT_STATE, { error: 'sharedClientState must be "accepted" or "refused"' });
export type SharedClientState = z.infer<typeof sharedClientStateSchema>;

export const integrationItemSchema = z.object({
  pk: z.literal('INTEGRATIONS'),
  sk: z.string().startsWith('INTEGRATION#'),
  type: z.literal('integration'),
  integrationId: integrationIdSchema,
  provider: z.string().min(1),
  /**
   * Bumped by every change of the integration's configuration (`integrations put`, certificates): running intakes
   * then drop the integration's cached secret. Absent on items written before it existed: 0.
   */
  configVersion: z.number().int().nonnegative().optional(),
  /** Bumped whenever a connection of the integration changes: running intakes then drop its cached routes. */
  routesVersion: z.number().int().nonnegative().optional(),
  /**
   * Whether a notification may carry the plain webhook secret as its clientState (one value for every tenant, as in
   * subscriptions created outside graph-relay) besides its tenant's own value. Absent: accepted.
   */
  sharedClientState: sharedClientStateSchema.optional(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

/**
 * A connection's desired subscriptions, `<resource>:<changeTypes>` strings (shared/subscriptions/declarations.ts).
 * Only the attribute's shape is checked here: each declaration is parsed where it is used, so one an operator
 * mistyped never makes the connection unreadable. A String Set made in the console is accepted as well as a List.
 */
const declarationsAttributeSchema = z.union(
  [z.array(z.string()), z.set(z.string()).transform((set) => [...set].sort())],
  { error: 'subscriptions must be a list of strings such as "users:created,updated,deleted"' },
);

export const connectionItemSchema = z.object({
  pk: z.string().startsWith('INTEGRATION#'),
  sk: z.string().startsWith('CONNECTION#'),
  type: z.literal('connection'),
  integrationId: integrationIdSchema,
  connectionId: connectionIdSchema,
  tenantId: tenantIdSchema,
  subscriptions: declarationsAttributeSchema.optional(),
  /**
   * Set when Graph or the token endpoint refused the app for this connection's tenant (consent revoked or never
   * granted); absent means active, so items written before the attribute existed stay valid.
   */
  status: z.literal('needs-consent').optional(),
  /** One line: what Graph or the token endpoint said. */
  statusReason: z.string().optional(),
  /** When the connection became needs-consent. */
  statusChangedAt: timestamp.optional(),
  /**
   * Declarations (by declarationKey) the reconciler tried to create and could not: Graph's or the token endpoint's
   * last error, how many runs failed in a row, when the last did. Removed when the subscription is created.
   */
  createFailures: z.record(z.string(), z.object({ error: z.string(), attempts: z.number().int().positive(), at: timestamp })).optional(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export type ConnectionStatus = 'active' | 'needs-consent';

/** Only what routing needs; the subscription capability owns the rest of the item. */
export const subscriptionRouteItemSchema = z
  .object({
    pk: z.string().startsWith('INTEGRATION#'),
    sk: z.string().startsWith('SUBSCRIPTION#'),
    type: z.literal('subscription'),
    subscriptionId: z.string().min(1),
    connectionId: connectionIdSchema,
    tenantId: tenantIdSchema,
  })
  .loose();

/**
 * The connections of one tenant in an integration, derived from the connection items: never edited by hand. A
 * String Set (`connectionIds`), which DynamoDB removes when its last element goes; a List is accepted too.
 */
export const tenantRouteItemSchema = z
  .object({
    pk: z.string().startsWith('INTEGRATION#'),
    sk: z.string().startsWith('TENANT#'),
    type: z.literal('tenant-route'),
    tenantId: tenantIdSchema,
    connectionIds: z
      .union([z.set(connectionIdSchema).transform((set) => [...set].sort()), z.array(connectionIdSchema)])
      .optional()
      .transform((ids) => ids ?? []),
  })
  .loose();

export type IntegrationItem = z.infer<typeof integrationItemSchema>;
export type ConnectionItem = z.infer<typeof connectionItemSchema>;
export type SubscriptionRouteItem = z.infer<typeof subscriptionRouteItemSchema>;

export interface Integration {
  integrationId: string;
  provider: string;
  configVersion: number;
  routesVersion: number;
  /** Absent on items written before the setting existed: accepted. */
  sharedClientState?: SharedClientState;
  createdAt: string;
  updatedAt: string;
}

export interface Connection {
  integrationId: string;
  connectionId: string;
  tenantId: string;
  /** Desired subscriptions as written on the item (unparsed); [] when the item has none. */
  subscriptions?: string[];
  /** needs-consent: the reconciler creates nothing for it until consent is given again (routing is unaffected). */
  status: ConnectionStatus;
  /** With needs-consent: what Graph or the token endpoint said, one line. */
  statusReason?: string;
  /** With needs-consent: since when. */
  statusChangedAt?: string;
  /** Declarations (by declarationKey) the reconciler failed to create, with the last error; absent when none. */
  createFailures?: Record<string, CreateFailure>;
  createdAt: string;
  updatedAt: string;
}

/** A declaration the reconciler could not create: the last error, the failed runs in a row, when the last was. */
export interface CreateFailure {
  error: string;
  attempts: number;
  at: string;
}

export function toIntegration(item: IntegrationItem): Integration {
  const { integrationId, provider, createdAt, updatedAt } = item;
  return {
    integrationId,
    provider,
    configVersion: item.configVersion ?? 0,
    routesVersion: item.routesVersion ?? 0,
    ...(item.sharedClientState === undefined ? {} : { sharedClientState: item.sharedClientState }),
    createdAt,
    updatedAt,
  };
}

export function toConnection(item: ConnectionItem): Connection {
  const { integrationId, connectionId, tenantId, createdAt, updatedAt } = item;
  // The reason and time describe a needs-consent status only; left over without it (an edit by hand) they mean nothing.
  const status =
    item.status === 'needs-consent'
      ? {
          status: item.status,
          ...(item.statusReason === undefined ? {} : { statusReason: item.statusReason }),
          ...(item.statusChangedAt === undefined ? {} : { statusChangedAt: item.statusChangedAt }),
        }
      : { status: 'active' as const };
  const failures = item.createFailures === undefined || Object.keys(item.createFailures).length === 0 ? {} : { createFailures: item.createFailures };
  return { integrationId, connectionId, tenantId, subscriptions: item.subscriptions ?? [], ...status, ...failures, createdAt, updatedAt };
}

/** Graph's and the token endpoint's messages can span lines; the status reason is shown in one table cell. */
export const STATUS_REASON_MAX_LENGTH = 500;

export function statusReasonOf(message: string): string {
  const line = message.replace(/\s+/g, ' ').trim() || 'no detail given';
  return line.length > STATUS_REASON_MAX_LENGTH ? `${line.slice(0, STATUS_REASON_MAX_LENGTH - 1)}…` : line;
}
