/**
 * Faults phase: Graph-like load (autocannon, retrying every non-2xx with backoff) while a scripted timeline breaks
 * the stack's dependencies one after the other, with quiet time before, between and after:
 *
 *   1. PutEvents whole-call errors (InternalFailure) half of the time (on/off every 500 ms);
 *   2. PutEvents throttled (ThrottlingException) on every call;
 *   3. PutEvents partial failures: the first 3 entries of every call fail (FailedEntryCount > 0);
 *   4. DynamoDB Local stopped, then restarted on the same port with its data;
 *   5. GetSecretValue failing (InternalFailure), for longer than the intake caches a secret.
 *
 * Then the exact count check over every body sent: nothing lost, nothing extra, and duplicates within what the
 * redelivery design allows (see `duplicateBound`). Per fault: recovery time (fault end → first 2xx to a request sent
 * after it) and the error answers from its start to recovery.
 */
import { randomUUID } from 'node:crypto';
import { GRAPH_RETRY, runGraphLoad, type Attempt, type Delivery } from './graph-load';
import { SUITE_SECRET_MAX_AGE_SECONDS, type ReliabilityStack } from './harness';
import type { Phase } from './phase';
import type { Figure } from './report';
import { bodyGenerator, planWorkload, type WebhookBody } from './workload';
import { checkBus, seedWorkload } from './workload-stack';

interface FaultWindow {
  name: string;
  startedAt: number;
  endedAt: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const isAccepted = (status: number) => status >= 200 && status < 300;

/** Runs the fault timeline; returns each fault's window (start: injected; end: cleared, or DynamoDB ready again). */
async function runTimeline(stack: ReliabilityStack, faultMs: number, quietMs: number, log: (line: string) => void): Promise<FaultWindow[]> {
  const windows: FaultWindow[] = [];
  const during = async (name: string, start: () => Promise<void>, hold: () => Promise<void>, end: () => Promise<void>) => {
    await sleep(quietMs);
    const startedAt = Date.now();
    log(`faults: ${name}: start`);
    await start();
    await hold();
    await end();
    const endedAt = Date.now();
    log(`faults: ${name}: end after ${endedAt - startedAt} ms`);
    windows.push({ name, startedAt, endedAt });
  };
  const clearPutEvents = () => stack.clearFaults('PutEvents');

  await during(
    'PutEvents InternalFailure (half the time)',
    async () => undefined,
    async () => {
      const until = Date.now() + faultMs;
      while (Date.now() < until) {
        await stack.injectFaults({ operation: 'PutEvents', mode: 'error', errorCode: 'InternalFailure' });
        await sleep(500);
        await clearPutEvents();
        await sleep(500);
      }
    },
    clearPutEvents,
  );
  await during(
    'PutEvents ThrottlingException',
    () => stack.injectFaults({ operation: 'PutEvents', mode: 'error', errorCode: 'ThrottlingException' }),
    () => sleep(faultMs),
    clearPutEvents,
  );
  await during(
    'PutEvents partial failure (3 entries per call)',
    // Three per call, so that the publisher's own retries (fewer entries each time) do not absorb it all.
    () => stack.injectFaults({ operation: 'PutEvents', mode: 'partial', failEntries: 3 }),
    () => sleep(faultMs),
    clearPutEvents,
  );
  await during(
    'DynamoDB Local stopped and restarted',
    () => stack.dynamodb.stop(),
    () => sleep(faultMs / 2),
    () => stack.dynamodb.start(),
  );
  let staleUsesBefore = 0;
  await during(
    'GetSecretValue InternalFailure',
    async () => {
      staleUsesBefore = staleSecretUses(stack.output());
      await stack.injectFaults({ operation: 'GetSecretValue', mode: 'error', errorCode: 'InternalFailure' });
    },
    async () => {
      // Cached secrets mask the fault for up to their max age: hold it that much longer, so it is felt for faultMs.
      await sleep(faultMs + SUITE_SECRET_MAX_AGE_SECONDS * 1000);
      // On a saturated machine (npm test) requests may reach no secret read in that time: hold on until the intake
      // has said it rode one out on its last secret. (Counting the emulator's reads instead is racy: a read that
      // began before the fault was injected counts, and succeeds.)
      const deadline = Date.now() + 60_000;
      while (staleSecretUses(stack.output()) === staleUsesBefore && Date.now() < deadline) await sleep(100);
    },
    () => stack.clearFaults('GetSecretValue'),
  );
  await sleep(quietMs);
  return windows;
}

/**
 * The duplicates the redelivery design allows when every marker write succeeds. Markers are written per
 * notification, after publishing, and only for notifications all of whose events went on the bus
 * (process-notifications.ts): a failed attempt may leave on the bus, unmarked, at most k - 1 events of a notification
 * with k connections (those of its connections that did get published while another failed), and Graph's redelivery
 * publishes them again. An attempt answered 2xx leaves nothing to redeliver, so a body accepted on its first attempt
 * is never duplicated.
 *
 * A marker write that fails (DynamoDB down, or not reached within the client's 1 s connection timeout) is logged
 * with the number of markers lost, and the attempt is still answered by what the bus did: if another notification
 * of the body failed to publish, the 503 brings the whole body back and the unmarked notifications are published
 * again. That is at-least-once delivery, not a loss; `unwrittenMarkers` counts it from the stack's own log, so every
 * further duplicate must be explained by a marker the product reported as not written.
 */
export function duplicateBound(deliveries: readonly Delivery[]): number {
  let bound = 0;
  for (const delivery of deliveries) {
    const failedAttempts = delivery.statuses.filter((s) => !isAccepted(s)).length;
    if (failedAttempts === 0) continue;
    bound += failedAttempts * surplusPerFailure(delivery.body);
  }
  return bound;
}

function surplusPerFailure(body: WebhookBody): number {
  const perKey = new Map<string, number>();
  for (const event of body.expected) perKey.set(event.idempotencyKey, (perKey.get(event.idempotencyKey) ?? 0) + 1);
  return [...perKey.values()].reduce((sum, k) => sum + (k - 1), 0);
}

/** Markers the intake reported as not written ("redelivery markers not written…", field `markers`) in `logText`. */
export function unwrittenMarkers(logText: string): number {
  let total = 0;
  for (const line of logText.split('\n')) {
    if (!line.includes('redelivery markers not written')) continue;
    try {
      const markers = (JSON.parse(line) as { markers?: unknown }).markers;
      if (typeof markers === 'number') total += markers;
    } catch {
      // Not a JSON log line (a progress line quoting the message): not a report of the product's.
    }
  }
  return total;
}

/** Times the intake used its last secret because a read failed ("webhook secret could not be read…" log lines). */
export function staleSecretUses(logText: string): number {
  return logText.split('\n').filter((line) => line.startsWith('{') && line.includes('webhook secret could not be read; using the one read before')).length;
}

/** Recovery of a fault: from its end to the first 2xx answer to a request sent at or after its end. */
function recoveryMs(window: FaultWindow, attempts: readonly Attempt[]): number | undefined {
  const after = attempts.filter((a) => a.sentAt >= window.endedAt && isAccepted(a.status)).map((a) => a.answeredAt);
  return after.length === 0 ? undefined : Math.min(...after) - window.endedAt;
}

export const runFaultsPhase: Phase = async ({ stack, profile, log }) => {
  const sizes = profile.faults;
  const workload = planWorkload({
    prefix: `faults-${randomUUID().slice(0, 8)}`,
    integrations: sizes.integrations,
    tenants: sizes.tenants,
    doubleEvery: 3,
    unroutedTenants: 2,
  });
  await seedWorkload(stack, workload);
  const seed = Date.now() % 2 ** 31;
  const next = bodyGenerator(workload, { seed, maxBatch: sizes.maxBatch });
  log(`faults: ${workload.integrations.length} integrations, ${workload.tenants.length} tenants, seed ${seed}, ≥ ${sizes.requests} POSTs over ${sizes.connections} connections`);

  const statsBefore = await stack.emulatorStats();
  const retriedBefore = await stack.retriedPutEventsEntries();
  const outputBefore = stack.output().length;
  let timelineDone = false;
  const timeline = runTimeline(stack, sizes.faultSeconds * 1000, sizes.quietSeconds * 1000, log).finally(() => {
    timelineDone = true;
  });
  let sent = 0;
  let roundsAfterTimeline = 0;
  const load = runGraphLoad({
    url: stack.url,
    connections: sizes.connections,
    retry: GRAPH_RETRY,
    // Fresh bodies for as long as the timeline runs (and at least `requests`), a round of about one per connection,
    // plus one full round started after it ended: every fault then has requests sent after its end, whose answers
    // measure its recovery, however long the rounds take on a loaded machine.
    fresh: (retries) => {
      if (timelineDone && sent >= sizes.requests && roundsAfterTimeline > 0) return undefined;
      if (timelineDone) roundsAfterTimeline += 1;
      const count = Math.max(0, sizes.connections - retries);
      sent += count;
      return Array.from({ length: count }, next);
    },
    log,
  });
  let windows: FaultWindow[];
  let run: Awaited<typeof load>;
  try {
    [windows, run] = await Promise.all([timeline, load]);
  } finally {
    await stack.clearFaults();
    if (!stack.dynamodb.running) await stack.dynamodb.start();
  }
  if (run.fillers > 0) throw new Error(`autocannon sent ${run.fillers} requests beyond the bodies given (the round design no longer holds)`);
  const statsAfter = await stack.emulatorStats();

  const check = await checkBus(stack, workload, run.deliveries);
  const answers = run.attempts;
  const status5xx = answers.filter((a) => a.status >= 500).length;
  const status4xx = answers.filter((a) => a.status >= 400 && a.status < 500).length;
  const unanswered = answers.filter((a) => a.status === 0).length;
  const abandoned = run.deliveries.filter((d) => d.state !== 'accepted').length;
  const notifications = run.deliveries.reduce((sum, d) => sum + d.body.notifications, 0);
  const suppressed = answers.reduce((sum, a) => sum + a.suppressed, 0);

  // Which notifications were duplicated, and whether the design allows it (see duplicateBound).
  const deliveryOf = new Map<string, Delivery>();
  const eventsPerKey = new Map<string, number>();
  for (const delivery of run.deliveries) {
    for (const event of delivery.body.expected) {
      deliveryOf.set(event.idempotencyKey, delivery);
      eventsPerKey.set(event.idempotencyKey, (eventsPerKey.get(event.idempotencyKey) ?? 0) + 1);
    }
  }
  const duplicated = [...check.duplicatedNotifications];
  const acceptedFirstTime = duplicated.filter((key) => deliveryOf.get(key)?.statuses.every(isAccepted) === true).length;
  const missedKeys = new Set(run.deliveries.flatMap((delivery) => delivery.body.expected.filter((event) => event.missed === true).map((event) => event.idempotencyKey)));
  // Redeliveries of `missed` are published again by design (workload.ts ExpectedEvent.missed): counted apart.
  const missedAgain = duplicated.filter((key) => missedKeys.has(key)).length;
  const singleEvent = duplicated.filter((key) => eventsPerKey.get(key) === 1 && !missedKeys.has(key)).length;
  const phaseOutput = stack.output().slice(outputBefore);
  const lostMarkers = unwrittenMarkers(phaseOutput);
  const staleSecrets = staleSecretUses(phaseOutput);
  // Each unmarked notification has at most this many events (one per connection of its tenant, or one Unrouted).
  const maxEventsPerNotification = [...eventsPerKey.values()].reduce((max, n) => Math.max(max, n), 1);
  // PutEvents entries the SDK sent again after a client-side timeout may be on the bus twice, whatever the answer.
  const retriedEntries = (await stack.retriedPutEventsEntries()) - retriedBefore;
  const bound = duplicateBound(run.deliveries) + lostMarkers * maxEventsPerNotification + retriedEntries;
  // For the record, how the bodies of a few notifications duplicated although they have a single event were delivered
  // (attempt statuses and times relative to the phase's start, fault windows alongside): no body content is logged.
  const phaseStart = windows[0]?.startedAt ?? 0;
  for (const key of duplicated.filter((k) => eventsPerKey.get(k) === 1 && !missedKeys.has(k)).slice(0, 5)) {
    const delivery = deliveryOf.get(key);
    if (delivery === undefined) continue;
    const tries = answers.filter((a) => a.deliveryId === delivery.id).map((a) => `${a.status}@${a.sentAt - phaseStart}..${a.answeredAt - phaseStart}ms`);
    log(`faults: single-event notification ${key.slice(0, 12)} duplicated; body ${delivery.id} attempts ${tries.join(' ')}`);
  }
  log(`faults: windows ${windows.map((w) => `${w.name} ${w.startedAt - phaseStart}..${w.endedAt - phaseStart}ms`).join('; ')}`);
  log(`faults: ${run.deliveries.length} bodies, ${answers.length} attempts, ${status5xx} 5xx, ${check.expected} events expected, ${check.observed} observed, ${check.duplicates} duplicates (bound ${bound})`);

  const putEvents = (statsAfter['PutEvents'] ?? 0) - (statsBefore['PutEvents'] ?? 0);
  const figures: Figure[] = [
    { phase: 'faults', name: 'webhook POSTs (first attempts)', value: run.deliveries.length, unit: '', kind: 'min', threshold: sizes.requests },
    { phase: 'faults', name: 'notifications sent', value: notifications, unit: '', kind: 'report' },
    { phase: 'faults', name: 'POST attempts (retries included)', value: answers.length, unit: '', kind: 'report' },
    { phase: 'faults', name: 'PutEvents calls (retries included)', value: putEvents, unit: '', kind: 'report' },
    { phase: 'faults', name: 'share of 5xx answers', value: (100 * status5xx) / Math.max(1, answers.length), unit: '%', kind: 'report' },
    { phase: 'faults', name: 'unanswered attempts (connection error, timeout)', value: unanswered, unit: '', kind: 'report' },
    // Every fault here is the stack's own: it must answer 5xx (Graph redelivers), never 4xx (Graph may give up).
    { phase: 'faults', name: '4xx answers', value: status4xx, unit: '', kind: 'max', threshold: 0 },
    { phase: 'faults', name: 'bodies abandoned after every retry', value: abandoned, unit: '', kind: 'max', threshold: 0 },
    { phase: 'faults', name: 'events expected on the bus', value: check.expected, unit: '', kind: 'report' },
    { phase: 'faults', name: 'events missing on the bus', value: check.missing, unit: '', kind: 'max', threshold: 0 },
    { phase: 'faults', name: 'events extra on the bus (not expected)', value: check.extra, unit: '', kind: 'max', threshold: 0 },
    { phase: 'faults', name: 'notifications lost', value: check.lostNotifications, unit: '', kind: 'max', threshold: 0 },
    { phase: 'faults', name: 'redeliveries suppressed by markers', value: suppressed, unit: '', kind: 'report' },
    { phase: 'faults', name: 'duplicate events on the bus (after suppression)', value: check.duplicates, unit: '', kind: 'max', threshold: bound },
    { phase: 'faults', name: 'markers the intake reported as not written', value: lostMarkers, unit: '', kind: 'report' },
    // The secret fault must have been felt (reads failed while requests came in), and ridden out on the last secret.
    { phase: 'faults', name: 'secret reads failed, last secret used instead', value: staleSecrets, unit: '', kind: 'min', threshold: 1 },
    { phase: 'faults', name: 'duplicated single-event notifications (≤ markers not written)', value: singleEvent, unit: '', kind: 'max', threshold: lostMarkers },
    { phase: 'faults', name: 'missed lifecycle notifications published again on redelivery (by design)', value: missedAgain, unit: '', kind: 'report' },
    { phase: 'faults', name: 'PutEvents entries the SDK sent again (client retries)', value: retriedEntries, unit: '', kind: 'report' },
    { phase: 'faults', name: 'duplicated notifications of bodies never refused (≤ entries sent again)', value: acceptedFirstTime, unit: '', kind: 'max', threshold: retriedEntries },
  ];
  for (const window of windows) {
    const recovery = recoveryMs(window, answers);
    // Answers take seconds under load, so a fault shows in the answers received from its start until recovery.
    const until = window.endedAt + (recovery ?? 0);
    const felt = answers.filter((a) => a.answeredAt >= window.startedAt && a.answeredAt <= until && !isAccepted(a.status)).length;
    figures.push(
      { phase: 'faults', name: `${window.name}: duration`, value: window.endedAt - window.startedAt, unit: 'ms', kind: 'report' },
      { phase: 'faults', name: `${window.name}: error answers from its start to recovery`, value: felt, unit: '', kind: 'report' },
      // No 2xx at all after a fault would mean the stack never recovered; the time itself is reported only.
      { phase: 'faults', name: `${window.name}: recovered (1 = yes)`, value: recovery === undefined ? 0 : 1, unit: '', kind: 'min', threshold: 1 },
      { phase: 'faults', name: `${window.name}: recovery time`, value: recovery ?? -1, unit: 'ms', kind: 'report' },
    );
  }
  return figures;
};
