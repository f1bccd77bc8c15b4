import { buildEvents, canonicalJson, DETAIL_TYPES, idempotencyKey, type BuildEventsInput } from '../../shared/events/contract';
import type { ChangeNotification } from '../../shared/graph/change-notification';

const INTEGRATION = 'contoso';

function notification(overrides: Record<string, unknown> = {}): ChangeNotification {
  return {
    id: 'lsgTZMr9KwAAA',
    subscriptionId: '9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3c',
    subscriptionExpirationDateTime: '2024-05-03T11:00:00.0000000Z',
    tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    clientState: 'current-secret-0123456789',
    changeType: 'created',
    resource: 'users/u1/messages/m1',
    resourceData: { '@odata.type': '#Microsoft.Graph.Message', '@odata.etag': 'W/"1"', id: 'm1' },
    ...overrides,
  } as ChangeNotification;
}

function buildInput(overrides: Partial<BuildEventsInput> = {}): BuildEventsInput {
  const n = overrides.notification ?? notification();
  return {
    source: 'graph-relay',
    provider: 'microsoft-oauth2-cc',
    integrationId: INTEGRATION,
    notification: n,
    idempotencyKey: idempotencyKey(INTEGRATION, n),
    connectionIds: ['conn-1'],
    receivedAt: '2024-05-01T12:00:00.000Z',
    region: 'eu-west-1',
    ...overrides,
  };
}

describe('idempotencyKey', () => {
  it('is a SHA-256 hex digest', () => {
    // Prepare
    const n = notification();

    // Act
    const key = idempotencyKey(INTEGRATION, n);

    // Assess
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is the same for a redelivery of the same notification', () => {
    // Prepare
    const first = notification();
    const redelivered = JSON.parse(JSON.stringify(first)) as ChangeNotification;

    // Act
    const keys = [idempotencyKey(INTEGRATION, first), idempotencyKey(INTEGRATION, redelivered)];

    // Assess
    expect(keys[0]).toBe(keys[1]);
  });

  it('does not depend on key order, at any depth', () => {
    // Prepare
    const n = notification();
    const reordered = Object.fromEntries(Object.entries(n).reverse()) as ChangeNotification;
    reordered.resourceData = Object.fromEntries(Object.entries(n.resourceData ?? {}).reverse());
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(n));

    // Act
    const keys = [idempotencyKey(INTEGRATION, n), idempotencyKey(INTEGRATION, reordered)];

    // Assess
    expect(keys[0]).toBe(keys[1]);
  });

  it.each<[string, Record<string, unknown>]>([
    ['subscriptionId', { subscriptionId: '9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3d' }],
    ['tenantId', { tenantId: '0f2d8f49-862a-493b-9ca8-82a10637e17d' }],
    ['changeType', { changeType: 'updated' }],
    ['resource', { resource: 'users/u1/messages/m2' }],
    ['resourceData.id', { resourceData: { '@odata.type': '#Microsoft.Graph.Message', '@odata.etag': 'W/"1"', id: 'm2' } }],
    ['resourceData.@odata.etag', { resourceData: { '@odata.type': '#Microsoft.Graph.Message', '@odata.etag': 'W/"2"', id: 'm1' } }],
    ['subscriptionExpirationDateTime', { subscriptionExpirationDateTime: '2024-05-04T11:00:00.0000000Z' }],
    ['id', { id: 'other' }],
    ['an added unknown field', { sequenceNumber: 7 }],
    ['encryptedContent', { encryptedContent: { data: 'abc' } }],
  ])('differs when %s differs', (_field, change) => {
    // Prepare
    const a = notification();
    const b = notification(change);

    // Act
    const keys = [idempotencyKey(INTEGRATION, a), idempotencyKey(INTEGRATION, b)];

    // Assess
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('differs between a change and a lifecycle notification of the same subscription', () => {
    // Prepare
    const change = notification();
    const lifecycle = notification({ changeType: undefined, lifecycleEvent: 'missed' });

    // Act
    const keys = [idempotencyKey(INTEGRATION, change), idempotencyKey(INTEGRATION, lifecycle)];

    // Assess
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('ignores clientState', () => {
    // Prepare
    const signedWithCurrent = notification({ clientState: 'current-secret-0123456789' });
    const signedWithPrevious = notification({ clientState: 'previous-secret-9876543210' });
    const unsigned = notification({ clientState: undefined });

    // Act
    const keys = [signedWithCurrent, signedWithPrevious, unsigned].map((n) => idempotencyKey(INTEGRATION, n));

    // Assess
    expect(new Set(keys).size).toBe(1);
  });

  it('includes the integration id', () => {
    // Prepare
    const n = notification();

    // Act
    const keys = [idempotencyKey('contoso', n), idempotencyKey('fabrikam', n)];

    // Assess
    expect(keys[0]).not.toBe(keys[1]);
  });
});

describe('idempotencyKey: what cannot be steered', () => {
  it("differs when only Graph's notification id differs, and is the same for a redelivery of one id", () => {
    // Prepare
    const first = notification({ id: 'graph-id-1' });
    const second = notification({ id: 'graph-id-2' });

    // Act
    const keys = [idempotencyKey(INTEGRATION, first), idempotencyKey(INTEGRATION, second), idempotencyKey(INTEGRATION, notification({ id: 'graph-id-1' }))];

    // Assess
    expect(keys[0]).not.toBe(keys[1]);
    expect(keys[2]).toBe(keys[0]);
  });

  it('differs between tenants for otherwise identical notifications, whatever the case of the tenant id', () => {
    // Prepare
    const tenantA = notification({ tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95' });
    const tenantAUpper = notification({ tenantId: '84BD8158-6D4D-4958-8B9F-9D6445542F95' });
    const tenantB = notification({ tenantId: '0b2a6f4e-1c5d-4e7f-9a8b-3c2d1e0f9a8b' });

    // Act
    const [a, b] = [idempotencyKey(INTEGRATION, tenantA), idempotencyKey(INTEGRATION, tenantB)];

    // Assess
    expect(a).not.toBe(b);
    // The canonical JSON keeps the tenant as sent, so the upper-case copy is another key; the point is A never meets B.
    expect(idempotencyKey(INTEGRATION, tenantAUpper)).not.toBe(b);
  });

  it('tells an absent id from an empty one only through the JSON, never merging a notification with id and one without', () => {
    // Prepare
    const { id: _dropped, ...withoutId } = notification();

    // Act
    const keys = [idempotencyKey(INTEGRATION, withoutId as ChangeNotification), idempotencyKey(INTEGRATION, notification())];

    // Assess
    expect(keys[0]).not.toBe(keys[1]);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth, keeps array order and drops undefined', () => {
    // Prepare
    const value = { b: [{ z: 1, a: 2 }, 3], a: { d: undefined, c: 'x' } };

    // Act
    const json = canonicalJson(value);

    // Assess
    expect(json).toBe('{"a":{"c":"x"},"b":[{"a":2,"z":1},3]}');
  });
});

describe('buildEvents', () => {
  it('builds one event per connection, in the Nango-compatible shape', () => {
    // Prepare
    const input = buildInput({ connectionIds: ['conn-1', 'conn-2'] });

    // Act
    const events = buildEvents(input);

    // Assess
    const { clientState: _removed, ...published } = input.notification;
    expect(events).toEqual(
      ['conn-1', 'conn-2'].map((connectionId) => ({
        source: 'graph-relay',
        detailType: 'Graph Change Notification',
        detail: {
          from: 'microsoft-oauth2-cc',
          providerConfigKey: INTEGRATION,
          type: 'forward',
          connectionId,
          payload: { value: [published] },
          metadata: {
            idempotencyKey: input.idempotencyKey,
            tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
            subscriptionId: '9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3c',
            receivedAt: '2024-05-01T12:00:00.000Z',
            origin: 'webhook',
            region: 'eu-west-1',
          },
        },
      })),
    );
  });

  it('builds one Unrouted event with connectionId null when no connection matches', () => {
    // Prepare
    const input = buildInput({ connectionIds: [] });

    // Act
    const events = buildEvents(input);

    // Assess
    expect(events).toHaveLength(1);
    expect(events[0]?.detailType).toBe(DETAIL_TYPES.unrouted);
    expect(events[0]?.detailType).toBe('Graph Notification Unrouted');
    expect(events[0]?.detail.connectionId).toBeNull();
    expect(events[0]?.detail.payload.value[0]?.subscriptionId).toBe(input.notification.subscriptionId);
  });

  it('uses the lifecycle detail-type for lifecycle notifications', () => {
    // Prepare
    const input = buildInput({ notification: notification({ changeType: undefined, lifecycleEvent: 'reauthorizationRequired' }) });

    // Act
    const events = buildEvents(input);

    // Assess
    expect(events.map((e) => e.detailType)).toEqual(['Graph Lifecycle Notification']);
  });

  it('uses the Unrouted detail-type for an unrouted lifecycle notification', () => {
    // Prepare
    const input = buildInput({
      notification: notification({ changeType: undefined, lifecycleEvent: 'missed' }),
      connectionIds: [],
    });

    // Act
    const events = buildEvents(input);

    // Assess
    expect(events.map((e) => e.detailType)).toEqual(['Graph Notification Unrouted']);
  });

  it('removes clientState from the payload and from anything serialised', () => {
    // Prepare
    const input = buildInput({ connectionIds: ['conn-1', 'conn-2'] });

    // Act
    const events = buildEvents(input);

    // Assess
    for (const event of events) expect(event.detail.payload.value[0]).not.toHaveProperty('clientState');
    expect(JSON.stringify(events)).not.toContain('current-secret-0123456789');
  });

  it('does not modify the notification it was given', () => {
    // Prepare
    const input = buildInput();
    const before = JSON.stringify(input.notification);

    // Act
    buildEvents(input);

    // Assess
    expect(JSON.stringify(input.notification)).toBe(before);
    expect(input.notification.clientState).toBe('current-secret-0123456789');
  });

  it('lower-cases the tenant id in the metadata and keeps the payload as Graph sent it', () => {
    // Prepare
    const input = buildInput({ notification: notification({ tenantId: '84BD8158-6D4D-4958-8B9F-9D6445542F95' }) });

    // Act
    const [event] = buildEvents(input);

    // Assess
    expect(event?.detail.metadata.tenantId).toBe('84bd8158-6d4d-4958-8b9f-9d6445542f95');
    expect(event?.detail.payload.value[0]?.tenantId).toBe('84BD8158-6D4D-4958-8B9F-9D6445542F95');
  });

  it('keeps unknown fields of the notification in the payload', () => {
    // Prepare
    const input = buildInput({ notification: notification({ sequenceNumber: 7, encryptedContent: { data: 'abc' } }) });

    // Act
    const [event] = buildEvents(input);

    // Assess
    expect(event?.detail.payload.value[0]).toEqual(expect.objectContaining({ sequenceNumber: 7, encryptedContent: { data: 'abc' } }));
  });
});

describe('buildEvents origin', () => {
  it('marks events from a POST as webhook and catch-up events as resync', () => {
    const base = {
      source: 'graph-relay',
      provider: 'microsoft-oauth2-cc',
      integrationId: 'contoso',
      notification: { subscriptionId: 's-1', tenantId: 'T-1', changeType: 'updated' as const, resource: 'Users/u-1', resourceData: { id: 'u-1' } },
      idempotencyKey: 'k'.repeat(64),
      connectionIds: ['c-1'],
      receivedAt: '2026-12-05T12:00:00.000Z',
    };
    expect(buildEvents(base)[0]?.detail.metadata.origin).toBe('webhook');
    expect(buildEvents({ ...base, origin: 'resync' })[0]?.detail.metadata.origin).toBe('resync');
  });
});

describe('buildEvents region', () => {
  it('names the region that published in metadata.region, and leaves it out when the publisher does not know it', () => {
    // Act
    const [named] = buildEvents(buildInput({ region: 'eu-central-1' }));
    const [unnamed] = buildEvents(buildInput({ region: undefined }));

    // Assess
    expect(named?.detail.metadata.region).toBe('eu-central-1');
    expect(unnamed?.detail.metadata).not.toHaveProperty('region');
  });
});
