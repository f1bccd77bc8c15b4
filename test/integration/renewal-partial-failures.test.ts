/**
 * One large scheduled renewal run with every partial-failure kind of shared/subscriptions/renew-due.ts at once, on
 * the local stack (the renewal function's own handler and runtime, DynamoDB Local, the AWS emulator's bus and
 * Secrets Manager, the intake answering the validation handshake) against the Graph fake.
 *
 * 1,020 due subscriptions, 20 tenants, 3 integrations:
 * - A (app A), 12 tenants: 8 "first-wave" tenants of 55 that renew normally (they are due earliest, so the run's first
 *   8 tenant groups, and the only ones in flight when Graph answers a transient 503); one whose consent was revoked at
 *   the token endpoint; one with 5 subscriptions Graph deleted and 4 whose PATCH always fails with 500; one with 5
 *   deleted; one normal.
 * - B (app B), 7 tenants: one whose consent was revoked at Graph (403 on PATCH); one with 5 deleted and 4 always
 *   503; one with 5 deleted; one with 4 always 502; one whose write budget at Graph is spent, so Graph throttles it
 *   with a Retry-After longer than the run's deadline; two normal.
 * - C, 1 tenant of 30: the integration's secret has no app credentials.
 *
 * Where the fault comes from: consent, deletion and throttling are the fake's own (revokeConsent, deleteSubscription,
 * its rate limiter). The transient 503s are the fake's `failNext`. The persistent 5xx are injected per subscription
 * by the request log below (a `fetch` wrapper answering in Graph's error shape), because `failNext` is one queue per
 * route, taken by whichever PATCH arrives next: with 16 calls in flight it cannot aim at given subscriptions.
 *
 * Time: the product reads `Date.now()`, the fake reads `fake.clock`; between the two runs both move on by the
 * schedule's interval (only `Date` is faked, and it follows real time between jumps), as in subscriptions-e2e.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DEFAULT_LOCAL_RENEWAL_INTERVAL_SECONDS } from '../../local/renewal-schedule';
import { SUBSCRIPTION_DETAIL_TYPES, type SubscriptionEventDetail } from '../../shared/events/subscription-events';
import { GRAPH_DEFAULTS } from '../../shared/graph/graph-config';
import { DynamoDbSubscriptionsStore, type SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { RENEWAL_RUN_DEFAULTS } from '../../shared/subscriptions/renew-due';
import { mapConcurrent } from '../../shared/util/batching';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { graphErrorBody, GraphHttpError } from '../../testkit/graph-fake/errors';
import { startTestStack, type TestStack } from '../support/test-stack';
import { fakeDateOnly } from '../support/fake-date';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const APP_A = { clientId: randomUUID(), clientSecret: 'partial-failures-app-a~0123456789' };
const APP_B = { clientId: randomUUID(), clientSecret: 'partial-failures-app-b~0123456789' };
const APP_C = { clientId: randomUUID(), clientSecret: 'partial-failures-app-c~0123456789' };
/**
 * The fake's write window: a spent tenant is answered Retry-After ≈ 600 s, past the run's deadline (the local
 * stack gives the handler the deployed 5-minute budget, less the 20 s margin) and past the Graph client's cap on
 * waiting, but before the next scheduled run.
 */
const THROTTLE_WINDOW_SECONDS = 600;
const NEXT_SCHEDULED_RUN_MS = DEFAULT_LOCAL_RENEWAL_INTERVAL_SECONDS * 1000;
/** More than any tenant writes in one run (55), so only the spent tenant is throttled. */
const WRITES_PER_TENANT = 100;
/** Transient 503s queued at the fake for the first PATCHes of the run; the client's retry absorbs each. */
const TRANSIENT_503S = 6;

type IntegrationKey = 'A' | 'B' | 'C';
type Outcome = 'renewed' | 'recreated' | 'needsConsent' | 'failed' | 'deferred';

interface TenantPlan {
  name: string;
  integration: IntegrationKey;
  size: number;
  /** Due earliest: among the first tenant groups the run starts. */
  firstWave?: boolean;
  deleted?: number;
  persistent?: { count: number; status: number };
  consent?: 'token' | 'graph';
  throttled?: boolean;
}

const normal = (name: string, size = 50): TenantPlan => ({ name, integration: name.startsWith('a') ? 'A' : 'B', size });
const PLAN: readonly TenantPlan[] = [
  ...Array.from({ length: RENEWAL_RUN_DEFAULTS.tenantConcurrency }, (_, i): TenantPlan => ({ ...normal(`a${i + 1}`, 55), firstWave: true })),
  { ...normal('a9-consent-token'), consent: 'token' },
  { ...normal('a10'), deleted: 5, persistent: { count: 4, status: 500 } },
  { ...normal('a11'), deleted: 5 },
  normal('a12'),
  { ...normal('b1-consent-graph'), consent: 'graph' },
  { ...normal('b2'), deleted: 5, persistent: { count: 4, status: 503 } },
  { ...normal('b3'), deleted: 5 },
  { ...normal('b4'), persistent: { count: 4, status: 502 } },
  { ...normal('b5-throttled'), throttled: true },
  normal('b6'),
  normal('b7'),
  { name: 'c1-no-credentials', integration: 'C', size: 30 },
];

interface Planned {
  record: SubscriptionRecord;
  tenant: TenantPlan;
  outcome: Outcome;
  /** Status of every PATCH attempt when this subscription's PATCH always fails. */
  persistentStatus?: number;
}

/** One request to the Graph fake (token endpoint or Graph), as the product sent it and as it was answered. */
interface LoggedRequest {
  method: string;
  path: string;
  subscriptionId?: string;
  tokenTenant?: string;
  clientRequestId?: string;
  body?: string;
  status: number;
}

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let subscriptions: DynamoDbSubscriptionsStore;

beforeEach(async () => {
  fakeDateOnly();
  fake = await startGraphFake({
    apps: [APP_A, APP_B, APP_C],
    // Graph's own 10 s: the intake answers in milliseconds, but the machine may be busy with other suites.
    validationTimeoutMs: 10_000,
    rateLimits: { windowSeconds: THROTTLE_WINDOW_SECONDS, writesPerAppPerTenant: WRITES_PER_TENANT, writesPerApp: 1_000_000 },
  });
  t = await startTestStack({ renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const d = t.stack.descriptor;
  dynamodb = new DynamoDBClient({ region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.dynamodbEndpoint });
  subscriptions = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
});

afterEach(async () => {
  jest.restoreAllMocks();
  dynamodb?.destroy();
  await t?.stop();
  await fake?.close();
  jest.useRealTimers();
});

/** The product's clock (Date) and Graph's clock (the fake's) move forward together. */
function advanceClocks(ms: number): void {
  jest.setSystemTime(Date.now() + ms);
  fake.clock.advance(ms);
}

/**
 * Records every request the product sends to the fake, and answers every PATCH of the given subscriptions with a
 * Graph 5xx of the given status without passing it on (a fault that lasts, aimed at one subscription).
 */
function logGraphRequests(persistentFaults: ReadonlyMap<string, number>): LoggedRequest[] {
  const log: LoggedRequest[] = [];
  const realFetch = globalThis.fetch;
  jest.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    if (url.origin !== fake.url) return realFetch(input, init);
    const method = (init?.method ?? 'GET').toUpperCase();
    const clientRequestId = new Headers(init?.headers).get('client-request-id') ?? undefined;
    const subscriptionId = /^\/v1\.0\/subscriptions\/([^/]+)$/.exec(url.pathname)?.[1];
    const tokenTenant = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname)?.[1];
    const injected = method === 'PATCH' && subscriptionId !== undefined ? persistentFaults.get(subscriptionId) : undefined;
    const response =
      injected === undefined
        ? await realFetch(input, init)
        : graphFault(injected, clientRequestId ?? randomUUID());
    log.push({
      method,
      path: url.pathname,
      status: response.status,
      ...(subscriptionId === undefined ? {} : { subscriptionId }),
      ...(tokenTenant === undefined ? {} : { tokenTenant }),
      ...(clientRequestId === undefined ? {} : { clientRequestId }),
      ...(typeof init?.body === 'string' ? { body: init.body } : {}),
    });
    return response;
  });
  return log;
}

/** A Graph error response as the fake writes one (shape, headers, request ids). */
function graphFault(status: number, clientRequestId: string): Response {
  const requestId = randomUUID();
  const code = { 500: 'generalException', 502: 'BadGateway', 503: 'serviceNotAvailable' }[status] ?? 'UnknownError';
  const body = graphErrorBody(new GraphHttpError(status, code, `injected ${status}`), requestId, clientRequestId, fake.clock.now());
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8', 'request-id': requestId, 'client-request-id': clientRequestId },
  });
}

function tally<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

function busEvents(detailType: string, integrationIds: readonly string[]): SubscriptionEventDetail[] {
  return t.stack.emulator
    .events(t.stack.descriptor.eventBusName)
    .filter((e) => e['detail-type'] === detailType && integrationIds.includes(String(e.detail['providerConfigKey'])))
    .map((e) => e.detail as unknown as SubscriptionEventDetail);
}

/**
 * The integrations, their connections (one per tenant), and every planned subscription created at the fake through
 * the real validation handshake against the local intake, then recorded as the reconciler would have.
 */
async function buildScenario() {
  const apps: Record<IntegrationKey, typeof APP_A> = { A: APP_A, B: APP_B, C: APP_C };
  const tenantIds = new Map(PLAN.map((tenant) => [tenant.name, randomUUID()]));
  const tenantOf = (tenant: TenantPlan) => tenantIds.get(tenant.name) ?? '';
  const integrations = {} as Record<IntegrationKey, { integrationId: string; webhookSecret: string; notificationUrl: string }>;
  for (const key of ['A', 'B', 'C'] as const) {
    const connections = PLAN.filter((tenant) => tenant.integration === key).map((tenant) => ({ connectionId: `conn-${tenant.name}`, tenantId: tenantOf(tenant) }));
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections });
    // C's secret keeps only its webhook secret: its app credentials are missing.
    if (key !== 'C') await t.putSecret(integrationId, { webhookSecret, ...apps[key] });
    integrations[key] = { integrationId, webhookSecret, notificationUrl: `${t.stack.descriptor.webhookBaseUrl}${integrationId}` };
  }

  const now = Date.now();
  const specs = PLAN.flatMap((tenant) =>
    Array.from({ length: tenant.size }, (_, i) => {
      const group = i % 3 === 0;
      const persistent = tenant.persistent !== undefined && i >= tenant.size - tenant.persistent.count;
      const deleted = !persistent && tenant.deleted !== undefined && i >= tenant.size - (tenant.persistent?.count ?? 0) - tenant.deleted;
      const outcome: Outcome =
        tenant.integration === 'C'
          ? 'failed'
          : tenant.consent !== undefined
            ? 'needsConsent'
            : tenant.throttled === true
              ? 'deferred'
              : persistent
                ? 'failed'
                : deleted
                  ? 'recreated'
                  : 'renewed';
      return {
        tenant,
        outcome,
        deleted,
        persistentStatus: persistent ? tenant.persistent?.status : undefined,
        resource: `${group ? 'groups' : 'users'}/${randomUUID()}`,
        changeTypes: group ? (['updated', 'deleted'] as const) : (['updated'] as const),
      };
    }),
  );

  const planned = await mapConcurrent(specs, 32, async (spec): Promise<Planned> => {
    const { integrationId, webhookSecret, notificationUrl } = integrations[spec.tenant.integration];
    const tenantId = tenantOf(spec.tenant);
    const response = await createAtGraph(tenantId, apps[spec.tenant.integration].clientId, {
      changeType: spec.changeTypes.join(','),
      notificationUrl,
      lifecycleNotificationUrl: notificationUrl,
      resource: spec.resource,
      expirationDateTime: new Date(fake.clock.now() + 2 * DAY).toISOString(),
      clientState: webhookSecret,
    });
    const created = (await response.json()) as { id: string; expirationDateTime: string };
    const record = await subscriptions.put({
      integrationId,
      subscriptionId: created.id,
      connectionId: `conn-${spec.tenant.name}`,
      tenantId,
      resource: spec.resource,
      changeTypes: [...spec.changeTypes],
      expiresAt: new Date(created.expirationDateTime).toISOString(),
      status: 'active',
      // Granted days ago: due now, the first wave earliest.
      createdAt: new Date(now - (spec.tenant.firstWave === true ? 10 : 5) * DAY).toISOString(),
    });
    if (spec.deleted) expect(fake.deleteSubscription(created.id)).toBe(true);
    return { record, tenant: spec.tenant, outcome: spec.outcome, ...(spec.persistentStatus === undefined ? {} : { persistentStatus: spec.persistentStatus }) };
  });

  return { planned, integrations, tenantOf, integrationIds: Object.values(integrations).map((i) => i.integrationId) };
}

/**
 * `POST /subscriptions` through the real handshake. Setup only: a validation request that lost its connection
 * (status 0, "socket hang up" on a busy machine: the fake's keep-alive socket to the intake closed under it) is
 * tried again, up to 3 times; any other refusal fails the test.
 */
async function createAtGraph(tenantId: string, clientId: string, body: Record<string, string>): Promise<Response> {
  for (let attempt = 1; ; attempt += 1) {
    const validationsBefore = fake.validationRequests().length;
    const response = await fetch(`${fake.graphUrl}/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fake.issueToken(tenantId, clientId)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status === 201) return response;
    const lostConnection = fake
      .validationRequests()
      .slice(validationsBefore)
      .some((v) => v.url === body['notificationUrl'] && v.status === 0 && v.outcome === 'failed');
    if (!lostConnection || attempt === 3) throw new Error(`setup: creating a subscription answered ${response.status}: ${await response.text()}`);
  }
}

/** Spends the tenant's write budget at Graph (another writer of the same app, say), so its next write gets 429. */
async function spendWriteBudget(tenantId: string, clientId: string, ids: readonly string[]): Promise<void> {
  const token = fake.issueToken(tenantId, clientId);
  await mapConcurrent(
    Array.from({ length: WRITES_PER_TENANT }, (_, i) => ids[i % ids.length] ?? ''),
    10,
    async (id) => {
      const response = await fetch(`${fake.graphUrl}/subscriptions/${id}/reauthorize`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(204);
    },
  );
}

describe('a large renewal run with partial failures', () => {
  it('sorts 1,020 due subscriptions into renewed, recreated, needs-consent, failed and deferred, and the next run renews what was left due', async () => {
    // Prepare
    const { planned, integrations, tenantOf, integrationIds } = await buildScenario();
    const byOutcome = (outcome: Outcome) => planned.filter((p) => p.outcome === outcome);
    const idsOf = (items: readonly Planned[]) => items.map((p) => p.record.subscriptionId).sort();
    const tenantPlan = (name: string) => PLAN.find((tenant) => tenant.name === name) as TenantPlan;
    const throttled = planned.filter((p) => p.tenant.throttled === true);
    const persistentFaults = new Map(planned.flatMap((p) => (p.persistentStatus === undefined ? [] : [[p.record.subscriptionId, p.persistentStatus] as const])));
    fake.revokeConsent(tenantOf(tenantPlan('a9-consent-token')), { clientId: APP_A.clientId, mode: 'token' });
    fake.revokeConsent(tenantOf(tenantPlan('b1-consent-graph')), { clientId: APP_B.clientId, mode: 'graph' });
    fake.resetRateLimits();
    await spendWriteBudget(tenantOf(tenantPlan('b5-throttled')), APP_B.clientId, idsOf(throttled));
    fake.failNext('subscriptions.update', 503, TRANSIENT_503S);
    const validationsBefore = fake.validationRequests().length;
    fake.resetStats();
    const log = logGraphRequests(persistentFaults);

    // Act 1: the scheduled run
    const report = await t.stack.renewal.runNow();

    // Assess 1: the report
    expect(planned).toHaveLength(1020);
    expect(report).toMatchObject({
      due: 1020,
      renewed: 808,
      recreated: 20,
      needsConsent: 100,
      failed: 42,
      deferred: 50,
      invalidItems: 0,
      unpublishedEvents: 0,
      stoppedEarly: false,
    });
    expect(report.renewed + report.recreated + report.needsConsent + report.failed + report.deferred).toBe(report.due);
    for (const outcome of ['renewed', 'recreated', 'needsConsent', 'failed', 'deferred'] as const) expect(report[outcome]).toBe(byOutcome(outcome).length);
    // PATCHes sent (808 + 20 + 50 + 12 + 2) + 20 POSTs, plus the 2 PATCHes the token-refused tenant started without sending.
    expect(report.graphCalls).toBe(914);

    // Assess 1: the fake saw one token request per tenant called, and exactly these PATCH and POST answers
    expect(fake.stats()).toEqual({
      token: { '200': 18, '400': 1 },
      'subscriptions.update': { '200': 808, '403': 50, '404': 20, '429': RENEWAL_RUN_DEFAULTS.perTenantConcurrency, '503': TRANSIENT_503S },
      'subscriptions.create': { '201': 20 },
    });
    expect(fake.internalErrors()).toEqual([]);

    // Assess 1: request by request
    const tokenRequests = log.filter((r) => r.tokenTenant !== undefined);
    const calledTenants = PLAN.filter((tenant) => tenant.integration !== 'C');
    expect(tally(tokenRequests, (r) => r.tokenTenant ?? '')).toEqual(Object.fromEntries(calledTenants.map((tenant) => [tenantOf(tenant), 1])));
    expect(tokenRequests.find((r) => r.tokenTenant === tenantOf(tenantPlan('a9-consent-token')))?.status).toBe(400);
    expect(log.filter((r) => r.tokenTenant === undefined && r.subscriptionId === undefined).map((r) => [r.method, r.path, r.status])).toEqual(
      Array.from({ length: 20 }, () => ['POST', '/v1.0/subscriptions', 201]),
    );
    expect(log.filter((r) => r.subscriptionId !== undefined && r.method !== 'PATCH')).toEqual([]);
    const patches = new Map<string, LoggedRequest[]>();
    for (const request of log.filter((r) => r.method === 'PATCH')) patches.set(request.subscriptionId ?? '', [...(patches.get(request.subscriptionId ?? '') ?? []), request]);
    const statusesOf = (id: string) => (patches.get(id) ?? []).map((r) => r.status);
    // Retries of one PATCH share its client-request-id: one PATCH per subscription attempted, whatever the retries.
    for (const requests of patches.values()) expect(new Set(requests.map((r) => r.clientRequestId)).size).toBe(1);
    // The transient 503s went to the first PATCHes of the run (the first-wave tenants'), each absorbed by a retry.
    const transient503s = (id: string) => (persistentFaults.has(id) ? 0 : statusesOf(id).filter((status) => status === 503).length);
    const transient = [...patches.keys()].filter((id) => transient503s(id) > 0);
    expect(transient.reduce((sum, id) => sum + transient503s(id), 0)).toBe(TRANSIENT_503S);
    expect(transient.filter((id) => planned.find((p) => p.record.subscriptionId === id)?.tenant.firstWave !== true)).toEqual([]);
    for (const p of planned) {
      const id = p.record.subscriptionId;
      const expected =
        p.tenant.consent === 'token' || p.tenant.integration === 'C'
          ? []
          : p.tenant.consent === 'graph'
            ? [403]
            : p.persistentStatus !== undefined
              ? Array.from({ length: GRAPH_DEFAULTS.maxAttempts }, () => p.persistentStatus)
              : p.outcome === 'recreated'
                ? [404]
                : p.outcome === 'renewed'
                  ? [...Array.from({ length: transient503s(id) }, () => 503), 200]
                  : undefined;
      if (expected !== undefined) expect([id, statusesOf(id)]).toEqual([id, expected]);
    }
    // The throttled tenant: the calls in flight when Graph said 429, none after.
    expect(throttled.map((p) => statusesOf(p.record.subscriptionId)).filter((statuses) => statuses.length > 0)).toEqual(
      Array.from({ length: RENEWAL_RUN_DEFAULTS.perTenantConcurrency }, () => [429]),
    );
    const recreations = fake.validationRequests().slice(validationsBefore);
    expect(recreations).toHaveLength(40);
    expect(recreations.every((v) => v.status === 200 && [integrations.A.notificationUrl, integrations.B.notificationUrl].includes(v.url))).toBe(true);

    // Assess 1: every subscription's record
    const stored = new Map<string, SubscriptionRecord>();
    for (const integrationId of integrationIds) {
      const { subscriptions: records, invalidItems } = await subscriptions.listByIntegration(integrationId);
      expect(invalidItems).toEqual([]);
      for (const record of records) stored.set(record.subscriptionId, record);
    }
    expect(stored.size).toBe(1020);
    const recreatedIds = new Map<string, string>();
    for (const p of planned) {
      const before = p.record;
      const after = stored.get(before.subscriptionId);
      if (p.outcome === 'renewed') {
        const atGraph = fake.subscription(before.subscriptionId)?.expirationDateTime ?? '';
        expect(after).toMatchObject({ status: 'active', expiresAt: new Date(atGraph).toISOString(), lastRenewedAt: expect.any(String) });
        expect(Date.parse(after?.expiresAt ?? '')).toBeGreaterThan(Date.parse(before.expiresAt) + 25 * DAY);
      } else if (p.outcome === 'recreated') {
        expect(after).toBeUndefined();
        const [atGraph, ...others] = fake.subscriptions(before.tenantId).filter((s) => s.resource === before.resource);
        expect(others).toEqual([]);
        expect(atGraph?.id).not.toBe(before.subscriptionId);
        const replacement = stored.get(atGraph?.id ?? '');
        expect(replacement).toMatchObject({
          status: 'active',
          connectionId: before.connectionId,
          tenantId: before.tenantId,
          resource: before.resource,
          changeTypes: before.changeTypes,
          expiresAt: new Date(atGraph?.expirationDateTime ?? '').toISOString(),
        });
        recreatedIds.set(before.subscriptionId, atGraph?.id ?? '');
      } else if (p.outcome === 'needsConsent') {
        expect(after).toMatchObject({ status: 'needs-consent', expiresAt: before.expiresAt, lastError: expect.stringContaining(p.tenant.consent === 'token' ? 'AADSTS700016' : 'HTTP 403') });
      } else {
        // failed (left due) and deferred: the record is as it was
        expect(after).toEqual(before);
      }
    }
    expect(recreatedIds.size).toBe(20);
    const leftDue = idsOf([...byOutcome('failed'), ...byOutcome('deferred')]);
    const dueLater = await subscriptions.findDue(new Date(Date.now() + 60 * MINUTE), { limit: 5000 });
    expect(dueLater.due.map((r) => r.subscriptionId).sort()).toEqual(leftDue);

    // Assess 1: the events on the bus
    const renewedEvents = busEvents(SUBSCRIPTION_DETAIL_TYPES.renewed, integrationIds);
    expect(renewedEvents.map((e) => e.subscriptionId).sort()).toEqual(idsOf(byOutcome('renewed')));
    const recreatedEvents = busEvents(SUBSCRIPTION_DETAIL_TYPES.recreated, integrationIds);
    expect(Object.fromEntries(recreatedEvents.map((e) => [e.previousSubscriptionId, e.subscriptionId]))).toEqual(Object.fromEntries(recreatedIds));
    const failedEvents = busEvents(SUBSCRIPTION_DETAIL_TYPES.renewalFailed, integrationIds);
    expect(tally(failedEvents, (e) => `${e.failure?.reason} ${e.failure?.status ?? '-'}`)).toEqual({
      'needs-consent 400': 50,
      'needs-consent 403': 50,
      'graph-error 500': 4,
      'graph-error 502': 4,
      'graph-error 503': 4,
      'missing-credentials -': 30,
    });
    expect(failedEvents.map((e) => e.subscriptionId).sort()).toEqual(idsOf([...byOutcome('needsConsent'), ...byOutcome('failed')]));
    expect(idsOf(throttled).filter((id) => failedEvents.some((e) => e.subscriptionId === id))).toEqual([]);

    // Act 2: the next scheduled run (same warm runtime), the faults and the throttling over, consent even given back
    advanceClocks(NEXT_SCHEDULED_RUN_MS);
    fake.resetRateLimits();
    fake.clearFaults();
    fake.restoreConsent(tenantOf(tenantPlan('a9-consent-token')));
    fake.restoreConsent(tenantOf(tenantPlan('b1-consent-graph')));
    fake.resetStats();
    persistentFaults.clear();
    const logged = log.length;
    const eventsBefore = t.stack.emulator.events(t.stack.descriptor.eventBusName).length;
    const second = await t.stack.renewal.runNow();

    // Assess 2: what was left due renews (tokens reused), needs-consent is not tried again, C still has no credentials
    const retried = [...byOutcome('deferred'), ...byOutcome('failed').filter((p) => p.tenant.integration !== 'C')];
    expect(second).toMatchObject({ due: 92, renewed: 62, recreated: 0, needsConsent: 0, failed: 30, deferred: 0, graphCalls: 62, invalidItems: 0, unpublishedEvents: 0 });
    expect(retried).toHaveLength(62);
    expect(fake.stats()).toEqual({ 'subscriptions.update': { '200': 62 } });
    const secondLog = log.slice(logged);
    expect(secondLog.map((r) => r.subscriptionId ?? r.path).sort()).toEqual(idsOf(retried));
    for (const p of retried) {
      const after = await subscriptions.get(p.record.integrationId, p.record.subscriptionId);
      expect(after).toMatchObject({ status: 'active', expiresAt: new Date(fake.subscription(p.record.subscriptionId)?.expirationDateTime ?? '').toISOString() });
    }
    for (const p of byOutcome('needsConsent')) expect((await subscriptions.get(p.record.integrationId, p.record.subscriptionId))?.status).toBe('needs-consent');
    const secondEvents = t.stack.emulator.events(t.stack.descriptor.eventBusName).slice(eventsBefore);
    expect(tally(secondEvents, (e) => `${e['detail-type']} ${(e.detail['failure'] as { reason?: string } | undefined)?.reason ?? '-'}`)).toEqual({
      [`${SUBSCRIPTION_DETAIL_TYPES.renewed} -`]: 62,
      [`${SUBSCRIPTION_DETAIL_TYPES.renewalFailed} missing-credentials`]: 30,
    });
    expect((await subscriptions.findDue(new Date(Date.now() + 60 * MINUTE), { limit: 5000 })).due.map((r) => r.subscriptionId).sort()).toEqual(
      idsOf(planned.filter((p) => p.tenant.integration === 'C')),
    );
    expect(fake.internalErrors()).toEqual([]);
  }, 300_000);
});
