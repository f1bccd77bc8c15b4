import { secretFingerprint, tenantClientState } from '../../shared/graph/client-state';
import { GraphThrottledError } from '../../shared/graph/graph-client';
import { GRAPH_DEFAULTS } from '../../shared/graph/graph-config';
import { maxLifetimeMinutes } from '../../shared/graph/subscription-lifetimes';
import { TokenRequestError } from '../../shared/graph/token-client';
import { MissingAppCredentialsError } from '../../shared/secrets/app-credentials';
import { StoreDataError } from '../../shared/store/connections-store';
import type { Connection } from '../../shared/store/items';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { MissingEncryptionCertificateError } from '../../shared/subscriptions/integration-graphs';
import { describeChange, planReconcile, reconcile, ReconcileScopeError, type ReconcileGraph } from '../../shared/subscriptions/reconcile';
import { EXPIRY_SAFETY_MARGIN_MINUTES } from '../../shared/subscriptions/subscription-requests';
import { connection, graphError, MemoryCheckpoint, MINUTE, NOW, record, TENANT_A, TENANT_B, WEBHOOK_BASE, WEBHOOK_SECRET, world } from '../support/reconcile-world';

function plan(input: { connections?: Connection[]; subscriptions?: SubscriptionRecord[]; unreadable?: string[]; connectionId?: string }) {
  return planReconcile({
    integrationId: 'contoso',
    connections: input.connections ?? [],
    unreadableConnectionIds: input.unreadable ?? [],
    subscriptions: input.subscriptions ?? [],
    ...(input.connectionId === undefined ? {} : { connectionId: input.connectionId }),
  });
}

describe('planReconcile', () => {
  it('plans a create for each declaration without a record of the same key, and keeps the declared records', () => {
    // Prepare
    const kept = record({ resource: 'users', changeTypes: ['created', 'updated'] });
    const conn = connection({ subscriptions: ['users:updated,created', '/groups:deleted', 'users/abc/messages:created'] });
    // Act
    const result = plan({ connections: [conn], subscriptions: [kept] });
    // Assess
    expect(result.create).toEqual([
      { action: 'create', integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT_A, resource: 'groups', changeTypes: ['deleted'] },
      { action: 'create', integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT_A, resource: 'users/abc/messages', changeTypes: ['created'] },
    ]);
    expect(result.keep).toEqual([expect.objectContaining({ action: 'keep', subscriptionId: kept.subscriptionId, status: 'active' })]);
    expect(result.keep[0]).not.toHaveProperty('reason');
    expect(result.delete).toEqual([]);
  });

  it('plans a delete for a record whose declaration is gone, including one whose change types changed', () => {
    // Prepare
    const gone = record({ resource: 'groups', changeTypes: ['updated'] });
    const changed = record({ resource: 'users', changeTypes: ['created'] });
    const conn = connection({ subscriptions: ['users:created,updated'] });
    // Act
    const result = plan({ connections: [conn], subscriptions: [gone, changed] });
    // Assess
    expect(result.delete.map((d) => [d.subscriptionId, d.reason])).toEqual([
      [gone.subscriptionId, 'declaration-removed'],
      [changed.subscriptionId, 'declaration-removed'],
    ]);
    expect(result.create.map((c) => `${c.resource}:${c.changeTypes.join(',')}`)).toEqual(['users:created,updated']);
  });

  it('keeps the subscription when ;resync is switched on or off: resync is not part of what Graph is asked for', () => {
    // Prepare
    const users = record({ resource: 'users', changeTypes: ['created', 'updated'] });
    const inbox = record({ resource: 'users/abc/mailFolders/inbox/messages', changeTypes: ['created'], includeResourceData: true });
    const switchedOn = connection({ subscriptions: ['users:created,updated;resync', 'users/abc/mailFolders/inbox/messages:created;resync;includeResourceData'] });
    const switchedOff = connection({ subscriptions: ['users:created,updated', 'users/abc/mailFolders/inbox/messages:created;includeResourceData'] });
    // Act
    const on = plan({ connections: [switchedOn], subscriptions: [users, inbox] });
    const off = plan({ connections: [switchedOff], subscriptions: [users, inbox] });
    // Assess
    for (const result of [on, off]) {
      expect(result.create).toEqual([]);
      expect(result.delete).toEqual([]);
      expect(result.keep.map((k) => k.subscriptionId)).toEqual([users.subscriptionId, inbox.subscriptionId]);
      expect(result.invalidDeclarations).toEqual([]);
    }
  });

  it('creates a declared ;resync subscription like any other, marked for a baseline', () => {
    // Prepare
    const conn = connection({ subscriptions: ['groups:updated;resync'] });
    // Act
    const result = plan({ connections: [conn] });
    // Assess
    expect(result.create).toEqual([{ action: 'create', integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT_A, resource: 'groups', changeTypes: ['updated'], resync: true }]);
  });

  it('marks a kept subscription whose declaration says ;resync, and only that one', () => {
    // Prepare
    const conn = connection({ subscriptions: ['groups:updated;resync', 'users:updated'] });
    const records = [record({ resource: 'groups', changeTypes: ['updated'] }), record({ resource: 'users', changeTypes: ['updated'] })];
    // Act
    const result = plan({ connections: [conn], subscriptions: records });
    // Assess
    expect(result.keep.map((k) => [k.resource, k.resync])).toEqual([
      ['groups', true],
      ['users', undefined],
    ]);
  });

  it('plans a delete for every record of a connection that no longer exists', () => {
    // Prepare
    const orphans = [record({ connectionId: 'conn-gone' }), record({ connectionId: 'conn-gone', resource: 'groups' })];
    // Act
    const result = plan({ connections: [connection({ subscriptions: [] })], subscriptions: orphans });
    // Assess
    expect(result.delete.map((d) => d.reason)).toEqual(['connection-removed', 'connection-removed']);
    expect(result.create).toEqual([]);
  });

  it('never deletes the records of a connection whose item is unreadable', () => {
    // Prepare
    const unknown = record({ connectionId: 'conn-bad' });
    // Act
    const result = plan({ connections: [], subscriptions: [unknown], unreadable: ['conn-bad'] });
    // Assess
    expect(result.delete).toEqual([]);
    expect(result.keep).toEqual([expect.objectContaining({ subscriptionId: unknown.subscriptionId, reason: 'connection-unreadable' })]);
  });

  it('reports invalid declarations, creates the valid ones and deletes nothing of that connection', () => {
    // Prepare
    const typoTarget = record({ resource: 'users', changeTypes: ['created', 'updated'] });
    const conn = connection({ subscriptions: ['users:created,updatd', 'groups:created', 'nonsense'] });
    // Act
    const result = plan({ connections: [conn], subscriptions: [typoTarget] });
    // Assess
    expect(result.invalidDeclarations).toEqual([
      expect.objectContaining({ connectionId: 'conn-1', tenantId: TENANT_A, declaration: 'users:created,updatd', reason: expect.stringContaining('unknown change type "updatd"') }),
      expect.objectContaining({ declaration: 'nonsense', reason: expect.stringContaining('expected <resource>:<changeTypes>') }),
    ]);
    expect(result.delete).toEqual([]);
    expect(result.keep).toEqual([expect.objectContaining({ subscriptionId: typoTarget.subscriptionId, reason: 'declarations-invalid' })]);
    expect(result.create.map((c) => c.resource)).toEqual(['groups']);
  });

  it('keeps needs-consent and failed records whose declaration still exists, with their status and error', () => {
    // Prepare
    const consent = record({ resource: 'users', changeTypes: ['updated'], status: 'needs-consent', lastError: 'HTTP 403' });
    const failed = record({ resource: 'groups', changeTypes: ['updated'], status: 'failed', lastError: 'HTTP 400' });
    const conn = connection({ subscriptions: ['users:updated', 'groups:updated'] });
    // Act
    const result = plan({ connections: [conn], subscriptions: [consent, failed] });
    // Assess
    expect(result.create).toEqual([]);
    expect(result.delete).toEqual([]);
    expect(result.keep).toEqual([
      expect.objectContaining({ subscriptionId: consent.subscriptionId, status: 'needs-consent', lastError: 'HTTP 403' }),
      expect.objectContaining({ subscriptionId: failed.subscriptionId, status: 'failed', lastError: 'HTTP 400' }),
    ]);
  });

  it('deletes a record of another tenant than its connection now has, and creates it for the new tenant', () => {
    // Prepare
    const old = record({ tenantId: TENANT_B, resource: 'users', changeTypes: ['updated'] });
    // Act
    const result = plan({ connections: [connection({ subscriptions: ['users:updated'] })], subscriptions: [old] });
    // Assess
    expect(result.delete).toEqual([expect.objectContaining({ subscriptionId: old.subscriptionId, tenantId: TENANT_B, reason: 'tenant-changed' })]);
    expect(result.create).toEqual([expect.objectContaining({ tenantId: TENANT_A, resource: 'users' })]);
  });

  it('limits the plan to the connection in scope', () => {
    // Prepare
    const other = record({ connectionId: 'conn-2' });
    const conns = [connection({ subscriptions: ['users:updated'] }), connection({ connectionId: 'conn-3', subscriptions: ['groups:updated'] })];
    // Act
    const result = plan({ connections: conns, subscriptions: [other], connectionId: 'conn-1' });
    // Assess
    expect(result.create.map((c) => c.connectionId)).toEqual(['conn-1']);
    expect(result.delete).toEqual([]);
    expect(result.keep).toEqual([]);
  });

  it('describes each change on one line for a CLI', () => {
    // Prepare
    const result = plan({ connections: [connection({ subscriptions: ['users:created,updated'] })], subscriptions: [record({ resource: 'groups', changeTypes: ['deleted'], subscriptionId: 'sub-1' })] });
    // Act
    const lines = [...result.create, ...result.delete].map((change) => describeChange(change, { dryRun: true }));
    // Assess
    expect(lines).toEqual([
      `would create users:created,updated for contoso/conn-1 (tenant ${TENANT_A})`,
      `would delete groups:deleted (subscription sub-1) of contoso/conn-1 (tenant ${TENANT_A}): the connection no longer declares it`,
    ]);
  });
});

describe('planReconcile: a connection that needs consent', () => {
  const needsConsent = (overrides: Partial<Connection> = {}) =>
    connection({ status: 'needs-consent', statusReason: 'AADSTS700016: Application was not found in the directory', statusChangedAt: '2026-02-28T09:00:00.000Z', ...overrides });

  it('plans its missing subscriptions as skipped, not created, and still deletes and keeps as usual', () => {
    // Prepare
    const kept = record({ resource: 'users', changeTypes: ['updated'], status: 'needs-consent', lastError: 'HTTP 403' });
    const stale = record({ resource: 'groups', changeTypes: ['deleted'], subscriptionId: 'sub-stale' });
    const other = connection({ connectionId: 'conn-2', subscriptions: ['users:created'] });
    // Act
    const result = plan({ connections: [needsConsent({ subscriptions: ['users:updated', 'users:created'] }), other], subscriptions: [kept, stale] });
    // Assess
    expect(result.skipped).toEqual([
      {
        action: 'skip',
        integrationId: 'contoso',
        connectionId: 'conn-1',
        tenantId: TENANT_A,
        resource: 'users',
        changeTypes: ['created'],
        reason: 'needs-consent',
        statusReason: 'AADSTS700016: Application was not found in the directory',
        statusChangedAt: '2026-02-28T09:00:00.000Z',
      },
    ]);
    expect(result.create).toEqual([expect.objectContaining({ connectionId: 'conn-2', resource: 'users' })]);
    expect(result.delete).toEqual([expect.objectContaining({ subscriptionId: 'sub-stale', reason: 'declaration-removed' })]);
    expect(result.keep).toEqual([expect.objectContaining({ subscriptionId: kept.subscriptionId, status: 'needs-consent' })]);
  });

  it('describes a skipped create on one line, naming the reason and how to resume', () => {
    // Prepare
    const result = plan({ connections: [needsConsent({ subscriptions: ['users:created'] })] });
    const [skip] = result.skipped;
    if (skip === undefined) throw new Error('expected a skipped create');
    // Act
    const dryRun = describeChange(skip, { dryRun: true });
    const applied = describeChange(skip, { dryRun: false });
    // Assess
    expect(dryRun).toBe(
      `would skip create users:created for contoso/conn-1 (tenant ${TENANT_A}): the connection needs consent since 2026-02-28T09:00:00.000Z ` +
        `(AADSTS700016: Application was not found in the directory); once the tenant's admin grants it again: graph-relay connections resume contoso conn-1`,
    );
    expect(applied).toMatch(/^skipped create users:created for contoso\/conn-1 /);
    expect(dryRun).not.toContain('\n');
  });
});

/** The subscriptions store's reconcile operations over a map, in key order, counting each kind of read. */

describe('reconcile: subscription inventory', () => {
  const HOUR = 60 * MINUTE;
  const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

  it('counts every listed record by status and by expiry within 24 h and 6 h, past ones included', async () => {
    // Prepare: expiry boundaries on both sides, in every status, across two connections
    const conn1 = connection({ subscriptions: ['users:created,updated'] });
    const conn2 = connection({ connectionId: 'conn-2', subscriptions: ['users:created,updated'] });
    const records = [
      record({ expiresAt: at(48 * HOUR) }),
      record({ connectionId: 'conn-2', expiresAt: at(24 * HOUR + 1) }),
      record({ expiresAt: at(24 * HOUR), status: 'needs-consent' }),
      record({ connectionId: 'conn-2', expiresAt: at(6 * HOUR + 1), status: 'needs-consent' }),
      record({ expiresAt: at(6 * HOUR), status: 'failed' }),
      record({ expiresAt: at(-1 * HOUR), status: 'failed' }),
      record({ connectionId: 'conn-2', expiresAt: at(-30 * 24 * HOUR), status: 'needs-consent' }),
    ];
    const w = world({ connections: [conn1, conn2], records });
    // Act
    const report = await reconcile(w.ports, { dryRun: true, deadline: w.deadline });
    // Assess
    expect(report.inventory).toEqual({ total: 7, expiringWithin24h: 5, expiringWithin6h: 3, byStatus: { active: 2, 'needs-consent': 3, failed: 2 } });
    expect(w.logs).toContainEqual(
      expect.objectContaining({ message: 'reconcile finished', fields: expect.objectContaining({ subscriptions: 7, expiringWithin24h: 5, expiringWithin6h: 3, needsConsent: 3, failedStatus: 2 }) }),
    );
  });

  it('counts nothing when there are no records', async () => {
    // Prepare
    const w = world({ connections: [connection()] });
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.inventory).toEqual({ total: 0, expiringWithin24h: 0, expiringWithin6h: 0, byStatus: { active: 0, 'needs-consent': 0, failed: 0 } });
  });
});

describe('reconcile (apply)', () => {
  it('creates missing subscriptions at Graph with the webhook URL, the secret and the maximum expiry, and records them', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: ['users:created,updated', 'users/abc/messages:created'] })] });
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(w.graph.calls.map((c) => c.input)).toEqual([
      {
        changeType: 'created,updated',
        notificationUrl: `${WEBHOOK_BASE}contoso`,
        lifecycleNotificationUrl: `${WEBHOOK_BASE}contoso`,
        resource: 'users',
        expirationDateTime: new Date(NOW.getTime() + (maxLifetimeMinutes('users', { hasLifecycleUrl: true }) - EXPIRY_SAFETY_MARGIN_MINUTES) * MINUTE),
        // The tenant's own clientState, derived from the integration's secret
        clientState: tenantClientState(WEBHOOK_SECRET, 'contoso', TENANT_A),
      },
      expect.objectContaining({ resource: 'users/abc/messages', expirationDateTime: new Date(NOW.getTime() + (10_080 - EXPIRY_SAFETY_MARGIN_MINUTES) * MINUTE) }),
    ]);
    expect(report.created.map((c) => c.subscriptionId)).toEqual(['sub-1', 'sub-2']);
    // The record keeps which secret the clientState came from (a fingerprint), never the secret or the value
    expect(w.store.records.get('sub-1')).toMatchObject({ connectionId: 'conn-1', tenantId: TENANT_A, resource: 'users', changeTypes: ['created', 'updated'], status: 'active', clientStateKey: secretFingerprint(WEBHOOK_SECRET) });
    expect(JSON.stringify(w.store.records.get('sub-1'))).not.toContain(WEBHOOK_SECRET);
    expect(report).toMatchObject({ dryRun: false, failed: [], deferred: [], graphCalls: 2, stoppedEarly: false });
  });

  it('deletes at Graph then in the store, and treats 404 as already gone', async () => {
    // Prepare
    const gone = record({ connectionId: 'conn-gone', subscriptionId: 'sub-gone' });
    const stale = record({ resource: 'groups', subscriptionId: 'sub-stale' });
    const w = world({ connections: [connection({ subscriptions: [] })], records: [gone, stale] });
    w.graph.answers.delete.push('already-gone');
    // Act
    const report = await reconcile(w.ports, { integrationId: 'contoso', dryRun: false, deadline: w.deadline });
    // Assess
    expect(w.graph.calls.map((c) => [c.method, c.id])).toEqual([['delete', 'sub-gone'], ['delete', 'sub-stale']]);
    expect(report.deleted.map((d) => [d.subscriptionId, d.atGraph, d.reason])).toEqual([
      ['sub-gone', 'already-gone', 'connection-removed'],
      ['sub-stale', 'deleted', 'declaration-removed'],
    ]);
    expect(w.store.records.size).toBe(0);
  });

  it('makes no Graph call and no store write in a dry run, and reports the plan', async () => {
    // Prepare
    const stale = record({ resource: 'groups' });
    const w = world({ connections: [connection({ subscriptions: ['users:updated'] })], records: [stale] });
    // Act
    const report = await reconcile(w.ports, { dryRun: true, deadline: w.deadline });
    // Assess
    expect(w.graph.calls).toEqual([]);
    expect([...w.store.records.values()]).toEqual([stale]);
    expect(report).toMatchObject({ dryRun: true, created: [], deleted: [], graphCalls: 0 });
    expect(report.planned.create).toHaveLength(1);
    expect(report.planned.delete).toHaveLength(1);
  });

  it('reports a failure per change and goes on: needs-consent on 403, quota as a Graph error, a failed delete keeps its record', async () => {
    // Prepare
    const stale = record({ resource: 'groups', subscriptionId: 'sub-stale' });
    const w = world({ connections: [connection({ subscriptions: ['users:updated', 'users:created', 'users/abc/messages:created'] })], records: [stale] });
    w.graph.answers.create.push(graphError('POST', 403, 'Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]'));
    w.graph.answers.create.push(graphError('POST', 403, "App 'x' has reached its limit of '100' user subscription on tenant 'y'"));
    w.graph.answers.delete.push(graphError('DELETE', 503));
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.failed.map((f) => [f.change.action, f.change.resource, f.reason, f.status])).toEqual([
      ['create', 'users', 'needs-consent', 403],
      ['create', 'users', 'graph-error', 403],
      ['delete', 'groups', 'graph-error', 503],
    ]);
    expect(report.failed[0]).toMatchObject({ requestId: 'req-1' });
    expect(report.created.map((c) => c.resource)).toEqual(['users/abc/messages']);
    expect(w.store.records.has('sub-stale')).toBe(true);
  });

  it('fails every change of an integration without app credentials, with no Graph call', async () => {
    // Prepare
    const w = world({
      connections: [connection({ subscriptions: ['users:updated', 'groups:updated'] })],
      graphFor: async () => {
        throw new MissingAppCredentialsError('integration "contoso" has no app credentials');
      },
    });
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.failed.map((f) => f.reason)).toEqual(['missing-credentials', 'missing-credentials']);
    expect(w.graph.calls).toEqual([]);
  });

  it('gives the rest of a tenant the token refusal without asking again, and other tenants go on', async () => {
    // Prepare
    const w = world({
      connections: [connection({ subscriptions: ['users:updated', 'groups:updated'] }), connection({ connectionId: 'conn-b', tenantId: TENANT_B, subscriptions: ['users:updated'] })],
    });
    const refused = new TokenRequestError({ tenantId: TENANT_A, status: 400, error: 'unauthorized_client', aadsts: 'AADSTS700016', kind: 'consent', message: 'AADSTS700016: Application was not found in the directory' });
    w.graph.answers.create.push(refused);
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline, tenantConcurrency: 1 });
    // Assess
    expect(report.failed.map((f) => [f.change.tenantId, f.reason])).toEqual([
      [TENANT_A, 'needs-consent'],
      [TENANT_A, 'needs-consent'],
    ]);
    expect(w.graph.calls.map((c) => c.tenantId)).toEqual([TENANT_A, TENANT_B]);
    expect(report.created.map((c) => c.tenantId)).toEqual([TENANT_B]);
  });

  it('defers changes that could not finish before the deadline, and throttling past it', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: ['users:updated', 'groups:updated'] }), connection({ connectionId: 'conn-b', tenantId: TENANT_B, subscriptions: ['users:updated'] })] });
    w.graph.answers.create.push(new GraphThrottledError({ method: 'POST', path: '/subscriptions', tenantId: TENANT_A, status: 429, code: 'TooManyRequests', message: 'Please retry again later.', requestId: undefined, clientRequestId: 'c' }, 60_000));
    // Act
    const throttled = await reconcile(w.ports, { dryRun: false, deadline: w.deadline, tenantConcurrency: 1 });
    const late = await reconcile(w.ports, { dryRun: false, deadline: NOW.getTime() + GRAPH_DEFAULTS.createSubscriptionTimeoutMs - 1 });
    // Assess
    expect(throttled.deferred.map((d) => [d.tenantId, d.resource])).toEqual([[TENANT_A, 'users'], [TENANT_A, 'groups']]);
    expect(throttled.created.map((c) => c.tenantId)).toEqual([TENANT_B]);
    expect(throttled.stoppedEarly).toBe(true);
    expect(late.deferred).toHaveLength(2);
    expect(w.graph.calls).toHaveLength(2);
  });

  it('deletes a created subscription again when its record cannot be written', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: ['users:updated'] })] });
    w.store.failPut = true;
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(w.graph.calls.map((c) => [c.method, c.id])).toEqual([['create', undefined], ['delete', 'sub-1']]);
    expect(report.failed).toEqual([expect.objectContaining({ reason: 'store-error', message: expect.stringContaining('sub-1 was created but could not be recorded') })]);
    expect(report.created).toEqual([]);
  });

  it('makes no Graph call for a connection that needs consent, reporting its creates as skipped, in a dry run too', async () => {
    // Prepare
    const stale = record({ resource: 'groups', changeTypes: ['deleted'], subscriptionId: 'sub-stale' });
    const w = world({ connections: [connection({ subscriptions: ['users:created'], status: 'needs-consent', statusReason: 'HTTP 403' })], records: [stale] });
    // Act
    const dryRun = await reconcile(w.ports, { dryRun: true, deadline: w.deadline });
    const applied = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    for (const report of [dryRun, applied]) {
      expect(report.planned.skipped).toEqual([expect.objectContaining({ action: 'skip', connectionId: 'conn-1', resource: 'users', reason: 'needs-consent', statusReason: 'HTTP 403' })]);
      expect(report.planned.create).toEqual([]);
    }
    expect(w.graph.calls).toEqual([{ method: 'delete', tenantId: TENANT_A, id: 'sub-stale' }]);
    expect(applied.deleted.map((d) => d.subscriptionId)).toEqual(['sub-stale']);
    expect(applied.created).toEqual([]);
    expect(applied.failed).toEqual([]);
    expect(w.marks).toEqual([]);
  });

  it('marks the connection needs-consent, once, when Graph refuses its creates for consent', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: ['users:updated', 'groups:updated'] }), connection({ connectionId: 'conn-b', tenantId: TENANT_B, subscriptions: ['users:updated'] })] });
    w.graph.answers.create.push(graphError('POST', 403, 'Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]'));
    w.graph.answers.create.push(graphError('POST', 403, 'Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]'));
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline, tenantConcurrency: 1 });
    // Assess
    expect(report.failed.map((f) => [f.change.connectionId, f.reason])).toEqual([
      ['conn-1', 'needs-consent'],
      ['conn-1', 'needs-consent'],
    ]);
    expect(w.marks).toEqual([{ integrationId: 'contoso', connectionId: 'conn-1', reason: expect.stringContaining('Reason: Forbidden') }]);
    expect(report.created.map((c) => c.connectionId)).toEqual(['conn-b']);
  });

  it('marks every connection of a tenant whose token is refused for consent', async () => {
    // Prepare
    const w = world({
      connections: [connection({ subscriptions: ['users:updated'] }), connection({ connectionId: 'conn-2', subscriptions: ['groups:updated'] })],
    });
    w.graph.answers.create.push(new TokenRequestError({ tenantId: TENANT_A, status: 400, error: 'unauthorized_client', aadsts: 'AADSTS700016', kind: 'consent', message: 'AADSTS700016: Application was not found in the directory' }));
    // Act
    await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(w.graph.calls).toHaveLength(1);
    expect(w.marks.map((m) => [m.connectionId, m.reason])).toEqual([
      ['conn-1', 'AADSTS700016: Application was not found in the directory'],
      ['conn-2', 'AADSTS700016: Application was not found in the directory'],
    ]);
  });

  it('does not mark a connection for a delete refused for consent, nor for other failures', async () => {
    // Prepare
    const stale = record({ resource: 'groups', subscriptionId: 'sub-stale' });
    const w = world({ connections: [connection({ subscriptions: ['users:updated'] })], records: [stale] });
    w.graph.answers.create.push(graphError('POST', 503));
    w.graph.answers.delete.push(graphError('DELETE', 403, 'Forbidden'));
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.failed.map((f) => [f.change.action, f.reason])).toEqual([
      ['create', 'graph-error'],
      ['delete', 'needs-consent'],
    ]);
    expect(w.marks).toEqual([]);
  });

  it('logs a connection that could not be marked and reports the run as it was', async () => {
    // Prepare
    const w = world({
      connections: [connection({ subscriptions: ['users:updated'] })],
      markNeedsConsent: async () => {
        throw new Error('DynamoDB is down');
      },
    });
    w.graph.answers.create.push(graphError('POST', 401, 'Access token validation failure'));
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.failed.map((f) => f.reason)).toEqual(['needs-consent']);
    expect(w.logs.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', message: 'connection could not be marked needs-consent', fields: { integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT_A, error: 'Error: DynamoDB is down' } },
    ]);
  });

  it('refuses a connection without its integration', async () => {
    // Prepare
    const w = world({});
    // Act
    const run = reconcile(w.ports, { connectionId: 'conn-1', dryRun: true, deadline: w.deadline });
    // Assess
    await expect(run).rejects.toThrow(ReconcileScopeError);
  });
});

describe('reconcile: subscriptions with resource data', () => {
  const USER = '8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d';
  const CERTIFICATE = { id: 'enc-2026-03', certificateBase64: 'MIIC-current-der', notAfter: new Date('2027-03-01T00:00:00Z') };

  it('creates a rich declaration with the current certificate and the shorter lifetime, and records both', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: [`users/${USER}/messages:created;includeResourceData`] })] });
    w.ports.encryptionCertificateOf = async () => CERTIFICATE;
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(w.graph.calls.map((c) => c.input)).toEqual([
      expect.objectContaining({
        resource: `users/${USER}/messages`,
        includeResourceData: true,
        encryptionCertificate: CERTIFICATE.certificateBase64,
        encryptionCertificateId: CERTIFICATE.id,
        expirationDateTime: new Date(NOW.getTime() + (1_440 - EXPIRY_SAFETY_MARGIN_MINUTES) * MINUTE),
      }),
    ]);
    expect(report.created).toEqual([expect.objectContaining({ subscriptionId: 'sub-1', includeResourceData: true })]);
    expect(w.store.records.get('sub-1')).toMatchObject({ includeResourceData: true, encryptionCertificateId: CERTIFICATE.id });
    expect(describeChange(report.created[0]!, { dryRun: true })).toMatch(/^would create users\/.+\/messages:created;includeResourceData for contoso\/conn-1 /);
  });

  it('treats switching includeResourceData as another subscription: the old one is deleted and the new one created', async () => {
    // Prepare
    const plain = record({ subscriptionId: 'sub-plain', resource: `users/${USER}/messages`, changeTypes: ['created'] });
    const w = world({ connections: [connection({ subscriptions: [`users/${USER}/messages:created;includeResourceData`] })], records: [plain] });
    w.ports.encryptionCertificateOf = async () => CERTIFICATE;
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.deleted.map((d) => [d.subscriptionId, d.reason])).toEqual([['sub-plain', 'declaration-removed']]);
    expect(report.created.map((c) => c.includeResourceData)).toEqual([true]);
    expect(w.graph.calls.map((c) => c.method)).toEqual(['create', 'delete']);
  });

  it('keeps a rich record its declaration still asks for, whatever the case of the option', () => {
    // Prepare
    const rich = record({ resource: `users/${USER}/messages`, changeTypes: ['created'], includeResourceData: true, encryptionCertificateId: 'enc-1' });
    // Act
    const result = plan({ connections: [connection({ subscriptions: [`users/${USER}/messages:created;INCLUDERESOURCEDATA`] })], subscriptions: [rich] });
    // Assess
    expect(result.create).toEqual([]);
    expect(result.delete).toEqual([]);
    expect(result.keep).toEqual([expect.objectContaining({ subscriptionId: rich.subscriptionId, includeResourceData: true })]);
  });

  it('fails a rich create without a Graph call when the integration has no certificate, and still creates its plain ones', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: [`users/${USER}/messages:created;includeResourceData`, 'users:updated'] })] });
    w.ports.encryptionCertificateOf = async (integrationId) => {
      throw new MissingEncryptionCertificateError(integrationId);
    };
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.failed).toEqual([
      expect.objectContaining({
        reason: 'missing-credentials',
        message: expect.stringContaining('create one with: graph-relay certificates create contoso'),
        change: expect.objectContaining({ includeResourceData: true }),
      }),
    ]);
    expect(w.graph.calls.map((c) => c.input?.resource)).toEqual(['users']);
    expect(w.marks).toEqual([]);
  });

  it('fails a rich create when the caller cannot read certificates at all (no port)', async () => {
    // Prepare
    const w = world({ connections: [connection({ subscriptions: [`users/${USER}/messages:created;includeResourceData`] })] });
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.failed.map((f) => f.reason)).toEqual(['missing-credentials']);
    expect(w.graph.calls).toEqual([]);
  });
});

describe('reconcile: one connection, by key', () => {
  it('reads the connection by key and its records through the index, nothing of the rest of the integration', async () => {
    // Prepare
    const stale = record({ resource: 'groups', subscriptionId: 'sub-stale' });
    const other = record({ connectionId: 'conn-2', resource: 'groups', subscriptionId: 'sub-other' });
    const w = world({ connections: [connection({ subscriptions: ['users:created'] }), connection({ connectionId: 'conn-2' })], records: [stale, other] });
    // Act
    const report = await reconcile(w.ports, { integrationId: 'contoso', connectionId: 'conn-1', dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.created.map((c) => [c.connectionId, c.resource])).toEqual([['conn-1', 'users']]);
    expect(report.deleted.map((d) => [d.subscriptionId, d.reason])).toEqual([['sub-stale', 'declaration-removed']]);
    expect(report.inventory.total).toBe(1);
    expect(w.store.records.has('sub-other')).toBe(true);
    expect({ ...w.reads, ...w.store.reads }).toEqual({ getConnection: 1, connectionPages: 0, byConnection: 1, integrationPages: 0 });
  });

  it('deletes every record the index lists for a connection that was removed', async () => {
    // Prepare
    const records = [record({ subscriptionId: 'sub-a' }), record({ subscriptionId: 'sub-b', resource: 'groups' })];
    const w = world({ connections: [], records });
    // Act
    const report = await reconcile(w.ports, { integrationId: 'contoso', connectionId: 'conn-1', dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.deleted.map((d) => [d.subscriptionId, d.reason])).toEqual([
      ['sub-a', 'connection-removed'],
      ['sub-b', 'connection-removed'],
    ]);
    expect(w.store.records.size).toBe(0);
  });

  it('keeps the records of a connection whose item does not parse, and reports the item', async () => {
    // Prepare
    const kept = record({ subscriptionId: 'sub-kept' });
    const w = world({ records: [kept] });
    w.ports.connections.getConnection = async () => {
      throw new StoreDataError('item INTEGRATION#contoso / CONNECTION#conn-1 is invalid: tenantId: tenant id must be a GUID');
    };
    // Act
    const report = await reconcile(w.ports, { integrationId: 'contoso', connectionId: 'conn-1', dryRun: false, deadline: w.deadline });
    // Assess
    expect(report.planned.keep).toEqual([expect.objectContaining({ subscriptionId: 'sub-kept', reason: 'connection-unreadable' })]);
    expect(report.deleted).toEqual([]);
    expect(report.invalidItems).toEqual([{ integrationId: 'contoso', sk: 'CONNECTION#conn-1', reason: expect.stringContaining('tenant id must be a GUID') }]);
  });
});

describe('reconcile: a full run, page by page', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `conn-${String(i + 1).padStart(2, '0')}`);

  it('plans page by page exactly what one page holding everything would plan', async () => {
    // Prepare: 7 connections, records of some of them (one stale), and records of 2 removed connections
    const connections = ids(7).map((connectionId) => connection({ connectionId, subscriptions: ['users:created,updated'] }));
    const records = [
      record({ connectionId: 'conn-02', subscriptionId: 'sub-02' }),
      record({ connectionId: 'conn-05', subscriptionId: 'sub-05' }),
      record({ connectionId: 'conn-05', subscriptionId: 'sub-05-stale', resource: 'groups' }),
      record({ connectionId: 'conn-gone', subscriptionId: 'sub-gone-1' }),
      record({ connectionId: 'conn-gone', subscriptionId: 'sub-gone-2' }),
    ];
    const summary = async (pageSize: number) => {
      const w = world({ connections, records });
      const report = await reconcile(w.ports, { dryRun: true, deadline: w.deadline, pageSize });
      return {
        create: report.planned.create.map((c) => c.connectionId).sort(),
        delete: report.planned.delete.map((d) => `${d.subscriptionId}:${d.reason}`).sort(),
        keep: report.planned.keep.map((k) => k.subscriptionId).sort(),
        inventory: report.inventory,
      };
    };
    // Act
    const paged = await summary(2);
    const whole = await summary(100);
    // Assess
    expect(paged).toEqual(whole);
    expect(paged.create).toEqual(['conn-01', 'conn-03', 'conn-04', 'conn-06', 'conn-07']);
    expect(paged.delete).toEqual(['sub-05-stale:declaration-removed', 'sub-gone-1:connection-removed', 'sub-gone-2:connection-removed']);
    expect(paged.inventory.total).toBe(5);
  });

  it('holds one page at a time and, without details, keeps counts only', async () => {
    // Prepare
    const connections = ids(25).map((connectionId) => connection({ connectionId, subscriptions: ['users:created'] }));
    const records = ids(25).map((connectionId) => record({ connectionId, resource: 'users', changeTypes: ['created'] }));
    const w = world({ connections, records });
    const pageSizes: number[] = [];
    const { listConnectionsPage, existingConnectionIds } = w.ports.connections;
    w.ports.connections.listConnectionsPage = async (integrationId, options) => {
      const page = await listConnectionsPage(integrationId, options);
      pageSizes.push(page.connections.length);
      return page;
    };
    w.ports.connections.existingConnectionIds = async (integrationId, connectionIds) => {
      pageSizes.push(connectionIds.length);
      return existingConnectionIds(integrationId, connectionIds);
    };
    // Act
    const report = await reconcile(w.ports, { dryRun: false, deadline: w.deadline, pageSize: 10, details: false });
    // Assess
    expect(Math.max(...pageSizes)).toBe(10);
    expect(report.counts).toMatchObject({ keep: 25, create: 0, delete: 0 });
    expect(report.inventory.total).toBe(25);
    expect(report.planned.keep).toEqual([]);
    expect(w.store.reads.byConnection).toBe(25);
  });

  it('stops at the deadline, records where it got to, and the next run goes on from there and clears it', async () => {
    // Prepare: every create takes 3.2 minutes and the run has 10, so the fourth no longer fits
    const w = world({ connections: ids(4).map((connectionId) => connection({ connectionId, subscriptions: ['users:created'] })) });
    const slow: ReconcileGraph = {
      createSubscription: async (tenantId, input) => {
        w.advance(3.2 * MINUTE);
        return w.graph.createSubscription(tenantId, input);
      },
      deleteSubscription: (tenantId, id) => w.graph.deleteSubscription(tenantId, id),
    };
    w.ports.graphFor = async () => slow;
    const checkpoint = new MemoryCheckpoint();
    w.ports.checkpoint = checkpoint;
    // Act
    const first = await reconcile(w.ports, { dryRun: false, deadline: w.deadline, pageSize: 1 });
    const saved = checkpoint.saved;
    const connectionPagesBefore = w.reads.connectionPages;
    const second = await reconcile(w.ports, { dryRun: false, deadline: NOW.getTime() + 60 * MINUTE, pageSize: 1 });
    // Assess
    expect(first.created.map((c) => c.connectionId)).toEqual(['conn-01', 'conn-02', 'conn-03']);
    expect(first.deferred.map((d) => d.connectionId)).toEqual(['conn-04']);
    expect(first.stoppedEarly).toBe(true);
    expect(saved).toEqual({ integrationId: 'contoso', phase: 'connections', after: { pk: 'INTEGRATION#contoso', sk: 'CONNECTION#conn-03' }, updatedAt: NOW.toISOString() });
    expect(second.created.map((c) => c.connectionId)).toEqual(['conn-04']);
    expect(second.stoppedEarly).toBe(false);
    expect(w.reads.connectionPages - connectionPagesBefore).toBe(1);
    expect(checkpoint.writes).toEqual(['put', 'clear']);
    expect(checkpoint.saved).toBeUndefined();
    expect(w.graph.calls.filter((c) => c.method === 'create')).toHaveLength(4);
  });

  it('resumes at the next integration when the checkpoint\'s is gone, and neither reads nor writes it when not asked to', async () => {
    // Prepare
    const w = world({
      integrations: ['alpha', 'gamma'],
      connections: [connection({ integrationId: 'alpha', subscriptions: ['users:created'] }), connection({ integrationId: 'gamma', subscriptions: ['users:created'] })],
    });
    const checkpoint = new MemoryCheckpoint();
    checkpoint.saved = { integrationId: 'beta', phase: 'connections', updatedAt: NOW.toISOString() };
    // Act
    const dryRun = await reconcile({ ...w.ports, checkpoint }, { dryRun: true, deadline: w.deadline });
    const resumed = await reconcile({ ...w.ports, checkpoint }, { dryRun: false, deadline: w.deadline });
    // Assess
    expect(dryRun.planned.create.map((c) => c.integrationId)).toEqual(['alpha', 'gamma']);
    expect(resumed.created.map((c) => c.integrationId)).toEqual(['gamma']);
    expect(checkpoint.writes).toEqual(['clear']);
  });

  it('files records that lack their index key and leaves their integration\'s connections to the next run', async () => {
    // Prepare: a record written before the index existed; its connection still declares it
    const old = record({ subscriptionId: 'sub-old', resource: 'users', changeTypes: ['created'] });
    const w = world({ connections: [connection({ subscriptions: ['users:created', 'groups:updated'] })], records: [old] });
    w.store.unindexed.add('sub-old');
    // Act
    const dryRun = await reconcile(w.ports, { dryRun: true, deadline: w.deadline });
    const filing = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    const next = await reconcile(w.ports, { dryRun: false, deadline: w.deadline });
    // Assess
    expect([dryRun.unindexed, dryRun.planned.create]).toEqual([1, []]);
    expect([filing.unindexed, filing.planned.create, filing.deleted]).toEqual([1, [], []]);
    expect(w.store.unindexed.size).toBe(0);
    expect(next.unindexed).toBe(0);
    expect(next.created.map((c) => c.resource)).toEqual(['groups']);
    expect(next.planned.keep.map((k) => k.subscriptionId)).toEqual(['sub-old']);
  });
});
