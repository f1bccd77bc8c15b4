/**
 * The intake's own CPU work for one request, without any I/O: parse the body, verify, route, build and pack
 * the events (the real EventBridgePublisher over a client that answers at once). Subtracting this from the warm
 * latency shows how much of it is the local stack's I/O rather than the intake's code.
 */
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { parseNotificationBody } from '../shared/graph/change-notification';
import { EventBridgePublisher } from '../shared/events/publisher';
import { processNotifications, type IntakePorts } from '../shared/intake/process-notifications';
import type { RoutingSnapshot } from '../shared/store/connections-store';
import { elapsedMs, summarize, type Summary } from './stats';
import { BenchAbortError, freshBody, type Seeded } from './warm';

function portsFor(seeded: Seeded): IntakePorts {
  const snapshot: RoutingSnapshot = {
    integration: { integrationId: seeded.integrationId, provider: 'microsoft-oauth2-cc', createdAt: '2024-01-01T00:00:00.000Z', updatedAt: '2024-01-01T00:00:00.000Z' },
    connectionsByTenant: new Map(seeded.tenants.map((tenantId, i) => [tenantId.toLowerCase(), [`conn-${i}`]])),
    subscriptions: new Map(),
    invalidItems: [],
  };
  const client = {
    send: async (command: PutEventsCommand) => ({
      FailedEntryCount: 0,
      Entries: (command.input.Entries ?? []).map((_, i) => ({ EventId: `e-${i}` })),
    }),
  } as unknown as EventBridgeClient;
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  return {
    secrets: { accepted: async () => [seeded.webhookSecret], refreshAfterMismatch: async () => 'not-refreshed' },
    routing: { get: async () => snapshot },
    deliveries: { findPublished: async () => new Set<string>(), markPublished: async () => undefined },
    publisher: new EventBridgePublisher(client, 'bench', { maxAttempts: 1, concurrency: 10 }),
    source: 'graph-relay',
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
      const outcome = await processNotifications(options.seeded.integrationId, parseNotificationBody(body), ports);
      const took = elapsedMs(started);
      if (outcome.kind !== 'accepted' || outcome.counts.published !== size) {
        throw new BenchAbortError(`logic without I/O: ${size} notifications gave ${JSON.stringify(outcome)}`);
      }
      if (i >= 0) samples.get(size)?.push(took);
    }
  }
  return options.sizes.map((size) => ({ size, ms: summarize(samples.get(size) ?? []) }));
}
