import { createHash } from 'node:crypto';
import { kindOf, type ChangeNotification } from '../graph/change-notification';

/** EventBridge `detail-type` values this product publishes. JSON Schemas: `shared/events/schemas/`. */
export const DETAIL_TYPES = {
  change: 'Graph Change Notification',
  lifecycle: 'Graph Lifecycle Notification',
  unrouted: 'Graph Notification Unrouted',
} as const;

export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

/** The published notification: exactly what Graph sent, minus `clientState`. */
export type PublishedNotification = {
  [K in keyof ChangeNotification as K extends 'clientState' ? never : K]: ChangeNotification[K];
};

/**
 * Where the full detail of an event too large for EventBridge is kept: an S3 object holding exactly the JSON
 * detail that would have been published. `size` is its length in bytes, `sha256` its SHA-256 in hex.
 */
export interface PayloadRef {
  /**
   * The bucket's region (the deployment's that stored it): a consumer reads the object there. Absent in events
   * published before it was recorded (and when the publisher did not know its region): the stage's only bucket.
   */
  region?: string;
  bucket: string;
  key: string;
  size: number;
  sha256: string;
}

/** Nango-compatible forward shape, with routing metadata added. */
export interface ForwardDetail {
  from: string;
  providerConfigKey: string;
  type: 'forward';
  connectionId: string | null;
  /** With `payloadRef`, the notification is reduced to its routing fields (`ROUTING_NOTIFICATION_FIELDS`). */
  payload: { value: [PublishedNotification] };
  metadata: {
    idempotencyKey: string;
    tenantId: string;
    subscriptionId: string;
    receivedAt: string;
    origin: EventOrigin;
    /** The region whose intake received the notification (or whose resync read the object); absent in older events. */
    region?: string;
  };
  /** Present only when the full detail was too large for the bus: fetch it from S3. */
  payloadRef?: PayloadRef;
}

/**
 * Where an event came from: `webhook`, a notification Graph POSTed; `resync`, an object a delta query returned while
 * catching up (shared/resync/), published in the shape of a change notification.
 */
export const EVENT_ORIGINS = ['webhook', 'resync'] as const;
export type EventOrigin = (typeof EVENT_ORIGINS)[number];

export interface EventEntry {
  source: string;
  detailType: DetailType;
  detail: ForwardDetail;
}

export function withoutClientState(notification: ChangeNotification): PublishedNotification {
  const { clientState: _omitted, ...rest } = notification;
  return rest;
}

/**
 * Deterministic key of a notification within an integration: the SHA-256 of its tenant, Graph's notification `id`
 * (when Graph sent one) and its canonical JSON without clientState. A redelivery of the same notification has the
 * same key; any changed field gives a new one. The tenant is the one its verified clientState vouches for, so with
 * per-tenant clientStates a sender holding one tenant's value cannot mark another tenant's notifications as
 * already published; two notifications with different `id`s are never merged, whatever else they share.
 */
export function idempotencyKey(integrationId: string, notification: ChangeNotification): string {
  return createHash('sha256')
    .update(`graph-relay idempotency v2\n${integrationId}\n${notification.tenantId.toLowerCase()}\n${notification.id ?? ''}\n`)
    .update(canonicalJson(withoutClientState(notification)))
    .digest('hex');
}

/** JSON with object keys sorted at every depth, so key order in Graph's payload does not change the key. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface BuildEventsInput {
  source: string;
  provider: string;
  integrationId: string;
  notification: ChangeNotification;
  idempotencyKey: string;
  /** Connections of the notification's own tenant; empty → one Unrouted event. */
  connectionIds: readonly string[];
  receivedAt: string;
  /** Defaults to `webhook`. */
  origin?: EventOrigin;
  /** The region publishing the events: its intake received the notification (or its resync read the object). */
  region?: string | undefined;
}

/** One event per (notification, connection), or one Unrouted event with `connectionId: null`. */
export function buildEvents(input: BuildEventsInput): EventEntry[] {
  const payload = { value: [withoutClientState(input.notification)] as [PublishedNotification] };
  const metadata = {
    idempotencyKey: input.idempotencyKey,
    tenantId: input.notification.tenantId.toLowerCase(),
    subscriptionId: input.notification.subscriptionId,
    receivedAt: input.receivedAt,
    origin: input.origin ?? 'webhook',
    ...(input.region === undefined ? {} : { region: input.region }),
  };
  const routedType = kindOf(input.notification) === 'change' ? DETAIL_TYPES.change : DETAIL_TYPES.lifecycle;
  const targets: (string | null)[] = input.connectionIds.length > 0 ? [...input.connectionIds] : [null];
  return targets.map((connectionId) => ({
    source: input.source,
    detailType: connectionId === null ? DETAIL_TYPES.unrouted : routedType,
    detail: {
      from: input.provider,
      providerConfigKey: input.integrationId,
      type: 'forward',
      connectionId,
      payload,
      metadata,
    },
  }));
}

/**
 * The notification fields an offloaded event keeps, so consumers' rules on them still match. The heavy ones
 * (`decryptedContent`, `encryptedContent`) and any unknown field are left to the stored payload.
 */
export const ROUTING_NOTIFICATION_FIELDS = [
  'subscriptionId',
  'tenantId',
  'changeType',
  'lifecycleEvent',
  'resource',
  'subscriptionExpirationDateTime',
  'resourceData',
  'id',
] as const;

/** What identifies the resource in `resourceData`: all that is kept when the whole of it would not fit. */
export const RESOURCE_DATA_IDENTITY_FIELDS = ['@odata.type', '@odata.id', '@odata.etag', 'id'] as const;

/**
 * The event published in place of one too large for the bus: the same routing fields and metadata, the
 * notification reduced to its routing fields, and where the full detail is. With `identityOnly`, `resourceData`
 * is reduced to the fields that identify the resource (for the rare resourceData that alone is too large).
 */
export function routingEvent(event: EventEntry, payloadRef: PayloadRef, options: { identityOnly?: boolean } = {}): EventEntry {
  const { from, providerConfigKey, type, connectionId, payload, metadata } = event.detail;
  const notification = pick(payload.value[0], ROUTING_NOTIFICATION_FIELDS) as PublishedNotification;
  if (options.identityOnly === true && notification.resourceData !== undefined) {
    notification.resourceData = pick(notification.resourceData, RESOURCE_DATA_IDENTITY_FIELDS);
  }
  return { ...event, detail: { from, providerConfigKey, type, connectionId, payload: { value: [notification] }, metadata, payloadRef } };
}

function pick(source: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((field) => source[field] !== undefined).map((field) => [field, source[field]]));
}
