import type { ChangeNotification } from '../graph/change-notification';
import type { SubscriptionRoute } from './route-cache';

/** What routing one notification needs: its subscription's route (if known) and its tenant's connections. */
export interface RouteFacts {
  subscription: SubscriptionRoute | null;
  tenantConnectionIds: readonly string[];
}

/**
 * The connections a notification goes to: its subscription's connection when the subscription is known, belongs
 * to the notification's tenant and that connection still exists; otherwise every connection of that tenant. Never
 * another tenant's.
 */
export function routeNotification(facts: RouteFacts, notification: ChangeNotification): readonly string[] {
  const tenantId = notification.tenantId.toLowerCase();
  const { subscription, tenantConnectionIds } = facts;
  if (subscription !== null && subscription.tenantId === tenantId && tenantConnectionIds.includes(subscription.connectionId)) {
    return [subscription.connectionId];
  }
  return tenantConnectionIds;
}
