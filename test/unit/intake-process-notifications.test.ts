import { idempotencyKey, type EventEntry } from '../../shared/events/contract';
import { PublishError } from '../../shared/events/publisher';
import { parseNotificationEnvelope, type ChangeNotification } from '../../shared/graph/change-notification';
import { processNotifications } from '../../shared/intake/process-notifications';
import {
  changeNotification,
  collectionOf,
  EVENT_SOURCE,
  FakeSecrets,
  fakePorts,
  FORGED_CLIENT_STATE,
  InMemoryDeliveriesStore,
  INTEGRATION_ID,
  lifecycleNotification,
  PROVIDER,
  RECEIVED_AT,
  RELAY_REGION,
  routingSnapshot,
  SECRET_CURRENT,
  SECRET_PREVIOUS,
  SECRET_ROTATED,
  TENANT_A,
  TENANT_B,
  TENANT_C,
} from '../support/fakes';

/** Tenant A: a-1, a-2; tenant B: b-1; tenant C: none. Subscription sub-a2 belongs to a-2. */
const SNAPSHOT = routingSnapshot({
  connections: [
    { connectionId: 'a-1', tenantId: TENANT_A },
    { connectionId: 'a-2', tenantId: TENANT_A },
    { connectionId: 'b-1', tenantId: TENANT_B },
  ],
  subscriptions: [{ subscriptionId: 'sub-a2', connectionId: 'a-2', tenantId: TENANT_A }],
});
const TENANT_OF_CONNECTION: Record<string, string> = { 'a-1': TENANT_A, 'a-2': TENANT_A, 'b-1': TENANT_B };

const keyOf = (n: ChangeNotification) => idempotencyKey(INTEGRATION_ID, n);
const publishedKeys = (events: readonly EventEntry[]) => events.map((e) => e.detail.metadata.idempotencyKey);
const targetsOf = (events: readonly EventEntry[], n: ChangeNotification) =>
  events
    .filter((e) => e.detail.metadata.idempotencyKey === keyOf(n))
    .map((e) => e.detail.connectionId)
    .sort();

describe('processNotifications: routing', () => {
  it("publishes each notification of a multi-tenant batch to its own tenant's connections only", async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const fromA = changeNotification({ tenantId: TENANT_A });
    const fromB = changeNotification({ tenantId: TENANT_B });
    const fromC = changeNotification({ tenantId: TENANT_C });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(fromA, fromB, fromC), ports);

    // Assess
    expect(outcome).toEqual({
      kind: 'accepted',
      counts: { received: 3, refused: 0, rejected: 0, unconfirmed: 0, forged: 0, duplicates: 0, published: 3, unrouted: 1, events: 4, readUnits: 0 },
    });
    const events = ports.publisher.published;
    expect(targetsOf(events, fromA)).toEqual(['a-1', 'a-2']);
    expect(targetsOf(events, fromB)).toEqual(['b-1']);
    expect(targetsOf(events, fromC)).toEqual([null]);
    for (const event of events) {
      const connectionId = event.detail.connectionId;
      const notification = event.detail.payload.value[0];
      expect(event.detail.payload.value).toHaveLength(1);
      if (connectionId !== null) expect(String(notification.tenantId).toLowerCase()).toBe(TENANT_OF_CONNECTION[connectionId]);
    }
  });

  it('matches tenant ids case-insensitively', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const upper = changeNotification({ tenantId: TENANT_B.toUpperCase() });

    // Act
    await processNotifications(INTEGRATION_ID, collectionOf(upper), ports);

    // Assess
    expect(ports.publisher.published.map((e) => e.detail.connectionId)).toEqual(['b-1']);
    expect(ports.publisher.published[0]?.detail.metadata.tenantId).toBe(TENANT_B);
  });

  it("routes a known subscription to its own connection only", async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const n = changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_A });

    // Act
    await processNotifications(INTEGRATION_ID, collectionOf(n), ports);

    // Assess
    expect(ports.publisher.published.map((e) => e.detail.connectionId)).toEqual(['a-2']);
  });

  it("never publishes to another tenant's connection through a known subscription id", async () => {
    // Prepare: tenant B claims tenant A's subscription
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const n = changeNotification({ subscriptionId: 'sub-a2', tenantId: TENANT_B });

    // Act
    await processNotifications(INTEGRATION_ID, collectionOf(n), ports);

    // Assess
    expect(ports.publisher.published.map((e) => e.detail.connectionId)).toEqual(['b-1']);
  });

  it('publishes a notification of a tenant with no connection as one Unrouted event', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const n = lifecycleNotification({ tenantId: TENANT_C });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(n), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ published: 1, unrouted: 1, events: 1 }) });
    expect(ports.publisher.published).toHaveLength(1);
    expect(ports.publisher.published[0]?.detailType).toBe('Graph Notification Unrouted');
    expect(ports.publisher.published[0]?.detail.connectionId).toBeNull();
  });

  it('publishes with the configured source, provider and receive time', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const n = changeNotification({ tenantId: TENANT_B });

    // Act
    await processNotifications(INTEGRATION_ID, collectionOf(n), ports);

    // Assess
    const [event] = ports.publisher.published;
    expect(event?.source).toBe(EVENT_SOURCE);
    expect(event?.detail.from).toBe(PROVIDER);
    expect(event?.detail.providerConfigKey).toBe(INTEGRATION_ID);
    expect(event?.detail.metadata).toEqual({
      idempotencyKey: keyOf(n),
      tenantId: TENANT_B,
      subscriptionId: n.subscriptionId,
      receivedAt: RECEIVED_AT.toISOString(),
      origin: 'webhook',
      region: RELAY_REGION,
    });
  });

  it('answers unknown-integration and publishes nothing when the integration does not exist', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: undefined });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(changeNotification()), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'unknown-integration', counts: expect.objectContaining({ received: 1, rejected: 0, published: 0 }) });
    expect(ports.publisher.calls.flat()).toHaveLength(0);
    expect(ports.deliveries.markCalls).toHaveLength(0);
  });
});

describe('processNotifications: clientState', () => {
  it('never publishes a notification with a forged clientState', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const genuine = changeNotification();
    const forged = changeNotification({ clientState: FORGED_CLIENT_STATE });
    const unsigned = changeNotification({ clientState: undefined });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(genuine, forged, unsigned), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ received: 3, rejected: 2, published: 1 }) });
    expect(new Set(publishedKeys(ports.publisher.published))).toEqual(new Set([keyOf(genuine)]));
    expect(ports.deliveries.markCalls.flat()).toEqual([keyOf(genuine)]);
  });

  it('rejects a batch whose every clientState is forged', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const forged = [1, 2, 3].map(() => changeNotification({ clientState: FORGED_CLIENT_STATE }));

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(...forged), ports);

    // Assess
    expect(outcome).toEqual({
      kind: 'rejected',
      reason: 'clientstate-mismatch',
      counts: expect.objectContaining({ received: 3, rejected: 3, published: 0 }),
    });
    expect(ports.publisher.calls.flat()).toHaveLength(0);
    expect(ports.deliveries.markCalls.flat()).toHaveLength(0);
  });

  it('refreshes the secret once per request after a mismatch, not once per notification', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const forged = [1, 2, 3].map(() => changeNotification({ clientState: FORGED_CLIENT_STATE }));

    // Act
    await processNotifications(INTEGRATION_ID, collectionOf(...forged), ports);

    // Assess
    expect(ports.secrets.refreshCalls).toBe(1);
  });

  it('accepts the previous secret during a rotation, without a forced refresh', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets: new FakeSecrets([SECRET_CURRENT, SECRET_PREVIOUS]) });
    const signedWithPrevious = changeNotification({ clientState: SECRET_PREVIOUS });
    const signedWithCurrent = changeNotification({ clientState: SECRET_CURRENT });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(signedWithPrevious, signedWithCurrent), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ rejected: 0, published: 2 }) });
    expect(ports.secrets.refreshCalls).toBe(0);
  });

  it('re-reads the secret after a mismatch so a just-rotated secret is accepted at once', async () => {
    // Prepare: the cache still holds the old secret; the store already has the rotated one
    const secrets = new FakeSecrets([SECRET_CURRENT], [SECRET_ROTATED, SECRET_CURRENT]);
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });
    const signedWithRotated = changeNotification({ clientState: SECRET_ROTATED });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(signedWithRotated), ports);

    // Assess
    expect(secrets.refreshCalls).toBe(1);
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ rejected: 0, published: 1 }) });
    expect(publishedKeys(ports.publisher.published)).toContain(keyOf(signedWithRotated));
  });

  it('still refuses a forged clientState after the refresh', async () => {
    // Prepare
    const secrets = new FakeSecrets([SECRET_CURRENT], [SECRET_ROTATED, SECRET_CURRENT]);
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });
    const rotated = changeNotification({ clientState: SECRET_ROTATED });
    const forged = changeNotification({ clientState: FORGED_CLIENT_STATE });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(rotated, forged), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ rejected: 1, published: 1 }) });
    expect(publishedKeys(ports.publisher.published)).not.toContain(keyOf(forged));
  });

  it('refuses (never acknowledges) a mismatch it cannot check against a fresh secret', async () => {
    // Prepare
    const secrets = new FakeSecrets([SECRET_CURRENT], [SECRET_ROTATED]);
    secrets.rateLimited = true;
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(changeNotification({ clientState: SECRET_ROTATED })), ports);

    // Assess
    expect(outcome).toEqual(expect.objectContaining({ kind: 'rejected', counts: expect.objectContaining({ rejected: 0, unconfirmed: 1 }) }));
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('re-reads at once, past the rate limit, when items the cached secret verified vouch for the POST: a rotation loses nothing', async () => {
    // Prepare: a rotation in progress; this instance read the secret before it changed, and a re-read was made lately
    const secrets = new FakeSecrets([SECRET_CURRENT], [SECRET_ROTATED, SECRET_CURRENT]);
    secrets.rateLimited = true;
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });
    // Tenant B has one connection: one event per notification.
    const moved = changeNotification({ tenantId: TENANT_B, clientState: SECRET_ROTATED });
    const notYetMoved = changeNotification({ tenantId: TENANT_B, clientState: SECRET_CURRENT });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(moved, notYetMoved), ports);

    // Assess: both published now; nothing acknowledged against a secret that may have been stale
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ published: 2, unconfirmed: 0, rejected: 0 }) });
    expect(publishedKeys(ports.publisher.published).sort()).toEqual([keyOf(moved), keyOf(notYetMoved)].sort());
    expect(secrets.vouchedCalls).toBe(1);
  });

  it('answers unavailable, publishing nothing, when the vouched re-read fails: Graph redelivers the whole POST', async () => {
    // Prepare
    const secrets = new FakeSecrets([SECRET_CURRENT], [SECRET_ROTATED, SECRET_CURRENT]);
    secrets.refreshError = new Error('InternalServiceError');
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });

    // Act
    const outcome = await processNotifications(
      INTEGRATION_ID,
      collectionOf(changeNotification({ clientState: SECRET_ROTATED }), changeNotification({ clientState: SECRET_CURRENT })),
      ports,
    );

    // Assess
    expect(outcome).toEqual(expect.objectContaining({ kind: 'unavailable', reason: 'cannot read the webhook secret' }));
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('stops accepting the old secret once the refresh shows it was retired', async () => {
    // Prepare: the batch mixes the new secret (forces a refresh) and the retired one
    const secrets = new FakeSecrets([SECRET_CURRENT], [SECRET_ROTATED]);
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });
    const rotated = changeNotification({ clientState: SECRET_ROTATED });
    const retired = changeNotification({ clientState: SECRET_CURRENT });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(rotated, retired), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ rejected: 1, published: 1 }) });
    expect(publishedKeys(ports.publisher.published)).not.toContain(keyOf(retired));
  });

  it.each<[string, readonly string[] | undefined]>([
    ['no secret at all', undefined],
    ['an empty secret', ['']],
  ])('rejects everything for an integration with %s (never fails open)', async (_label, stored) => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets: new FakeSecrets(stored) });
    const items = [changeNotification({ clientState: undefined }), changeNotification({ clientState: '' }), changeNotification()];

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(...items), ports);

    // Assess
    expect(outcome.kind).toBe('rejected');
    expect(outcome).toEqual(expect.objectContaining({ counts: expect.objectContaining({ rejected: 3, published: 0 }) }));
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('says the integration has no webhook secret when that is why it rejected', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets: new FakeSecrets(undefined) });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(changeNotification()), ports);

    // Assess
    expect(outcome).toEqual(expect.objectContaining({ kind: 'rejected', reason: 'no-webhook-secret' }));
  });

  it('answers unavailable when the secret cannot be read', async () => {
    // Prepare
    const secrets = new FakeSecrets([SECRET_CURRENT]);
    secrets.acceptedError = new Error('SecretUnavailableError: AccessDeniedException');
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(changeNotification()), ports);

    // Assess
    expect(outcome.kind).toBe('unavailable');
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('answers unavailable when the forced re-read fails, rather than rejecting', async () => {
    // Prepare
    const secrets = new FakeSecrets([SECRET_CURRENT]);
    secrets.refreshError = new Error('InternalServiceError');
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });

    // Act
    const outcome = await processNotifications(
      INTEGRATION_ID,
      collectionOf(changeNotification({ clientState: SECRET_ROTATED })),
      ports,
    );

    // Assess
    expect(outcome).toEqual(expect.objectContaining({ kind: 'unavailable', reason: 'cannot read the webhook secret' }));
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('answers unavailable when routing cannot be read', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    ports.reads.error = new Error('ProvisionedThroughputExceededException');

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(changeNotification()), ports);

    // Assess
    expect(outcome.kind).toBe('unavailable');
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });
});

describe('processNotifications: duplicates', () => {
  it('skips notifications already published within the window', async () => {
    // Prepare
    const old = changeNotification({ tenantId: TENANT_B });
    const fresh = changeNotification({ tenantId: TENANT_B });
    const ports = fakePorts({ snapshot: SNAPSHOT, deliveries: new InMemoryDeliveriesStore([keyOf(old)]) });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(old, fresh), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ duplicates: 1, published: 1, events: 1 }) });
    expect(publishedKeys(ports.publisher.published)).toEqual([keyOf(fresh)]);
  });

  it('treats a redelivery signed with the previous secret as the same notification', async () => {
    // Prepare
    const first = changeNotification({ clientState: SECRET_PREVIOUS });
    const redelivery = { ...first, clientState: SECRET_CURRENT };
    const ports = fakePorts({
      snapshot: SNAPSHOT,
      secrets: new FakeSecrets([SECRET_CURRENT, SECRET_PREVIOUS]),
      deliveries: new InMemoryDeliveriesStore([keyOf(first)]),
    });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(redelivery), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ duplicates: 1, published: 0 }) });
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('publishes identical items of one POST once', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const n = changeNotification({ tenantId: TENANT_A });
    const copy = JSON.parse(JSON.stringify(n)) as ChangeNotification;

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(n, copy, n), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ received: 3, duplicates: 2, published: 1, events: 2 }) });
    expect(ports.publisher.published.map((e) => e.detail.connectionId).sort()).toEqual(['a-1', 'a-2']);
  });

  it('publishes a second POST of the same notification zero times', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const n = changeNotification({ tenantId: TENANT_B });
    await processNotifications(INTEGRATION_ID, collectionOf(n), ports);

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf({ ...n }), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ duplicates: 1, published: 0 }) });
    expect(ports.publisher.published).toHaveLength(1);
  });

  it('publishes every POST of a missed lifecycle notification: a new one is byte-identical to the last', async () => {
    // Prepare: Graph's missed carries no id and no time
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const { changeType: _c, resource: _r, resourceData: _d, ...base } = changeNotification({ tenantId: TENANT_B });
    const missed = { ...base, lifecycleEvent: 'missed' as const };
    await processNotifications(INTEGRATION_ID, collectionOf(missed), ports);

    // Act
    const second = await processNotifications(INTEGRATION_ID, collectionOf({ ...missed }, { ...missed }), ports);

    // Assess: published again (its catch-up is asked again), still once per POST
    expect(second).toEqual({ kind: 'accepted', counts: expect.objectContaining({ duplicates: 1, published: 1 }) });
    expect(ports.publisher.published).toHaveLength(2);
  });
});

describe('processNotifications: publishing failures', () => {
  it('answers unavailable and marks only notifications whose every event went out', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const fromB = changeNotification({ tenantId: TENANT_B });
    const fromA = changeNotification({ tenantId: TENANT_A });
    const unrouted = changeNotification({ tenantId: TENANT_C });
    ports.publisher.fail = (events) => {
      // Only the event of tenant A's notification for a-2 fails: its a-1 event went out.
      const failed = events.flatMap((e, i) => (e.detail.connectionId === 'a-2' ? [i] : []));
      return new PublishError('1 of 4 events could not be put on the bus', new Set(failed), events.length - failed.length);
    };

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(fromB, fromA, unrouted), ports);

    // Assess
    expect(outcome).toEqual({
      kind: 'unavailable',
      reason: 'cannot publish to the event bus',
      counts: expect.objectContaining({ published: 2, events: 2 }),
    });
    expect(new Set(ports.deliveries.markCalls.flat())).toEqual(new Set([keyOf(fromB), keyOf(unrouted)]));
    expect(ports.deliveries.marked.has(keyOf(fromA))).toBe(false);
  });

  it('marks nothing when the publisher fails without saying which events failed', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    ports.publisher.fail = () => new Error('socket hang up');

    // Act
    const outcome = await processNotifications(
      INTEGRATION_ID,
      collectionOf(changeNotification({ tenantId: TENANT_B }), changeNotification({ tenantId: TENANT_A })),
      ports,
    );

    // Assess
    expect(outcome.kind).toBe('unavailable');
    expect(ports.deliveries.markCalls.flat()).toEqual([]);
  });

  it('republishes on redelivery only what was not published before', async () => {
    // Prepare: first delivery, tenant A's notification fails
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const fromB = changeNotification({ tenantId: TENANT_B });
    const fromA = changeNotification({ tenantId: TENANT_A });
    ports.publisher.fail = (events) => {
      const failed = events.flatMap((e, i) => (e.detail.payload.value[0].tenantId === TENANT_A ? [i] : []));
      return new PublishError('failed', new Set(failed), events.length - failed.length);
    };
    await processNotifications(INTEGRATION_ID, collectionOf(fromB, fromA), ports);
    ports.publisher.fail = undefined;

    // Act: Graph redelivers the same POST
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf({ ...fromB }, { ...fromA }), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ duplicates: 1, published: 1, events: 2 }) });
    expect(ports.publisher.calls[1]?.map((e) => e.detail.connectionId).sort()).toEqual(['a-1', 'a-2']);
  });

  it('still accepts when the redelivery markers cannot be written', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    ports.deliveries.markError = new Error('DeliveriesStoreError: unprocessed');

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(changeNotification()), ports);

    // Assess
    expect(outcome.kind).toBe('accepted');
    expect(ports.deliveries.markCalls).toHaveLength(1);
    expect(ports.logger.records.some((r) => r.level === 'warn' && /markers/.test(r.message))).toBe(true);
  });

  it('answers unavailable, publishing nothing, when the redelivery markers cannot be read', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    ports.deliveries.findError = new Error('ProvisionedThroughputExceededException');

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(changeNotification()), ports);

    // Assess
    expect(outcome.kind).toBe('unavailable');
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('refuses a notification too large for EventBridge and publishes the others', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const huge = changeNotification({ tenantId: TENANT_B, resourceData: { id: 'x', body: 'x'.repeat(300 * 1024) } });
    const small = changeNotification({ tenantId: TENANT_B });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(huge, small), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ refused: 1, published: 1, events: 1 }) });
    expect(publishedKeys(ports.publisher.published)).toEqual([keyOf(small)]);
    expect(ports.deliveries.markCalls.flat()).toEqual([keyOf(small)]);
  });

  // `unrouted` is a subset of `published` (it feeds the NotificationsUnrouted metric), also when publishing fails.
  it('counts as unrouted only unrouted notifications that were actually published', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const unrouted = changeNotification({ tenantId: TENANT_C });
    const routed = changeNotification({ tenantId: TENANT_B });
    ports.publisher.fail = (events) => {
      const failed = events.flatMap((e, i) => (e.detail.connectionId === null ? [i] : []));
      return new PublishError('failed', new Set(failed), events.length - failed.length);
    };

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(unrouted, routed), ports);

    // Assess
    expect(outcome).toEqual(expect.objectContaining({ kind: 'unavailable', counts: expect.objectContaining({ published: 1, unrouted: 0 }) }));
  });
});

describe('processNotifications: refused items', () => {
  it('answers invalid when every item that carries the secret is malformed', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const collection = parseNotificationEnvelope(JSON.stringify({ value: [{ subscriptionId: 's', clientState: SECRET_CURRENT }, { tenantId: 't', clientState: SECRET_CURRENT }] }));

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection, ports);

    // Assess
    expect(outcome).toEqual({
      kind: 'invalid',
      counts: expect.objectContaining({ received: 2, refused: 2 }),
      refused: [expect.objectContaining({ index: 0 }), expect.objectContaining({ index: 1 })],
    });
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });

  it('publishes the valid items of a batch that also holds malformed ones', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const good = changeNotification({ tenantId: TENANT_B });
    const collection = parseNotificationEnvelope(JSON.stringify({ value: [{ tenantId: 't', clientState: SECRET_CURRENT }, good] }));

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection, ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ received: 2, refused: 1, published: 1 }) });
  });

  it('never parses an item whose clientState did not verify: junk costs no secret read and no per-item note', async () => {
    // Prepare: 10,000 items that are not notifications at all, and one forged notification
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const junk = parseNotificationEnvelope(JSON.stringify({ value: [...Array.from({ length: 10_000 }, () => 0)] }));
    const forged = parseNotificationEnvelope(JSON.stringify({ value: [...Array.from({ length: 10_000 }, () => ({ bad: true })), changeNotification({ clientState: FORGED_CLIENT_STATE })] }));

    // Act
    const junkOutcome = await processNotifications(INTEGRATION_ID, junk, ports);
    const readsAfterJunk = ports.secrets.acceptedCalls + ports.secrets.refreshCalls;
    const forgedOutcome = await processNotifications(INTEGRATION_ID, forged, ports);

    // Assess
    expect(junkOutcome).toEqual({ kind: 'rejected', reason: 'clientstate-mismatch', counts: expect.objectContaining({ received: 10_000, rejected: 10_000, refused: 0 }) });
    expect(readsAfterJunk).toBe(0);
    expect(forgedOutcome).toEqual({ kind: 'rejected', reason: 'clientstate-mismatch', counts: expect.objectContaining({ received: 10_001, rejected: 10_001, refused: 0 }) });
    expect(ports.logger.records).toHaveLength(0);
  });

  it('refuses a verified item nested 100,000 levels deep alone instead of failing the POST', async () => {
    // Prepare: deep enough to overflow the stack of a recursive walk (idempotency key, event serialisation)
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const good = changeNotification({ tenantId: TENANT_B });
    const deep = JSON.stringify(changeNotification({ tenantId: TENANT_B })).replace(/\}$/, `,"nested":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const collection = parseNotificationEnvelope(`{"value":[${deep},${JSON.stringify(good)}]}`);

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection, ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ received: 2, refused: 1, published: 1 }) });
    expect(ports.publisher.published.map((event) => event.detail.payload.value[0].subscriptionId)).toEqual([good.subscriptionId]);
  });
});

describe('processNotifications: secrets never leak', () => {
  it('keeps every clientState out of published events and out of the log', async () => {
    // Prepare: a batch with genuine, previous-secret, rotated, forged and malformed items; one publish failure
    const secrets = new FakeSecrets([SECRET_CURRENT, SECRET_PREVIOUS], [SECRET_ROTATED, SECRET_CURRENT]);
    const ports = fakePorts({ snapshot: SNAPSHOT, secrets });
    const body = JSON.stringify({
      value: [
        changeNotification({ tenantId: TENANT_A }),
        changeNotification({ tenantId: TENANT_B, clientState: SECRET_PREVIOUS }),
        changeNotification({ tenantId: TENANT_C, clientState: SECRET_ROTATED }),
        changeNotification({ clientState: FORGED_CLIENT_STATE }),
        { ...changeNotification({ clientState: FORGED_CLIENT_STATE }), changeType: `bad-${FORGED_CLIENT_STATE}` },
        { ...changeNotification(), tenantId: undefined, clientState: 42 },
        changeNotification({ resourceData: { id: 'x', body: 'x'.repeat(300 * 1024) } }),
      ],
    });
    ports.deliveries.markError = new Error(`could not write markers for ${SECRET_CURRENT.length}-char secrets`);
    ports.publisher.fail = (events) => {
      const failed = events.flatMap((e, i) => (e.detail.connectionId === 'b-1' ? [i] : []));
      return new PublishError('failed', new Set(failed), events.length - failed.length);
    };

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, parseNotificationEnvelope(body), ports);

    // Assess
    expect(outcome.kind).toBe('unavailable');
    expect(ports.logger.records.length).toBeGreaterThan(0);
    const attempted = JSON.stringify(ports.publisher.calls);
    const logged = JSON.stringify(ports.logger.records);
    const answered = JSON.stringify(outcome);
    for (const secret of [SECRET_CURRENT, SECRET_PREVIOUS, SECRET_ROTATED, FORGED_CLIENT_STATE]) {
      expect(attempted).not.toContain(secret);
      expect(logged).not.toContain(secret);
      expect(answered).not.toContain(secret);
    }
    expect(attempted).not.toContain('clientState');
  });
});

describe('processNotifications: DynamoDB round trips', () => {
  it('reads and writes redelivery markers at most once per request, whatever the batch size', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });
    const batch = Array.from({ length: 250 }, (_, i) => changeNotification({ tenantId: [TENANT_A, TENANT_B, TENANT_C][i % 3] }));
    ports.deliveries.marked.add(keyOf(batch[0] as ChangeNotification));

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(...batch), ports);

    // Assess
    expect(outcome).toEqual({ kind: 'accepted', counts: expect.objectContaining({ received: 250, duplicates: 1, published: 249 }) });
    expect(ports.deliveries.findCalls).toHaveLength(1);
    expect(ports.deliveries.findCalls[0]).toHaveLength(250);
    expect(ports.deliveries.markCalls).toHaveLength(1);
    expect(ports.deliveries.markCalls[0]).toHaveLength(249);
    expect(ports.reads.calls).toHaveLength(1);
    // Each subscription and each tenant once: the routes share the round with the markers.
    expect(ports.reads.calls[0]?.routeKeys).toHaveLength(250 + 3);
    expect(ports.secrets.acceptedCalls).toBe(1);
  });

  it('does not touch the markers when nothing was verified', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });

    // Act
    await processNotifications(INTEGRATION_ID, collectionOf(changeNotification({ clientState: FORGED_CLIENT_STATE })), ports);

    // Assess
    expect(ports.deliveries.findCalls).toHaveLength(0);
    expect(ports.deliveries.markCalls).toHaveLength(0);
  });

  it('refuses an empty collection as it refuses a forged one, with no read (an answer that differed would tell that the integration exists)', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collectionOf(), ports);

    // Assess
    expect(ports.secrets.acceptedCalls).toBe(0);
    expect(outcome).toEqual({
      kind: 'rejected',
      reason: 'clientstate-mismatch',
      counts: { received: 0, refused: 0, rejected: 0, unconfirmed: 0, forged: 0, duplicates: 0, published: 0, unrouted: 0, events: 0, readUnits: 0 },
    });
    expect(ports.publisher.calls.flat()).toHaveLength(0);
  });
});
