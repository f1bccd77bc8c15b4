/**
 * The EventBridge pattern of a consumer's rule on graph-relay's events, built from a typed filter: the same field
 * paths as the README's "Event contract" rule examples (shared/events/contract.ts builds the events).
 * Pure: no CDK, so it is tested against the EventBridge pattern matcher on the events the product publishes.
 */
import * as z from 'zod';
import { DETAIL_TYPES, type DetailType } from '../../shared/events/contract';
import { connectionIdSchema, integrationIdSchema, tenantIdSchema } from '../../shared/store/items';

export const GRAPH_CHANGE_TYPES = ['created', 'updated', 'deleted'] as const;
export const GRAPH_LIFECYCLE_EVENTS = ['reauthorizationRequired', 'subscriptionRemoved', 'missed'] as const;
export const DEFAULT_EVENT_SOURCE = 'graph-relay';
/** Notifications a connection claimed: changes and lifecycle events (not Unrouted). */
export const DEFAULT_DETAIL_TYPES: readonly DetailType[] = [DETAIL_TYPES.change, DETAIL_TYPES.lifecycle];

export type GraphChangeType = (typeof GRAPH_CHANGE_TYPES)[number];
export type GraphLifecycleEvent = (typeof GRAPH_LIFECYCLE_EVENTS)[number];

/**
 * Which graph-relay notification events a rule takes. Every field narrows; an absent field does not filter.
 * `changeTypes` and `resourcePrefix` apply to change notifications, `lifecycleEvents` to lifecycle notifications;
 * each leaves the other kind through (a rule with `changeTypes: ['created']` on the default detail types also
 * takes every lifecycle event).
 */
export interface GraphNotificationFilter {
  /** `detail.providerConfigKey`: the integration ids. */
  integrationIds?: readonly string[];
  /** `detail.connectionId`. */
  connectionIds?: readonly string[];
  /** `detail.metadata.tenantId`, GUIDs in any case (events carry them lower-case). */
  tenantIds?: readonly string[];
  /** `detail.payload.value.changeType`. */
  changeTypes?: readonly GraphChangeType[];
  /** `detail.payload.value.resource` begins with it, case-sensitively, as Graph writes it (e.g. `Users/`). */
  resourcePrefix?: string;
  /** `detail.payload.value.lifecycleEvent`. */
  lifecycleEvents?: readonly GraphLifecycleEvent[];
  /** Default: change and lifecycle notifications (`Graph Change Notification`, `Graph Lifecycle Notification`). */
  detailTypes?: readonly DetailType[];
  /** The stage's `eventSource`; default `graph-relay`. */
  source?: string;
}

/** An EventBridge event pattern, as PutRule and TestEventPattern take it (JSON.stringify it as is). */
export interface GraphNotificationPattern {
  source: string[];
  'detail-type': string[];
  detail?: Record<string, unknown>;
}

export class InvalidGraphNotificationFilterError extends Error {
  override readonly name = 'InvalidGraphNotificationFilterError';
}

const list = <T extends z.ZodType>(item: T, what: string) =>
  z
    .array(item)
    .min(1, `must name at least one ${what} (leave it out to take every ${what})`)
    .transform((values) => [...new Set(values as string[])]);

const filterSchema = z.strictObject({
  integrationIds: list(integrationIdSchema, 'integration').optional(),
  connectionIds: list(connectionIdSchema, 'connection').optional(),
  tenantIds: list(tenantIdSchema, 'tenant').optional(),
  changeTypes: list(z.enum(GRAPH_CHANGE_TYPES), 'change type').optional(),
  resourcePrefix: z.string().min(1, 'must not be empty (leave it out to take every resource)').max(1024).optional(),
  lifecycleEvents: list(z.enum(GRAPH_LIFECYCLE_EVENTS), 'lifecycle event').optional(),
  detailTypes: list(z.enum(Object.values(DETAIL_TYPES) as [DetailType, ...DetailType[]]), 'detail type').optional(),
  source: z.string().min(1).max(256).optional(),
});

/** Detail types whose notifications may be changes / lifecycle events (Unrouted may be either). */
const CARRIES_CHANGES: readonly string[] = [DETAIL_TYPES.change, DETAIL_TYPES.unrouted];
const CARRIES_LIFECYCLE: readonly string[] = [DETAIL_TYPES.lifecycle, DETAIL_TYPES.unrouted];

/** @throws InvalidGraphNotificationFilterError naming the field, for an empty list, a malformed id or an inconsistent filter. */
export function graphNotificationPattern(filter: GraphNotificationFilter = {}): GraphNotificationPattern {
  const parsed = filterSchema.safeParse(filter);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'filter'}: ${issue.message}`);
    throw new InvalidGraphNotificationFilterError(`invalid graph notification filter: ${issues.join('; ')}`);
  }
  const f = parsed.data;
  const detailTypes = f.detailTypes ?? [...DEFAULT_DETAIL_TYPES];
  const changes = detailTypes.some((type) => CARRIES_CHANGES.includes(type));
  const lifecycle = detailTypes.some((type) => CARRIES_LIFECYCLE.includes(type));

  const changeFilter: Record<string, unknown> = {
    ...(f.changeTypes === undefined ? {} : { changeType: f.changeTypes }),
    ...(f.resourcePrefix === undefined ? {} : { resource: [{ prefix: f.resourcePrefix }] }),
  };
  const lifecycleFilter = f.lifecycleEvents === undefined ? undefined : { lifecycleEvent: f.lifecycleEvents };
  const filtersChanges = Object.keys(changeFilter).length > 0;
  if (filtersChanges && !changes) {
    throw new InvalidGraphNotificationFilterError(`changeTypes and resourcePrefix filter change notifications, but detailTypes has none that carries them: ${detailTypes.join(', ')}`);
  }
  if (lifecycleFilter !== undefined && !lifecycle) {
    throw new InvalidGraphNotificationFilterError(`lifecycleEvents filters lifecycle notifications, but detailTypes has none that carries them: ${detailTypes.join(', ')}`);
  }

  // A notification has either changeType or lifecycleEvent: each filter lets the other kind through with `exists`.
  let value: Record<string, unknown> | undefined;
  if (filtersChanges && lifecycleFilter !== undefined) value = { $or: [changeFilter, lifecycleFilter] };
  else if (filtersChanges) value = lifecycle ? { $or: [changeFilter, { lifecycleEvent: [{ exists: true }] }] } : changeFilter;
  else if (lifecycleFilter !== undefined) value = changes ? { $or: [lifecycleFilter, { changeType: [{ exists: true }] }] } : lifecycleFilter;

  const detail: Record<string, unknown> = {
    ...(f.integrationIds === undefined ? {} : { providerConfigKey: f.integrationIds }),
    ...(f.connectionIds === undefined ? {} : { connectionId: f.connectionIds }),
    ...(value === undefined ? {} : { payload: { value } }),
    ...(f.tenantIds === undefined ? {} : { metadata: { tenantId: f.tenantIds } }),
  };
  return {
    source: [f.source ?? DEFAULT_EVENT_SOURCE],
    'detail-type': [...detailTypes],
    ...(Object.keys(detail).length === 0 ? {} : { detail }),
  };
}
