import { createHash } from 'node:crypto';
import type { PayloadRef } from './contract';

/**
 * Where the intake keeps the full detail of an event too large for EventBridge (an S3 bucket in AWS and in the
 * local stack). This module is SDK-free: the S3 implementation (`s3-payload-store.ts`) is loaded only when a
 * payload must actually be stored, so a request without an oversized event never loads or calls S3.
 */
export interface PayloadStore {
  readonly bucket: string;
  /** Stores `body` (JSON) under `key`; `sha256` (hex) lets the store check what arrived. Throws when not stored. */
  put(object: { key: string; body: string; sha256: string }): Promise<void>;
}

/** The store refused or could not be reached: the request must fail so Graph redelivers. */
export class PayloadStoreError extends Error {
  override readonly name = 'PayloadStoreError';
}

/**
 * `<integrationId>/<yyyy>/<mm>/<dd>/<idempotencyKey>/<connectionId|unrouted>/<sha256>.json`, dated by receipt
 * (UTC): grouped by integration and day (easy to list, expire or audit), then notification and connection. The body's
 * SHA-256 ends the key, so an object is never replaced: a redelivery of the same notification is a new body (its
 * `receivedAt` differs) under a new key, and the `payloadRef` of every event published before stays resolvable and
 * true to its hash.
 */
export function payloadKey(input: { integrationId: string; receivedAt: string; idempotencyKey: string; connectionId: string | null; sha256: string }): string {
  const day = new Date(input.receivedAt);
  if (Number.isNaN(day.getTime())) throw new RangeError(`receivedAt is not a date: ${input.receivedAt}`);
  if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw new RangeError(`sha256 is not 64 lowercase hex digits: ${input.sha256}`);
  const yyyy = String(day.getUTCFullYear()).padStart(4, '0');
  const mm = String(day.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(day.getUTCDate()).padStart(2, '0');
  return `${input.integrationId}/${yyyy}/${mm}/${dd}/${input.idempotencyKey}/${input.connectionId ?? 'unrouted'}/${input.sha256}.json`;
}

/** The SHA-256 of `body` (UTF-8), in hex. */
export function sha256Of(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

/**
 * The reference an event carries to `body` once stored under `key` in `bucket` of `region` (left out when unknown;
 * `sha256`: the body's, when already known).
 */
export function payloadRefOf(location: { region?: string | undefined; bucket: string; key: string }, body: string, sha256: string = sha256Of(body)): PayloadRef {
  const { region, bucket, key } = location;
  return { ...(region === undefined ? {} : { region }), bucket, key, size: Buffer.byteLength(body, 'utf8'), sha256 };
}

/**
 * A store whose implementation is loaded on its first `put`, then reused. A failed load is retried on the next
 * `put` rather than remembered.
 */
export function lazyPayloadStore(bucket: string, load: () => Promise<PayloadStore>): PayloadStore {
  let loaded: Promise<PayloadStore> | undefined;
  return {
    bucket,
    async put(object) {
      loaded ??= load().catch((error: unknown) => {
        loaded = undefined;
        throw error;
      });
      return (await loaded).put(object);
    },
  };
}
