/**
 * Renewal through a handover of the Graph writer lease (shared/subscriptions/renew-due.ts, takeover window): the
 * previous writer's PATCH may have reached Graph with its answer lost, leaving the subscription renewed at Graph and
 * due in the table. In the window each due subscription is read from Graph first; one already renewed there is
 * adopted (recorded, no PATCH), any other PATCHed once. Outside the window nothing is read.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { runScheduledRenewal, renewIfWriter } from '../../functions/renewal/handler';
import type { RenewalRuntime } from '../../functions/renewal/runtime';
import { SUBSCRIPTION_DETAIL_TYPES } from '../../shared/events/subscription-events';
import { LeaseWriterGate, WriterLeaseLostError, type WriterGate, type WriterView } from '../../shared/leadership/writer-gate';
import { takeoverWindowMs, WriterLease } from '../../shared/leadership/writer-lease';
import { ADOPTION_MIN_LEAD_MS, inTakeoverWindow, type TakeoverWindow } from '../../shared/subscriptions/renew-due';
import { graphError, graphSubscription, harness, MINUTE, NOW, record, run, type Harness } from '../support/renewal-harness';
import { MemoryLeaseStore } from '../support/writer-lease-fakes';

const TTL_SECONDS = 180;
const WINDOW_MS = takeoverWindowMs({ ttlSeconds: TTL_SECONDS });
/** The lease taken over a minute before the run. */
const IN_WINDOW: TakeoverWindow = { acquiredAtMs: NOW.getTime() - MINUTE, windowMs: WINDOW_MS };
/** Recorded expiry of the due subscriptions. */
const RECORDED = '2026-03-01T12:30:00.000Z';
/** What the previous writer's lost PATCH got from Graph. */
const RENEWED_AT_GRAPH = '2026-03-04T11:00:00.000Z';

/** Graph answers the GET with `expiry` for `id`, and with the recorded expiry for the others. */
function graphHas(h: Harness, expiries: Record<string, string | Error>): void {
  h.graph.getAnswer = (id) => {
    const answer = expiries[id] ?? RECORDED;
    return answer instanceof Error ? answer : graphSubscription({ id, expirationDateTime: answer });
  };
}

describe('the takeover window', () => {
  it('is twice the lease TTL, counted from the acquisition; no acquisition or no window: never in it', () => {
    expect(WINDOW_MS).toBe(2 * TTL_SECONDS * 1000);
    expect(inTakeoverWindow({ acquiredAtMs: NOW.getTime() - WINDOW_MS + 1, windowMs: WINDOW_MS }, NOW)).toBe(true);
    expect(inTakeoverWindow({ acquiredAtMs: NOW.getTime() - WINDOW_MS, windowMs: WINDOW_MS }, NOW)).toBe(false);
    expect(inTakeoverWindow({ acquiredAtMs: undefined, windowMs: WINDOW_MS }, NOW)).toBe(false);
    expect(inTakeoverWindow(undefined, NOW)).toBe(false);
  });
});

describe('renewDue in the takeover window', () => {
  it('adopts a subscription the previous writer renewed at Graph: no PATCH, Graph\'s expiry recorded, published as Renewed', async () => {
    // Prepare
    const renewedByPrevious = record({ expiresAt: RECORDED });
    const h = harness([renewedByPrevious]);
    graphHas(h, { [renewedByPrevious.subscriptionId]: RENEWED_AT_GRAPH });

    // Act
    const report = await run(h, { takeover: IN_WINDOW });

    // Assess
    expect(h.graph.gets).toEqual([{ tenantId: renewedByPrevious.tenantId, id: renewedByPrevious.subscriptionId }]);
    expect(h.graph.patches).toEqual([]);
    expect(h.graph.creates).toEqual([]);
    expect(h.store.get(renewedByPrevious.subscriptionId)).toMatchObject({ expiresAt: RENEWED_AT_GRAPH, status: 'active', lastRenewedAt: NOW.toISOString() });
    expect(h.events.map((e) => [e.detailType, e.detail.subscriptionId, e.detail.expirationDateTime])).toEqual([[SUBSCRIPTION_DETAIL_TYPES.renewed, renewedByPrevious.subscriptionId, RENEWED_AT_GRAPH]]);
    expect(report).toMatchObject({ due: 1, renewed: 0, adopted: 1, recreated: 0, failed: 0, deferred: 0, graphCalls: 1 });
  });

  it('PATCHes once a subscription Graph has as recorded (or barely later), after reading it', async () => {
    // Prepare
    const notRenewed = record({ expiresAt: RECORDED });
    const barelyLater = record({ expiresAt: RECORDED });
    const h = harness([notRenewed, barelyLater]);
    graphHas(h, { [barelyLater.subscriptionId]: new Date(Date.parse(RECORDED) + ADOPTION_MIN_LEAD_MS).toISOString() });

    // Act
    const report = await run(h, { takeover: IN_WINDOW });

    // Assess
    expect(h.graph.gets.map((g) => g.id)).toEqual([notRenewed.subscriptionId, barelyLater.subscriptionId]);
    expect(h.graph.patches.map((p) => p.id)).toEqual([notRenewed.subscriptionId, barelyLater.subscriptionId]);
    const patched = h.graph.patches[0]?.expirationDateTime;
    expect(h.store.get(notRenewed.subscriptionId)?.expiresAt).toBe(patched);
    expect(report).toMatchObject({ due: 2, renewed: 2, adopted: 0, graphCalls: 4 });
  });

  it('sorts a mixed run: the renewed one adopted, the other PATCHed, one call each plus the reads', async () => {
    // Prepare
    const adopted = record({ expiresAt: RECORDED });
    const patched = record({ expiresAt: RECORDED });
    const h = harness([adopted, patched]);
    graphHas(h, { [adopted.subscriptionId]: RENEWED_AT_GRAPH });

    // Act
    const report = await run(h, { takeover: IN_WINDOW });

    // Assess
    expect(h.graph.patches.map((p) => p.id)).toEqual([patched.subscriptionId]);
    expect(h.store.get(adopted.subscriptionId)?.expiresAt).toBe(RENEWED_AT_GRAPH);
    expect(report).toMatchObject({ due: 2, renewed: 1, adopted: 1, graphCalls: 3 });
    expect(h.events.map((e) => e.detailType)).toEqual([SUBSCRIPTION_DETAIL_TYPES.renewed, SUBSCRIPTION_DETAIL_TYPES.renewed]);
  });

  it('recreates a subscription Graph no longer has (404 on the read), without a PATCH', async () => {
    // Prepare
    const gone = record({ expiresAt: RECORDED });
    const h = harness([gone]);
    graphHas(h, { [gone.subscriptionId]: graphError('GET', 404, 'ResourceNotFound', 'The object was not found.') });
    h.graph.createAnswer = () => graphSubscription({ id: 'new-subscription-id', expirationDateTime: RENEWED_AT_GRAPH });

    // Act
    const report = await run(h, { takeover: IN_WINDOW });

    // Assess
    expect(h.graph.patches).toEqual([]);
    expect(h.graph.creates).toHaveLength(1);
    expect(h.store.get(gone.subscriptionId)).toBeUndefined();
    expect(h.store.get('new-subscription-id')).toMatchObject({ expiresAt: RENEWED_AT_GRAPH, status: 'active', connectionId: gone.connectionId });
    expect(h.events.map((e) => [e.detailType, e.detail.subscriptionId, e.detail.previousSubscriptionId])).toEqual([[SUBSCRIPTION_DETAIL_TYPES.recreated, 'new-subscription-id', gone.subscriptionId]]);
    expect(report).toMatchObject({ due: 1, recreated: 1, adopted: 0, renewed: 0, graphCalls: 2 });
  });

  it('records the certificate Graph names when the previous writer\'s PATCH rotated a rich subscription', async () => {
    // Prepare
    const rich = record({ expiresAt: RECORDED, resource: 'users/8a1d/messages', includeResourceData: true, encryptionCertificateId: 'enc-1' });
    const h = harness([rich], { encryptionCertificateOf: async () => ({ id: 'enc-2', certificateBase64: 'MII-new-der', notAfter: new Date('2027-06-01T00:00:00Z') }) });
    h.graph.getAnswer = (id) => ({ ...graphSubscription({ id, expirationDateTime: RENEWED_AT_GRAPH }), includeResourceData: true, encryptionCertificateId: 'enc-2' });

    // Act
    const report = await run(h, { takeover: IN_WINDOW });

    // Assess
    expect(h.graph.patches).toEqual([]);
    expect(h.store.get(rich.subscriptionId)).toMatchObject({ expiresAt: RENEWED_AT_GRAPH, encryptionCertificateId: 'enc-2' });
    expect(report).toMatchObject({ adopted: 1, failed: 0 });
  });

  it('leaves the subscription due when the read is not sent (the lease lost) or fails, and never takes it out for a refused read', async () => {
    // Prepare
    const notSent = record({ expiresAt: RECORDED, tenantId: 'tenant-not-sent' });
    const failing = record({ expiresAt: RECORDED, tenantId: 'tenant-failing' });
    const refused = record({ expiresAt: RECORDED, tenantId: 'tenant-refused' });
    const h = harness([notSent, failing, refused]);
    graphHas(h, {
      [notSent.subscriptionId]: new WriterLeaseLostError('eu-west-1 does not hold the Graph writer lease (us-east-1 does): Graph request not sent'),
      [failing.subscriptionId]: graphError('GET', 503, 'ServiceUnavailable'),
      [refused.subscriptionId]: graphError('GET', 400, 'BadRequest'),
    });

    // Act
    const report = await run(h, { takeover: IN_WINDOW });

    // Assess
    expect(h.graph.patches).toEqual([]);
    expect(h.store.get(notSent.subscriptionId)).toEqual(notSent);
    expect(h.store.get(failing.subscriptionId)).toEqual(failing);
    expect(h.store.get(refused.subscriptionId)).toEqual(refused);
    expect(report).toMatchObject({ due: 3, renewed: 0, adopted: 0, deferred: 1, failed: 2 });
  });

  it('does not start the PATCH after the read when it could no longer finish before the deadline', async () => {
    // Prepare
    const slow = record({ expiresAt: RECORDED });
    const h = harness([slow]);
    // The read ends 10 s before the deadline: less than a PATCH may take.
    h.graph.onCall = () => h.clock.advance(10 * MINUTE - 10_000);

    // Act
    const report = await run(h, { takeover: IN_WINDOW });

    // Assess
    expect(h.graph.gets).toHaveLength(1);
    expect(h.graph.patches).toEqual([]);
    expect(report).toMatchObject({ deferred: 1, stoppedEarly: true });
  });
});

describe('renewDue outside the takeover window', () => {
  it('sends no GET when the lease was taken longer than the window ago, nor without a lease view: PATCH as before', async () => {
    for (const takeover of [{ acquiredAtMs: NOW.getTime() - WINDOW_MS, windowMs: WINDOW_MS }, { acquiredAtMs: undefined, windowMs: WINDOW_MS }, undefined]) {
      // Prepare
      const due = record({ expiresAt: RECORDED });
      const h = harness([due]);
      graphHas(h, { [due.subscriptionId]: RENEWED_AT_GRAPH });

      // Act
      const report = await run(h, takeover === undefined ? {} : { takeover });

      // Assess
      expect(h.graph.gets).toEqual([]);
      expect(h.graph.patches.map((p) => p.id)).toEqual([due.subscriptionId]);
      expect(report).toMatchObject({ renewed: 1, adopted: 0, graphCalls: 1 });
    }
  });
});

describe('the renewal handler and the takeover window', () => {
  function runtime(h: Harness, writer?: RenewalRuntime['writer']): RenewalRuntime {
    const quiet = { info: jest.fn(), warn: jest.fn(), error: jest.fn() };
    return { ports: h.ports, limit: 10, logger: quiet as unknown as Logger, metrics: { record: jest.fn(), flush: jest.fn() }, ...(writer === undefined ? {} : { writer }) };
  }
  const CONTEXT = { getRemainingTimeInMillis: () => 300_000 };

  it('checks Graph first in a region that took the lease over within twice its TTL, through the lease gate', async () => {
    // Prepare: us-east-1 held the lease; eu-west-1 took it over a minute before the run
    const store = new MemoryLeaseStore();
    const lease = new WriterLease(store, { ttlSeconds: TTL_SECONDS, graceSeconds: 60 });
    await lease.heartbeat('us-east-1', NOW.getTime() - 10 * MINUTE);
    await lease.heartbeat('eu-west-1', NOW.getTime() - MINUTE);
    const due = record({ expiresAt: RECORDED });
    const h = harness([due]);
    graphHas(h, { [due.subscriptionId]: RENEWED_AT_GRAPH });
    const gate = new LeaseWriterGate(lease, 'eu-west-1', () => h.clock.now());

    // Act
    const report = await renewIfWriter(runtime(h, { gate, takeoverWindowMs: WINDOW_MS }), CONTEXT);

    // Assess
    expect(report).toMatchObject({ due: 1, adopted: 1, renewed: 0 });
    expect(h.graph.patches).toEqual([]);
  });

  it('reads nothing from Graph single-region (no window), with a gate but no window, or with a view naming no acquisition', async () => {
    const view: WriterView = { writer: true, region: 'eu-west-1', holder: 'eu-west-1', epoch: 2, expiresAtMs: NOW.getTime() + 2 * MINUTE };
    const gate: WriterGate = { isWriter: async () => ({ ...view, acquiredAtMs: NOW.getTime() - MINUTE }), fence: async () => view };
    const runs: ((h: Harness) => Promise<unknown>)[] = [
      (h) => renewIfWriter(runtime(h), CONTEXT),
      (h) => renewIfWriter(runtime(h, { gate }), CONTEXT),
      (h) => runScheduledRenewal(runtime(h, { gate, takeoverWindowMs: WINDOW_MS }), CONTEXT, view),
      (h) => runScheduledRenewal(runtime(h, { gate, takeoverWindowMs: WINDOW_MS }), CONTEXT),
    ];
    for (const renew of runs) {
      // Prepare
      const due = record({ expiresAt: RECORDED });
      const h = harness([due]);

      // Act
      await renew(h);

      // Assess
      expect(h.graph.gets).toEqual([]);
      expect(h.graph.patches).toHaveLength(1);
    }
  });
});
