import type { ChangeNotification } from '../graph/change-notification';
import type { RoutingSnapshot } from '../store/connections-store';

/**
 * The connections a notification goes to: its subscription's connection when the subscription is known and
 * belongs to the notification's tenant, otherwise every connection of that tenant. Never another tenant's.
 */
export function routeNotification(snapshot: RoutingSnapshot, notification: ChangeNotification): readonly string[] {
  const tenantId = notification.tenantId.toLowerCase();
  const tenantConnections = snapshot.connectionsByTenant.get(tenantId) ?? [];
  const subscription = snapshot.subscriptions.get(notification.subscriptionId);
  if (subscription !== undefined && subscription.tenantId === tenantId && tenantConnections.includes(subscription.connectionId)) {
    return [subscription.connectionId];
  }
  return tenantConnections;
}
