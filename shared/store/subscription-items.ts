import * as z from 'zod';
import { CHANGE_TYPES, type ChangeType } from '../subscriptions/declarations';
import { renewalDueAt, renewalShardOf } from '../subscriptions/renewal-policy';
import { CONNECTION_INDEX, connectionKeyOf } from './connection-index';
import { connectionIdSchema, integrationIdSchema, keys, tenantIdSchema } from './items';
import { RENEWAL_INDEX } from './renewal-index';

/**
 * The product's record of a Graph subscription it created: item `INTEGRATION#<integrationId>` /
 * `SUBSCRIPTION#<subscriptionId>` in the connections table. The intake routes with `type`, `subscriptionId`,
 * `connectionId` and `tenantId` (items.ts `subscriptionRouteItemSchema`); the rest belongs to renewal. Every item
 * also carries the ByConnection index key (connection-index.ts); items written before that index existed lack it
 * until the backfill (migrations/subscription-connection-keys.ts) or the next full reconcile sets it.
 */
export const SUBSCRIPTION_STATUSES = ['active', 'needs-consent', 'failed'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export interface SubscriptionRecord {
  integrationId: string;
  subscriptionId: string;
  connectionId: string;
  tenantId: string;
  resource: string;
  changeTypes: ChangeType[];
  /**
   * Created with includeResourceData (rich notifications). Present only when true: items written before rich
   * subscriptions existed have no such attribute, and mean false.
   */
  includeResourceData?: boolean;
  /** The `encryptionCertificateId` Graph encrypts this subscription's resource data with (rich only). */
  encryptionCertificateId?: string;
  /**
   * Fingerprint (client-state.ts `secretFingerprint`) of the webhook secret its per-tenant clientState was made
   * with. Absent: the subscription carries the plain secret (created before per-tenant values, or outside
   * graph-relay), which the intake accepts only while the integration's sharedClientState is accepted.
   */
  clientStateKey?: string;
  /** Graph's expirationDateTime, ISO. */
  expiresAt: string;
  status: SubscriptionStatus;
  lastRenewedAt?: string;
  lastError?: string;
  createdAt: string;
  updatedAt: string;
}

const timestamp = z.iso.datetime({ offset: true });

export const subscriptionItemSchema = z.object({
  pk: z.string().startsWith('INTEGRATION#'),
  sk: z.string().startsWith('SUBSCRIPTION#'),
  type: z.literal('subscription'),
  integrationId: integrationIdSchema,
  subscriptionId: z.string().min(1),
  connectionId: connectionIdSchema,
  tenantId: tenantIdSchema,
  resource: z.string().min(1),
  changeTypes: z
    .array(z.enum(CHANGE_TYPES))
    .min(1)
    .transform((types) => CHANGE_TYPES.filter((type) => types.includes(type))),
  includeResourceData: z.boolean().optional(),
  encryptionCertificateId: z.string().min(1).max(128).optional(),
  clientStateKey: z.string().regex(/^[0-9a-f]{16}$/).optional(),
  expiresAt: timestamp,
  status: z.enum(SUBSCRIPTION_STATUSES),
  lastRenewedAt: timestamp.optional(),
  lastError: z.string().optional(),
  createdAt: timestamp,
  updatedAt: timestamp,
  [RENEWAL_INDEX.partitionKey]: z.string().optional(),
  [RENEWAL_INDEX.sortKey]: timestamp.optional(),
  [CONNECTION_INDEX.partitionKey]: z.string().optional(),
});

export type SubscriptionItem = z.infer<typeof subscriptionItemSchema>;

export function toSubscriptionRecord(item: SubscriptionItem): SubscriptionRecord {
  const { integrationId, subscriptionId, connectionId, tenantId, resource, changeTypes, expiresAt, status, createdAt, updatedAt } = item;
  return {
    integrationId,
    subscriptionId,
    connectionId,
    tenantId,
    resource,
    changeTypes,
    ...(item.includeResourceData === true ? { includeResourceData: true } : {}),
    ...(item.includeResourceData === true && item.encryptionCertificateId !== undefined ? { encryptionCertificateId: item.encryptionCertificateId } : {}),
    ...(item.clientStateKey === undefined ? {} : { clientStateKey: item.clientStateKey }),
    expiresAt,
    status,
    ...(item.lastRenewedAt === undefined ? {} : { lastRenewedAt: item.lastRenewedAt }),
    ...(item.lastError === undefined ? {} : { lastError: item.lastError }),
    createdAt,
    updatedAt,
  };
}

/** The renewal index keys of an active subscription; other statuses stay out of the (sparse) index. */
export function renewalIndexAttributes(record: Pick<SubscriptionRecord, 'subscriptionId' | 'status' | 'expiresAt' | 'lastRenewedAt' | 'createdAt'>):
  | { renewalShard: string; renewAt: string }
  | undefined {
  if (record.status !== 'active') return undefined;
  return {
    renewalShard: renewalShardOf(record.subscriptionId),
    renewAt: renewalDueAt({ grantedAt: record.lastRenewedAt ?? record.createdAt, expiresAt: record.expiresAt }),
  };
}

export function toSubscriptionItem(record: SubscriptionRecord): SubscriptionItem {
  const item = {
    ...keys.subscription(record.integrationId, record.subscriptionId),
    type: 'subscription' as const,
    ...record,
    ...renewalIndexAttributes(record),
    [CONNECTION_INDEX.partitionKey]: connectionKeyOf(record.integrationId, record.connectionId),
  };
  // DynamoDB has no undefined: an absent optional attribute is left out of the item, and so is a false
  // includeResourceData, so plain subscriptions' items look as they always did.
  return Object.fromEntries(Object.entries(item).filter(([name, value]) => value !== undefined && !(name === 'includeResourceData' && value === false))) as SubscriptionItem;
}
