/**
 * The consumer kit: what a Lambda (or any code) that receives graph-relay's events imports. Types inferred from the
 * event contract, parsers that refuse what graph-relay did not publish, and the reader of offloaded details. It
 * needs no CDK; `infra/consumer` re-exports it for CDK apps.
 */
export {
  EVENT_DETAIL_TYPES,
  InvalidGraphRelayEventError,
  isGraphRelayEventOf,
  parseDetail,
  parseGraphRelayEvent,
  parseGraphRelayEventOf,
  type DetailOf,
  type EventDetailType,
  type GraphChangeNotificationDetail,
  type GraphLifecycleNotificationDetail,
  type GraphNotificationUnroutedDetail,
  type GraphRelayEvent,
  type GraphRelayEventOf,
  type GraphRelayNotificationEvent,
  type GraphSubscriptionRecreatedDetail,
  type GraphSubscriptionRenewalFailedDetail,
  type GraphSubscriptionRenewedDetail,
  type GraphSubscriptionResyncedDetail,
  type NotificationDetailType,
} from './events';
export { PayloadRefError, resolvePayloadRef, type PayloadObjects } from './payload-ref';
export { s3PayloadObjects, type S3PayloadObjectsOptions } from './s3-payload-objects';
