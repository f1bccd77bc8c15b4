import { randomUUID } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { EmittedEvent } from '../../local/aws-emulator';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { EVENT_DETAIL_TYPES, parseGraphRelayEventOf, PayloadRefError, resolvePayloadRef, s3PayloadObjects } from '../../shared/consumer';
import type { ForwardDetail } from '../../shared/events/contract';
import { EventBridgePublisher, PUT_EVENTS_MAX_BYTES } from '../../shared/events/publisher';
import { SUBSCRIPTION_DETAIL_TYPES, type SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { notification } from '../../testkit/notification';
import { startTestStack, type TestStack } from '../support/test-stack';

/**
 * The README's example consumer (examples/consumer/handler.ts), as it runs in Lambda: its own S3Client from the
 * environment, on events the product published to the local stack's bus and payload bucket.
 */

let t: TestStack;
let s3: S3Client;
let eventBridge: EventBridgeClient;
let handler: typeof import('../../examples/consumer/handler').handler;

beforeAll(async () => {
  t = await startTestStack();
  const d = t.stack.descriptor;
  // What Lambda gives the function, pointed at the emulator: the example's S3Client reads nothing else.
  process.env['AWS_REGION'] = d.region;
  process.env['AWS_ACCESS_KEY_ID'] = LOCAL_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = LOCAL_CREDENTIALS.secretAccessKey;
  process.env['AWS_ENDPOINT_URL_S3'] = d.awsEmulatorEndpoint;
  ({ handler } = await import('../../examples/consumer/handler'));
  const clientConfig = { region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.awsEmulatorEndpoint };
  s3 = new S3Client({ ...clientConfig, forcePathStyle: true });
  eventBridge = new EventBridgeClient(clientConfig);
});

afterAll(async () => {
  s3?.destroy();
  eventBridge?.destroy();
  await t?.stop();
});

/** The example subscribed to the integration's events by a rule, as a Lambda target: resolves once `count` were handled. */
function subscribeExample(integrationId: string, count: number) {
  const handled: Awaited<ReturnType<typeof handler>>[] = [];
  const failures: unknown[] = [];
  let unsubscribe: () => void = () => undefined;
  const done = new Promise<typeof handled>((resolve, reject) => {
    unsubscribe = t.stack.emulator.onEvent(
      { eventBusName: t.stack.descriptor.eventBusName, pattern: { source: ['graph-relay'], detail: { providerConfigKey: [integrationId] } } },
      async (event) => {
        handled.push(await handler(event));
        if (handled.length === count) resolve(handled);
      },
      (error) => {
        failures.push(error);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
  return { done: done.finally(() => unsubscribe()), failures };
}

const eventsOf = (integrationId: string): EmittedEvent[] =>
  t.stack.emulator.events(t.stack.descriptor.eventBusName).filter((event) => (event.detail as unknown as ForwardDetail).providerConfigKey === integrationId);

/** A change notification whose resourceData is about 300 KB: its event is offloaded to the payload bucket. */
function largeNotification(tenantId: string, clientState: string): Record<string, unknown> {
  const base = notification({ tenantId, clientState });
  return { ...base, resourceData: { ...(base['resourceData'] as Record<string, unknown>), body: 'é'.repeat(150 * 1024) } };
}

function withoutClientState(sent: Record<string, unknown>): Record<string, unknown> {
  const { clientState: _secret, ...published } = sent;
  return published;
}

describe('the README example consumer on the local stack', () => {
  it('gets every notification whole, the offloaded one read from the payload bucket and checked', async () => {
    // Prepare
    const tenantId = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId }] });
    const small = notification({ tenantId, clientState: webhookSecret });
    const large = largeNotification(tenantId, webhookSecret);
    const example = subscribeExample(integrationId, 2);

    // Act
    const response = await t.post(integrationId, { value: [small, large] });
    const handled = await example.done;

    // Assess
    expect(response.status).toBe(202);
    const refs = eventsOf(integrationId).map((event) => (event.detail as unknown as ForwardDetail).payloadRef);
    expect(refs).toEqual([undefined, expect.objectContaining({ bucket: t.stack.descriptor.payloadBucket, region: t.stack.descriptor.region })]);
    expect(refs[1]!.size).toBeGreaterThan(PUT_EVENTS_MAX_BYTES);
    expect(handled).toEqual(
      expect.arrayContaining([
        { detailType: 'Graph Change Notification', connectionId: 'conn-1', notification: withoutClientState(small) },
        { detailType: 'Graph Change Notification', connectionId: 'conn-1', notification: withoutClientState(large) },
      ]),
    );
    expect(example.failures).toEqual([]);
  });

  it('handles a subscription event the product published', async () => {
    // Prepare
    const integrationId = `consumer-${randomUUID().slice(0, 8)}`;
    const publisher = new EventBridgePublisher<SubscriptionEventEntry>(eventBridge, t.stack.descriptor.eventBusName, { maxAttempts: 1, concurrency: 1 });
    const example = subscribeExample(integrationId, 1);
    const event: SubscriptionEventEntry = {
      source: 'graph-relay',
      detailType: SUBSCRIPTION_DETAIL_TYPES.recreated,
      detail: {
        from: 'microsoft-oauth2-cc',
        providerConfigKey: integrationId,
        connectionId: 'conn-1',
        tenantId: randomUUID(),
        subscriptionId: randomUUID(),
        previousSubscriptionId: 'lapsed-subscription',
        resource: 'users',
        changeTypes: ['updated'],
        expirationDateTime: '2026-12-08T10:00:00.000Z',
        occurredAt: '2026-12-05T10:00:00.000Z',
      },
    };

    // Act
    await publisher.publish([event]);
    const handled = await example.done;

    // Assess
    expect(handled).toEqual([{ detailType: 'Graph Subscription Recreated', connectionId: 'conn-1', todo: 'resync users: changes since lapsed-subscription lapsed are lost' }]);
  });

  it("resolves a payloadRef in its bucket's region for a consumer whose own client is of another region", async () => {
    // Prepare: a consumer in another region of a multi-region stage, reading what this region's intake stored.
    const tenantId = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId }] });
    const large = largeNotification(tenantId, webhookSecret);
    await t.post(integrationId, { value: [large] });
    const [event] = eventsOf(integrationId);
    const parsed = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, event);
    const asked: string[] = [];
    const elsewhere = new S3Client({ region: 'eu-central-1' });
    const objects = s3PayloadObjects(elsewhere, {
      clientFor: (region) => {
        asked.push(region);
        return new S3Client({ region });
      },
    });

    // Act
    const detail = await resolvePayloadRef(parsed, { objects });

    // Assess
    expect(parsed.detail.payloadRef?.region).toBe(t.stack.descriptor.region);
    expect(asked).toEqual([t.stack.descriptor.region]);
    expect(detail.payload.value[0]).toEqual(withoutClientState(large));
    elsewhere.destroy();
  });

  it('refuses an offloaded event whose stored payload was changed, on its sha256', async () => {
    // Prepare
    const tenantId = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId }] });
    await t.post(integrationId, { value: [largeNotification(tenantId, webhookSecret)] });
    const [event] = eventsOf(integrationId);
    const ref = (event!.detail as unknown as ForwardDetail).payloadRef!;
    const object = await s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    const stored = await object.Body!.transformToString('utf8');
    // Same size, one character changed: only the hash tells.
    const tampered = stored.replace('"changeType":"updated"', '"changeType":"deleted"');
    await s3.send(new PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, Body: tampered, ContentType: 'application/json' }));

    // Act
    const result = handler(event);

    // Assess
    expect(tampered).not.toBe(stored);
    await expect(result).rejects.toThrow(PayloadRefError);
    await expect(handler(event)).rejects.toThrow(`s3://${ref.bucket}/${ref.key} does not match the event's sha256`);
  });
});
