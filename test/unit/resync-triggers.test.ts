/**
 * Who asks for a catch-up, and when: lifecycle handling (`missed`, `subscriptionRemoved`), renewal (a 404
 * recreation) and the reconciler (creates for `;resync` declarations, `;resync` newly declared on a connection),
 * each through its `ResyncRequests` port. A request that cannot be sent is logged and changes nothing the Graph work
 * decided.
 */
import type { ResyncJob, ResyncRequests } from '../../shared/resync/resync-job';
import { handleLifecycleEvent } from '../../shared/subscriptions/lifecycle';
import { reconcile } from '../../shared/subscriptions/reconcile';
import { busEvent, NOW as LIFECYCLE_NOW, SUBSCRIPTION_ID, world as lifecycleWorld } from '../support/lifecycle-world';
import { connection, record as reconcileRecord, world as reconcileWorld } from '../support/reconcile-world';
import { graphError, harness, NOW as RENEWAL_NOW, record as renewalRecord, run as renewalRun } from '../support/renewal-harness';

/** The port, recording what was asked; `fails` makes every request throw as an unreachable queue would. */
function requests(options: { fails?: boolean } = {}) {
  const asked: { jobs: ResyncJob[]; delaySeconds: number | undefined }[] = [];
  const port: ResyncRequests = {
    async request(jobs, requestOptions) {
      asked.push({ jobs: [...jobs], delaySeconds: requestOptions?.delaySeconds });
      if (options.fails) throw new Error('AWS.SimpleQueueService.NonExistentQueue');
    },
  };
  const jobs = () => asked.flatMap((a) => a.jobs);
  return { port, asked, jobs };
}

describe('lifecycle handling asks for resyncs', () => {
  it('asks once for the recorded subscription on missed, whether or not the event names a connection', async () => {
    // Prepare
    const named = lifecycleWorld();
    const tenantWide = lifecycleWorld();
    const a = requests();
    const b = requests();
    named.ports.resync = a.port;
    tenantWide.ports.resync = b.port;

    // Act
    const result = await handleLifecycleEvent(named.ports, busEvent('missed'));
    await handleLifecycleEvent(tenantWide.ports, busEvent('missed', { connectionId: null }));

    // Assert
    expect(result).toMatchObject({ outcome: 'missed', subscriptionId: SUBSCRIPTION_ID });
    expect(a.asked).toEqual([{ jobs: [{ integrationId: 'contoso', subscriptionId: SUBSCRIPTION_ID, trigger: 'missed', requestedAt: LIFECYCLE_NOW.toISOString() }], delaySeconds: undefined }]);
    expect(b.jobs()).toEqual(a.jobs());
    expect(named.calls).toEqual([]);
    expect(named.published).toEqual([]);
  });

  it('does not ask on missed for a copy addressed to another connection of the tenant, nor for an unknown subscription', async () => {
    // Prepare
    const w = lifecycleWorld();
    const r = requests();
    w.ports.resync = r.port;

    // Act
    const copy = await handleLifecycleEvent(w.ports, busEvent('missed', { connectionId: 'conn-2' }));
    const unknown = await handleLifecycleEvent(w.ports, busEvent('missed', { subscriptionId: 'not-recorded-here' }));

    // Assert
    expect([copy.outcome, unknown.outcome]).toEqual(['missed', 'missed']);
    expect(r.asked).toEqual([]);
    expect(w.calls).toEqual([]);
  });

  it('asks for the new subscription after recreating one Graph removed', async () => {
    // Prepare
    const w = lifecycleWorld();
    const r = requests();
    w.ports.resync = r.port;

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved'));

    // Assert
    expect(result).toMatchObject({ outcome: 'recreated', newSubscriptionId: 'new-subscription-id' });
    expect(r.jobs()).toEqual([{ integrationId: 'contoso', subscriptionId: 'new-subscription-id', trigger: 'removed', requestedAt: LIFECYCLE_NOW.toISOString() }]);
  });

  it('asks nothing when the recreation failed, and nothing for other lifecycle events', async () => {
    // Prepare
    const failing = lifecycleWorld({ create: graphError('POST', 400, 'ValidationError', 'Subscription validation request failed.') });
    const reauthorized = lifecycleWorld();
    const r = requests();
    failing.ports.resync = r.port;
    reauthorized.ports.resync = r.port;

    // Act
    await handleLifecycleEvent(failing.ports, busEvent('subscriptionRemoved')).catch(() => undefined);
    const reauthorization = await handleLifecycleEvent(reauthorized.ports, busEvent('reauthorizationRequired'));

    // Assert
    expect(reauthorization.outcome).toBe('reauthorized');
    expect(r.asked).toEqual([]);
  });

  it('logs a request that could not be sent and still reports the recreation, with its events published', async () => {
    // Prepare
    const w = lifecycleWorld();
    const r = requests({ fails: true });
    w.ports.resync = r.port;

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved'));

    // Assert
    expect(result).toMatchObject({ outcome: 'recreated', newSubscriptionId: 'new-subscription-id', unpublishedEvents: 0 });
    expect(r.asked).toHaveLength(1);
    expect(w.records.has('new-subscription-id')).toBe(true);
    expect(w.records.has(SUBSCRIPTION_ID)).toBe(false);
    expect(w.published.map((e) => e.detail.subscriptionId)).toEqual(['new-subscription-id']);
    expect(w.logger.error).toHaveBeenCalledWith(expect.stringContaining('resync not requested'), expect.objectContaining({ subscriptions: ['contoso/new-subscription-id'], trigger: 'removed' }));
  });

  it('still answers missed when no resync queue is configured', async () => {
    // Prepare
    const w = lifecycleWorld();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('missed'));

    // Assert
    expect(result.outcome).toBe('missed');
    expect(w.calls).toEqual([]);
  });
});

describe('renewal asks for resyncs', () => {
  it('asks recreated with the new id after a 404 recreation, and nothing for a renewed subscription', async () => {
    // Prepare
    const gone = renewalRecord();
    const renewed = renewalRecord();
    const r = requests();
    const h = harness([gone, renewed], { resync: r.port });
    h.graph.patchAnswer = (id) => (id === gone.subscriptionId ? graphError('PATCH', 404, 'ResourceNotFound', 'The object was not found.') : undefined);

    // Act
    const report = await renewalRun(h);

    // Assert
    expect(report).toMatchObject({ due: 2, renewed: 1, recreated: 1, failed: 0 });
    const newId = h.events.find((e) => e.detail.previousSubscriptionId === gone.subscriptionId)?.detail.subscriptionId;
    expect(newId).toMatch(/^new-/);
    expect(r.asked).toEqual([{ jobs: [{ integrationId: 'contoso', subscriptionId: newId, trigger: 'recreated', requestedAt: RENEWAL_NOW.toISOString() }], delaySeconds: undefined }]);
  });

  it('asks nothing when the recreation failed', async () => {
    // Prepare
    const r = requests();
    const h = harness([renewalRecord()], { resync: r.port });
    h.graph.patchAnswer = () => graphError('PATCH', 404, 'ResourceNotFound');
    h.graph.createAnswer = () => graphError('POST', 400, 'ValidationError', 'Subscription validation request failed.');

    // Act
    const report = await renewalRun(h);

    // Assert
    expect(report).toMatchObject({ recreated: 0, failed: 1 });
    expect(r.asked).toEqual([]);
  });

  it('logs a request that could not be sent, and reports the same outcome as without a queue', async () => {
    // Prepare
    const withQueue = renewalRecord();
    const withoutQueue = { ...withQueue };
    const errors: { message: string; fields: Record<string, unknown> }[] = [];
    const logger = { info: () => undefined, warn: () => undefined, error: (message: string, fields: Record<string, unknown>) => void errors.push({ message, fields }) };
    const failing = harness([withQueue], { resync: requests({ fails: true }).port, logger });
    const plain = harness([withoutQueue]);
    for (const h of [failing, plain]) h.graph.patchAnswer = () => graphError('PATCH', 404, 'ResourceNotFound');

    // Act
    const report = await renewalRun(failing);
    const expected = await renewalRun(plain);

    // Assert
    expect(report).toEqual(expected);
    expect(report).toMatchObject({ recreated: 1, failed: 0, unpublishedEvents: 0 });
    expect(failing.store.records.size).toBe(1);
    expect(failing.events.map((e) => e.detailType)).toEqual(plain.events.map((e) => e.detailType));
    expect(errors).toEqual([{ message: expect.stringContaining('resync not requested'), fields: expect.objectContaining({ trigger: 'recreated', subscriptions: [expect.stringMatching(/^contoso\/new-/)] }) }]);
  });
});

describe('the reconciler asks for resyncs', () => {
  it('asks created for a subscription created for a ;resync declaration, and only for that one', async () => {
    // Prepare
    const w = reconcileWorld({ connections: [connection({ subscriptions: ['users:updated,deleted;resync', 'groups:updated'] })] });
    const r = requests();
    w.ports.resync = r.port;

    // Act
    const report = await reconcile(w.ports, { integrationId: 'contoso', dryRun: false, deadline: w.deadline });

    // Assert
    const created = report.created.map((c) => [c.resource, c.subscriptionId]);
    expect(created).toHaveLength(2);
    const usersId = created.find(([resource]) => resource === 'users')?.[1];
    expect(r.jobs()).toEqual([{ integrationId: 'contoso', subscriptionId: usersId, trigger: 'created', requestedAt: new Date(w.ports.clock.now()).toISOString() }]);
  });

  it('asks declared for kept active ;resync subscriptions when one connection is reconciled, not for others', async () => {
    // Prepare: users declared ;resync and recorded; groups recorded without ;resync; mail ;resync but failed
    const users = reconcileRecord({ subscriptionId: 'sub-users', resource: 'users', changeTypes: ['updated'] });
    const groups = reconcileRecord({ subscriptionId: 'sub-groups', resource: 'groups', changeTypes: ['updated'] });
    const contacts = reconcileRecord({ subscriptionId: 'sub-contacts', resource: 'users/abc/contacts', changeTypes: ['updated'], status: 'failed' });
    const declarations = ['users:updated;resync', 'groups:updated', 'users/abc/contacts:updated;resync'];
    const w = reconcileWorld({ connections: [connection({ subscriptions: declarations })], records: [users, groups, contacts] });
    const r = requests();
    w.ports.resync = r.port;

    // Act
    const report = await reconcile(w.ports, { integrationId: 'contoso', connectionId: 'conn-1', dryRun: false, deadline: w.deadline });

    // Assert
    expect(report.created).toEqual([]);
    expect(r.jobs().map((job) => [job.subscriptionId, job.trigger])).toEqual([['sub-users', 'declared']]);
  });

  it('asks nothing for kept subscriptions on a full run, nor on a dry run', async () => {
    // Prepare
    const users = reconcileRecord({ subscriptionId: 'sub-users', resource: 'users', changeTypes: ['updated'] });
    const w = reconcileWorld({ connections: [connection({ subscriptions: ['users:updated;resync', 'groups:updated;resync'] })], records: [users] });
    const r = requests();
    w.ports.resync = r.port;

    // Act
    const full = await reconcile(w.ports, { integrationId: 'contoso', dryRun: false, deadline: w.deadline });
    const dry = await reconcile(w.ports, { integrationId: 'contoso', connectionId: 'conn-1', dryRun: true, deadline: w.deadline });

    // Assert: only the create of the full run asks
    expect(full.created.map((c) => c.resource)).toEqual(['groups']);
    expect(dry.created).toEqual([]);
    expect(r.jobs().map((job) => job.trigger)).toEqual(['created']);
  });

  it('logs a request that could not be sent and still reports the subscription created', async () => {
    // Prepare
    const w = reconcileWorld({ connections: [connection({ subscriptions: ['users:updated;resync'] })] });
    w.ports.resync = requests({ fails: true }).port;

    // Act
    const report = await reconcile(w.ports, { integrationId: 'contoso', dryRun: false, deadline: w.deadline });

    // Assert
    expect(report.created.map((c) => c.resource)).toEqual(['users']);
    expect(report.failed).toEqual([]);
    expect(w.store.records.size).toBe(1);
    expect(w.logs.filter((l) => l.level === 'error')).toEqual([expect.objectContaining({ message: expect.stringContaining('resync not requested'), fields: expect.objectContaining({ trigger: 'created' }) })]);
  });
});
