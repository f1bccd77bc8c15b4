import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventBridgeClient, TestEventPatternCommand } from '@aws-sdk/client-eventbridge';
import { startAwsEmulator, type AwsEmulator, type EmittedEvent } from '../../local/aws-emulator';
import { buildEvents, idempotencyKey, type EventEntry } from '../../shared/events/contract';
import { EventBridgePublisher } from '../../shared/events/publisher';
import { parseNotificationBody, type ChangeNotification } from '../../shared/graph/change-notification';

/**
 * The two rule examples of the README's "Event contract" section, checked with the real SDK's
 * TestEventPatternCommand against the emulator, on events the product builds and publishes itself.
 */

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const SOURCE = 'graph-relay';
const INTEGRATION_ID = 'contoso';
const PROVIDER = 'microsoft-oauth2-cc';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const OTHER_TENANT = '2f1b3a5e-0c8d-4c7e-9a61-5d2e7b9c4f10';
const USER_ID = '8ac1cb2e-9f3d-4b71-a4d6-0f6e2b5c7d91';
const GROUP_ID = '0d2f7c41-5b6e-4a8f-9c3d-7e1a2b4c6d80';
const SUBSCRIPTION_ID = 'f2b4c6d8-1a3e-4c5b-8d7f-9e0a1b2c3d4e';

/** The ```json blocks that follow "Two examples:" in the "Event contract" section, parsed. */
async function readmeRuleExamples(): Promise<unknown[]> {
  const readme = await readFile(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('### Event contract');
  const end = readme.indexOf('\n## ', start);
  const section = readme.slice(start, end === -1 ? undefined : end);
  // The sentence may wrap between "Two" and "examples:".
  const intro = /Two\s+examples:/.exec(section);
  if (intro === null) throw new Error('README.md: no "Two examples:" in the "Event contract" section');
  const examples = section.slice(intro.index);
  return [...examples.matchAll(/```json\r?\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1] ?? '') as unknown);
}

/** A Graph POST body with one notification, parsed by the product's own parser. */
function notification(fields: Record<string, unknown>): ChangeNotification {
  const body = JSON.stringify({
    value: [
      {
        subscriptionId: SUBSCRIPTION_ID,
        subscriptionExpirationDateTime: '2026-11-27T18:23:45.9356913Z',
        tenantId: TENANT,
        clientState: 'secretClientValue',
        ...fields,
      },
    ],
  });
  const [parsed] = parseNotificationBody(body).notifications;
  if (parsed === undefined) throw new Error(`the test notification is not valid: ${body}`);
  return parsed.notification;
}

function change(changeType: string, resource: string, tenantId = TENANT): ChangeNotification {
  const id = resource.split('/')[1];
  return notification({
    changeType,
    resource,
    tenantId,
    resourceData: { '@odata.type': `#Microsoft.Graph.${resource.startsWith('Users/') ? 'User' : 'Group'}`, '@odata.id': resource, id },
  });
}

function lifecycle(lifecycleEvent: string, tenantId = TENANT): ChangeNotification {
  return notification({ lifecycleEvent, tenantId });
}

/** The product's events for one notification; no connection gives the Unrouted event. */
function eventsFor(item: ChangeNotification, connectionIds: string[], integrationId = INTEGRATION_ID): EventEntry[] {
  return buildEvents({
    source: SOURCE,
    provider: PROVIDER,
    integrationId,
    notification: item,
    idempotencyKey: idempotencyKey(integrationId, item),
    connectionIds,
    receivedAt: '2026-11-25T21:36:28.750Z',
  });
}

/** Events by name, each with [matches README rule 1, matches README rule 2]. */
const CASES: [name: string, events: EventEntry[], rule1: boolean, rule2: boolean][] = [
  ['an updated user of contoso-main', eventsFor(change('updated', `Users/${USER_ID}`), ['contoso-main']), true, false],
  ['a created user of contoso-main', eventsFor(change('created', `Users/${USER_ID}`), ['contoso-main']), true, false],
  ['a deleted user of contoso-main', eventsFor(change('deleted', `Users/${USER_ID}`), ['contoso-main']), false, false],
  ['a created group of contoso-main', eventsFor(change('created', `Groups/${GROUP_ID}`), ['contoso-main']), false, false],
  ['an updated user of another connection', eventsFor(change('updated', `Users/${USER_ID}`), ['contoso-other']), false, false],
  // Graph may send the tenant in any case; metadata.tenantId is lower-case, which rule 2 relies on.
  ['a missed lifecycle event of the tenant', eventsFor(lifecycle('missed', TENANT.toUpperCase()), ['contoso-main']), false, true],
  ['an unrouted change of the tenant', eventsFor(change('updated', `Users/${USER_ID}`), []), false, true],
  ['a lifecycle event of another tenant', eventsFor(lifecycle('missed', OTHER_TENANT), ['fabrikam-main']), false, false],
  ['a lifecycle event of the tenant in another integration', eventsFor(lifecycle('missed'), ['tailspin-main'], 'tailspin'), false, false],
];

describe('README event contract rule examples', () => {
  let emulator: AwsEmulator;
  let client: EventBridgeClient;
  let rules: unknown[];
  const delivered = new Map<string, EmittedEvent>();

  beforeAll(async () => {
    emulator = await startAwsEmulator();
    client = new EventBridgeClient({ endpoint: emulator.url, region: 'us-east-1', credentials });
    rules = await readmeRuleExamples();
    // Published through the product's publisher, so each event is exactly what a rule target receives.
    const publisher = new EventBridgePublisher(client, 'default', { maxAttempts: 1, concurrency: 1 });
    for (const [name, events] of CASES) {
      emulator.clearEvents();
      await publisher.publish(events);
      const [event, ...more] = emulator.events();
      if (event === undefined || more.length > 0) throw new Error(`expected one event for ${name}, got ${more.length + (event ? 1 : 0)}`);
      delivered.set(name, event);
    }
  });

  afterAll(async () => {
    client.destroy();
    await emulator.close();
  });

  async function matches(rule: unknown, name: string): Promise<boolean | undefined> {
    const output = await client.send(
      new TestEventPatternCommand({ EventPattern: JSON.stringify(rule), Event: JSON.stringify(delivered.get(name)) }),
    );
    return output.Result;
  }

  it('finds exactly two JSON rule examples after "Two examples:"', async () => {
    // Act
    const examples = await readmeRuleExamples();

    // Assess
    expect(examples).toHaveLength(2);
    expect(examples[0]).toMatchObject({ detail: { connectionId: ['contoso-main'] } });
    expect(examples[1]).toMatchObject({ detail: { metadata: { tenantId: [TENANT] } } });
  });

  it('publishes the events the cases describe', () => {
    // Act
    const detailTypes = Object.fromEntries([...delivered].map(([name, event]) => [name, event['detail-type']]));

    // Assess: the detail-type each case relies on, so a wrong event cannot make a "does not match" pass.
    expect(detailTypes).toEqual({
      'an updated user of contoso-main': 'Graph Change Notification',
      'a created user of contoso-main': 'Graph Change Notification',
      'a deleted user of contoso-main': 'Graph Change Notification',
      'a created group of contoso-main': 'Graph Change Notification',
      'an updated user of another connection': 'Graph Change Notification',
      'a missed lifecycle event of the tenant': 'Graph Lifecycle Notification',
      'an unrouted change of the tenant': 'Graph Notification Unrouted',
      'a lifecycle event of another tenant': 'Graph Lifecycle Notification',
      'a lifecycle event of the tenant in another integration': 'Graph Lifecycle Notification',
    });
    expect(delivered.get('a missed lifecycle event of the tenant')?.detail).toMatchObject({ metadata: { tenantId: TENANT } });
  });

  it.each(CASES.map(([name, , rule1, rule2]) => [name, rule1, rule2] as const))(
    '%s: matches rule 1 = %s, rule 2 = %s',
    async (name, rule1Expected, rule2Expected) => {
      // Prepare
      const [rule1, rule2] = rules;

      // Act
      const results = [await matches(rule1, name), await matches(rule2, name)];

      // Assess
      expect(results).toEqual([rule1Expected, rule2Expected]);
    },
  );
});
