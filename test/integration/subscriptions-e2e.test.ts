/**
 * The subscription chain end to end on the local stack (in process: intake over HTTP, DynamoDB
 * Local, the AWS emulator's bus, the renewal / reconcile / lifecycle functions' handlers) against the Graph fake.
 *
 * Time: the product reads `Date.now()`, the fake reads `fake.clock`. Both are moved together by `advanceClocks`:
 * only `Date` is faked (jest modern timers, everything else real and `advanceTimers: true`, so `Date` still follows
 * real time between jumps), and the fake's clock (which follows real time too) is advanced by the same amount.
 *
 * Each test gets its own stack, fake and module registry: the functions' runtimes (clients, token caches, table
 * names read from the environment) live at module level, as in a warm Lambda, and must not leak between tests.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { SUBSCRIPTION_DETAIL_TYPES } from '../../shared/events/subscription-events';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';
import { fakeDateOnly } from '../support/fake-date';

const APP = { clientId: randomUUID(), clientSecret: 'subscriptions-e2e-app-secret~0123456789' };
const DAY = 24 * 60 * 60_000;
/** `users` lives 41,760 minutes (29 days); renewal is due once half of the granted lifetime has passed. */
const PAST_RENEWAL_TIME = 15 * DAY;

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let subscriptions: DynamoDbSubscriptionsStore;

beforeEach(async () => {
  jest.resetModules();
  fakeDateOnly();
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  t = await startTestStack({ lifecycle: true, renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const d = t.stack.descriptor;
  dynamodb = new DynamoDBClient({ region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.dynamodbEndpoint });
  subscriptions = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
});

afterEach(async () => {
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

/** An integration whose secret holds the webhook secret and the app credentials, with one declared connection. */
async function connectionWithDeclaration() {
  const tenantId = randomUUID();
  const connectionId = `conn-${randomUUID().slice(0, 8)}`;
  const { integrationId, webhookSecret } = await t.seedIntegration({});
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  await t.store.addConnection({ integrationId, connectionId, tenantId, subscriptions: ['users:created,updated'] });
  return { integrationId, webhookSecret, tenantId, connectionId, notificationUrl: `${t.stack.descriptor.webhookBaseUrl}${integrationId}` };
}

function busEvents(detailType: string, integrationId: string) {
  return t.stack.emulator
    .events(t.stack.descriptor.eventBusName)
    .filter((e) => e['detail-type'] === detailType && e.detail['providerConfigKey'] === integrationId)
    .map((e) => e.detail);
}

describe('subscriptions end to end: local stack + Graph fake', () => {
  it('creates a declared subscription, delivers its notifications, renews it, recreates it when Graph lost it, and reauthorizes it', async () => {
    // Prepare: a connection added with a declaration
    const c = await connectionWithDeclaration();

    // Act 1: the reconciler's scheduled run creates the subscription through the real handshake
    const summary = await t.stack.reconcile.runNow();

    // Assess 1
    expect(summary).toMatchObject({ created: 1, deleted: 0, failed: 0, deferred: 0, invalidDeclarations: 0 });
    const atGraph = fake.subscriptions(c.tenantId);
    expect(atGraph.map((s) => [s.resource, s.changeType, s.notificationUrl, s.lifecycleNotificationUrl])).toEqual([['users', 'created,updated', c.notificationUrl, c.notificationUrl]]);
    const firstId = atGraph[0]?.id ?? '';
    expect(fake.validationRequests().filter((v) => v.url === c.notificationUrl).map((v) => [v.purpose, v.status, v.body === v.token])).toEqual([
      ['notificationUrl', 200, true],
      ['lifecycleNotificationUrl', 200, true],
    ]);
    const { subscriptions: created } = await subscriptions.listByIntegration(c.integrationId);
    expect(created.map((r) => [r.subscriptionId, r.connectionId, r.tenantId, r.resource, r.changeTypes, r.status])).toEqual([
      [firstId, c.connectionId, c.tenantId, 'users', ['created', 'updated'], 'active'],
    ]);

    // Act 2: Graph pushes a change notification
    const change = await fake.pushChange(firstId, { changeType: 'updated' });

    // Assess 2: on the bus, routed to the connection
    expect(change).toMatchObject({ delivered: true, status: 202 });
    const changes = busEvents(DETAIL_TYPES.change, c.integrationId);
    expect(changes.map((d) => [d['connectionId'], (d['metadata'] as Record<string, unknown>)['subscriptionId']])).toEqual([[c.connectionId, firstId]]);
    expect(changes[0]?.['payload']).toEqual({ value: [expect.objectContaining({ subscriptionId: firstId, changeType: 'updated' })] });
    expect(JSON.stringify(changes[0])).not.toContain(c.webhookSecret);

    // Act 3: past the renewal time, a renewal run
    advanceClocks(PAST_RENEWAL_TIME);
    fake.resetStats();
    const renewal = await t.stack.renewal.runNow();

    // Assess 3: one PATCH, the new expiry recorded, Renewed published
    expect(renewal).toMatchObject({ due: 1, renewed: 1, recreated: 0, needsConsent: 0, failed: 0, deferred: 0, unpublishedEvents: 0 });
    expect(fake.stats()).toEqual({ token: { '200': 1 }, 'subscriptions.update': { '200': 1 } });
    const renewedAtGraph = fake.subscription(firstId)?.expirationDateTime ?? '';
    expect((await subscriptions.get(c.integrationId, firstId))?.expiresAt).toBe(new Date(renewedAtGraph).toISOString());
    expect(Date.parse(renewedAtGraph)).toBeGreaterThan(fake.clock.now() + 28 * DAY);
    expect(busEvents(SUBSCRIPTION_DETAIL_TYPES.renewed, c.integrationId).map((d) => [d['subscriptionId'], d['connectionId']])).toEqual([[firstId, c.connectionId]]);

    // Act 4: Graph drops the subscription; past the next renewal time, a renewal run
    expect(fake.deleteSubscription(firstId)).toBe(true);
    advanceClocks(PAST_RENEWAL_TIME);
    fake.resetStats();
    const repair = await t.stack.renewal.runNow();

    // Assess 4: PATCH 404, then POST 201 (handshake again), the new id recorded in place of the old, Recreated published
    expect(repair).toMatchObject({ due: 1, renewed: 0, recreated: 1, needsConsent: 0, failed: 0, deferred: 0, unpublishedEvents: 0 });
    expect(fake.stats()).toEqual({ token: { '200': 1 }, 'subscriptions.update': { '404': 1 }, 'subscriptions.create': { '201': 1 } });
    const recreatedAtGraph = fake.subscriptions(c.tenantId);
    expect(recreatedAtGraph.map((s) => [s.resource, s.changeType, s.notificationUrl])).toEqual([['users', 'created,updated', c.notificationUrl]]);
    const secondId = recreatedAtGraph[0]?.id ?? '';
    expect(secondId).not.toBe(firstId);
    expect(await subscriptions.get(c.integrationId, firstId)).toBeUndefined();
    expect(await subscriptions.get(c.integrationId, secondId)).toMatchObject({ connectionId: c.connectionId, tenantId: c.tenantId, resource: 'users', changeTypes: ['created', 'updated'], status: 'active' });
    expect(busEvents(SUBSCRIPTION_DETAIL_TYPES.recreated, c.integrationId)).toEqual([
      expect.objectContaining({ subscriptionId: secondId, previousSubscriptionId: firstId, connectionId: c.connectionId }),
    ]);

    // Act 5: Graph asks for reauthorization
    fake.resetStats();
    const lifecycle = await fake.pushLifecycle(secondId, 'reauthorizationRequired');
    await t.stack.lifecycle.idle();
    const afterReauthorize = await fake.pushChange(secondId, { changeType: 'created' });

    // Assess 5: through the intake and the bus to the lifecycle function, which reauthorizes (the renewal is not due)
    expect(lifecycle).toMatchObject({ delivered: true, status: 202 });
    expect(busEvents(DETAIL_TYPES.lifecycle, c.integrationId).map((d) => (d['metadata'] as Record<string, unknown>)['subscriptionId'])).toEqual([secondId]);
    expect(fake.stats()).toEqual({ token: { '200': 1 }, 'subscriptions.reauthorize': { '204': 1 } });
    expect(afterReauthorize).toMatchObject({ delivered: true, status: 202 });
    expect(await subscriptions.get(c.integrationId, secondId)).toMatchObject({ status: 'active' });
    expect(fake.internalErrors()).toEqual([]);
  });

  it('leaves a subscription due, not needing consent, while the token endpoint is down, and renews it once it is back', async () => {
    // Prepare: a declared subscription created by the reconciler, then past its renewal time, the token endpoint down
    const c = await connectionWithDeclaration();
    const summary = await t.stack.reconcile.runNow();
    const [subscription] = fake.subscriptions(c.tenantId);
    const subscriptionId = subscription?.id ?? '';
    advanceClocks(PAST_RENEWAL_TIME);
    fake.setDown({ token: true });
    fake.resetStats();

    // Act
    const down = await t.stack.renewal.runNow();
    fake.setDown(false);
    const downStats = fake.stats();
    const recordWhileDown = await subscriptions.get(c.integrationId, subscriptionId);
    const failedEvents = busEvents(SUBSCRIPTION_DETAIL_TYPES.renewalFailed, c.integrationId);
    fake.resetStats();
    const back = await t.stack.renewal.runNow();

    // Assess
    expect(summary).toMatchObject({ created: 1, failed: 0 });
    expect(down).toMatchObject({ due: 1, renewed: 0, recreated: 0, needsConsent: 0, failed: 1, deferred: 0, graphCalls: 1, unpublishedEvents: 0 });
    expect(Object.keys(downStats)).toEqual(['token']);
    expect(Object.keys(downStats['token'] ?? {})).toEqual(['503']);
    expect(recordWhileDown).toMatchObject({ status: 'active', expiresAt: new Date(subscription?.expirationDateTime ?? '').toISOString() });
    expect(failedEvents).toEqual([
      expect.objectContaining({ subscriptionId, connectionId: c.connectionId, failure: expect.objectContaining({ reason: 'graph-error', status: 503 }) }),
    ]);
    expect(back).toMatchObject({ due: 1, renewed: 1, needsConsent: 0, failed: 0, deferred: 0 });
    expect(fake.stats()).toEqual({ token: { '200': 1 }, 'subscriptions.update': { '200': 1 } });
    expect(busEvents(SUBSCRIPTION_DETAIL_TYPES.renewed, c.integrationId).map((d) => d['subscriptionId'])).toEqual([subscriptionId]);
    expect(await subscriptions.get(c.integrationId, subscriptionId)).toMatchObject({ status: 'active' });
    expect(fake.internalErrors()).toEqual([]);
  });
});
