import { tenantClientState } from '../../shared/graph/client-state';
import { randomUUID } from 'node:crypto';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { SUBSCRIPTION_DETAIL_TYPES, type SubscriptionEventEntry } from '../../shared/events/subscription-events';
import type { GraphConfig } from '../../shared/graph/graph-config';
import { maxLifetimeMinutes } from '../../shared/graph/subscription-lifetimes';
import { TokenRequestError } from '../../shared/graph/token-client';
import { MissingAppCredentialsError } from '../../shared/secrets/app-credentials';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs, MissingEncryptionCertificateError } from '../../shared/subscriptions/integration-graphs';
import { EXPIRY_SAFETY_MARGIN_MINUTES, renewDue } from '../../shared/subscriptions/renew-due';
import { graphError, graphSubscription, harness, MINUTE, NOW, PROVIDER, record, run, TENANT_A, TENANT_B, throttled, WEBHOOK_BASE, WEBHOOK_SECRET } from '../support/renewal-harness';

/** Every event's detail passes the published JSON Schema's zod source. */
function expectValidEvents(events: readonly SubscriptionEventEntry[]): void {
  for (const event of events) expect(detailSchemas[event.detailType].safeParse(event.detail).error).toBeUndefined();
}

const maxExpiry = (resource: string) => new Date(NOW.getTime() + (maxLifetimeMinutes(resource, { hasLifecycleUrl: true }) - EXPIRY_SAFETY_MARGIN_MINUTES) * MINUTE).toISOString();

describe('renewDue: renewal', () => {
  it('PATCHes each due subscription once to the maximum lifetime minus the margin, records it and publishes Renewed', async () => {
    // Prepare
    const users = record({ resource: 'users' });
    const messages = record({ resource: 'users/8a1d/messages', changeTypes: ['created'], tenantId: TENANT_A.toUpperCase() });
    const h = harness([users, messages]);
    // Act
    const report = await run(h);
    // Assess
    expect(h.graph.patches).toEqual([
      { tenantId: TENANT_A, id: users.subscriptionId, expirationDateTime: maxExpiry('users'), deadline: NOW.getTime() + 10 * MINUTE },
      { tenantId: TENANT_A.toUpperCase(), id: messages.subscriptionId, expirationDateTime: maxExpiry('users/8a1d/messages'), deadline: NOW.getTime() + 10 * MINUTE },
    ]);
    expect(maxExpiry('users')).toBe(new Date(NOW.getTime() + (41_760 - 2) * MINUTE).toISOString());
    expect(h.store.get(users.subscriptionId)).toMatchObject({ expiresAt: maxExpiry('users'), status: 'active' });
    expect(h.store.get(messages.subscriptionId)).toMatchObject({ expiresAt: maxExpiry('users/8a1d/messages') });
    expect(h.events.map((e) => [e.detailType, e.detail.subscriptionId, e.detail.expirationDateTime])).toEqual([
      [SUBSCRIPTION_DETAIL_TYPES.renewed, users.subscriptionId, maxExpiry('users')],
      [SUBSCRIPTION_DETAIL_TYPES.renewed, messages.subscriptionId, maxExpiry('users/8a1d/messages')],
    ]);
    expect(h.events[1]?.detail).toMatchObject({ from: PROVIDER, providerConfigKey: 'contoso', connectionId: 'conn-1', tenantId: TENANT_A, changeTypes: ['created'] });
    expectValidEvents(h.events);
    expect(report).toMatchObject({ due: 2, renewed: 2, recreated: 0, needsConsent: 0, failed: 0, deferred: 0, graphCalls: 2, stoppedEarly: false });
    expect(h.graphForCalls).toEqual(['contoso']);
  });

  it('records the expiry Graph granted, not the one it asked for', async () => {
    // Prepare
    const sub = record();
    const h = harness([sub]);
    h.graph.patchAnswer = (id) => graphSubscription({ id, expirationDateTime: '2026-03-20T08:00:00.1234567Z' });
    // Act
    await run(h);
    // Assess
    expect(h.store.get(sub.subscriptionId)?.expiresAt).toBe('2026-03-20T08:00:00.123Z');
    expect(h.events[0]?.detail.expirationDateTime).toBe('2026-03-20T08:00:00.123Z');
  });
});

describe('renewDue: 404 → recreate', () => {
  it('creates the subscription again, records the new id in place of the old and publishes Recreated', async () => {
    // Prepare
    const gone = record({ resource: 'groups', changeTypes: ['updated', 'deleted'], connectionId: 'conn-7', tenantId: TENANT_B });
    const h = harness([gone]);
    h.graph.patchAnswer = () => graphError('PATCH', 404, 'ResourceNotFound', 'The object was not found.');
    h.graph.createAnswer = () => graphSubscription({ id: 'new-subscription-id', resource: 'groups', expirationDateTime: maxExpiry('groups') });
    // Act
    const report = await run(h);
    // Assess
    expect(h.graph.creates).toEqual([
      {
        tenantId: TENANT_B,
        input: {
          changeType: 'updated,deleted',
          notificationUrl: `${WEBHOOK_BASE}contoso`,
          lifecycleNotificationUrl: `${WEBHOOK_BASE}contoso`,
          resource: 'groups',
          expirationDateTime: new Date(maxExpiry('groups')),
          clientState: tenantClientState(WEBHOOK_SECRET, 'contoso', TENANT_B),
        },
      },
    ]);
    expect(h.store.get(gone.subscriptionId)).toBeUndefined();
    expect(h.store.get('new-subscription-id')).toMatchObject({
      integrationId: 'contoso',
      connectionId: 'conn-7',
      tenantId: TENANT_B,
      resource: 'groups',
      changeTypes: ['updated', 'deleted'],
      expiresAt: maxExpiry('groups'),
      status: 'active',
    });
    expect(h.events).toHaveLength(1);
    expect(h.events[0]).toMatchObject({
      detailType: SUBSCRIPTION_DETAIL_TYPES.recreated,
      detail: { subscriptionId: 'new-subscription-id', previousSubscriptionId: gone.subscriptionId, expirationDateTime: maxExpiry('groups') },
    });
    expectValidEvents(h.events);
    expect(report).toMatchObject({ due: 1, renewed: 0, recreated: 1, failed: 0, graphCalls: 2 });
  });

  it('leaves the record due and reports Renewal Failed when Graph refuses the recreation (handshake failed)', async () => {
    // Prepare
    const gone = record();
    const h = harness([gone]);
    h.graph.patchAnswer = () => graphError('PATCH', 404, 'ResourceNotFound');
    h.graph.createAnswer = () => graphError('POST', 400, 'ValidationError', 'Subscription validation request failed.');
    // Act
    const report = await run(h);
    // Assess
    expect(h.store.get(gone.subscriptionId)).toMatchObject({ status: 'active', expiresAt: gone.expiresAt });
    expect(h.events.map((e) => [e.detailType, e.detail.failure?.reason, e.detail.failure?.status, e.detail.failure?.code])).toEqual([
      [SUBSCRIPTION_DETAIL_TYPES.renewalFailed, 'graph-error', 400, 'ValidationError'],
    ]);
    expectValidEvents(h.events);
    expect(report).toMatchObject({ recreated: 0, failed: 1, graphCalls: 2 });
    expect(h.graph.creates).toHaveLength(1);
  });
});

describe('renewDue: consent', () => {
  it.each([401, 403])('marks the subscription needs-consent on %i and publishes Renewal Failed', async (status) => {
    // Prepare
    const sub = record();
    const h = harness([sub]);
    h.graph.patchAnswer = () => graphError('PATCH', status, status === 401 ? 'InvalidAuthenticationToken' : 'ExtensionError');
    // Act
    const report = await run(h);
    // Assess
    expect(h.store.get(sub.subscriptionId)).toMatchObject({ status: 'needs-consent', lastError: expect.stringContaining(`HTTP ${status}`) });
    expect(h.events[0]).toMatchObject({
      detailType: SUBSCRIPTION_DETAIL_TYPES.renewalFailed,
      detail: { subscriptionId: sub.subscriptionId, failure: { reason: 'needs-consent', status, requestId: 'req-1' } },
    });
    expectValidEvents(h.events);
    expect(report).toMatchObject({ needsConsent: 1, failed: 0, renewed: 0 });
  });

  it('marks every subscription of a tenant whose token is refused for consent, with one attempt for the tenant', async () => {
    // Prepare
    const inA = [record(), record(), record()];
    const inB = record({ tenantId: TENANT_B });
    const h = harness([...inA, inB]);
    h.graph.patchAnswer = (id) =>
      id === inB.subscriptionId
        ? undefined
        : new TokenRequestError({ tenantId: TENANT_A, status: 400, error: 'unauthorized_client', aadsts: 'AADSTS700016', kind: 'consent', message: 'token request refused' });
    // Act
    const report = await run(h, { perTenantConcurrency: 1 });
    // Assess
    expect(inA.map((r) => h.store.get(r.subscriptionId)?.status)).toEqual(['needs-consent', 'needs-consent', 'needs-consent']);
    expect(h.store.get(inB.subscriptionId)?.status).toBe('active');
    expect(h.graph.patches.filter((p) => p.tenantId === TENANT_A)).toHaveLength(1);
    expect(h.events.filter((e) => e.detail.failure?.reason === 'needs-consent')).toHaveLength(3);
    expectValidEvents(h.events);
    expect(report).toMatchObject({ due: 4, needsConsent: 3, renewed: 1, graphCalls: 2 });
  });
});

describe('renewDue: consent marks the connection', () => {
  const refusedForConsent = () =>
    new TokenRequestError({ tenantId: TENANT_A, status: 400, error: 'unauthorized_client', aadsts: 'AADSTS700016', kind: 'consent', message: "Application with identifier 'x' was not found\nin the directory" });

  it('marks each connection once per run when a tenant\'s token is refused for consent (3 subscriptions of 2 connections)', async () => {
    // Prepare
    const subs = [record({ connectionId: 'conn-1' }), record({ connectionId: 'conn-2' }), record({ connectionId: 'conn-1' })];
    const h = harness(subs);
    h.graph.patchAnswer = () => refusedForConsent();
    // Act
    const report = await run(h, { perTenantConcurrency: 1 });
    // Assess
    expect(h.connectionMarks).toEqual([
      { integrationId: 'contoso', connectionId: 'conn-1', reason: expect.stringContaining('was not found') },
      { integrationId: 'contoso', connectionId: 'conn-2', reason: expect.stringContaining('was not found') },
    ]);
    expect(report).toMatchObject({ due: 3, needsConsent: 3, graphCalls: 1 });
  });

  it('marks once per connection also when the subscriptions of a connection are refused one by one (403)', async () => {
    // Prepare
    const subs = [record(), record(), record({ connectionId: 'conn-2', tenantId: TENANT_B })];
    const h = harness(subs);
    h.graph.patchAnswer = () => graphError('PATCH', 403, 'ExtensionError', 'Operation: Update; Exception: [Status Code: Forbidden]');
    // Act
    await run(h, { perTenantConcurrency: 2 });
    // Assess
    expect(h.connectionMarks.map((m) => m.connectionId).sort()).toEqual(['conn-1', 'conn-2']);
  });

  it('does not mark the connection for failures other than consent, nor for a 403 over quota', async () => {
    // Prepare
    const subs = [record(), record({ connectionId: 'conn-2' })];
    const h = harness(subs);
    h.graph.patchAnswer = (id) =>
      id === subs[0]?.subscriptionId ? graphError('PATCH', 503, 'serviceNotAvailable') : graphError('PATCH', 403, 'ExtensionError', 'The subscription quota for the tenant has reached its limit.');
    // Act
    const report = await run(h);
    // Assess
    expect(h.connectionMarks).toEqual([]);
    expect(report).toMatchObject({ needsConsent: 0, failed: 2 });
  });

  it('logs an error when a connection cannot be marked, with the run\'s outcome unchanged', async () => {
    // Prepare
    const subs = [record({ connectionId: 'conn-1' }), record({ connectionId: 'conn-2' }), record({ connectionId: 'conn-1' }), record({ tenantId: TENANT_B })];
    const errors: { message: string; fields: Record<string, unknown> }[] = [];
    const h = harness(subs, {
      logger: { info: () => undefined, warn: () => undefined, error: (message, fields) => void errors.push({ message, fields }) },
    });
    h.ports.connections = {
      markNeedsConsent: async () => {
        throw new Error('DynamoDB is down');
      },
    };
    h.graph.patchAnswer = (id) => (id === subs[3]?.subscriptionId ? undefined : refusedForConsent());
    // Act
    const report = await run(h, { perTenantConcurrency: 1 });
    // Assess
    expect(report).toMatchObject({ due: 4, needsConsent: 3, renewed: 1, failed: 0, deferred: 0, graphCalls: 2 });
    expect(subs.slice(0, 3).map((r) => h.store.get(r.subscriptionId)?.status)).toEqual(['needs-consent', 'needs-consent', 'needs-consent']);
    expect(h.events.filter((e) => e.detail.failure?.reason === 'needs-consent')).toHaveLength(3);
    expect(errors).toEqual([
      { message: 'connection could not be marked needs-consent', fields: { integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT_A, error: 'Error: DynamoDB is down' } },
      { message: 'connection could not be marked needs-consent', fields: { integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT_A, error: 'Error: DynamoDB is down' } },
    ]);
  });

  it('warns, without failing, when the connection of a needs-consent subscription is gone', async () => {
    // Prepare
    const warnings: string[] = [];
    const h = harness([record()], { logger: { info: () => undefined, warn: (message) => void warnings.push(message), error: () => undefined } });
    h.ports.connections = { markNeedsConsent: async () => false };
    h.graph.patchAnswer = () => refusedForConsent();
    // Act
    const report = await run(h);
    // Assess
    expect(report).toMatchObject({ needsConsent: 1 });
    expect(warnings).toContain('connection of a needs-consent subscription no longer exists: not marked');
  });
});

describe('renewDue: throttling and Graph errors', () => {
  it('defers a subscription throttled past the deadline, and the rest of its tenant without calling, with no event or status change', async () => {
    // Prepare
    const inA = [record(), record(), record()];
    const inB = record({ tenantId: TENANT_B });
    const h = harness([...inA, inB]);
    h.graph.patchAnswer = (id) => (id === inB.subscriptionId ? undefined : throttled());
    // Act
    const report = await run(h, { perTenantConcurrency: 1 });
    // Assess
    expect(report).toMatchObject({ due: 4, deferred: 3, renewed: 1, failed: 0, stoppedEarly: false, graphCalls: 2 });
    expect(inA.map((r) => h.store.get(r.subscriptionId))).toEqual(inA);
    expect(h.events.map((e) => e.detail.subscriptionId)).toEqual([inB.subscriptionId]);
  });

  it.each([
    ['a 5xx after the client\'s retries', graphError('PATCH', 503, 'serviceNotAvailable'), 503],
    ['a timeout', graphError('PATCH', undefined, 'timeout'), undefined],
  ])('reports %s as graph-error and leaves the subscription due for the next run', async (_case, error, status) => {
    // Prepare
    const sub = record();
    const h = harness([sub]);
    h.graph.patchAnswer = () => error;
    // Act
    const report = await run(h);
    // Assess
    expect(h.store.get(sub.subscriptionId)).toEqual(sub);
    expect(h.events.map((e) => [e.detailType, e.detail.failure?.reason, e.detail.failure?.status])).toEqual([[SUBSCRIPTION_DETAIL_TYPES.renewalFailed, 'graph-error', status]]);
    expectValidEvents(h.events);
    expect(report).toMatchObject({ failed: 1, deferred: 0 });
  });

  it('takes a subscription whose PATCH Graph refuses as invalid (400) out of renewal', async () => {
    // Prepare
    const sub = record();
    const h = harness([sub]);
    h.graph.patchAnswer = () => graphError('PATCH', 400, 'ExtensionError', 'Subscription expiration can only be 4230 minutes in the future.');
    // Act
    const report = await run(h);
    // Assess
    expect(h.store.get(sub.subscriptionId)).toMatchObject({ status: 'failed', lastError: expect.stringContaining('4230 minutes') });
    expect(h.events[0]?.detail.failure).toMatchObject({ reason: 'graph-error', status: 400, code: 'ExtensionError' });
    expect(report).toMatchObject({ failed: 1 });
  });

  it('takes a subscription of an unsupported resource out of renewal without calling Graph', async () => {
    // Prepare
    const sub = record({ resource: 'planner/tasks' });
    const h = harness([sub]);
    // Act
    const report = await run(h);
    // Assess
    expect(h.graph.patches).toEqual([]);
    expect(h.store.get(sub.subscriptionId)?.status).toBe('failed');
    expect(h.events[0]?.detail.failure).toMatchObject({ reason: 'unsupported-resource', message: expect.stringContaining('supported kinds') });
    expectValidEvents(h.events);
    expect(report).toMatchObject({ failed: 1, graphCalls: 0 });
  });
});

describe('renewDue: credentials', () => {
  it('fails every subscription of an integration without app credentials, with no Graph call, leaving them due', async () => {
    // Prepare
    const subs = [record(), record({ tenantId: TENANT_B })];
    const other = record({ integrationId: 'fabrikam' });
    const graphForCalls: string[] = [];
    const h = harness([...subs, other]);
    h.ports.graphFor = async (integrationId) => {
      graphForCalls.push(integrationId);
      if (integrationId === 'contoso') throw new MissingAppCredentialsError(integrationId);
      return h.graph;
    };
    // Act
    const report = await run(h);
    // Assess
    expect(h.graph.patches.map((p) => p.id)).toEqual([other.subscriptionId]);
    expect(graphForCalls.sort()).toEqual(['contoso', 'fabrikam']);
    expect(subs.map((r) => h.store.get(r.subscriptionId))).toEqual(subs);
    expect(h.events.filter((e) => e.detail.failure?.reason === 'missing-credentials').map((e) => e.detail.subscriptionId).sort()).toEqual(
      subs.map((r) => r.subscriptionId).sort(),
    );
    expectValidEvents(h.events);
    expect(report).toMatchObject({ due: 3, failed: 2, renewed: 1, graphCalls: 1 });
  });
});

describe('renewDue: deadline', () => {
  it('starts no call that could not finish before the deadline and leaves the rest due', async () => {
    // Prepare: each call takes 10 s; a call is started only with its 15 s budget left.
    const subs = Array.from({ length: 6 }, () => record());
    const h = harness(subs);
    h.graph.onCall = () => h.clock.advance(10_000);
    // Act
    const report = await run(h, { deadline: NOW.getTime() + 35_000, perTenantConcurrency: 1, renewBudgetMs: 15_000 });
    // Assess
    expect(h.graph.patches.map((p) => p.id)).toEqual(subs.slice(0, 3).map((r) => r.subscriptionId));
    expect(report).toMatchObject({ due: 6, renewed: 3, deferred: 3, stoppedEarly: true, graphCalls: 3, durationMs: 30_000 });
    expect(subs.slice(3).map((r) => h.store.get(r.subscriptionId))).toEqual(subs.slice(3));
  });

  it('does not recreate when the recreation could not finish before the deadline', async () => {
    // Prepare
    const gone = record();
    const h = harness([gone]);
    h.graph.patchAnswer = () => graphError('PATCH', 404, 'ResourceNotFound');
    // Act
    const report = await run(h, { deadline: NOW.getTime() + 20_000, renewBudgetMs: 15_000, recreateBudgetMs: 30_000 });
    // Assess
    expect(h.graph.creates).toEqual([]);
    expect(h.store.get(gone.subscriptionId)).toEqual(gone);
    expect(report).toMatchObject({ deferred: 1, stoppedEarly: true });
  });
});

describe('renewDue: events', () => {
  it('keeps the renewals and counts the events the bus did not take', async () => {
    // Prepare
    const sub = record();
    const h = harness([sub], {
      publisher: {
        publish: async () => {
          throw Object.assign(new Error('1 of 1 events could not be put on the bus'), { failedIndexes: new Set([0]) });
        },
      },
    });
    // Act
    const report = await run(h);
    // Assess
    expect(report).toMatchObject({ renewed: 1, unpublishedEvents: 1 });
    expect(h.store.get(sub.subscriptionId)?.expiresAt).toBe(maxExpiry('users'));
  });
});

describe('renewDue with IntegrationGraphs: one token per tenant', () => {
  const CLIENT_ID = '3f1c9a52-1d0e-4c4b-9f8a-0a1b2c3d4e5f';
  const config: GraphConfig = { apiUrl: 'https://graph.test', loginUrl: 'https://login.test', scope: 'https://graph.test/.default' };

  /** A stub network answering tokens and PATCHes like Graph, counting requests by kind and tenant. */
  function stubFetch() {
    const tokenRequests: string[] = [];
    const patches: string[] = [];
    const fetch = async (url: string, init: RequestInit): Promise<Response> => {
      await new Promise((resolve) => setImmediate(resolve));
      if (url.startsWith(config.loginUrl)) {
        tokenRequests.push(new URL(url).pathname.split('/')[1] ?? '');
        return Response.json({ access_token: `token-${randomUUID()}`, expires_in: 3599, token_type: 'Bearer' });
      }
      const body = JSON.parse(String(init.body)) as { expirationDateTime: string };
      const id = decodeURIComponent(url.split('/').pop() ?? '');
      patches.push(id);
      return Response.json({ id, resource: 'users', changeType: 'updated', notificationUrl: `${WEBHOOK_BASE}contoso`, expirationDateTime: body.expirationDateTime });
    };
    return { fetch, tokenRequests, patches };
  }

  it('requests one token per tenant however many subscriptions and concurrent calls it has', async () => {
    // Prepare
    const subs = [...Array.from({ length: 6 }, () => record()), ...Array.from({ length: 5 }, () => record({ tenantId: TENANT_B }))];
    const network = stubFetch();
    const graphs = new IntegrationGraphs({ config, fetch: network.fetch, readSecret: async () => ({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientSecret: 'app-secret-value' }) });
    const h = harness(subs, { graphFor: (id) => graphs.graphFor(id) });
    // Act
    const report = await run(h, { perTenantConcurrency: 3 });
    // Assess
    expect(network.tokenRequests.sort()).toEqual([TENANT_B, TENANT_A].sort());
    expect(network.patches.sort()).toEqual(subs.map((r) => r.subscriptionId).sort());
    expect(graphs.stats()).toEqual({ requests: { 'PATCH 200': 11 }, tokenRequests: 2 });
    expect(report).toMatchObject({ due: 11, renewed: 11, graphCalls: 11 });
  });

  it("gives each integration one rate governor, shared by its subscription calls and its Graph client's other calls", async () => {
    // Prepare: one write per tenant per 20 s, on a clock that only moves when slept
    const waits: number[] = [];
    let now = NOW.getTime();
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        waits.push(ms);
        now += ms;
      },
    };
    const network = stubFetch();
    const graphs = new IntegrationGraphs({
      config,
      fetch: network.fetch,
      clock,
      readSecret: async () => ({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientSecret: 'app-secret-value' }),
      rateLimits: [{ name: 'writes', scope: 'tenant', kinds: ['subscription-write'], requests: 1, windowMs: 20_000 }],
    });
    await (await graphs.graphFor('contoso')).renewSubscription(TENANT_A, 'sub-1', new Date(now + 60 * MINUTE));

    // Act
    await (await graphs.graphClientFor('contoso')).request({ method: 'PATCH', path: '/subscriptions/sub-2', body: { expirationDateTime: new Date(now + 60 * MINUTE).toISOString() }, tenantId: TENANT_A });

    // Assess
    expect(waits).toEqual([20_000]);
    expect(network.patches).toEqual(['sub-1', 'sub-2']);
  });

  it('makes no request at all for an integration whose secret has no app credentials', async () => {
    // Prepare
    const network = stubFetch();
    const graphs = new IntegrationGraphs({ config, fetch: network.fetch, readSecret: async () => ({ webhookSecret: WEBHOOK_SECRET }) });
    const h = harness([record(), record()], { graphFor: (id) => graphs.graphFor(id) });
    // Act
    const report = await run(h);
    // Assess
    expect(network.tokenRequests).toEqual([]);
    expect(network.patches).toEqual([]);
    expect(h.events.map((e) => e.detail.failure?.reason)).toEqual(['missing-credentials', 'missing-credentials']);
    expect(h.events[0]?.detail.failure?.message).toContain('has no app credentials');
    expect(report).toMatchObject({ failed: 2, graphCalls: 0 });
  });

  it('treats an integration that only receives (a client id, no credentials) as missing credentials, without a request', async () => {
    // Prepare
    const network = stubFetch();
    const graphs = new IntegrationGraphs({ config, fetch: network.fetch, readSecret: async () => ({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID }) });
    const h = harness([record()], { graphFor: (id) => graphs.graphFor(id) });
    // Act
    const report = await run(h);
    // Assess
    expect(network.tokenRequests).toEqual([]);
    expect(network.patches).toEqual([]);
    expect(h.events.map((e) => e.detail.failure?.reason)).toEqual(['missing-credentials']);
    expect(h.events[0]?.detail.failure?.message).toContain(`only receives (client id ${CLIENT_ID}, no credentials)`);
    expect(report).toMatchObject({ failed: 1, graphCalls: 0 });
  });
});

describe('renewDue: subscriptions with resource data', () => {
  const MESSAGES = 'users/8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d/messages';
  const OLD = { id: 'enc-old', certificateBase64: 'MII-old-der', notAfter: new Date('2027-01-01T00:00:00Z') };
  const NEW = { id: 'enc-new', certificateBase64: 'MII-new-der', notAfter: new Date('2027-06-01T00:00:00Z') };
  const richMaxExpiry = new Date(NOW.getTime() + (1_440 - EXPIRY_SAFETY_MARGIN_MINUTES) * MINUTE).toISOString();

  function rich(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
    return record({ resource: MESSAGES, changeTypes: ['created'], includeResourceData: true, encryptionCertificateId: OLD.id, ...overrides });
  }

  it('renews to the shorter maximum without a certificate when the current one is the one the subscription has', async () => {
    // Prepare
    const sub = rich();
    const h = harness([sub], { encryptionCertificateOf: async () => OLD });
    // Act
    const report = await run(h);
    // Assess
    expect(h.graph.patches).toEqual([{ tenantId: TENANT_A, id: sub.subscriptionId, expirationDateTime: richMaxExpiry, deadline: NOW.getTime() + 10 * MINUTE }]);
    expect(h.store.get(sub.subscriptionId)).toMatchObject({ expiresAt: richMaxExpiry, encryptionCertificateId: OLD.id });
    expect(report).toMatchObject({ renewed: 1, failed: 0 });
  });

  it('rotates: the PATCH carries the current certificate when it differs, and the record names it', async () => {
    // Prepare
    const sub = rich();
    const h = harness([sub], { encryptionCertificateOf: async () => NEW });
    // Act
    await run(h);
    // Assess
    expect(h.graph.patches).toEqual([
      expect.objectContaining({ id: sub.subscriptionId, expirationDateTime: richMaxExpiry, encryptionCertificate: NEW.certificateBase64, encryptionCertificateId: NEW.id }),
    ]);
    expect(h.store.get(sub.subscriptionId)).toMatchObject({ encryptionCertificateId: NEW.id, status: 'active' });
  });

  it('recreates a rich subscription Graph lost with the current certificate and the shorter lifetime', async () => {
    // Prepare
    const sub = rich();
    const h = harness([sub], { encryptionCertificateOf: async () => NEW });
    h.graph.patchAnswer = () => graphError('PATCH', 404, 'ResourceNotFound', 'The object was not found.');
    h.graph.createAnswer = () => graphSubscription({ id: 'new-rich', resource: MESSAGES, expirationDateTime: richMaxExpiry });
    // Act
    const report = await run(h);
    // Assess
    expect(h.graph.creates.map((c) => c.input)).toEqual([
      expect.objectContaining({ includeResourceData: true, encryptionCertificate: NEW.certificateBase64, encryptionCertificateId: NEW.id, expirationDateTime: new Date(richMaxExpiry) }),
    ]);
    expect(h.store.get('new-rich')).toMatchObject({ includeResourceData: true, encryptionCertificateId: NEW.id });
    expect(report.recreated).toBe(1);
  });

  it('fails a rich subscription without a Graph call when the secret has no certificate, leaves it due, and renews the plain ones', async () => {
    // Prepare
    const sub = rich();
    const plain = record({ resource: 'users' });
    const h = harness([sub, plain], {
      encryptionCertificateOf: async (integrationId) => {
        throw new MissingEncryptionCertificateError(integrationId);
      },
    });
    // Act
    const report = await run(h);
    // Assess
    expect(h.graph.patches.map((p) => p.id)).toEqual([plain.subscriptionId]);
    expect(h.store.get(sub.subscriptionId)).toMatchObject({ status: 'active', expiresAt: sub.expiresAt });
    const failure = h.events.find((e) => e.detail.subscriptionId === sub.subscriptionId)?.detail.failure;
    expect(failure).toMatchObject({ reason: 'missing-credentials', message: expect.stringContaining('graph-relay certificates create contoso') });
    expectValidEvents(h.events);
    expect(report).toMatchObject({ renewed: 1, failed: 1 });
  });
});
