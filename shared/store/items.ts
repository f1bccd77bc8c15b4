import * as z from 'zod';

/**
 * The connections table keeps human-readable items so operators can also manage them in the console:
 *
 * | item         | pk                      | sk                            |
 * |--------------|-------------------------|-------------------------------|
 * | integration  | `INTEGRATIONS`          | `INTEGRATION#<integrationId>` |
 * | connection   | `INTEGRATION#<id>`      | `CONNECTION#<connectionId>`   |
 * | subscription | `INTEGRATION#<id>`      | `SUBSCRIPTION#<subscriptionId>` |
 *
 * One integration's connections and subscriptions share a partition, so routing loads with one Query.
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
  subscriptionPrefix: 'SUBSCRIPTION#',
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

export const integrationItemSchema = z.object({
  pk: z.literal('INTEGRATIONS'),
  sk: z.string().startsWith('INTEGRATION#'),
  type: z.literal('integration'),
  integrationId: integrationIdSchema,
  provider: z.string().min(1),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const connectionItemSchema = z.object({
  pk: z.string().startsWith('INTEGRATION#'),
  sk: z.string().startsWith('CONNECTION#'),
  type: z.literal('connection'),
  integrationId: integrationIdSchema,
  connectionId: connectionIdSchema,
  tenantId: tenantIdSchema,
  createdAt: timestamp,
  updatedAt: timestamp,
});

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

export type IntegrationItem = z.infer<typeof integrationItemSchema>;
export type ConnectionItem = z.infer<typeof connectionItemSchema>;
export type SubscriptionRouteItem = z.infer<typeof subscriptionRouteItemSchema>;

export interface Integration {
  integrationId: string;
  provider: string;
  createdAt: string;
  updatedAt: string;
}

export interface Connection {
  integrationId: string;
  connectionId: string;
  tenantId: string;
  createdAt: string;
  updatedAt: string;
}

export function toIntegration(item: IntegrationItem): Integration {
  const { integrationId, provider, createdAt, updatedAt } = item;
  return { integrationId, provider, createdAt, updatedAt };
}

export function toConnection(item: ConnectionItem): Connection {
  const { integrationId, connectionId, tenantId, createdAt, updatedAt } = item;
  return { integrationId, connectionId, tenantId, createdAt, updatedAt };
}
