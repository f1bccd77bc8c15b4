/**
 * The intake's own CPU work for one request, without any I/O: parse the body, verify, route, build and pack
 * the events (the real EventBridgePublisher over a client that answers at once, the read round answered from
 * memory). Subtracting this from the warm
 * latency shows how much of it is the local stack's I/O rather than the intake's code.
 */
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { parseNotificationEnvelope } from '../shared/graph/change-notification';
import { EventBridgePublisher } from '../shared/events/publisher';
import { processNotifications, type IntakePorts } from '../shared/intake/process-notifications';
import { RouteCache } from '../shared/routing/route-cache';
import { routeItemId } from '../shared/routing/route-plan';
import type { IntakeReads } from '../shared/store/intake-reads';
import { keys } from '../shared/store/items';
import { elapsedMs, summarize, type Summary } from './stats';
import { BenchAbortError, freshBody, type Seeded } from './warm';

function portsFor(seeded: Seeded): IntakePorts {
  const integration = { integrationId: seeded.integrationId, provider: 'microsoft-oauth2-cc', configVersion: 0, routesVersion: 0 };
  // The tenant route items as the connections table holds them; every subscription is unknown (routed by tenant).
  const routeItems = new Map<string, Record<string, unknown>>(
    seeded.tenants.map((tenantId, i) => {
      const key = keys.tenantRoute(seeded.integrationId, tenantId);
      return [routeItemId(key), { ...key, type: 'tenant-route', tenantId: tenantId.toLowerCase(), connectionIds: [`conn-${i}`] }];
    }),
  );
  const reads: IntakeReads = {
    read: async ({ routeKeys }) => {
      const found = new Map<string, Record<string, unknown>>();
      for (const key of routeKeys) {
        const item = routeItems.get(routeItemId(key));
        if (item !== undefined) found.set(routeItemId(key), item);
      }
      return { routeItems: found, published: new Set<string>(), readUnits: 0 };
    },
  };
  const client = {
    send: async (command: PutEventsCommand) => ({
      FailedEntryCount: 0,
      Entries: (command.input.Entries ?? []).map((_, i) => ({ EventId: `e-${i}` })),
    }),
  } as unknown as EventBridgeClient;
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return {
    registry: { lookup: async (integrationId) => (integrationId === integration.integrationId ? integration : undefined) },
    secrets: { accepted: async () => [seeded.webhookSecret], acceptedSince: async () => 'unconfirmed' },
    routes: new RouteCache({ maxEntries: 20_000, maxAgeSeconds: 300, negativeMaxAgeSeconds: 30 }),
    reads,
    deliveries: { markPublished: async () => undefined },
    publisher: new EventBridgePublisher(client, 'bench', { maxAttempts: 1, concurrency: 10 }),
    source: 'graph-relay',
    region: 'us-east-1',
    now: () => new Date(),
    logger: quiet,
  };
}

/** Median-friendly timings of parse + processNotifications for each batch size, interleaved. */
export async function runLogic(options: { seeded: Seeded; sizes: readonly number[]; iterations: number; warmup: number }): Promise<{ size: number; ms: Summary }[]> {
  const ports = portsFor(options.seeded);
  const samples = new Map<number, number[]>(options.sizes.map((s) => [s, []]));
  for (let i = -options.warmup; i < options.iterations; i += 1) {
    for (const size of options.sizes) {
      const body = freshBody(options.seeded, size);
      const started = process.hrtime.bigint();
      const outcome = await processNotifications(options.seeded.integrationId, parseNotificationEnvelope(body), ports);
      const took = elapsedMs(started);
      if (outcome.kind !== 'accepted' || outcome.counts.published !== size) {
        throw new BenchAbortError(`logic without I/O: ${size} notifications gave ${JSON.stringify(outcome)}`);
      }
      if (i >= 0) samples.get(size)?.push(took);
    }
  }
  return options.sizes.map((size) => ({ size, ms: summarize(samples.get(size) ?? []) }));
}
