/** Events about the Graph subscriptions graph-relay keeps alive, published on the same bus as notifications. */
export const SUBSCRIPTION_DETAIL_TYPES = {
  renewed: 'Graph Subscription Renewed',
  recreated: 'Graph Subscription Recreated',
  renewalFailed: 'Graph Subscription Renewal Failed',
} as const;

export type SubscriptionDetailType = (typeof SUBSCRIPTION_DETAIL_TYPES)[keyof typeof SUBSCRIPTION_DETAIL_TYPES];

/** Why a renewal failed: what the operator or the consumer has to do about it differs. */
export type RenewalFailureReason = 'needs-consent' | 'graph-error' | 'missing-credentials' | 'unsupported-resource';

/** Why a renewal failed, with Graph's own status, code and request id when Graph answered. */
export interface RenewalFailure {
  reason: RenewalFailureReason;
  status?: number;
  code?: string;
  message: string;
  requestId?: string;
}

export interface SubscriptionEventDetail {
  from: string;
  providerConfigKey: string;
  connectionId: string;
  tenantId: string;
  subscriptionId: string;
  /** Set on `Graph Subscription Recreated`: the subscription that was gone. Consumers should resync. */
  previousSubscriptionId?: string;
  resource: string;
  changeTypes: string[];
  /** The subscription's expiry after the event (absent when a renewal failed). */
  expirationDateTime?: string;
  failure?: RenewalFailure;
  occurredAt: string;
}

/** A subscription event as the publisher takes it (`EventBridgePublisher<SubscriptionEventEntry>`). */
export interface SubscriptionEventEntry {
  source: string;
  detailType: SubscriptionDetailType;
  detail: SubscriptionEventDetail;
}

/** The subscription record's fields an event names (a `SubscriptionRecord` has them). */
export interface SubscribedResource {
  integrationId: string;
  connectionId: string;
  tenantId: string;
  subscriptionId: string;
  resource: string;
  changeTypes: readonly string[];
}

/** The fields every subscription event opens with, in this order: consumers match on them alike. */
export type SubscriptionIdentity = Pick<SubscriptionEventDetail, 'from' | 'providerConfigKey' | 'connectionId' | 'tenantId' | 'subscriptionId' | 'resource' | 'changeTypes'>;

export function subscriptionIdentity(provider: string, record: SubscribedResource): SubscriptionIdentity {
  return {
    from: provider,
    providerConfigKey: record.integrationId,
    connectionId: record.connectionId,
    // Lower case, as in notification events, so a consumer can match a tenant across both kinds.
    tenantId: record.tenantId.toLowerCase(),
    subscriptionId: record.subscriptionId,
    resource: record.resource,
    changeTypes: [...record.changeTypes],
  };
}

/** A renewed, recreated or renewal-failed event about `record`. */
export function subscriptionEvent(
  source: string,
  detailType: SubscriptionDetailType,
  provider: string,
  record: SubscribedResource,
  extra: Pick<SubscriptionEventDetail, 'expirationDateTime' | 'previousSubscriptionId' | 'failure'>,
  occurredAt: Date,
): SubscriptionEventEntry {
  return { source, detailType, detail: { ...subscriptionIdentity(provider, record), ...extra, occurredAt: occurredAt.toISOString() } };
}

/** The one event of a finished catch-up run (shared/resync/run-resync.ts), on the same bus. */
export const RESYNC_DETAIL_TYPE = 'Graph Subscription Resynced';

export interface ResyncedEventDetail {
  from: string;
  providerConfigKey: string;
  connectionId: string;
  tenantId: string;
  subscriptionId: string;
  resource: string;
  changeTypes: string[];
  /** Why the run was asked for (shared/resync/resync-job.ts RESYNC_TRIGGERS, `continued` never: a run reports once). */
  trigger: string;
  /** `full`: every current object was published; `incremental`: the changes since the last delta link. */
  mode: 'full' | 'incremental';
  /** Why a run is full: asked for, no baseline to go on from, or Graph said the delta link expired. */
  fullReason?: 'requested' | 'no-baseline' | 'expired';
  /** Objects published: changed + deleted. */
  objects: number;
  changed: number;
  deleted: number;
  /** Delta pages read. */
  pages: number;
  /** Graph's 429 answers met on the way (the run waited them out). */
  throttled: number;
  /** Times the run went on from its checkpoint (a deadline or a crash); each may re-send at most one page. */
  resumed: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  occurredAt: string;
}

export interface ResyncedEventEntry {
  source: string;
  detailType: typeof RESYNC_DETAIL_TYPE;
  detail: ResyncedEventDetail;
}
