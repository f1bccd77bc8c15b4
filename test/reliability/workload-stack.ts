/** The workload against the running stack: seeding its integrations, and the count check against the bus. */
import type { ReliabilityStack } from './harness';
import type { Delivery } from './graph-load';
import { countCheck, observedOf, type CountCheck, type ObservedEvent, type Workload } from './workload';

/** Stores the workload's integrations, webhook secrets (registered with the secrets scan) and connections. */
export async function seedWorkload(stack: ReliabilityStack, workload: Workload): Promise<void> {
  for (const integration of workload.integrations) {
    await stack.store.putIntegration({ integrationId: integration.integrationId, provider: 'microsoft-oauth2-cc' });
    await stack.putSecret(integration.integrationId, { webhookSecret: integration.clientState });
  }
  await Promise.all(
    workload.tenants.flatMap((tenant) =>
      tenant.connectionIds.map((connectionId) => stack.store.addConnection({ integrationId: tenant.integrationId, connectionId, tenantId: tenant.tenantId })),
    ),
  );
}

/** The exact count check of every body sent (accepted or not) against the bus's events of the workload's integrations. */
export async function checkBus(stack: ReliabilityStack, workload: Workload, deliveries: readonly Delivery[]): Promise<CountCheck> {
  const integrationIds = new Set(workload.integrations.map((i) => i.integrationId));
  const observed: ObservedEvent[] = [];
  for await (const event of stack.deliveredEvents()) {
    const seen = observedOf(event);
    if (seen !== undefined && integrationIds.has(seen.integrationId)) observed.push(seen);
  }
  return countCheck(
    deliveries.flatMap((d) => d.body.expected),
    observed,
  );
}

/** Percentile (nearest rank) of numbers; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
