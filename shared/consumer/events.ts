import type * as z from 'zod';
import { DETAIL_TYPES } from '../events/contract';
import { detailSchemas } from '../events/detail-schemas';
import { RESYNC_DETAIL_TYPE, SUBSCRIPTION_DETAIL_TYPES } from '../events/subscription-events';

/** Every EventBridge `detail-type` graph-relay publishes, by name. */
export const EVENT_DETAIL_TYPES = {
  change: DETAIL_TYPES.change,
  lifecycle: DETAIL_TYPES.lifecycle,
  unrouted: DETAIL_TYPES.unrouted,
  subscriptionRenewed: SUBSCRIPTION_DETAIL_TYPES.renewed,
  subscriptionRecreated: SUBSCRIPTION_DETAIL_TYPES.recreated,
  subscriptionRenewalFailed: SUBSCRIPTION_DETAIL_TYPES.renewalFailed,
  subscriptionResynced: RESYNC_DETAIL_TYPE,
} as const;

export type EventDetailType = keyof typeof detailSchemas;

/** The `detail` of a detail-type, inferred from the zod contract the product publishes with (never copied by hand). */
export type DetailOf<T extends EventDetailType> = z.output<(typeof detailSchemas)[T]>;

export type GraphChangeNotificationDetail = DetailOf<typeof DETAIL_TYPES.change>;
export type GraphLifecycleNotificationDetail = DetailOf<typeof DETAIL_TYPES.lifecycle>;
export type GraphNotificationUnroutedDetail = DetailOf<typeof DETAIL_TYPES.unrouted>;
export type GraphSubscriptionRenewedDetail = DetailOf<typeof SUBSCRIPTION_DETAIL_TYPES.renewed>;
export type GraphSubscriptionRecreatedDetail = DetailOf<typeof SUBSCRIPTION_DETAIL_TYPES.recreated>;
export type GraphSubscriptionRenewalFailedDetail = DetailOf<typeof SUBSCRIPTION_DETAIL_TYPES.renewalFailed>;
export type GraphSubscriptionResyncedDetail = DetailOf<typeof RESYNC_DETAIL_TYPE>;

/** An event of one detail-type, as parsed from what an EventBridge rule target receives. */
export interface GraphRelayEventOf<T extends EventDetailType> {
  'detail-type': T;
  source: string;
  detail: DetailOf<T>;
}

/** Any event graph-relay publishes: a union discriminated by `detail-type`. */
export type GraphRelayEvent = { [T in EventDetailType]: GraphRelayEventOf<T> }[EventDetailType];

/** The detail-types that carry a notification (`detail.payload.value[0]`) and may carry a `payloadRef`. */
export type NotificationDetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];
export type GraphRelayNotificationEvent = { [T in NotificationDetailType]: GraphRelayEventOf<T> }[NotificationDetailType];

/** An event this kit cannot vouch for: not from graph-relay, of a detail-type it does not know, or not as published. */
export class InvalidGraphRelayEventError extends Error {
  override readonly name = 'InvalidGraphRelayEventError';
}

const KNOWN = Object.keys(detailSchemas) as EventDetailType[];

function isKnown(detailType: unknown): detailType is EventDetailType {
  return typeof detailType === 'string' && (KNOWN as string[]).includes(detailType);
}

/**
 * The event as a typed member of `GraphRelayEvent`, its `detail` parsed by the schema of its detail-type.
 * `options.source` refuses events of any other source (the stage's `eventSource`, `graph-relay` by default).
 * @throws InvalidGraphRelayEventError
 */
export function parseGraphRelayEvent(event: unknown, options: { source?: string } = {}): GraphRelayEvent {
  const envelope = event as { 'detail-type'?: unknown; source?: unknown; detail?: unknown } | null;
  if (envelope === null || typeof envelope !== 'object' || typeof envelope['detail-type'] !== 'string' || typeof envelope.source !== 'string' || envelope.detail === undefined) {
    throw new InvalidGraphRelayEventError('not an EventBridge event: expected an object with "detail-type", "source" and "detail"');
  }
  const { 'detail-type': detailType, source } = envelope;
  if (options.source !== undefined && source !== options.source) {
    throw new InvalidGraphRelayEventError(`event source "${source}" is not "${options.source}": filter the rule on source`);
  }
  if (!isKnown(detailType)) {
    throw new InvalidGraphRelayEventError(`unknown detail-type "${detailType}": graph-relay publishes ${KNOWN.join(', ')}; filter the rule on these, or update the consumer kit`);
  }
  return { 'detail-type': detailType, source, detail: parseDetail(detailType, envelope.detail) } as GraphRelayEvent;
}

/**
 * As `parseGraphRelayEvent`, for a consumer whose rule delivers one detail-type only: any other is refused.
 * @throws InvalidGraphRelayEventError
 */
export function parseGraphRelayEventOf<T extends EventDetailType>(detailType: T, event: unknown, options: { source?: string } = {}): GraphRelayEventOf<T> {
  const parsed = parseGraphRelayEvent(event, options);
  if (parsed['detail-type'] !== detailType) {
    throw new InvalidGraphRelayEventError(`expected a "${detailType}" event, got "${parsed['detail-type']}": filter the rule on detail-type`);
  }
  return parsed as GraphRelayEventOf<T>;
}

/** Whether `event` is a valid event of `detailType`, as graph-relay publishes it. */
export function isGraphRelayEventOf<T extends EventDetailType>(detailType: T, event: unknown): event is GraphRelayEventOf<T> {
  const envelope = event as { 'detail-type'?: unknown; source?: unknown; detail?: unknown } | null;
  return (
    envelope !== null &&
    typeof envelope === 'object' &&
    envelope['detail-type'] === detailType &&
    typeof envelope.source === 'string' &&
    detailSchemas[detailType].safeParse(envelope.detail).success
  );
}

/**
 * `detail` parsed by the schema of `detailType`.
 * @throws InvalidGraphRelayEventError naming the first paths that failed, on one line
 */
export function parseDetail<T extends EventDetailType>(detailType: T, detail: unknown): DetailOf<T> {
  const result = detailSchemas[detailType].safeParse(detail);
  if (result.success) return result.data as DetailOf<T>;
  const issues = result.error.issues
    .slice(0, 3)
    .map((issue) => `${['detail', ...issue.path.map(String)].join('.')}: ${issue.message.replace(/\s+/g, ' ')}`)
    .join('; ');
  throw new InvalidGraphRelayEventError(`invalid "${detailType}" detail (${issues}): is the consumer kit older than the graph-relay that published it?`);
}
