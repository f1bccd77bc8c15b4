/**
 * What renewal and the reconciler both decide about a subscription request: the expiry to ask for, how a new
 * subscription is addressed, and which Graph refusals are quota rather than consent. One place for each.
 */
import type { GraphRequestError } from '../graph/graph-client';
import { lifetimeOf, maxLifetimeMinutes, MIN_SUBSCRIPTION_MINUTES } from '../graph/subscription-lifetimes';
import type { CreateSubscriptionInput } from '../graph/subscriptions-api';
import type { ChangeType } from './declarations';

/**
 * Requested expiries stay this far below Graph's maximum lifetime, so a clock of ours running ahead of Graph's
 * never asks for more than the maximum (Graph refuses that with 400).
 */
export const EXPIRY_SAFETY_MARGIN_MINUTES = 2;

/** The longest expiry Graph grants the resource from `now` (subscriptions always carry a lifecycle URL), less the margin. */
export function maximumExpiry(resource: string, now: Date): Date {
  const minutes = maxLifetimeMinutes(resource, { hasLifecycleUrl: true }) - EXPIRY_SAFETY_MARGIN_MINUTES;
  return new Date(now.getTime() + minutes * 60_000);
}

/** A requested lifetime Graph would refuse (400): said before any call, with the allowed range. */
export class ExpiryOutOfRangeError extends Error {
  override readonly name = 'ExpiryOutOfRangeError';
}

/**
 * The expiry for a lifetime an operator asked for: refused when it is beyond the resource's maximum (from the
 * lifetime table, with a lifecycle URL, as every graph-relay subscription has) or under Graph's 45 minutes.
 * @throws ExpiryOutOfRangeError, or UnsupportedResourceError listing the supported kinds.
 */
export function requestedExpiry(resource: string, now: Date, lifetimeMs: number): Date {
  const maxMinutes = maxLifetimeMinutes(resource, { hasLifecycleUrl: true }) - EXPIRY_SAFETY_MARGIN_MINUTES;
  const minutes = lifetimeMs / 60_000;
  const kind = lifetimeOf(resource).kind;
  if (minutes > maxMinutes) {
    throw new ExpiryOutOfRangeError(
      `a lifetime of ${formatMinutes(minutes)} is beyond the maximum for ${kind} subscriptions: at most ${formatMinutes(maxMinutes)} (${maxMinutes} minutes)`,
    );
  }
  if (minutes < MIN_SUBSCRIPTION_MINUTES) {
    throw new ExpiryOutOfRangeError(`a lifetime of ${formatMinutes(minutes)} is under Graph's minimum of ${MIN_SUBSCRIPTION_MINUTES} minutes`);
  }
  return new Date(now.getTime() + lifetimeMs);
}

function formatMinutes(minutes: number): string {
  if (minutes >= 1440 && minutes % 1440 === 0) return `${minutes / 1440} days`;
  if (minutes >= 1440) return `${(minutes / 1440).toFixed(1)} days`;
  if (minutes >= 60 && minutes % 60 === 0) return `${minutes / 60} hours`;
  return `${Math.round(minutes)} minutes`;
}

/** `POST /subscriptions` body: both notification URLs are the integration's webhook; clientState its secret. */
export function newSubscriptionRequest(input: {
  resource: string;
  changeTypes: readonly ChangeType[];
  notificationUrl: string;
  clientState: string;
  now: Date;
  /** Default: the resource's maximum. */
  expiresAt?: Date;
}): CreateSubscriptionInput {
  return {
    changeType: input.changeTypes.join(','),
    notificationUrl: input.notificationUrl,
    lifecycleNotificationUrl: input.notificationUrl,
    resource: input.resource,
    expirationDateTime: input.expiresAt ?? maximumExpiry(input.resource, input.now),
    clientState: input.clientState,
  };
}

/** Graph's 403 for "App … has reached its limit of … subscription": not a consent problem. */
export function isQuotaExceeded(error: GraphRequestError): boolean {
  return error.status === 403 && /reached its limit/i.test(error.message);
}

/** Results in input order, at most `limit` at a time. */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, Math.floor(limit) || 1), items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
