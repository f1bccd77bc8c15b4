/** Events about the Graph subscriptions graph-relay keeps alive, published on the same bus as notifications. */
export const SUBSCRIPTION_DETAIL_TYPES = {
  renewed: 'Graph Subscription Renewed',
  recreated: 'Graph Subscription Recreated',
  renewalFailed: 'Graph Subscription Renewal Failed',
} as const;

export type SubscriptionDetailType = (typeof SUBSCRIPTION_DETAIL_TYPES)[keyof typeof SUBSCRIPTION_DETAIL_TYPES];

/** Why a renewal failed: what the operator or the consumer has to do about it differs. */
export type RenewalFailureReason = 'needs-consent' | 'graph-error' | 'missing-credentials' | 'unsupported-resource';

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
  failure?: {
    reason: RenewalFailureReason;
    status?: number;
    code?: string;
    message: string;
    requestId?: string;
  };
  occurredAt: string;
}

/** A subscription event as the publisher takes it (`EventBridgePublisher<SubscriptionEventEntry>`). */
export interface SubscriptionEventEntry {
  source: string;
  detailType: SubscriptionDetailType;
  detail: SubscriptionEventDetail;
}
