/**
 * Routes notifications the way the intake does, against a real connections table: a cold route cache, one read
 * round through DynamoDbIntakeReads, then RoutePlan. Store tests use it to show that what a store wrote routes.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChangeNotification } from '../../shared/graph/change-notification';
import { RouteCache } from '../../shared/routing/route-cache';
import { RoutePlan, type InvalidRouteItem } from '../../shared/routing/route-plan';
import { DynamoDbIntakeReads } from '../../shared/store/intake-reads';

export async function routeThroughTable(
  client: DynamoDBDocumentClient,
  tables: { connectionsTable: string; deliveriesTable: string },
  integrationId: string,
  notifications: readonly ChangeNotification[],
): Promise<{ routes: (readonly string[])[]; invalidItems: readonly InvalidRouteItem[] }> {
  const plan = new RoutePlan(new RouteCache({ maxEntries: 100, maxAgeSeconds: 300, negativeMaxAgeSeconds: 30 }), integrationId, notifications);
  const { routeItems } = await new DynamoDbIntakeReads(client, tables).read({ routeKeys: plan.keys, idempotencyKeys: [] });
  const resolved = plan.resolve(routeItems);
  return { routes: notifications.map((notification) => resolved.route(notification)), invalidItems: resolved.invalidItems };
}
