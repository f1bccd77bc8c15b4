import { S3Client } from '@aws-sdk/client-s3';
import { EVENT_DETAIL_TYPES, parseGraphRelayEvent, resolvePayloadRef, s3PayloadObjects } from '../../shared/consumer';

// Once per Lambda environment. The function's role needs s3:GetObject on <PayloadBucketName>/*.
const objects = s3PayloadObjects(new S3Client({}));

/** What the example did with an event: a real consumer would write to its own store instead. */
export interface Handled {
  detailType: string;
  connectionId: string | null;
  /** The whole notification, read from the payload bucket when the event carried a payloadRef. */
  notification?: Record<string, unknown>;
  todo?: string;
}

/**
 * The target of a rule on graph-relay's bus (e.g. a GraphNotificationRule). An error thrown here (an event the kit
 * refuses, an unreadable or changed payload) makes EventBridge retry, then send the event to the dead-letter queue.
 */
export async function handler(event: unknown): Promise<Handled> {
  const parsed = parseGraphRelayEvent(event);
  switch (parsed['detail-type']) {
    case EVENT_DETAIL_TYPES.change:
    case EVENT_DETAIL_TYPES.lifecycle:
    case EVENT_DETAIL_TYPES.unrouted: {
      const detail = await resolvePayloadRef(parsed, { objects });
      return { detailType: parsed['detail-type'], connectionId: detail.connectionId, notification: detail.payload.value[0] };
    }
    case EVENT_DETAIL_TYPES.subscriptionRecreated:
      return { detailType: parsed['detail-type'], connectionId: parsed.detail.connectionId, todo: `resync ${parsed.detail.resource}: changes since ${parsed.detail.previousSubscriptionId} lapsed are lost` };
    case EVENT_DETAIL_TYPES.subscriptionRenewalFailed:
      return { detailType: parsed['detail-type'], connectionId: parsed.detail.connectionId, todo: parsed.detail.failure.reason === 'needs-consent' ? 'ask the tenant admin to grant consent again' : 'tell the operator' };
    default:
      return { detailType: parsed['detail-type'], connectionId: parsed.detail.connectionId };
  }
}
