import { buildEvents, routingEvent, type BuildEventsInput, type EventEntry } from './contract';
import { payloadKey, payloadRefOf, sha256Of, type PayloadStore } from './payload-store';
import { PUT_EVENTS_MAX_BYTES, serialised } from './publisher';

/** A full detail to store in the payload bucket before its reduced event is published. */
export interface StoredPayload {
  key: string;
  body: string;
  sha256: string;
}

export type BusFit =
  | { fits: true; events: EventEntry[]; stored: StoredPayload[] }
  /**
   * Can never be published: `no-payload-store` (too large and nowhere to offload it) or `too-large` (even the
   * event reduced to its routing fields is over the limit). `bytes` is the size of the event as built.
   */
  | { fits: false; reason: 'no-payload-store' | 'too-large'; bytes: number };

/**
 * The events of one notification as they go on the bus, shared by the intake and resync: as built when they fit in
 * a PutEvents entry (256 KB); otherwise reduced to their routing fields with a `payloadRef` to the full detail, which
 * the caller stores first (exactly the JSON the event would have carried, keyed by integration, day, idempotency key
 * and connection). `sizeOf` is the publisher's own measure of an entry. `region` is the deployment's, whose bucket
 * the payload store writes to: the `payloadRef` names it, so a consumer in another region reads the object there.
 */
export function fitForBus(
  built: readonly EventEntry[],
  context: { integrationId: string; idempotencyKey: string; region?: string | undefined; sizeOf: (event: EventEntry) => number; payloads?: PayloadStore | undefined },
): BusFit {
  const events: EventEntry[] = [];
  const stored: StoredPayload[] = [];
  for (const event of built) {
    const bytes = context.sizeOf(event);
    if (bytes <= PUT_EVENTS_MAX_BYTES) {
      events.push(event);
      continue;
    }
    const store = context.payloads;
    if (store === undefined) return { fits: false, reason: 'no-payload-store', bytes };
    // Exactly what would have been published: the very string the publisher sends as Detail.
    const body = serialised(event).detail;
    const sha256 = sha256Of(body);
    const key = payloadKey({
      integrationId: context.integrationId,
      receivedAt: event.detail.metadata.receivedAt,
      idempotencyKey: context.idempotencyKey,
      connectionId: event.detail.connectionId,
      sha256,
    });
    const ref = payloadRefOf({ region: context.region, bucket: store.bucket, key }, body, sha256);
    const reduced = [routingEvent(event, ref), routingEvent(event, ref, { identityOnly: true })].find((candidate) => context.sizeOf(candidate) <= PUT_EVENTS_MAX_BYTES);
    if (reduced === undefined) return { fits: false, reason: 'too-large', bytes };
    events.push(reduced);
    stored.push({ key, body, sha256: ref.sha256 });
  }
  return { fits: true, events, stored };
}

/** Plans one notification's events: built as the contract says (shared/events/contract.ts), then fitted for the bus. */
export function planEvents(input: BuildEventsInput, context: { sizeOf: (event: EventEntry) => number; payloads?: PayloadStore | undefined }): BusFit {
  return fitForBus(buildEvents(input), { integrationId: input.integrationId, idempotencyKey: input.idempotencyKey, region: input.region, ...context });
}
