import { createHash } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { idempotencyKey, type EventEntry } from '../../shared/events/contract';
import { PayloadStoreError, type PayloadStore } from '../../shared/events/payload-store';
import { EventBridgePublisher, PUT_EVENTS_MAX_BYTES } from '../../shared/events/publisher';
import type { ChangeNotification } from '../../shared/graph/change-notification';
import { processNotifications } from '../../shared/intake/process-notifications';
import { changeNotification, collectionOf, fakePorts, INTEGRATION_ID, RecordingPublisher, RELAY_REGION, routingSnapshot, TENANT_A, TENANT_B, type FakePorts, type RoutingFixture } from '../support/fakes';

const SNAPSHOT = routingSnapshot({
  connections: [
    { connectionId: 'a-1', tenantId: TENANT_A },
    { connectionId: 'a-2', tenantId: TENANT_A },
  ],
});

/** Records like the fake, but sizes events with the real publisher's own sizeOf. */
class SizingPublisher extends RecordingPublisher {
  readonly #real = new EventBridgePublisher(new EventBridgeClient({ region: 'us-east-1' }), 'bus', { maxAttempts: 1, concurrency: 1 });
  override sizeOf(event: EventEntry): number {
    return this.#real.sizeOf(event);
  }
}

class FakePayloadStore implements PayloadStore {
  readonly bucket = 'payloads-bucket';
  readonly objects = new Map<string, { body: string; sha256: string }>();
  fail: ((key: string) => Error | undefined) | undefined;

  async put(object: { key: string; body: string; sha256: string }): Promise<void> {
    const error = this.fail?.(object.key);
    if (error !== undefined) throw error;
    this.objects.set(object.key, { body: object.body, sha256: object.sha256 });
  }
}

function portsWith(store: FakePayloadStore | undefined, snapshot: RoutingFixture = SNAPSHOT): FakePorts {
  const ports = fakePorts({ snapshot });
  ports.publisher = new SizingPublisher();
  if (store !== undefined) ports.payloads = store;
  return ports;
}

/** A notification whose event for connection `a-1` is exactly `bytes` long as the publisher sizes it. */
function notificationOfEventSize(bytes: number, ports: FakePorts): ChangeNotification {
  const base = changeNotification({ tenantId: TENANT_B, resourceData: { id: 'm', pad: '' } });
  const sizeWith = (pad: string) => {
    const notification = { ...base, resourceData: { id: 'm', pad } };
    const key = idempotencyKey(INTEGRATION_ID, notification);
    return ports.publisher.sizeOf({
      source: ports.source,
      detailType: 'Graph Change Notification',
      detail: {
        from: 'microsoft-oauth2-cc',
        providerConfigKey: INTEGRATION_ID,
        type: 'forward',
        connectionId: 'b-1',
        payload: { value: [(({ clientState: _c, ...rest }) => rest)(notification)] },
        metadata: { idempotencyKey: key, tenantId: TENANT_B.toLowerCase(), subscriptionId: notification.subscriptionId, receivedAt: ports.now().toISOString(), origin: 'webhook', region: ports.region },
      },
    });
  };
  const pad = 'x'.repeat(bytes - sizeWith(''));
  expect(sizeWith(pad)).toBe(bytes);
  return { ...base, resourceData: { id: 'm', pad } };
}

const B_SNAPSHOT = routingSnapshot({ connections: [{ connectionId: 'b-1', tenantId: TENANT_B }] });

describe('processNotifications: events too large for EventBridge', () => {
  it('publishes an event of exactly the PutEvents limit as it is, without touching the payload store', async () => {
    // Prepare
    const store = new FakePayloadStore();
    const ports = portsWith(store, B_SNAPSHOT);
    const notification = notificationOfEventSize(PUT_EVENTS_MAX_BYTES, ports);

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(notification), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ published: 1, refused: 0, events: 1 }) });
    expect(store.objects.size).toBe(0);
    const [event] = ports.publisher.published;
    expect(event?.detail.payloadRef).toBeUndefined();
    expect(ports.publisher.sizeOf(event!)).toBe(PUT_EVENTS_MAX_BYTES);
  });

  it('stores the full detail of an event one byte over the limit and publishes its routing fields with payloadRef', async () => {
    // Prepare
    const store = new FakePayloadStore();
    const ports = portsWith(store, B_SNAPSHOT);
    const notification = notificationOfEventSize(PUT_EVENTS_MAX_BYTES + 1, ports);
    const key = idempotencyKey(INTEGRATION_ID, notification);

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(notification), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ published: 1, refused: 0, events: 1 }) });
    const [event] = ports.publisher.published;
    const [objectKey] = [...store.objects.keys()];
    expect(objectKey).toMatch(new RegExp(`^${INTEGRATION_ID}/2024/05/01/${key}/b-1/[0-9a-f]{64}\\.json$`));
    const stored = store.objects.get(objectKey!);
    expect(event?.detail.payloadRef).toEqual({ region: RELAY_REGION, bucket: 'payloads-bucket', key: objectKey, size: PUT_EVENTS_MAX_BYTES + 1 - ports.source.length - 'Graph Change Notification'.length, sha256: stored?.sha256 });
    const full = JSON.parse(stored!.body) as EventEntry['detail'];
    expect(full.payload.value[0].resourceData).toEqual(notification.resourceData);
    expect(full.payloadRef).toBeUndefined();
    expect(event?.detail.payload.value[0]).toEqual(expect.objectContaining({ resourceData: { id: 'm' }, changeType: 'created', resource: notification.resource }));
    expect(ports.deliveries.markCalls.flat()).toEqual([key]);
  });

  it('stores one object per connection and keeps the order of the events', async () => {
    // Prepare
    const store = new FakePayloadStore();
    const ports = portsWith(store);
    const large = changeNotification({ tenantId: TENANT_A, resourceData: { id: 'm', body: 'x'.repeat(300 * 1024) } });
    const small = changeNotification({ tenantId: TENANT_A });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(large, small), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ published: 2, events: 4 }) });
    expect([...store.objects.keys()].map((k) => k.split('/').at(-2)).sort()).toEqual(['a-1', 'a-2']);
    expect(ports.publisher.published.map((e) => [e.detail.connectionId, e.detail.payloadRef === undefined])).toEqual([
      ['a-1', false],
      ['a-2', false],
      ['a-1', true],
      ['a-2', true],
    ]);
    // resourceData alone is too large: only what identifies the resource is kept on the bus.
    expect(ports.publisher.published[0]?.detail.payload.value[0].resourceData).toEqual({ id: 'm' });
    expect(ports.publisher.published.every((e) => ports.publisher.sizeOf(e) <= PUT_EVENTS_MAX_BYTES)).toBe(true);
  });

  it('keeps the object of an earlier delivery when Graph redelivers the notification the same day', async () => {
    // Prepare: the first delivery is published but its answer is lost; Graph redelivers an hour later
    const store = new FakePayloadStore();
    const first = portsWith(store, B_SNAPSHOT);
    const notification = notificationOfEventSize(PUT_EVENTS_MAX_BYTES + 1, first);
    await processNotifications(INTEGRATION_ID, collectionOf(notification), first);
    const later = portsWith(store, B_SNAPSHOT);
    later.now = () => new Date(first.now().getTime() + 60 * 60 * 1000);

    // Act
    await processNotifications(INTEGRATION_ID, collectionOf(notification), later);

    // Assess: each event's payloadRef names an object that still holds the bytes its sha256 names
    const refs = [...first.publisher.published, ...later.publisher.published].map((e) => e.detail.payloadRef!);
    expect(refs).toHaveLength(2);
    expect(refs[0]!.key).not.toBe(refs[1]!.key);
    for (const ref of refs) {
      const stored = store.objects.get(ref.key);
      expect(stored).toBeDefined();
      expect(createHash('sha256').update(stored!.body, 'utf8').digest('hex')).toBe(ref.sha256);
      expect(JSON.parse(stored!.body).metadata.receivedAt).toBe(refs.indexOf(ref) === 0 ? first.now().toISOString() : later.now().toISOString());
    }
  });

  it('answers unavailable when the store fails, publishing and marking only the other notifications', async () => {
    // Prepare
    const store = new FakePayloadStore();
    store.fail = () => new PayloadStoreError('cannot store s3://payloads-bucket/k (InternalError: We encountered an internal error)');
    const ports = portsWith(store);
    const large = changeNotification({ tenantId: TENANT_A, resourceData: { id: 'm', body: 'x'.repeat(300 * 1024) } });
    const small = changeNotification({ tenantId: TENANT_A });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(large, small), ports);

    // Assess
    expect(outcome).toEqual({
      kind: 'unavailable',
      reason: 'cannot store a large payload in the payload bucket',
      counts: expect.objectContaining({ published: 1, events: 2, refused: 0 }),
    });
    expect(ports.publisher.published.map((e) => e.detail.metadata.idempotencyKey)).toEqual([idempotencyKey(INTEGRATION_ID, small), idempotencyKey(INTEGRATION_ID, small)]);
    expect(ports.deliveries.markCalls.flat()).toEqual([idempotencyKey(INTEGRATION_ID, small)]);
    expect(ports.logger.records).toContainEqual(expect.objectContaining({ level: 'error', message: 'large payload not stored; the notification is not published' }));
  });

  it('publishes none of a notification\'s events when only one of its objects could not be stored', async () => {
    // Prepare
    const store = new FakePayloadStore();
    store.fail = (key) => (key.includes('/a-2/') ? new PayloadStoreError('throttled') : undefined);
    const ports = portsWith(store);
    const large = changeNotification({ tenantId: TENANT_A, resourceData: { id: 'm', body: 'x'.repeat(300 * 1024) } });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(large), ports);

    // Assess
    expect(outcome.kind).toBe('unavailable');
    expect(ports.publisher.calls.flat()).toEqual([]);
    expect(ports.deliveries.markCalls.flat()).toEqual([]);
  });

  it('refuses an oversized notification without a payload store, naming the missing PAYLOAD_BUCKET setting', async () => {
    // Prepare
    const ports = portsWith(undefined);
    const large = changeNotification({ tenantId: TENANT_A, resourceData: { id: 'm', body: 'x'.repeat(300 * 1024) } });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(large), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ refused: 1, published: 0 }) });
    expect(ports.logger.records).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'notification too large for EventBridge and no payload bucket configured (PAYLOAD_BUCKET is not set)' }),
    );
  });

  it('refuses a notification whose routing fields alone exceed the limit, storing nothing', async () => {
    // Prepare
    const store = new FakePayloadStore();
    const ports = portsWith(store);
    const large = changeNotification({ tenantId: TENANT_A, resource: `users/${'u'.repeat(300 * 1024)}` });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(large), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ refused: 1, published: 0 }) });
    expect(store.objects.size).toBe(0);
    expect(ports.logger.records).toContainEqual(expect.objectContaining({ message: 'notification too large for EventBridge even reduced to its routing fields' }));
  });
});
