import { idempotencyKey } from '../events/contract';
import { parseNotificationItem, subscriptionIdOf, type ChangeNotification, type RefusedItem } from '../graph/change-notification';
import type { Matched } from './verify-client-state';

/** A verified notification, parsed, with its idempotency key: what the rest of the walk carries. */
export interface Verified {
  index: number;
  notification: ChangeNotification;
  key: string;
}

/** The subscriptions whose recorded tenant is needed: items that name no tenant and that no per-tenant clientState vouched for. */
export function tenantlessSubscriptions(matched: readonly Matched[]): string[] {
  return matched.flatMap((m) => {
    const subscriptionId = m.claimedTenant === undefined && m.tenant === undefined ? subscriptionIdOf(m.item) : undefined;
    return subscriptionId === undefined ? [] : [subscriptionId];
  });
}

/**
 * Items are parsed only once their clientState verified. One that names no tenant takes the tenant its per-tenant
 * clientState vouches for, else the one recorded for its subscription (`tenantsOfSubscriptions`).
 */
export function parseVerified(
  integrationId: string,
  matched: readonly Matched[],
  tenantsOfSubscriptions: ReadonlyMap<string, string>,
): { verified: Verified[]; refused: RefusedItem[] } {
  const refused: RefusedItem[] = [];
  const verified: Verified[] = [];
  for (const m of matched) {
    const parsed = parseNotificationItem(m.item, m.tenant ?? tenantsOfSubscriptions.get(subscriptionIdOf(m.item) ?? ''));
    if ('reason' in parsed) refused.push({ index: m.index, reason: parsed.reason });
    else verified.push({ index: m.index, notification: parsed.notification, key: idempotencyKey(integrationId, parsed.notification) });
  }
  return { verified, refused };
}
