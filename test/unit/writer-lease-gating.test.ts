/**
 * Gating by the Graph writer lease: renewal, reconcile (scheduled and stream), lifecycle and resync (queue and
 * safety net) do nothing with Graph in a region not holding the lease; lifecycle events and resync jobs are handed
 * off for the writer, whose heartbeat (shared/leadership/heartbeat.ts) delivers them and starts the catch-up runs
 * after a takeover.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBStreamEvent, SQSEvent } from 'aws-lambda';
import { lifecycleIfWriter } from '../../functions/lifecycle/handler';
import type { LifecycleRuntime } from '../../functions/lifecycle/runtime';
import { reconcileIfWriter } from '../../functions/reconcile/handler';
import type { ReconcileRuntime } from '../../functions/reconcile/runtime';
import { renewIfWriter } from '../../functions/renewal/handler';
import type { RenewalRuntime } from '../../functions/renewal/runtime';
import { resyncIfWriter } from '../../functions/resync/handler';
import type { ResyncRuntime } from '../../functions/resync/runtime';
import { handOffLifecycleEvent } from '../../shared/leadership/handoffs';
import { runHeartbeat, type HeartbeatPorts } from '../../shared/leadership/heartbeat';
import type { WriterGate } from '../../shared/leadership/writer-gate';
import { WriterLease } from '../../shared/leadership/writer-lease';
import { MemoryHandoffStore, MemoryLeaseStore } from '../support/writer-lease-fakes';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const CONTEXT = { getRemainingTimeInMillis: () => 300_000 };

/** A gate that answers the lease as held by `holder`; every Graph-touching port below fails the test if called. */
function gate(holder: string): WriterGate & { isWriter: jest.Mock } {
  const view = { writer: holder === 'eu-west-1', region: 'eu-west-1', holder, epoch: 3, expiresAtMs: NOW + 180_000 };
  return { isWriter: jest.fn(async () => view), fence: async () => view };
}

const untouchable = () => jest.fn(async () => {
  throw new Error('not to be called by a region that is not the writer');
});

function logger() {
  return { info: jest.fn(), warn: jest.fn(), error: jest.fn() };
}

const LIFECYCLE_EVENT = {
  id: 'event-1',
  'detail-type': 'Graph Lifecycle Notification',
  detail: { providerConfigKey: 'contoso', connectionId: 'conn-1', payload: { value: [{ lifecycleEvent: 'missed', subscriptionId: 'sub-1', tenantId: 't-1' }] } },
};

function sqsEvent(...bodies: string[]): SQSEvent {
  return { Records: bodies.map((body, i) => ({ messageId: `message-${i + 1}`, body }) as SQSEvent['Records'][number]) };
}

describe('a region that is not the Graph writer', () => {
  it('skips the renewal run: nothing read, nothing sent to Graph, one log line naming the writer', async () => {
    // Prepare
    const log = logger();
    const ports = { store: { findDue: untouchable() }, graphFor: untouchable(), clock: { now: () => NOW } };
    const runtime = { ports, limit: 250, logger: log as unknown as Logger, metrics: { record: jest.fn(), flush: jest.fn() }, writer: { gate: gate('us-east-1') } } as unknown as RenewalRuntime;

    // Act
    const answer = await renewIfWriter(runtime, CONTEXT);

    // Assess
    expect(answer).toEqual({ skipped: 'not-writer', writer: 'us-east-1' });
    expect(ports.store.findDue).not.toHaveBeenCalled();
    expect(ports.graphFor).not.toHaveBeenCalled();
    expect(log.info).toHaveBeenCalledTimes(1);
    expect(log.info).toHaveBeenCalledWith('renewal skipped: eu-west-1 is not the Graph writer', expect.objectContaining({ region: 'eu-west-1', writer: 'us-east-1' }));
  });

  it('skips the scheduled reconcile, and answers a stream batch as done without reconciling it', async () => {
    // Prepare
    const log = logger();
    const ports = { connections: { listIntegrations: untouchable(), getConnection: untouchable() }, graphFor: untouchable(), clock: { now: () => NOW } };
    const runtime = { ports, logger: log as unknown as Logger, metrics: { record: jest.fn(), flush: jest.fn() }, writer: { gate: gate('us-east-1') } } as unknown as ReconcileRuntime;
    const batch: DynamoDBStreamEvent = { Records: [{ eventName: 'INSERT', dynamodb: { SequenceNumber: '100', Keys: { pk: { S: 'INTEGRATION#contoso' }, sk: { S: 'CONNECTION#conn-1' } } } }] };

    // Act
    const scheduled = await reconcileIfWriter(runtime, { 'detail-type': 'Scheduled Event' }, CONTEXT);
    const stream = await reconcileIfWriter(runtime, batch, CONTEXT);

    // Assess
    expect(scheduled).toEqual({ skipped: 'not-writer', writer: 'us-east-1' });
    expect(stream).toEqual({ skipped: 'not-writer', writer: 'us-east-1', batchItemFailures: [] });
    expect(ports.connections.listIntegrations).not.toHaveBeenCalled();
    expect(ports.connections.getConnection).not.toHaveBeenCalled();
    expect(ports.graphFor).not.toHaveBeenCalled();
  });

  it('does not read the lease for a stream batch of no connection changes (the heartbeat\'s own writes)', async () => {
    // Prepare
    const leaseGate = gate('us-east-1');
    const runtime = { ports: { clock: { now: () => NOW }, logger: logger() }, logger: logger(), metrics: { record: jest.fn(), flush: jest.fn() }, writer: { gate: leaseGate } } as unknown as ReconcileRuntime;
    const batch: DynamoDBStreamEvent = { Records: [{ eventName: 'MODIFY', dynamodb: { SequenceNumber: '101', Keys: { pk: { S: 'LEASE' }, sk: { S: 'GRAPH_WRITER' } } } }] };

    // Act
    const answer = await reconcileIfWriter(runtime, batch, CONTEXT);

    // Assess
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(leaseGate.isWriter).not.toHaveBeenCalled();
  });

  it('hands a lifecycle event off for the writer, as it came, instead of handling it', async () => {
    // Prepare
    const handoffs = new MemoryHandoffStore();
    const ports = { store: { get: untouchable() }, graphFor: untouchable(), logger: logger(), clock: { now: () => NOW } };
    const runtime = {
      ports,
      logger: logger(),
      metrics: { count: jest.fn(), flush: jest.fn() },
      writer: { gate: gate('us-east-1'), handOff: (event: unknown) => handOffLifecycleEvent(handoffs, event, 'eu-west-1') },
    } as unknown as LifecycleRuntime;

    // Act
    const answer = await lifecycleIfWriter(runtime, LIFECYCLE_EVENT, CONTEXT);

    // Assess
    expect(answer).toEqual({ skipped: 'not-writer', writer: 'us-east-1', handedOff: 'event-1' });
    expect(ports.store.get).not.toHaveBeenCalled();
    expect(ports.graphFor).not.toHaveBeenCalled();
    expect([...handoffs.items.entries()]).toEqual([['lifecycle#event-1', expect.objectContaining({ kind: 'lifecycle', id: 'event-1', fromRegion: 'eu-west-1', payload: JSON.stringify(LIFECYCLE_EVENT) })]]);
  });

  it('hands the resync queue\'s jobs off (a job not stored goes back to SQS) and skips the safety net\'s sweep', async () => {
    // Prepare
    const handoffs = new MemoryHandoffStore();
    const sweep = untouchable();
    const ports = { graphFor: untouchable(), states: { acquire: untouchable() }, clock: { now: () => NOW } };
    const runtime = {
      ports,
      requests: { request: untouchable() },
      sweep,
      logger: logger(),
      metrics: { count: jest.fn(), record: jest.fn(), flush: jest.fn() },
      writer: { gate: gate('us-east-1'), region: 'eu-west-1', handoffs },
    } as unknown as ResyncRuntime;
    const job = JSON.stringify({ integrationId: 'contoso', subscriptionId: 'sub-1', trigger: 'missed', requestedAt: new Date(NOW).toISOString() });

    // Act
    const batch = await resyncIfWriter(runtime, sqsEvent(job), CONTEXT);
    handoffs.failPut = true;
    const unstored = await resyncIfWriter(runtime, sqsEvent(job), CONTEXT);
    const swept = await resyncIfWriter(runtime, { 'detail-type': 'Scheduled Event' }, CONTEXT);

    // Assess
    expect(batch).toEqual({ skipped: 'not-writer', writer: 'us-east-1', batchItemFailures: [], handedOff: 1 });
    expect(unstored).toMatchObject({ batchItemFailures: [{ itemIdentifier: 'message-1' }], handedOff: 0 });
    expect(swept).toEqual({ skipped: 'not-writer', writer: 'us-east-1' });
    expect(handoffs.items.get('resync#message-1')).toMatchObject({ kind: 'resync', payload: job, fromRegion: 'eu-west-1' });
    expect(sweep).not.toHaveBeenCalled();
    expect(ports.graphFor).not.toHaveBeenCalled();
    expect(ports.states.acquire).not.toHaveBeenCalled();
  });

  it('runs the work as before in the writer\'s region (and single-region, with no gate)', async () => {
    // Prepare
    const findDue = jest.fn(async () => ({ due: [], invalidItems: [] }));
    const make = (writer?: { gate: WriterGate }) =>
      ({ ports: { store: { findDue }, clock: { now: () => NOW }, logger: logger() }, limit: 10, logger: logger(), metrics: { record: jest.fn(), flush: jest.fn() }, ...(writer === undefined ? {} : { writer }) }) as unknown as RenewalRuntime;

    // Act
    const asWriter = await renewIfWriter(make({ gate: gate('eu-west-1') }), CONTEXT);
    const single = await renewIfWriter(make(), CONTEXT);

    // Assess
    expect(asWriter).toMatchObject({ due: 0, renewed: 0 });
    expect(single).toMatchObject({ due: 0, renewed: 0 });
    expect(findDue).toHaveBeenCalledTimes(2);
  });
});

describe('the writer lease heartbeat', () => {
  function heartbeatPorts(region: string, store: MemoryLeaseStore, handoffs: MemoryHandoffStore, now: { at: number }) {
    const ports: HeartbeatPorts & { catchUp: { renewal: jest.Mock; reconcile: jest.Mock }; deliver: { lifecycle: jest.Mock; resync: jest.Mock } } = {
      lease: new WriterLease(store, { ttlSeconds: 180, graceSeconds: 60 }),
      region,
      handoffs,
      catchUp: { renewal: jest.fn(async () => undefined), reconcile: jest.fn(async () => undefined) },
      deliver: { lifecycle: jest.fn(async () => undefined), resync: jest.fn(async () => undefined) },
      logger: { info: jest.fn(), error: jest.fn() },
      clock: { now: () => now.at },
    };
    return ports;
  }

  it('after a takeover starts one renewal and one reconcile, and delivers the hand-offs, deleting each', async () => {
    // Prepare: us-east-1 held the lease and stopped; eu-west-1 had handed off a lifecycle event and a resync job
    const store = new MemoryLeaseStore();
    const handoffs = new MemoryHandoffStore();
    const now = { at: NOW };
    await runHeartbeat(heartbeatPorts('us-east-1', store, handoffs, now));
    await handOffLifecycleEvent(handoffs, LIFECYCLE_EVENT, 'eu-west-1');
    await handoffs.put({ kind: 'resync', id: 'message-1', payload: '{"job":1}', fromRegion: 'eu-west-1' });
    now.at = NOW + 241_000;
    const ports = heartbeatPorts('eu-west-1', store, handoffs, now);

    // Act
    const report = await runHeartbeat(ports);

    // Assess
    expect(report).toMatchObject({ outcome: 'acquired', holder: 'eu-west-1', epoch: 2, takeover: true, previousHolder: 'us-east-1', catchUp: { started: ['renewal', 'reconcile'], failed: [] } });
    expect(report.handoffs).toEqual({ delivered: 2, failed: 0, left: 0, invalid: 0 });
    expect(ports.catchUp.renewal).toHaveBeenCalledTimes(1);
    expect(ports.catchUp.reconcile).toHaveBeenCalledTimes(1);
    expect(ports.deliver.lifecycle).toHaveBeenCalledWith(LIFECYCLE_EVENT);
    expect(ports.deliver.resync).toHaveBeenCalledWith('{"job":1}');
    expect(handoffs.items.size).toBe(0);
  });

  it('leaves a hand-off whose delivery failed for the next heartbeat, and starts no catch-up on a renewal', async () => {
    // Prepare
    const store = new MemoryLeaseStore();
    const handoffs = new MemoryHandoffStore();
    const now = { at: NOW };
    await runHeartbeat(heartbeatPorts('eu-west-1', store, handoffs, now));
    await handOffLifecycleEvent(handoffs, LIFECYCLE_EVENT, 'us-east-1');
    const ports = heartbeatPorts('eu-west-1', store, handoffs, now);
    ports.deliver.lifecycle.mockRejectedValueOnce(new Error('Lambda throttled the invoke'));

    // Act
    const failed = await runHeartbeat(ports);
    const next = await runHeartbeat(ports);

    // Assess
    expect(failed).toMatchObject({ outcome: 'renewed', handoffs: { delivered: 0, failed: 1 } });
    expect(next).toMatchObject({ outcome: 'renewed', handoffs: { delivered: 1, failed: 0 } });
    expect(ports.catchUp.renewal).not.toHaveBeenCalled();
    expect(handoffs.items.size).toBe(0);
  });

  it('stops delivering hand-offs when its drain budget is spent, leaving the rest for the next heartbeat', async () => {
    // Prepare: three hand-offs, each delivery taking 600 ms of the heartbeat's clock; a 1 s budget
    const store = new MemoryLeaseStore();
    const handoffs = new MemoryHandoffStore();
    const now = { at: NOW };
    await runHeartbeat(heartbeatPorts('eu-west-1', store, handoffs, now));
    for (const id of ['event-1', 'event-2', 'event-3']) await handOffLifecycleEvent(handoffs, { ...LIFECYCLE_EVENT, id }, 'us-east-1');
    const ports = { ...heartbeatPorts('eu-west-1', store, handoffs, now), drainBudgetMs: 1_000 };
    ports.deliver.lifecycle.mockImplementation(async () => {
      now.at += 600;
    });

    // Act
    const first = await runHeartbeat(ports);
    const second = await runHeartbeat(ports);

    // Assess
    expect(first.handoffs).toEqual({ delivered: 2, failed: 0, left: 1, invalid: 0 });
    expect(second.handoffs).toEqual({ delivered: 1, failed: 0, left: 0, invalid: 0 });
    expect(handoffs.items.size).toBe(0);
  });

  it('delivers nothing and starts nothing while another region holds the lease', async () => {
    // Prepare
    const store = new MemoryLeaseStore();
    const handoffs = new MemoryHandoffStore();
    const now = { at: NOW };
    await runHeartbeat(heartbeatPorts('us-east-1', store, handoffs, now));
    await handOffLifecycleEvent(handoffs, LIFECYCLE_EVENT, 'eu-west-1');
    const ports = heartbeatPorts('eu-west-1', store, handoffs, now);

    // Act
    const report = await runHeartbeat(ports);

    // Assess
    expect(report).toMatchObject({ outcome: 'held-by-other', holder: 'us-east-1' });
    expect(ports.deliver.lifecycle).not.toHaveBeenCalled();
    expect(ports.catchUp.renewal).not.toHaveBeenCalled();
    expect(handoffs.items.size).toBe(1);
  });
});
