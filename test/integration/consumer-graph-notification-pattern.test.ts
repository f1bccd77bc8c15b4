import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventBridgeClient, TestEventPatternCommand } from '@aws-sdk/client-eventbridge';
import { startAwsEmulator, type AwsEmulator, type EmittedEvent } from '../../local/aws-emulator';
import { graphNotificationPattern, InvalidGraphNotificationFilterError, type GraphNotificationFilter } from '../../infra/consumer';
import { buildEvents, DETAIL_TYPES, idempotencyKey, routingEvent, type EventEntry } from '../../shared/events/contract';
import { EventBridgePublisher } from '../../shared/events/publisher';
import { parseNotificationBody, type ChangeNotification } from '../../shared/graph/change-notification';

/**
 * The consumer construct's pattern builder, checked with the real SDK's TestEventPatternCommand against the
 * emulator's EventBridge, on events the product builds and publishes itself: a pattern that would not match real
 * events fails here. It also reproduces the README's rule examples exactly.
 */

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const SOURCE = 'graph-relay';
const PROVIDER = 'microsoft-oauth2-cc';
const TENANT_A = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TENANT_B = '2f1b3a5e-0c8d-4c7e-9a61-5d2e7b9c4f10';
const USER_ID = '8ac1cb2e-9f3d-4b71-a4d6-0f6e2b5c7d91';
const GROUP_ID = '0d2f7c41-5b6e-4a8f-9c3d-7e1a2b4c6d80';
const SUBSCRIPTION_ID = 'f2b4c6d8-1a3e-4c5b-8d7f-9e0a1b2c3d4e';

/** A Graph POST body with one notification, parsed by the product's own parser. */
function notification(fields: Record<string, unknown>): ChangeNotification {
  const body = JSON.stringify({
    value: [{ subscriptionId: SUBSCRIPTION_ID, subscriptionExpirationDateTime: '2026-11-27T18:23:45.9356913Z', tenantId: TENANT_A, clientState: 'secretClientValue', ...fields }],
  });
  const [parsed] = parseNotificationBody(body).notifications;
  if (parsed === undefined) throw new Error(`the test notification is not valid: ${body}`);
  return parsed.notification;
}

function change(changeType: string, resource: string, tenantId = TENANT_A): ChangeNotification {
  const id = resource.split('/')[1];
  return notification({ changeType, resource, tenantId, resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': resource, id } });
}

function lifecycle(lifecycleEvent: string, tenantId = TENANT_A): ChangeNotification {
  return notification({ lifecycleEvent, tenantId });
}

function eventFor(integrationId: string, item: ChangeNotification, connectionIds: string[]): EventEntry {
  const [event] = buildEvents({
    source: SOURCE,
    provider: PROVIDER,
    integrationId,
    notification: item,
    idempotencyKey: idempotencyKey(integrationId, item),
    connectionIds,
    receivedAt: '2026-11-25T21:36:28.750Z',
  });
  if (event === undefined) throw new Error('no event built');
  return event;
}

const createdUser = eventFor('contoso', change('created', `Users/${USER_ID}`), ['contoso-main']);

/** Every kind of event a consumer may meet, by name. */
const EVENTS: Record<string, EventEntry> = {
  'created user, contoso-main': createdUser,
  'updated group, contoso-main': eventFor('contoso', change('updated', `Groups/${GROUP_ID}`), ['contoso-main']),
  'deleted user, contoso-other': eventFor('contoso', change('deleted', `Users/${USER_ID}`), ['contoso-other']),
  'missed, contoso-main': eventFor('contoso', lifecycle('missed'), ['contoso-main']),
  // Graph may send the tenant in any case; the event carries it lower-case.
  'reauthorizationRequired (tenant upper-case), contoso-main': eventFor('contoso', lifecycle('reauthorizationRequired', TENANT_A.toUpperCase()), ['contoso-main']),
  'subscriptionRemoved, fabrikam-main': eventFor('fabrikam', lifecycle('subscriptionRemoved', TENANT_B), ['fabrikam-main']),
  'created user, fabrikam-main': eventFor('fabrikam', change('created', `Users/${USER_ID}`, TENANT_B), ['fabrikam-main']),
  'unrouted updated user, contoso': eventFor('contoso', change('updated', `Users/${USER_ID}`), []),
  'unrouted missed, contoso': eventFor('contoso', lifecycle('missed'), []),
  // An event too large for the bus, published reduced to its routing fields with payloadRef.
  'offloaded created user, contoso-main': routingEvent(createdUser, { bucket: 'payloads', key: 'contoso/2026/11/25/k/contoso-main.json', size: 300_000, sha256: 'a'.repeat(64) }),
};

const ALL_ROUTED = Object.keys(EVENTS).filter((name) => !name.startsWith('unrouted'));

/** Filters, and the events each must take: every other event must not match. */
const CASES: [label: string, filter: GraphNotificationFilter, expected: string[]][] = [
  ['no filter: every routed change and lifecycle event', {}, ALL_ROUTED],
  [
    'an integration, created and updated changes (lifecycle events still through)',
    { integrationIds: ['contoso'], changeTypes: ['created', 'updated'] },
    ['created user, contoso-main', 'updated group, contoso-main', 'missed, contoso-main', 'reauthorizationRequired (tenant upper-case), contoso-main', 'offloaded created user, contoso-main'],
  ],
  [
    'a connection, user resources, change notifications only',
    { connectionIds: ['contoso-main'], resourcePrefix: 'Users/', detailTypes: [DETAIL_TYPES.change] },
    ['created user, contoso-main', 'offloaded created user, contoso-main'],
  ],
  [
    'two lifecycle events (changes still through)',
    { lifecycleEvents: ['reauthorizationRequired', 'subscriptionRemoved'] },
    ALL_ROUTED.filter((name) => !name.startsWith('missed')),
  ],
  ['deleted changes and missed lifecycle events', { changeTypes: ['deleted'], lifecycleEvents: ['missed'] }, ['deleted user, contoso-other', 'missed, contoso-main']],
  ['lifecycle notifications only, missed', { detailTypes: [DETAIL_TYPES.lifecycle], lifecycleEvents: ['missed'] }, ['missed, contoso-main']],
  ['unrouted events of a tenant given upper-case', { detailTypes: [DETAIL_TYPES.unrouted], tenantIds: [TENANT_A.toUpperCase()] }, ['unrouted updated user, contoso', 'unrouted missed, contoso']],
  ['unrouted updated changes (unrouted lifecycle events still through)', { detailTypes: [DETAIL_TYPES.unrouted], changeTypes: ['updated'] }, ['unrouted updated user, contoso', 'unrouted missed, contoso']],
  ['unrouted created changes', { detailTypes: [DETAIL_TYPES.unrouted], changeTypes: ['created'], lifecycleEvents: ['reauthorizationRequired'] }, []],
  ['a tenant of another integration', { integrationIds: ['fabrikam'], tenantIds: [TENANT_B] }, ['subscriptionRemoved, fabrikam-main', 'created user, fabrikam-main']],
  ['another stage source', { source: 'graph-relay.dev' }, []],
];

/** The ```json blocks that follow "Two examples:" in the README's "Event contract" section. */
async function readmeRuleExamples(): Promise<unknown[]> {
  const readme = await readFile(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('### Event contract');
  const end = readme.indexOf('\n## ', start);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const intro = /Two\s+examples:/.exec(section);
  if (intro === null) throw new Error('README.md: no "Two examples:" in the "Event contract" section');
  return [...section.slice(intro.index).matchAll(/```json\r?\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1] ?? '') as unknown);
}

describe('graphNotificationPattern on published events', () => {
  let emulator: AwsEmulator;
  let client: EventBridgeClient;
  const delivered = new Map<string, EmittedEvent>();

  beforeAll(async () => {
    emulator = await startAwsEmulator();
    client = new EventBridgeClient({ endpoint: emulator.url, region: 'us-east-1', credentials });
    // Published through the product's publisher, so each event is exactly what a rule target receives.
    const publisher = new EventBridgePublisher(client, 'default', { maxAttempts: 1, concurrency: 1 });
    for (const [name, event] of Object.entries(EVENTS)) {
      emulator.clearEvents();
      await publisher.publish([event]);
      const [emitted, ...more] = emulator.events();
      if (emitted === undefined || more.length > 0) throw new Error(`expected one event for ${name}`);
      delivered.set(name, emitted);
    }
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
  });

  async function matching(filter: GraphNotificationFilter): Promise<string[]> {
    const pattern = JSON.stringify(graphNotificationPattern(filter));
    const names: string[] = [];
    for (const [name, event] of delivered) {
      const output = await client.send(new TestEventPatternCommand({ EventPattern: pattern, Event: JSON.stringify(event) }));
      if (output.Result === true) names.push(name);
    }
    return names;
  }

  it('publishes every event the cases rely on, with the detail-type each name says', () => {
    // Act
    const detailTypes = [...delivered.values()].map((event) => event['detail-type']);

    // Assess
    expect(delivered.size).toBe(Object.keys(EVENTS).length);
    expect(detailTypes.filter((type) => type === DETAIL_TYPES.unrouted)).toHaveLength(2);
    expect(delivered.get('offloaded created user, contoso-main')?.detail).toHaveProperty('payloadRef');
  });

  it.each(CASES)('%s', async (_label, filter, expected) => {
    // Act
    const names = await matching(filter);

    // Assess
    expect(names.sort()).toEqual([...expected].sort());
  });

  it('builds the README rule examples exactly', async () => {
    // Prepare
    const [rule1, rule2] = await readmeRuleExamples();

    // Act
    const built = [
      graphNotificationPattern({ detailTypes: [DETAIL_TYPES.change], connectionIds: ['contoso-main'], changeTypes: ['created', 'updated'], resourcePrefix: 'Users/' }),
      graphNotificationPattern({ detailTypes: [DETAIL_TYPES.lifecycle, DETAIL_TYPES.unrouted], integrationIds: ['contoso'], tenantIds: [TENANT_A] }),
    ];

    // Assess
    expect(built).toEqual([rule1, rule2]);
  });
});

describe('graphNotificationPattern: refused filters', () => {
  it.each<[string, GraphNotificationFilter, RegExp]>([
    ['an empty list', { connectionIds: [] }, /connectionIds: must name at least one connection/],
    ['an empty detail type list', { detailTypes: [] }, /detailTypes/],
    ['a malformed integration id', { integrationIds: ['bad id!'] }, /integrationIds\.0: integration id must be/],
    ['a malformed connection id', { connectionIds: ['-leading-dash'] }, /connectionIds\.0: connection id must be/],
    ['a tenant id that is not a GUID', { tenantIds: ['contoso.onmicrosoft.com'] }, /tenantIds\.0: tenant id must be a GUID/],
    ['an unknown change type', { changeTypes: ['moved' as never] }, /changeTypes\.0/],
    ['an unknown lifecycle event', { lifecycleEvents: ['expired' as never] }, /lifecycleEvents\.0/],
    ['an unknown detail type', { detailTypes: ['Graph Subscription Renewed' as never] }, /detailTypes\.0/],
    ['an empty resource prefix', { resourcePrefix: '' }, /resourcePrefix: must not be empty/],
    ['an empty source', { source: '' }, /source/],
    ['a misspelt field', { changeType: ['created'] } as GraphNotificationFilter, /changeType/],
    ['change filters without a detail type that carries changes', { detailTypes: [DETAIL_TYPES.lifecycle], changeTypes: ['created'] }, /changeTypes and resourcePrefix filter change notifications/],
    ['lifecycle filters without a detail type that carries them', { detailTypes: [DETAIL_TYPES.change], lifecycleEvents: ['missed'] }, /lifecycleEvents filters lifecycle notifications/],
  ])('refuses %s', (_label, filter, message) => {
    // Act
    const build = () => graphNotificationPattern(filter);

    // Assess
    expect(build).toThrow(InvalidGraphNotificationFilterError);
    expect(build).toThrow(message);
  });

  it('lower-cases tenant ids and drops repeated values', () => {
    // Act
    const pattern = graphNotificationPattern({ tenantIds: [TENANT_A.toUpperCase(), TENANT_A], changeTypes: ['created', 'created'], detailTypes: [DETAIL_TYPES.change] });

    // Assess
    expect(pattern).toEqual({
      source: ['graph-relay'],
      'detail-type': ['Graph Change Notification'],
      detail: { payload: { value: { changeType: ['created'] } }, metadata: { tenantId: [TENANT_A] } },
    });
  });
});
