export { GraphNotificationRule, type GraphNotificationRuleProps, type GraphNotificationTarget } from './graph-notification-rule';
export {
  DEFAULT_DETAIL_TYPES,
  DEFAULT_EVENT_SOURCE,
  GRAPH_CHANGE_TYPES,
  GRAPH_LIFECYCLE_EVENTS,
  graphNotificationPattern,
  InvalidGraphNotificationFilterError,
  type GraphChangeType,
  type GraphLifecycleEvent,
  type GraphNotificationFilter,
  type GraphNotificationPattern,
} from './graph-notification-pattern';
export { DETAIL_TYPES, type DetailType } from '../../shared/events/contract';
// A multi-region stage's bus has this name in both of its regions: the same consumer code deploys to each.
export { relayBusName } from '../multi-region-names';
// The consumer kit (event types, parsers, payloadRef reader) for CDK apps; a consumer Lambda imports shared/consumer.
export * from '../../shared/consumer';
