/**
 * Load phase: Graph-like traffic from autocannon (closed loop, `connections` concurrent connections) of mixed
 * batches (1-maxBatch change and lifecycle notifications of `tenants` tenants over several integrations, some
 * tenants with two connections and some with none), then the exact count check: every notification sent is on the
 * bus exactly once per matching connection (by idempotency key), none missing, none extra, and no duplicate unless
 * the body was refused (503) and redelivered, which happens only on a saturated machine (see below).
 */
import { randomUUID } from 'node:crypto';
import { GRAPH_RETRY, runGraphLoad } from './graph-load';
import type { Phase } from './phase';
import type { Figure } from './report';
import { bodyGenerator, planWorkload } from './workload';
import { checkBus, seedWorkload } from './workload-stack';

export const runLoadPhase: Phase = async ({ stack, profile, log }) => {
  const sizes = profile.load;
  const workload = planWorkload({
    prefix: `load-${randomUUID().slice(0, 8)}`,
    integrations: sizes.integrations,
    tenants: sizes.tenants,
    doubleEvery: 5,
    unroutedTenants: 2,
  });
  await seedWorkload(stack, workload);
  const seed = Date.now() % 2 ** 31;
  log(`load: ${workload.integrations.length} integrations, ${workload.tenants.length} tenants, seed ${seed}, ${sizes.requests} POSTs over ${sizes.connections} connections`);

  const next = bodyGenerator(workload, { seed, maxBatch: sizes.maxBatch });
  const bodies = Array.from({ length: sizes.requests }, next);
  let offered = false;
  const retriedBefore = await stack.retriedPutEventsEntries();
  const run = await runGraphLoad({
    url: stack.url,
    connections: sizes.connections,
    retry: GRAPH_RETRY,
    fresh: () => {
      if (offered) return undefined;
      offered = true;
      return bodies;
    },
    log,
  });
  if (run.fillers > 0) throw new Error(`autocannon sent ${run.fillers} requests beyond the bodies given (the round design no longer holds)`);

  const first = run.rounds[0];
  if (first === undefined) throw new Error('the load phase sent nothing');
  const check = await checkBus(stack, workload, run.deliveries);
  const answers = run.attempts;
  const non2xx = answers.filter((a) => a.status < 200 || a.status >= 300).length;
  const abandoned = run.deliveries.filter((d) => d.state !== 'accepted').length;
  const notifications = run.deliveries.reduce((sum, d) => sum + d.body.notifications, 0);
  log(`load: ${answers.length} answers, ${non2xx} non-2xx, ${check.expected} events expected, ${check.observed} observed`);

  // Nothing is faulted, so on a quiet machine every body is accepted at once and the bounds below are 0: exactly
  // once. On a saturated one (npm test's parallel suites) two things can publish an event twice, at-least-once as the
  // event contract's idempotencyKey allows: the intake answers 503 after publishing part of a body and Graph's
  // redelivery publishes those events again (at most all of a body's events per refusal), or a PutEvents call times
  // out on the client after going through and the SDK's retry puts its entries again (counted by the emulator).
  const retriedEntries = (await stack.retriedPutEventsEntries()) - retriedBefore;
  const allowedDuplicates = run.deliveries.reduce((sum, d) => sum + d.failures * d.body.expected.length, 0) + retriedEntries;
  const acceptedAtOnce = new Set(run.deliveries.filter((d) => d.statuses.length > 0 && d.statuses.every((s) => s >= 200 && s < 300)).flatMap((d) => d.body.expected.map((e) => e.idempotencyKey)));
  const duplicatedAcceptedAtOnce = [...check.duplicatedNotifications].filter((key) => acceptedAtOnce.has(key)).length;

  const figures: Figure[] = [
    { phase: 'load', name: 'webhook POSTs (first attempts)', value: run.deliveries.length, unit: '', kind: 'min', threshold: sizes.requests },
    { phase: 'load', name: 'notifications sent', value: notifications, unit: '', kind: 'report' },
    { phase: 'load', name: 'concurrent connections', value: first.connections, unit: '', kind: 'report' },
    { phase: 'load', name: 'throughput', value: first.requests.total / Math.max(first.duration, 0.001), unit: 'requests/s', kind: 'report' },
    { phase: 'load', name: 'throughput (notifications)', value: notifications / Math.max(first.duration, 0.001), unit: 'notifications/s', kind: 'report' },
    { phase: 'load', name: 'latency p50', value: first.latency.p50, unit: 'ms', kind: 'report' },
    { phase: 'load', name: 'latency p99', value: first.latency.p99, unit: 'ms', kind: 'report' },
    { phase: 'load', name: 'latency max', value: first.latency.max, unit: 'ms', kind: 'report' },
    // Nothing is faulted here, but a saturated machine makes DynamoDB Local slow to accept connections (the intake's
    // SDK clients allow 1 s) and the intake then answers 503: retried like Graph does, so reported, not failed.
    { phase: 'load', name: 'non-2xx answers or connection errors (retried)', value: non2xx, unit: '', kind: 'report' },
    { phase: 'load', name: 'bodies abandoned after every retry', value: abandoned, unit: '', kind: 'max', threshold: 0 },
    { phase: 'load', name: 'events expected on the bus', value: check.expected, unit: '', kind: 'report' },
    { phase: 'load', name: 'events missing on the bus', value: check.missing, unit: '', kind: 'max', threshold: 0 },
    { phase: 'load', name: 'events extra on the bus (not expected)', value: check.extra, unit: '', kind: 'max', threshold: 0 },
    { phase: 'load', name: 'duplicate events on the bus (≤ events of refused bodies + entries sent again)', value: check.duplicates, unit: '', kind: 'max', threshold: allowedDuplicates },
    { phase: 'load', name: 'PutEvents entries the SDK sent again (client retries)', value: retriedEntries, unit: '', kind: 'report' },
    { phase: 'load', name: 'duplicated notifications of bodies accepted at once (≤ entries sent again)', value: duplicatedAcceptedAtOnce, unit: '', kind: 'max', threshold: retriedEntries },
    { phase: 'load', name: 'notifications lost', value: check.lostNotifications, unit: '', kind: 'max', threshold: 0 },
  ];
  return figures;
};
