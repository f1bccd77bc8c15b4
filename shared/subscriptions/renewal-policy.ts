import { createHash } from 'node:crypto';

/**
 * When a subscription is due for renewal, and where the renewal index files it. The one place for these numbers.
 *
 * Due = half of the lifetime granted at the last creation or renewal has passed, or the expiry is within the safety
 * margin, whichever comes first. Half a lifetime leaves room for days of failed runs on long-lived subscriptions;
 * the margin covers short-lived ones (presence: 60 minutes), which then renew on every run.
 */
export const RENEWAL_LIFETIME_FRACTION = 0.5;

/** Four runs of the default 15-minute renewal schedule: a few failed runs still leave time before expiry. */
export const RENEWAL_SAFETY_MARGIN_MINUTES = 60;

/**
 * The renewal index partitions due subscriptions over this many keys, so neither a Query nor the writes that
 * renewals make concentrate on one index partition. Changing it re-files subscriptions only as they are written:
 * readers must query every shard up to the largest count ever used.
 */
export const RENEWAL_SHARD_COUNT = 10;

export type RenewalShard = `RENEWAL#${number}`;

/** Every shard key, `RENEWAL#0` … `RENEWAL#<count - 1>`. */
export const RENEWAL_SHARDS: readonly RenewalShard[] = Array.from({ length: RENEWAL_SHARD_COUNT }, (_, i) => renewalShardKey(i));

export function renewalShardKey(index: number): RenewalShard {
  return `RENEWAL#${index}`;
}

/** Deterministic, evenly spread: a subscription always files under the same shard. */
export function renewalShardOf(subscriptionId: string): RenewalShard {
  const digest = createHash('sha256').update(subscriptionId).digest();
  return renewalShardKey(digest.readUInt32BE(0) % RENEWAL_SHARD_COUNT);
}

/**
 * When renewal is due, as an ISO timestamp (sortable as a string, so the index's `renewAt <= now` works).
 * `grantedAt` is when the current expiry was obtained: the creation or the last renewal.
 */
export function renewalDueAt(input: { grantedAt: string; expiresAt: string }): string {
  const granted = Date.parse(input.grantedAt);
  const expires = Date.parse(input.expiresAt);
  if (Number.isNaN(granted) || Number.isNaN(expires)) {
    throw new RangeError(`renewalDueAt needs ISO timestamps, got grantedAt ${input.grantedAt}, expiresAt ${input.expiresAt}`);
  }
  const byLifetime = granted + (expires - granted) * RENEWAL_LIFETIME_FRACTION;
  const byMargin = expires - RENEWAL_SAFETY_MARGIN_MINUTES * 60_000;
  return new Date(Math.min(byLifetime, byMargin)).toISOString();
}
