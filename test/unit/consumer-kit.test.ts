import { createHash } from 'node:crypto';
import type { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { buildEvents, idempotencyKey, routingEvent, type EventEntry } from '../../shared/events/contract';
import { payloadRefOf } from '../../shared/events/payload-store';
import type { ChangeNotification } from '../../shared/graph/change-notification';
import {
  EVENT_DETAIL_TYPES,
  InvalidGraphRelayEventError,
  isGraphRelayEventOf,
  parseGraphRelayEvent,
  parseGraphRelayEventOf,
  PayloadRefError,
  resolvePayloadRef,
  s3PayloadObjects,
  type GraphRelayEvent,
  type GraphRelayEventOf,
  type GraphSubscriptionRenewedDetail,
  type PayloadObjects,
} from '../../shared/consumer';

const INTEGRATION = 'contoso';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';

function change(overrides: Record<string, unknown> = {}): ChangeNotification {
  return {
    id: 'lsgTZMr9KwAAA',
    subscriptionId: '9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3c',
    subscriptionExpirationDateTime: '2024-05-03T11:00:00.0000000Z',
    tenantId: TENANT,
    clientState: 'current-secret-0123456789',
    changeType: 'created',
    resource: 'users/u1/messages/m1',
    resourceData: { '@odata.type': '#Microsoft.Graph.Message', '@odata.etag': 'W/"1"', id: 'm1' },
    ...overrides,
  } as ChangeNotification;
}

function built(notification: ChangeNotification, connectionIds: string[] = ['conn-1']): EventEntry {
  const [event] = buildEvents({
    source: 'graph-relay',
    provider: 'microsoft-oauth2-cc',
    integrationId: INTEGRATION,
    notification,
    idempotencyKey: idempotencyKey(INTEGRATION, notification),
    connectionIds,
    receivedAt: '2024-05-01T12:00:00.000Z',
    region: 'eu-west-1',
  });
  return event!;
}

/** An event as an EventBridge rule target receives it, from an entry the product built. */
function received(entry: { source: string; detailType: string; detail: unknown }): Record<string, unknown> {
  return {
    version: '0',
    id: 'e5c1a2b3-0000-4000-8000-000000000001',
    'detail-type': entry.detailType,
    source: entry.source,
    account: '000000000000',
    time: '2024-05-01T12:00:01Z',
    region: 'eu-west-1',
    resources: [],
    detail: JSON.parse(JSON.stringify(entry.detail)) as unknown,
  };
}

/** A payload bucket in memory: the port the kit reads payloads through. `regions`: the region asked of each read. */
function bucketOf(objects: Record<string, string>): PayloadObjects & { reads: string[]; regions: (string | undefined)[] } {
  const reads: string[] = [];
  const regions: (string | undefined)[] = [];
  return {
    reads,
    regions,
    async get({ bucket, key, region }) {
      reads.push(`${bucket}/${key}`);
      regions.push(region);
      const body = objects[`${bucket}/${key}`];
      if (body === undefined) throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
      return new TextEncoder().encode(body);
    },
  };
}

/** The event the product publishes for a too-large detail, and the object it stores. */
function offloaded(notification: ChangeNotification) {
  const event = built(notification);
  const body = JSON.stringify(event.detail);
  const ref = payloadRefOf({ region: 'eu-west-1', bucket: 'graph-relay-payloads', key: 'contoso/2024/05/01/k/conn-1.json' }, body);
  return { event: received(routingEvent(event, ref)), body, ref, full: event.detail };
}

describe('consumer kit: parsing events', () => {
  it('parses each notification detail-type the product builds into its member of the union', () => {
    // Prepare
    const routed = received(built(change()));
    const lifecycle = received(built(change({ changeType: undefined, resource: undefined, resourceData: undefined, lifecycleEvent: 'missed' })));
    const unrouted = received(built(change(), []));

    // Act
    const parsed = [routed, lifecycle, unrouted].map((event) => parseGraphRelayEvent(event));

    // Assess
    expect(parsed.map((event) => event['detail-type'])).toEqual([EVENT_DETAIL_TYPES.change, EVENT_DETAIL_TYPES.lifecycle, EVENT_DETAIL_TYPES.unrouted]);
    expect(parsed[0]).toEqual({ 'detail-type': 'Graph Change Notification', source: 'graph-relay', detail: routed['detail'] });
    expect(parsed[2]?.detail.connectionId).toBeNull();
  });

  it('narrows on detail-type to the detail inferred from the contract', () => {
    // Prepare
    const event: GraphRelayEvent = parseGraphRelayEvent(received(built(change())));

    // Act
    const summary = event['detail-type'] === EVENT_DETAIL_TYPES.change ? `${event.detail.connectionId}:${event.detail.payload.value[0].changeType}` : 'other';

    // Assess
    expect(summary).toBe('conn-1:created');
  });

  it('parses a subscription event into its own typed detail', () => {
    // Prepare
    const detail: GraphSubscriptionRenewedDetail = {
      from: 'microsoft-oauth2-cc',
      providerConfigKey: INTEGRATION,
      connectionId: 'conn-1',
      tenantId: TENANT,
      subscriptionId: '9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3c',
      resource: 'users',
      changeTypes: ['updated'],
      occurredAt: '2024-05-01T12:00:00.000Z',
      expirationDateTime: '2024-05-04T12:00:00.000Z',
    };

    // Act
    const event = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.subscriptionRenewed, received({ source: 'graph-relay', detailType: 'Graph Subscription Renewed', detail }));
    const expiry: string = event.detail.expirationDateTime;

    // Assess
    expect(expiry).toBe('2024-05-04T12:00:00.000Z');
  });

  it('tells each detail-type apart with its type guard', () => {
    // Prepare
    const event = received(built(change()));

    // Act
    const guards = Object.values(EVENT_DETAIL_TYPES).filter((detailType) => isGraphRelayEventOf(detailType, event));

    // Assess
    expect(guards).toEqual(['Graph Change Notification']);
  });

  it('refuses an unknown detail-type, naming the ones it knows', () => {
    // Act
    const parse = () => parseGraphRelayEvent({ 'detail-type': 'Graph Something Else', source: 'graph-relay', detail: {} });

    // Assess
    expect(parse).toThrow(InvalidGraphRelayEventError);
    expect(parse).toThrow('unknown detail-type "Graph Something Else": graph-relay publishes Graph Change Notification, Graph Lifecycle Notification, Graph Notification Unrouted, Graph Subscription Renewed, Graph Subscription Recreated, Graph Subscription Renewal Failed, Graph Subscription Resynced; filter the rule on these, or update the consumer kit');
  });

  it('refuses an invalid detail with the paths that failed, on one line', () => {
    // Prepare
    const event = received(built(change()));
    (event['detail'] as { metadata: { idempotencyKey: string } }).metadata.idempotencyKey = 'not-a-key';

    // Act
    const parse = () => parseGraphRelayEvent(event);

    // Assess
    expect(parse).toThrow(InvalidGraphRelayEventError);
    expect(parse).toThrow(/^invalid "Graph Change Notification" detail \(detail\.metadata\.idempotencyKey: .+\): /);
    expect(parse).not.toThrow(/\n/);
  });

  it('refuses what is not an EventBridge event, an event of another source, and another detail-type than asked', () => {
    // Prepare
    const event = received(built(change()));

    // Act
    const refusals = [
      () => parseGraphRelayEvent('{}'),
      () => parseGraphRelayEvent(event, { source: 'graph-relay-prod' }),
      () => parseGraphRelayEventOf(EVENT_DETAIL_TYPES.lifecycle, event),
    ].map((parse) => {
      try {
        parse();
        return 'parsed';
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    });

    // Assess
    expect(refusals).toEqual([
      'InvalidGraphRelayEventError: not an EventBridge event: expected an object with "detail-type", "source" and "detail"',
      'InvalidGraphRelayEventError: event source "graph-relay" is not "graph-relay-prod": filter the rule on source',
      'InvalidGraphRelayEventError: expected a "Graph Lifecycle Notification" event, got "Graph Change Notification": filter the rule on detail-type',
    ]);
  });
});

describe('consumer kit: resolving payloadRef', () => {
  it('returns the detail as it is, reading nothing, when the event carries no payloadRef', async () => {
    // Prepare
    const event = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, received(built(change())));
    const bucket = bucketOf({});

    // Act
    const detail = await resolvePayloadRef(event, { objects: bucket });

    // Assess
    expect(detail).toEqual(event.detail);
    expect(bucket.reads).toEqual([]);
  });

  it('returns the full detail stored in the payload bucket once its size and sha256 match', async () => {
    // Prepare
    const { event, body, ref, full } = offloaded(change({ encryptedContent: { data: 'x'.repeat(1000), dataKey: 'k' } }));
    const bucket = bucketOf({ [`${ref.bucket}/${ref.key}`]: body });
    const parsed = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, event);

    // Act
    const detail = await resolvePayloadRef(parsed, { objects: bucket });

    // Assess
    expect(parsed.detail.payload.value[0]['encryptedContent']).toBeUndefined();
    expect(detail).toEqual(JSON.parse(JSON.stringify(full)));
    expect(detail.payload.value[0]['encryptedContent']).toEqual({ data: 'x'.repeat(1000), dataKey: 'k' });
    expect(detail.payloadRef).toBeUndefined();
    expect(bucket.reads).toEqual([`${ref.bucket}/${ref.key}`]);
    expect(bucket.regions).toEqual(['eu-west-1']);
  });

  it('reads a payloadRef without a region (an event published before it was recorded) in the default region', async () => {
    // Prepare
    const { event, body, ref, full } = offloaded(change());
    const { region: _region, ...archivedRef } = ref;
    const { region: _metadataRegion, ...archivedMetadata } = (event['detail'] as { metadata: Record<string, unknown> }).metadata;
    const archived = { ...event, detail: { ...(event['detail'] as object), metadata: archivedMetadata, payloadRef: archivedRef } };
    const parsed = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, archived);
    const bucket = bucketOf({ [`${ref.bucket}/${ref.key}`]: body });

    // Act
    const detail = await resolvePayloadRef(parsed, { objects: bucket });

    // Assess
    expect(parsed.detail.payloadRef?.region).toBeUndefined();
    expect(parsed.detail.metadata.region).toBeUndefined();
    expect(detail).toEqual(JSON.parse(JSON.stringify(full)));
    expect(bucket.regions).toEqual([undefined]);
  });

  it('refuses a stored object that was changed, on its sha256', async () => {
    // Prepare
    const { event, body, ref } = offloaded(change());
    const tampered = body.replace('"created"', '"deleted"');
    const parsed = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, event);

    // Act
    const resolve = resolvePayloadRef(parsed, { objects: bucketOf({ [`${ref.bucket}/${ref.key}`]: tampered }) });

    // Assess
    expect(Buffer.byteLength(tampered)).toBe(ref.size);
    await expect(resolve).rejects.toThrow(PayloadRefError);
    await expect(resolvePayloadRef(parsed, { objects: bucketOf({ [`${ref.bucket}/${ref.key}`]: tampered }) })).rejects.toThrow(
      `s3://${ref.bucket}/${ref.key} does not match the event's sha256 (${createHash('sha256').update(tampered).digest('hex')}, expected ${ref.sha256}): the object was changed after publishing; do not use it`,
    );
  });

  it('refuses a stored object of another size before hashing it', async () => {
    // Prepare
    const { event, body, ref } = offloaded(change());
    const parsed = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, event);

    // Act
    const resolve = resolvePayloadRef(parsed, { objects: bucketOf({ [`${ref.bucket}/${ref.key}`]: `${body} ` }) });

    // Assess
    await expect(resolve).rejects.toThrow(`s3://${ref.bucket}/${ref.key} is ${ref.size + 1} bytes, the event says ${ref.size}: the object was changed after publishing; do not use it`);
  });

  it('says what to grant when the object cannot be read', async () => {
    // Prepare
    const { event, ref } = offloaded(change());
    const parsed = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, event);

    // Act
    const resolve = resolvePayloadRef(parsed, { objects: bucketOf({}) });

    // Assess
    await expect(resolve).rejects.toThrow(
      `cannot read s3://${ref.bucket}/${ref.key} in ${ref.region} (NoSuchKey: The specified key does not exist.): grant the consumer s3:GetObject on ${ref.bucket}/*, and read events within the archive's retention`,
    );
  });

  it('refuses a stored detail that does not parse as the event\'s detail-type', async () => {
    // Prepare
    const entry = built(change());
    const body = JSON.stringify({ ...entry.detail, type: 'other' });
    const ref = payloadRefOf({ region: 'eu-west-1', bucket: 'graph-relay-payloads', key: 'contoso/x.json' }, body);
    const parsed = parseGraphRelayEventOf(EVENT_DETAIL_TYPES.change, received(routingEvent(entry, ref)));

    // Act
    const resolve = resolvePayloadRef(parsed, { objects: bucketOf({ 'graph-relay-payloads/contoso/x.json': body }) });

    // Assess
    await expect(resolve).rejects.toThrow(/^s3:\/\/graph-relay-payloads\/contoso\/x\.json: invalid "Graph Change Notification" detail \(detail\.type: /);
  });
});

/** Compile-time: every detail-type has its event type, inferred from the contract (tsc --noEmit checks these). */
export type EveryDetailTypeHasAnEvent = { [K in keyof typeof EVENT_DETAIL_TYPES]: GraphRelayEventOf<(typeof EVENT_DETAIL_TYPES)[K]> };

describe('consumer kit: s3PayloadObjects', () => {
  /** An S3 client stand-in of one region: answers GetObject with the bucket, key and its own region as the body. */
  function regionalClient(region: string | undefined, made: string[] = []): S3Client {
    if (region !== undefined) made.push(region);
    return {
      config: { region: async () => region ?? Promise.reject(new Error('Region is missing')) },
      send: async (command: GetObjectCommand) => ({
        Body: { transformToByteArray: async () => new TextEncoder().encode(`${region}:${command.input.Bucket}/${command.input.Key}`) },
      }),
    } as unknown as S3Client;
  }
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  it("reads each object in its payloadRef's region, with one client per region created on first use", async () => {
    // Prepare
    const made: string[] = [];
    const objects = s3PayloadObjects(regionalClient('eu-west-1'), { clientFor: (region) => regionalClient(region, made) });

    // Act
    const read = [
      text(await objects.get({ region: 'eu-central-1', bucket: 'b-central', key: 'k1' })),
      text(await objects.get({ region: 'eu-central-1', bucket: 'b-central', key: 'k2' })),
      text(await objects.get({ region: 'eu-west-1', bucket: 'b-west', key: 'k3' })),
      text(await objects.get({ bucket: 'b-old', key: 'k4' })),
    ];

    // Assess: the default client serves its own region and refs without one; another region gets one client.
    expect(read).toEqual(['eu-central-1:b-central/k1', 'eu-central-1:b-central/k2', 'eu-west-1:b-west/k3', 'eu-west-1:b-old/k4']);
    expect(made).toEqual(['eu-central-1']);
  });

  it('gives every named region a client of its own when the default client has no region', async () => {
    // Prepare
    const made: string[] = [];
    const objects = s3PayloadObjects(regionalClient(undefined), { clientFor: (region) => regionalClient(region, made) });

    // Act
    const read = text(await objects.get({ region: 'us-east-1', bucket: 'b', key: 'k' }));

    // Assess
    expect(read).toBe('us-east-1:b/k');
    expect(made).toEqual(['us-east-1']);
  });
});
