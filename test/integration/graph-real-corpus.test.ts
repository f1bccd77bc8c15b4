/**
 * Every payload of the corpus of what Graph really sends (test/fixtures/graph-real/) end to end on the local stack:
 * posted to the webhook of an integration with a connection for the fixture's tenant, answered 202, and published
 * on the local bus routed to that connection, with the tenant resolved (tenantId, else organizationId, else the
 * subscription's record), clientState and explicit nulls gone, unknown fields kept. A reauthorizationRequired that
 * names its tenant only as organizationId reaches the lifecycle handling: the subscription is reauthorized at the
 * Graph fake, instead of the item being refused with 400 and the subscription lapsing in silence.
 *
 * The intake validates validation tokens against the Graph fake's JWKS (GRAPH_JWKS_URL, read when the intake's
 * runtime is created, so it is set before the stack starts).
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { DETAIL_TYPES, type ForwardDetail } from '../../shared/events/contract';
import { loadGraphConfig } from '../../shared/graph/graph-config';
import { JWKS_URL_ENV } from '../../shared/rich/validation-tokens';
import { integrationSecretName } from '../../shared/secrets/integration-secret';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { IntegrationGraphs } from '../../shared/subscriptions/integration-graphs';
import { expectedNotification, loadCorpus, type CorpusBody, type CorpusFixture, type SentItem } from '../fixtures/graph-real/corpus';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { v1Claims } from '../../testkit/jwks';
import { startTestStack, type TestStack } from '../support/test-stack';

const APP = { clientId: randomUUID(), clientSecret: 'graph-real-corpus-app-secret~0123456789' };
const corpus = loadCorpus();
/** One tenant and one connection per fixture, so each fixture's events are told apart by connection too. */
const tenantOf = new Map(corpus.map((fixture) => [fixture.name, randomUUID()]));
const REAUTH_FIXTURE = 'lifecycle-reauth-orgid-subscriptions-resource';
const REAUTH_TENANT = randomUUID();
const REAUTH_CONNECTION = 'reauth-by-organization-id';

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let secrets: SecretsManagerClient;
let subscriptions: DynamoDbSubscriptionsStore;
let integrationId: string;
let webhookSecret: string;

beforeAll(async () => {
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  process.env[JWKS_URL_ENV] = fake.jwksUrl;
  t = await startTestStack({ lifecycle: true, renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const d = t.stack.descriptor;
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: d.dynamodbEndpoint });
  secrets = new SecretsManagerClient({ ...clientConfig, endpoint: d.awsEmulatorEndpoint });
  subscriptions = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
  ({ integrationId, webhookSecret } = await t.seedIntegration({
    connections: [
      ...corpus.map((fixture) => ({ connectionId: fixture.name, tenantId: tenantOf.get(fixture.name) as string })),
      { connectionId: REAUTH_CONNECTION, tenantId: REAUTH_TENANT },
    ],
  }));
  // The app's client id is the audience of the validation tokens, and the lifecycle handling calls Graph as the app.
  await t.putSecret(integrationId, { webhookSecret, ...APP });
});

afterAll(async () => {
  dynamodb?.destroy();
  secrets?.destroy();
  await t?.stop();
  await fake?.close();
  delete process.env[JWKS_URL_ENV];
});

interface Instance {
  body: CorpusBody;
  /** The fixture's subscription ids, each replaced by a fresh one (so no test sees another's events or markers). */
  subscriptionIds: Map<string, string>;
}

/**
 * The fixture as the test integration's Graph would send it: its clientState the integration's secret, its tenant
 * GUID the connection's tenant (in the same field and the same letter case), its subscription ids fresh (or as
 * given), its validation tokens signed by the Graph fake's JWKS for that tenant and the app.
 */
async function instantiate(fixture: CorpusFixture, tenant: string, subscriptionIds = new Map<string, string>()): Promise<Instance> {
  let text = JSON.stringify(fixture.body);
  const replace = (from: string, to: string) => {
    text = text.replace(new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), (found) => (found === found.toUpperCase() && found !== found.toLowerCase() ? to.toUpperCase() : to));
  };
  for (const { expect: e } of fixture.items) if (e.tenant !== undefined) replace(e.tenant, tenant);
  for (const { sent } of fixture.items) {
    const id = sent['subscriptionId'];
    if (typeof id === 'string' && !subscriptionIds.has(id)) subscriptionIds.set(id, randomUUID());
  }
  for (const [from, to] of subscriptionIds) replace(from, to);
  const body = JSON.parse(text) as CorpusBody;
  for (const item of body.value) if (typeof item['clientState'] === 'string') item['clientState'] = webhookSecret;
  if (body.validationTokens !== undefined) {
    const issuedAt = Math.floor(Date.now() / 1000);
    const token = await fake.jwks.sign(v1Claims({ tenantId: tenant, audience: APP.clientId, issuedAt }));
    body.validationTokens = body.validationTokens.map(() => token);
  }
  return { body, subscriptionIds };
}

/** What must reach the bus for each item: its detail-type, connection, metadata tenant and published notification. */
function expectedEvents(fixture: CorpusFixture, instance: Instance, tenant: string) {
  return instance.body.value.map((sent, index) => {
    const e = (fixture.items[index] as CorpusFixture['items'][number]).expect;
    const { clientState: _secret, ...published } = expectedNotification(sent, e, tenant);
    return {
      detailType: e.kind === 'change' ? DETAIL_TYPES.change : DETAIL_TYPES.lifecycle,
      connectionId: fixture.name,
      tenantId: tenant.toLowerCase(),
      notification: published,
    };
  });
}

/** The Graph notification events on the local bus for the given subscriptions, in the shape of `expectedEvents`. */
function eventsOf(subscriptionIds: Iterable<string>) {
  const ids = new Set(subscriptionIds);
  const notificationTypes: string[] = Object.values(DETAIL_TYPES);
  return t.stack.emulator
    .events(t.stack.descriptor.eventBusName)
    .filter((event) => notificationTypes.includes(event['detail-type']))
    .map((event) => ({ detailType: event['detail-type'], detail: event.detail as unknown as ForwardDetail }))
    .filter(({ detail }) => detail.providerConfigKey === integrationId && ids.has(detail.metadata.subscriptionId))
    .map(({ detailType, detail }) => ({
      detailType,
      connectionId: detail.connectionId,
      tenantId: detail.metadata.tenantId,
      notification: detail.payload.value[0] as SentItem,
    }));
}

const byJson = <T>(list: T[]): T[] => [...list].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe.each(corpus.map((fixture) => [fixture.name, fixture] as const))('real Graph payload end to end: %s', (name, fixture) => {
  it('is answered 202 and published to the tenant\'s connection, as graph-relay must publish it', async () => {
    // Prepare
    const tenant = tenantOf.get(name) as string;
    const instance = await instantiate(fixture, tenant);
    const needsRecord = fixture.items.some((item) => item.expect.tenantFrom === 'subscription');
    if (needsRecord) {
      // No tenant in the item: the tenant is the one recorded for its subscription.
      for (const subscriptionId of instance.subscriptionIds.values()) {
        await subscriptions.put({
          integrationId,
          subscriptionId,
          connectionId: name,
          tenantId: tenant,
          resource: 'users',
          changeTypes: ['updated'],
          expiresAt: new Date(Date.now() + 24 * 60 * 60_000).toISOString(),
          status: 'active',
        });
      }
    }

    // Act
    const response = await t.post(integrationId, instance.body);

    // Assess
    expect({ status: response.status, body: response.json() }).toEqual({
      status: 202,
      body: expect.objectContaining({ received: fixture.items.length, published: fixture.items.length, refused: 0, rejected: 0, unrouted: 0 }),
    });
    const events = eventsOf(instance.subscriptionIds.values());
    expect(byJson(events)).toEqual(byJson(expectedEvents(fixture, instance, tenant)));
    expect(JSON.stringify(events)).not.toContain(webhookSecret);
  });
});

describe('reauthorizationRequired naming its tenant only as organizationId', () => {
  it('reaches the lifecycle handling: the subscription is reauthorized at Graph', async () => {
    // Prepare: a subscription created at the Graph fake through the real handshake and recorded for its connection
    const fixture = corpus.find((f) => f.name === REAUTH_FIXTURE);
    if (fixture === undefined) throw new Error(`${REAUTH_FIXTURE}.json is missing from the corpus`);
    const d = t.stack.descriptor;
    const graphs = new IntegrationGraphs({
      config: loadGraphConfig({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl }),
      readSecret: async (id) => {
        const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: integrationSecretName(d.webhookSecretPrefix, id) }));
        return JSON.parse(SecretString ?? 'null') as unknown;
      },
    });
    const notificationUrl = `${d.webhookBaseUrl}${integrationId}`;
    const created = await (await graphs.graphFor(integrationId)).createSubscription(REAUTH_TENANT, {
      changeType: 'created',
      notificationUrl,
      lifecycleNotificationUrl: notificationUrl,
      resource: `users/${randomUUID()}/messages`,
      expirationDateTime: new Date(Date.now() + 24 * 60 * 60_000),
      clientState: webhookSecret,
    });
    await subscriptions.put({
      integrationId,
      subscriptionId: created.id,
      connectionId: REAUTH_CONNECTION,
      tenantId: REAUTH_TENANT,
      resource: created.resource,
      changeTypes: ['created'],
      expiresAt: created.expirationDateTime,
      status: 'active',
    });
    const [sent] = fixture.items;
    const instance = await instantiate(fixture, REAUTH_TENANT, new Map([[sent?.sent['subscriptionId'] as string, created.id]]));
    expect(instance.body.value[0]).toMatchObject({ organizationId: REAUTH_TENANT, resource: `Subscriptions/${created.id}` });
    expect(instance.body.value[0]).not.toHaveProperty('tenantId');
    fake.resetStats();

    // Act
    const response = await t.post(integrationId, instance.body);
    await t.stack.lifecycle.idle();

    // Assess: acknowledged, published to the subscription's connection, and acted on with one reauthorize (204) or
    // one renewing PATCH (200, which also reauthorizes) for this subscription
    expect(response.status).toBe(202);
    expect(eventsOf([created.id]).map((e) => [e.detailType, e.connectionId, e.tenantId])).toEqual([
      [DETAIL_TYPES.lifecycle, REAUTH_CONNECTION, REAUTH_TENANT],
    ]);
    const stats = fake.stats();
    const succeeded = (route: 'subscriptions.reauthorize' | 'subscriptions.update') =>
      Object.entries(stats[route] ?? {})
        .filter(([status]) => status.startsWith('2'))
        .reduce((sum, [, count]) => sum + count, 0);
    expect(succeeded('subscriptions.reauthorize') + succeeded('subscriptions.update')).toBe(1);
    expect(fake.subscription(created.id)).toMatchObject({ id: created.id, state: 'active' });
    expect(fake.internalErrors()).toEqual([]);
  });
});
