import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { DynamoDbRefusalStore } from '../../shared/store/refusal-store';
import { tenantClientState } from '../../shared/graph/client-state';
import { fakeDateOnly } from '../support/fake-date';
import { notification } from '../../testkit/notification';
import { startTestStack, type TestStack } from '../support/test-stack';

// Short secret max age so "previous secret removed" is observable without long waits.
process.env['SECRET_MAX_AGE_SECONDS'] = '1';

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'graph-docs', name), 'utf8')) as Record<string, unknown>;

interface Event {
  'detail-type': string;
  source: string;
  detail: {
    from: string;
    providerConfigKey: string;
    type: string;
    connectionId: string | null;
    payload: { value: Record<string, unknown>[] };
    metadata: { idempotencyKey: string; tenantId: string; subscriptionId: string; receivedAt: string };
  };
}

let t: TestStack;
const tenantA = randomUUID();
const tenantB = randomUUID();

const eventsOf = (integrationId: string) =>
  (t.stack.emulator.events(t.stack.descriptor.eventBusName) as unknown as Event[]).filter(
    (e) => e.detail.providerConfigKey === integrationId,
  );

/**
 * A running intake reads the integration registry again for an id it does not know at most once per
 * registryMinRefreshSeconds (in production a new integration's first notifications may be answered 403 for that
 * long, and Graph redelivers them). The product's clock moves past it after each integration is created, so the
 * next request sees the integration without the test waiting.
 */
function registryMayRefresh(): void {
  jest.setSystemTime(Date.now() + INTAKE_DEFAULTS.registryMinRefreshSeconds * 1000);
}

async function seed(input: Parameters<TestStack['seedIntegration']>[0]): ReturnType<TestStack['seedIntegration']> {
  const seeded = await t.seedIntegration(input);
  registryMayRefresh();
  return seeded;
}

beforeAll(async () => {
  fakeDateOnly();
  t = await startTestStack();
});

afterAll(async () => {
  await t?.stop();
  jest.useRealTimers();
});

describe('validation handshake', () => {
  it('echoes the decoded token as escaped text with no database, secret or bus access', async () => {
    // Prepare
    t.proxy.resetStats();
    t.stack.emulator.resetStats();
    const token = 'Validation: Testing client application reachability for subscription Request-Id: <b>&</b>';
    // Act
    const response = await t.post('any-integration', undefined, { query: `validationToken=${encodeURIComponent(token)}`, contentType: 'text/plain; charset=utf-8' });
    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.text).toBe('Validation: Testing client application reachability for subscription Request-Id: &lt;b&gt;&amp;&lt;/b&gt;');
    expect(t.proxy.stats()).toEqual({});
    expect(t.stack.emulator.stats()).toEqual({});
  });
});

describe('notification intake', () => {
  it('routes a multi-tenant batch only to connections of each notification\'s own tenant', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({
      connections: [
        { connectionId: 'a-1', tenantId: tenantA },
        { connectionId: 'a-2', tenantId: tenantA.toUpperCase() },
        { connectionId: 'b-1', tenantId: tenantB },
      ],
    });
    const items = [
      notification({ tenantId: tenantA.toUpperCase(), clientState: webhookSecret }),
      notification({ tenantId: tenantB, clientState: webhookSecret }),
      notification({ tenantId: tenantB, clientState: webhookSecret, lifecycleEvent: 'missed' }),
    ];
    // Act
    const response = await t.post(integrationId, { value: items });
    // Assess
    expect(response.status).toBe(202);
    expect(response.json()).toMatchObject({ received: 3, published: 3, events: 4, unrouted: 0, rejected: 0 });
    const events = eventsOf(integrationId);
    expect(events.map((e) => [e['detail-type'], e.detail.connectionId, e.detail.metadata.tenantId]).sort()).toEqual(
      [
        ['Graph Change Notification', 'a-1', tenantA],
        ['Graph Change Notification', 'a-2', tenantA],
        ['Graph Change Notification', 'b-1', tenantB],
        ['Graph Lifecycle Notification', 'b-1', tenantB],
      ].sort(),
    );
    for (const event of events) {
      expect(event.source).toBe('graph-relay');
      expect(event.detail).toMatchObject({ from: 'microsoft-oauth2-cc', providerConfigKey: integrationId, type: 'forward' });
      expect(event.detail.payload.value).toHaveLength(1);
      expect(event.detail.payload.value[0]).not.toHaveProperty('clientState');
      expect(String(event.detail.payload.value[0]?.['tenantId']).toLowerCase()).toBe(event.detail.metadata.tenantId);
    }
    expect(JSON.stringify(events)).not.toContain(webhookSecret);
  });

  it('accepts Microsoft\'s documented payloads (placeholders included) and writes target-shaped events to events.ndjson', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'docs', tenantId: tenantA }] });
    const outlook = (fixture('webhooks-message-created-basic.json')['value'] as Record<string, unknown>[])[0];
    const teams = fixture('teams-chatmessage-channel-created-basic-single-item.json');
    const lifecycle = ['lifecycle-reauthorizationRequired.json', 'lifecycle-subscriptionRemoved.json', 'lifecycle-missed.json'].map(
      (name) => (fixture(name)['value'] as Record<string, unknown>[])[0],
    );
    const value = [outlook, teams, ...lifecycle].map((item) => ({ ...item, tenantId: tenantA, clientState: webhookSecret }));
    // Act
    const response = await t.post(integrationId, { value });
    // Assess
    expect(response.status).toBe(202);
    expect(response.json()).toMatchObject({ received: 5, published: 5, refused: 0 });
    const lines = (await readFile(t.stack.descriptor.eventsFile, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => (e['detail'] as Event['detail']).providerConfigKey === integrationId);
    expect(lines).toHaveLength(5);
    for (const line of lines) {
      const schema = detailSchemas[line['detail-type'] as keyof typeof detailSchemas];
      expect(schema.safeParse(line['detail']).error?.issues).toBeUndefined();
      expect(Object.keys(line).sort()).toEqual(['account', 'detail', 'detail-type', 'id', 'region', 'resources', 'source', 'time', 'version']);
    }
    expect(lines.map((l) => l['detail-type']).sort()).toEqual([
      'Graph Change Notification',
      'Graph Change Notification',
      'Graph Lifecycle Notification',
      'Graph Lifecycle Notification',
      'Graph Lifecycle Notification',
    ]);
  });

  it('routes by subscription when the subscription is known to belong to the tenant', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({
      connections: [
        { connectionId: 'mail', tenantId: tenantA },
        { connectionId: 'files', tenantId: tenantA },
      ],
    });
    const subscriptionId = randomUUID();
    const { PutCommand, DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: process.env['TEST_DYNAMODB_ENDPOINT'], region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
    );
    await doc.send(
      new PutCommand({
        TableName: t.stack.descriptor.connectionsTable,
        Item: { pk: `INTEGRATION#${integrationId}`, sk: `SUBSCRIPTION#${subscriptionId}`, type: 'subscription', subscriptionId, connectionId: 'files', tenantId: tenantA },
      }),
    );
    // Act
    const response = await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: webhookSecret, subscriptionId })] });
    // Assess
    expect(response.status).toBe(202);
    expect(eventsOf(integrationId).map((e) => e.detail.connectionId)).toEqual(['files']);
  });

  it('reads DynamoDB once per request even on a cold route cache (routes and markers together), and writes once', async () => {
    // Prepare: the registry knows the integration (an empty POST, refused as nothing in it verified), its routes are not cached yet
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    expect((await t.post(integrationId, { value: [] })).status).toBe(403);
    const body = { value: Array.from({ length: 3 }, () => notification({ tenantId: tenantA, clientState: webhookSecret })) };
    t.proxy.resetStats();
    // Act
    const response = await t.post(integrationId, body);
    // Assess: the tenant route, the subscription items and the markers share one BatchGetItem; one BatchWriteItem after.
    expect(response.status).toBe(202);
    expect(t.proxy.stats()).toEqual({ BatchGetItem: 1, BatchWriteItem: 1 });
    expect((response.json() as { readUnits: number }).readUnits).toBeGreaterThan(0);
  });

  it('publishes a verified notification with no matching connection as Unrouted', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    const stranger = randomUUID();
    // Act
    const response = await t.post(integrationId, { value: [notification({ tenantId: stranger, clientState: webhookSecret })] });
    // Assess
    expect(response.status).toBe(202);
    expect(response.json()).toMatchObject({ published: 1, unrouted: 1 });
    const events = eventsOf(integrationId);
    expect(events).toHaveLength(1);
    expect(events[0]?.['detail-type']).toBe('Graph Notification Unrouted');
    expect(events[0]?.detail.connectionId).toBeNull();
    expect(events[0]?.detail.metadata.tenantId).toBe(stranger);
  });

  it('never publishes a forged clientState, alone (403) or mixed with genuine ones (202)', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    const forged = notification({ tenantId: tenantA, clientState: 'forged-client-state-value' });
    const genuine = notification({ tenantId: tenantA, clientState: webhookSecret });
    // Act
    const alone = await t.post(integrationId, { value: [forged] });
    const mixed = await t.post(integrationId, { value: [forged, genuine] });
    // Assess
    expect(alone.status).toBe(403);
    expect(mixed.status).toBe(202);
    expect(mixed.json()).toMatchObject({ rejected: 1, published: 1 });
    const published = eventsOf(integrationId).map((e) => e.detail.payload.value[0]?.['subscriptionId']);
    expect(published).toEqual([genuine['subscriptionId']]);
  });

  it("accepts a tenant's own clientState only for that tenant, and the plain secret only while the integration accepts it", async () => {
    // Prepare: two tenants, each with a connection; values derived from the integration's secret
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }, { connectionId: 'b-1', tenantId: tenantB }] });
    const valueOfA = tenantClientState(webhookSecret, integrationId, tenantA);
    const own = notification({ tenantId: tenantA, clientState: valueOfA });
    const { tenantId: _none, ...namesNoTenant } = notification({ tenantId: tenantA, clientState: valueOfA });
    const borrowed = notification({ tenantId: tenantB, clientState: valueOfA });
    const borrowedAsOrganization = { ...notification({ tenantId: tenantB, clientState: valueOfA }), tenantId: undefined, organizationId: tenantB };
    const plain = notification({ tenantId: tenantB, clientState: webhookSecret });

    // Act
    const ownAnswer = await t.post(integrationId, { value: [own, namesNoTenant] });
    const borrowedAnswer = await t.post(integrationId, { value: [borrowed, borrowedAsOrganization] });
    const plainAccepted = await t.post(integrationId, { value: [plain] });
    // An integration that refuses the plain secret, set before the intake first reads its registry entry
    const strict = await t.seedIntegration({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    await t.store.putIntegration({ integrationId: strict.integrationId, provider: 'microsoft-oauth2-cc', sharedClientState: 'refused' });
    registryMayRefresh();
    const plainRefused = await t.post(strict.integrationId, { value: [notification({ tenantId: tenantA, clientState: strict.webhookSecret })] });
    const ownAccepted = await t.post(strict.integrationId, { value: [notification({ tenantId: tenantA, clientState: tenantClientState(strict.webhookSecret, strict.integrationId, tenantA) })] });

    // Assess: A's value verifies A's notifications (one naming no tenant is A's), never B's, however B is named
    expect(ownAnswer.status).toBe(202);
    expect(ownAnswer.json()).toMatchObject({ received: 2, published: 2, rejected: 0 });
    expect(borrowedAnswer.status).toBe(403);
    expect(plainAccepted.status).toBe(202);
    expect(plainRefused.status).toBe(403);
    expect(ownAccepted.status).toBe(202);
    const routes = eventsOf(integrationId).map((e) => [e.detail.connectionId, e.detail.metadata.tenantId]);
    expect(routes).toEqual([['a-1', tenantA], ['a-1', tenantA], ['b-1', tenantB]]);
    // A value made for one integration verifies nothing in another, even for the same tenant and secret holder
    expect(eventsOf(strict.integrationId)).toHaveLength(1);
    expect((await t.post(strict.integrationId, { value: [notification({ tenantId: tenantA, clientState: valueOfA })] })).status).toBe(403);
  });

  it('refuses everything for an integration without a webhook secret', async () => {
    // Prepare
    const integrationId = `nosecret-${randomUUID().slice(0, 8)}`;
    await t.store.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
    await t.store.addConnection({ integrationId, connectionId: 'a-1', tenantId: tenantA });
    registryMayRefresh();
    // Act
    const response = await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: '' }), notification({ tenantId: tenantA, clientState: 'anything-at-all-here' })] });
    // Assess
    expect(response.status).toBe(403);
    expect(response.text).not.toContain('secret');
    expect(eventsOf(integrationId)).toHaveLength(0);
    // The reason is for the operator: kept for `graph-relay doctor`, never in the answer.
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: process.env['TEST_DYNAMODB_ENDPOINT'], region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
    );
    const days = await new DynamoDbRefusalStore(doc, t.stack.descriptor.deliveriesTable).recent([integrationId], 1);
    expect(days).toEqual([expect.objectContaining({ bucket: integrationId, requests: 1, items: 2, reasons: { 'no-webhook-secret': 1 } })]);
  });

  it('accepts the previous secret during rotation, a new secret at once, and not the previous one after removal', async () => {
    // Prepare
    const oldSecret = `old-${randomUUID()}`;
    const newSecret = `new-${randomUUID()}`;
    const { integrationId } = await seed({ webhookSecret: oldSecret, connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    expect((await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: oldSecret })] })).status).toBe(202);
    // Act: rotate; the cached secret is still the old one, so the first new-secret notification forces a re-read.
    await t.putSecret(integrationId, { webhookSecret: newSecret, previousWebhookSecret: oldSecret });
    const withNew = await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: newSecret })] });
    const withPrevious = await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: oldSecret })] });
    await t.putSecret(integrationId, { webhookSecret: newSecret });
    jest.setSystemTime(Date.now() + 1500); // past SECRET_MAX_AGE_SECONDS=1
    const afterRemoval = await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: oldSecret })] });
    // Assess
    expect(withNew.status).toBe(202);
    expect(withPrevious.status).toBe(202);
    expect(afterRemoval.status).toBe(403);
    expect(eventsOf(integrationId)).toHaveLength(3);
  });

  it('suppresses exact redeliveries, also within one POST, with one batched read and one batched write', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    const items = Array.from({ length: 30 }, () => notification({ tenantId: tenantA, clientState: webhookSecret }));
    const body = { value: [...items, items[0]] };
    await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: webhookSecret })] }); // warms the routing cache
    t.proxy.resetStats();
    // Act
    const first = await t.post(integrationId, body);
    const firstCalls = t.proxy.stats();
    t.proxy.resetStats();
    const redelivery = await t.post(integrationId, body);
    const redeliveryCalls = t.proxy.stats();
    // Assess
    expect(first.status).toBe(202);
    expect(first.json()).toMatchObject({ received: 31, published: 30, duplicates: 1 });
    expect(firstCalls).toEqual({ BatchGetItem: 1, BatchWriteItem: 2 }); // 30 markers: 25 + 5 per BatchWriteItem, sent together
    expect(redelivery.status).toBe(202);
    expect(redelivery.json()).toMatchObject({ received: 31, published: 0, duplicates: 31 });
    expect(redeliveryCalls).toEqual({ BatchGetItem: 1 });
    const keys = eventsOf(integrationId).map((e) => e.detail.metadata.idempotencyKey);
    expect(keys).toHaveLength(31);
    expect(new Set(keys).size).toBe(31);
  });

  it('answers 503 when the bus fails, publishes nothing twice on redelivery, and retries only failed entries', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    const body = { value: Array.from({ length: 12 }, () => notification({ tenantId: tenantA, clientState: webhookSecret })) };
    t.stack.emulator.faults.inject({ operation: 'PutEvents', mode: 'error', errorCode: 'InternalException' });
    // Act
    const down = await t.post(integrationId, body);
    const publishedWhileDown = eventsOf(integrationId).length;
    t.stack.emulator.faults.clear();
    // Two of each call's entries fail once; the publisher retries just those.
    t.stack.emulator.faults.inject({ operation: 'PutEvents', mode: 'partial', failEntries: 2, times: 2 });
    const recovered = await t.post(integrationId, body);
    const again = await t.post(integrationId, body);
    // Assess
    expect(down.status).toBe(503);
    expect(publishedWhileDown).toBe(0);
    expect(recovered.status).toBe(202);
    expect(again.json()).toMatchObject({ duplicates: 12, published: 0 });
    const keys = eventsOf(integrationId).map((e) => e.detail.metadata.idempotencyKey);
    expect(keys).toHaveLength(12);
    expect(new Set(keys).size).toBe(12);
  });

  it('on a lasting partial failure answers 503 and the redelivery publishes only what was missing', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    const body = { value: Array.from({ length: 5 }, () => notification({ tenantId: tenantA, clientState: webhookSecret })) };
    t.stack.emulator.faults.inject({ operation: 'PutEvents', mode: 'partial', failEntries: 1 });
    // Act
    const partial = await t.post(integrationId, body);
    t.stack.emulator.faults.clear();
    const redelivery = await t.post(integrationId, body);
    // Assess
    expect(partial.status).toBe(503);
    expect(partial.json()).toMatchObject({ published: 4 });
    expect(redelivery.status).toBe(202);
    expect(redelivery.json()).toMatchObject({ published: 1, duplicates: 4 });
    const keys = eventsOf(integrationId).map((e) => e.detail.metadata.idempotencyKey);
    expect(keys).toHaveLength(5);
    expect(new Set(keys).size).toBe(5);
  });

  it('answers 503 when the table is unavailable, and recovers', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    const body = { value: [notification({ tenantId: tenantA, clientState: webhookSecret })] };
    // Known to the registry first (an empty POST is refused, but reads it): while DynamoDB is down only the routes and markers fail to be read.
    expect((await t.post(integrationId, { value: [] })).status).toBe(403);
    t.proxy.setDown(true);
    // Act
    const down = await t.post(integrationId, body);
    t.proxy.setDown(false);
    const up = await t.post(integrationId, body);
    // Assess
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('30');
    expect(up.status).toBe(202);
    expect(eventsOf(integrationId)).toHaveLength(1);
  });

  it('answers 503 when the secret cannot be read', async () => {
    // Prepare
    const { integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] });
    t.stack.emulator.faults.inject({ operation: 'GetSecretValue', mode: 'error', errorCode: 'InternalServiceError', times: 10 });
    // Act
    const response = await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: webhookSecret })] });
    t.stack.emulator.faults.clear();
    // Assess
    expect(response.status).toBe(503);
    expect(eventsOf(integrationId)).toHaveLength(0);
  });
});

describe('bad input', () => {
  let integrationId: string;
  let webhookSecret: string;
  beforeAll(async () => {
    ({ integrationId, webhookSecret } = await seed({ connections: [{ connectionId: 'a-1', tenantId: tenantA }] }));
  });

  it.each([
    { name: 'non-JSON body', body: 'not json', status: 400, message: 'body is not valid JSON' },
    { name: 'JSON array body', body: '[1,2]', status: 400, message: 'body must be a JSON object' },
    { name: 'missing value', body: '{"values":[]}', status: 400, message: 'value' },
    { name: 'non-array value', body: '{"value":{}}', status: 400, message: 'value' },
  ])('$name → $status with a JSON error and nothing published', async ({ body, status, message }) => {
    // Act
    const response = await t.post(integrationId, body);
    // Assess
    expect(response.status).toBe(status);
    expect((response.json() as { error: string }).error).toContain(message);
    expect(eventsOf(integrationId)).toHaveLength(0);
  });

  it('body over 1 MB → 413', async () => {
    const response = await t.post(integrationId, { value: [], pad: 'x'.repeat(1024 * 1024) });
    expect(response.status).toBe(413);
  });

  it('body over API Gateway\'s 10 MB → 413 with the connection closed, so a keep-alive client goes on with a new one', async () => {
    // Prepare: one socket at most, kept alive, as Graph's sender reuses connections.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (body: Buffer | string, query = '') =>
      new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
        const req = request(`${t.stack.url}/webhook/${integrationId}${query}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }));
        });
        // The server answers before reading everything: the unread rest may fail to upload, which is expected.
        req.on('error', (error) => (error.message.includes('EPIPE') || error.message.includes('ECONNRESET') ? undefined : reject(error)));
        req.end(body);
      });

    // Act
    const huge = await send(Buffer.alloc(11 * 1024 * 1024, 0x20));
    const next = await send('', '?validationToken=after%20the%20huge%20body');
    agent.destroy();

    // Assess
    expect(huge.status).toBe(413);
    expect(huge.connection).toBe('close');
    expect(next.status).toBe(200);
    expect(next.text).toBe('after the huge body');
  });

  it('malformed items are refused and counted; the rest are published', async () => {
    // Prepare
    const good = notification({ tenantId: tenantA, clientState: webhookSecret });
    const { tenantId: _t, ...noTenant } = notification({ tenantId: tenantA, clientState: webhookSecret });
    const both = { ...notification({ tenantId: tenantA, clientState: webhookSecret }), lifecycleEvent: 'missed' };
    const { changeType: _c, ...neither } = notification({ tenantId: tenantA, clientState: webhookSecret });
    // Act
    const mixed = await t.post(integrationId, { value: [good, noTenant, both, neither, 42] });
    const onlyBad = await t.post(integrationId, { value: [noTenant] });
    // Assess
    expect(mixed.status).toBe(202);
    // 42 carries no clientState: rejected, not parsed. The item without a tenant names a subscription nobody recorded.
    expect(mixed.json()).toMatchObject({ received: 5, refused: 3, rejected: 1, published: 1 });
    expect(onlyBad.status).toBe(400);
    expect(JSON.stringify(onlyBad.json())).toContain('tenantId');
    expect(JSON.stringify(onlyBad.json())).not.toContain(webhookSecret);
  });

  it('unknown integration → 403 as for a forged clientState, invalid integration id → 404, wrong method → 405; the server stays healthy', async () => {
    // Act
    const unknown = await t.post(`missing-${randomUUID().slice(0, 8)}`, { value: [notification({ tenantId: tenantA, clientState: webhookSecret })] });
    const invalidId = await t.post('bad%20id', { value: [] });
    const get = await t.post(integrationId, undefined, { method: 'GET' });
    const health = await fetch(`${t.stack.url}/healthz`);
    // Assess
    const forged = await t.post(integrationId, { value: [notification({ tenantId: tenantA, clientState: 'forged-client-state-0123456789' })] });
    expect(unknown.status).toBe(403);
    expect([forged.status, forged.text]).toEqual([unknown.status, unknown.text]);
    expect(invalidId.status).toBe(404);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(health.status).toBe(200);
  });
});
