import * as z from 'zod';
import { DETAIL_TYPES, EVENT_ORIGINS } from './contract';
import { RESYNC_DETAIL_TYPE, SUBSCRIPTION_DETAIL_TYPES } from './subscription-events';

/**
 * The `detail` of each published event, as zod schemas. The JSON Schemas in `shared/events/schemas/` are
 * generated from these (`npm run schemas`) and a test keeps the two identical.
 */
const guidLike = z.string().min(1);

/** An AWS region name as Lambda's AWS_REGION gives it (or the stage's RELAY_REGION). */
const awsRegion = z.string().min(1).max(64);

const metadata = z.object({
  idempotencyKey: z.string().regex(/^[0-9a-f]{64}$/).describe("SHA-256 (hex) of the notification's tenant, Graph's notification id and the notification without clientState; the same for every redelivery"),
  tenantId: guidLike.describe('the notification\'s tenant id, lower-case'),
  subscriptionId: guidLike.describe('the Graph subscription that produced the notification'),
  receivedAt: z.iso.datetime().describe('when graph-relay received the POST, or read the object while catching up (ISO 8601, UTC)'),
  origin: z
    .enum(EVENT_ORIGINS)
    .describe('webhook: a notification Graph sent; resync: an object a Graph delta query returned while graph-relay caught up after missed notifications or a lapsed subscription (a full resync re-sends objects consumers may already have)'),
  region: awsRegion
    .optional()
    .describe('the AWS region whose intake received the notification (or whose resync read the object), e.g. eu-west-1; absent in events published before graph-relay recorded it'),
});

const notificationBase = {
  subscriptionId: guidLike,
  tenantId: guidLike,
  subscriptionExpirationDateTime: z.string().optional(),
  id: z.string().optional(),
  clientState: z.never().optional().describe('never present: removed before publishing'),
};

const changeNotification = z
  .looseObject({
    ...notificationBase,
    changeType: z.enum(['created', 'updated', 'deleted']),
    resource: z.string().optional(),
    resourceData: z.record(z.string(), z.unknown()).optional(),
    encryptedContent: z.record(z.string(), z.unknown()).optional(),
  })
  .describe('the changeNotification exactly as Graph sent it, without clientState');

const lifecycleNotification = z
  .looseObject({
    ...notificationBase,
    lifecycleEvent: z.enum(['reauthorizationRequired', 'subscriptionRemoved', 'missed']),
  })
  .describe('the lifecycle notification exactly as Graph sent it, without clientState');

const payloadRef = z
  .object({
    region: awsRegion
      .optional()
      .describe("the bucket's AWS region: read the object with an S3 client of this region (a multi-region stage has a bucket per region); absent in events published before graph-relay recorded it, whose bucket is the stage's only one"),
    bucket: z.string().min(3).describe('the payload bucket (stack output PayloadBucketName)'),
    key: z.string().min(1).describe('<integrationId>/<yyyy>/<mm>/<dd>/<idempotencyKey>/<connectionId|unrouted>/<sha256>.json'),
    size: z.number().int().positive().describe('bytes of the stored JSON'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/).describe('SHA-256 (hex) of the stored JSON'),
  })
  .describe(
    'present only when the full detail was too large for EventBridge (256 KB): the S3 object (s3:GetObject) holds exactly the detail that would have been published; payload.value[0] then keeps only its routing fields (subscriptionId, tenantId, changeType or lifecycleEvent, resource, subscriptionExpirationDateTime, resourceData (reduced to @odata.type, @odata.id, @odata.etag and id if too large), id)',
  );

const forward = <N extends z.ZodType, C extends z.ZodType>(notification: N, connectionId: C) =>
  z.object({
    from: z.string().describe('the integration\'s provider, e.g. microsoft-oauth2-cc'),
    providerConfigKey: z.string().describe('the integration id'),
    type: z.literal('forward'),
    connectionId,
    payload: z.object({ value: z.tuple([notification]) }),
    metadata,
    payloadRef: payloadRef.optional(),
  });

// Generic over the extra fields, so the inferred detail types (shared/consumer) keep them.
const subscriptionEvent = <E extends z.ZodRawShape>(extra: E) =>
  z.object({
    from: z.string().describe('the integration\'s provider, e.g. microsoft-oauth2-cc'),
    providerConfigKey: z.string().describe('the integration id'),
    connectionId: z.string(),
    tenantId: guidLike.describe('lower-case'),
    subscriptionId: guidLike.describe('the Graph subscription id (the new one after a recreation)'),
    resource: z.string(),
    changeTypes: z.array(z.enum(['created', 'updated', 'deleted'])).min(1),
    occurredAt: z.iso.datetime(),
    ...extra,
  });

export const detailSchemas = {
  [DETAIL_TYPES.change]: forward(changeNotification, z.string().describe('the connection of the notification\'s tenant')),
  [DETAIL_TYPES.lifecycle]: forward(lifecycleNotification, z.string().describe('the connection of the notification\'s tenant')),
  [DETAIL_TYPES.unrouted]: forward(z.union([changeNotification, lifecycleNotification]), z.null().describe('no connection matched the tenant or subscription')),
  [SUBSCRIPTION_DETAIL_TYPES.renewed]: subscriptionEvent({ expirationDateTime: z.iso.datetime({ offset: true }) }),
  [SUBSCRIPTION_DETAIL_TYPES.recreated]: subscriptionEvent({
    previousSubscriptionId: guidLike.describe('the subscription Graph no longer had; changes since it lapsed are lost: resync'),
    expirationDateTime: z.iso.datetime({ offset: true }),
  }),
  [SUBSCRIPTION_DETAIL_TYPES.renewalFailed]: subscriptionEvent({
    failure: z.object({
      reason: z.enum(['needs-consent', 'graph-error', 'missing-credentials', 'unsupported-resource']),
      status: z.number().int().optional(),
      code: z.string().optional(),
      message: z.string(),
      requestId: z.string().optional(),
    }),
  }),
  [RESYNC_DETAIL_TYPE]: subscriptionEvent({
    trigger: z.enum(['created', 'declared', 'missed', 'removed', 'recreated', 'resumed', 'periodic', 'operator']).describe('why the catch-up ran'),
    mode: z.enum(['full', 'incremental']).describe('full: every current object was published (consumers may already have some); incremental: the changes since the last delta link'),
    fullReason: z.enum(['requested', 'no-baseline', 'expired']).optional().describe('why a run was full: asked for, no baseline to go on from, or Graph said the delta link had expired'),
    objects: z.number().int().min(0).describe('Graph Change Notification events published with metadata.origin "resync" (changed + deleted)'),
    changed: z.number().int().min(0),
    deleted: z.number().int().min(0),
    pages: z.number().int().min(0).describe('delta pages read'),
    throttled: z.number().int().min(0).describe("Graph's 429 answers met (and waited out)"),
    resumed: z.number().int().min(0).describe('times the run went on from its checkpoint after a deadline or a crash (each may re-send at most one page)'),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    durationMs: z.number().int().min(0),
  }),
} as const;

/** File name of each detail-type's JSON Schema, e.g. `graph-change-notification.schema.json`. */
export function schemaFileName(detailType: string): string {
  return `${detailType.toLowerCase().replace(/\s+/g, '-')}.schema.json`;
}

export function jsonSchemaOf(detailType: keyof typeof detailSchemas): Record<string, unknown> {
  return {
    $id: `https://graph-relay.dev/schemas/${schemaFileName(detailType)}`,
    title: `detail of "${detailType}"`,
    ...z.toJSONSchema(detailSchemas[detailType], { target: 'draft-2020-12' }),
  };
}
