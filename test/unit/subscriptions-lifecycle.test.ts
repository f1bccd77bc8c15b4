import { tenantClientState } from '../../shared/graph/client-state';
import { detailSchemas } from '../../shared/events/detail-schemas';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { SUBSCRIPTION_DETAIL_TYPES, type SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { maxLifetimeMinutes } from '../../shared/graph/subscription-lifetimes';
import { TokenRequestError } from '../../shared/graph/token-client';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { handleLifecycleEvent, InvalidLifecycleEventError } from '../../shared/subscriptions/lifecycle';
import { MissingEncryptionCertificateError } from '../../shared/subscriptions/integration-graphs';
import { EXPIRY_SAFETY_MARGIN_MINUTES } from '../../shared/subscriptions/subscription-requests';
import { busEvent, graphError, MINUTE, NOW, record, SUBSCRIPTION_ID, TENANT, WEBHOOK_BASE, WEBHOOK_SECRET, world } from '../support/lifecycle-world';

function expectValid(events: readonly SubscriptionEventEntry[]): void {
  for (const event of events) expect(detailSchemas[event.detailType].safeParse(event.detail).error).toBeUndefined();
}

describe('handleLifecycleEvent: reauthorizationRequired', () => {
  it('reauthorizes with one POST when renewal is not due, changing nothing recorded and publishing nothing', async () => {
    // Prepare
    const w = world();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(result).toMatchObject({ outcome: 'reauthorized', subscriptionId: SUBSCRIPTION_ID, unpublishedEvents: 0 });
    expect(w.calls).toEqual([{ op: 'reauthorize', id: SUBSCRIPTION_ID }]);
    expect(w.records.get(SUBSCRIPTION_ID)).toEqual(record());
    expect(w.published).toEqual([]);
  });

  it('PATCHes to the maximum expiry instead when renewal is due anyway, records it and publishes Renewed', async () => {
    // Prepare: granted three days ago for four: more than half the lifetime has passed
    const w = world({ records: [record({ createdAt: '2026-02-26T12:00:00.000Z', expiresAt: '2026-03-02T12:00:00.000Z' })] });
    const expected = new Date(NOW.getTime() + (maxLifetimeMinutes('users', { hasLifecycleUrl: true }) - EXPIRY_SAFETY_MARGIN_MINUTES) * MINUTE).toISOString();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(result.outcome).toBe('renewed');
    expect(w.calls).toEqual([{ op: 'renew', id: SUBSCRIPTION_ID, expiry: expected }]);
    expect(w.records.get(SUBSCRIPTION_ID)).toMatchObject({ expiresAt: expected, lastRenewedAt: NOW.toISOString() });
    expect(w.published).toEqual([
      { source: 'graph-relay', detailType: SUBSCRIPTION_DETAIL_TYPES.renewed, detail: expect.objectContaining({ subscriptionId: SUBSCRIPTION_ID, expirationDateTime: expected, connectionId: 'conn-1' }) },
    ]);
    expectValid(w.published);
  });

  it('recreates a subscription the reauthorize finds gone (404)', async () => {
    // Prepare
    const w = world({ reauthorize: graphError('POST', 404, 'ResourceNotFound', 'The object was not found.') });

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(result).toMatchObject({ outcome: 'recreated', newSubscriptionId: 'new-subscription-id' });
    expect(w.calls.map((c) => c.op)).toEqual(['reauthorize', 'create']);
    expect([...w.records.keys()]).toEqual(['new-subscription-id']);
    expect(w.published.map((e) => e.detailType)).toEqual([SUBSCRIPTION_DETAIL_TYPES.recreated]);
  });

  it('marks the subscription needs-consent on 403 and publishes Renewal Failed, without asking for a retry', async () => {
    // Prepare
    const w = world({ reauthorize: graphError('POST', 403, 'ExtensionError', 'Operation: Reauthorize; Exception: [Status Code: Forbidden; Reason: Forbidden]') });

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(result.outcome).toBe('needs-consent');
    expect(w.records.get(SUBSCRIPTION_ID)).toMatchObject({ status: 'needs-consent', lastError: expect.stringContaining('HTTP 403') });
    expect(w.published).toEqual([
      expect.objectContaining({ detailType: SUBSCRIPTION_DETAIL_TYPES.renewalFailed, detail: expect.objectContaining({ failure: expect.objectContaining({ reason: 'needs-consent', status: 403, requestId: 'req-1' }) }) }),
    ]);
    expectValid(w.published);
  });

  it('marks needs-consent when the token is refused for consent', async () => {
    // Prepare
    const refused = new TokenRequestError({ tenantId: TENANT, status: 400, error: 'unauthorized_client', aadsts: 'AADSTS700016', kind: 'consent', message: 'token request refused' });
    const w = world({ reauthorize: refused });

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(result.outcome).toBe('needs-consent');
    expect(w.records.get(SUBSCRIPTION_ID)?.status).toBe('needs-consent');
    expect(w.published[0]?.detail.failure).toMatchObject({ reason: 'needs-consent', code: 'unauthorized_client' });
  });

  it('marks the connection needs-consent with what Graph said when consent is lost', async () => {
    // Prepare
    const w = world({ reauthorize: graphError('POST', 403, 'ExtensionError', 'Operation: Reauthorize; Exception: [Status Code: Forbidden; Reason: Forbidden]') });

    // Act
    await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(w.connectionMarks).toEqual([{ integrationId: 'contoso', connectionId: 'conn-1', reason: expect.stringContaining('Reason: Forbidden') }]);
  });

  it('logs a connection that could not be marked and still ends needs-consent, without asking for a retry', async () => {
    // Prepare
    const refused = new TokenRequestError({ tenantId: TENANT, status: 400, error: 'unauthorized_client', aadsts: 'AADSTS700016', kind: 'consent', message: 'token request refused' });
    const w = world({ reauthorize: refused, markConnectionFails: true });

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(result.outcome).toBe('needs-consent');
    expect(w.records.get(SUBSCRIPTION_ID)?.status).toBe('needs-consent');
    expect(w.published[0]?.detail.failure).toMatchObject({ reason: 'needs-consent' });
    expect(w.logger.error).toHaveBeenCalledWith(
      'connection could not be marked needs-consent',
      expect.objectContaining({ integrationId: 'contoso', connectionId: 'conn-1', error: 'Error: DynamoDB is down' }),
    );
  });

  it('does not mark the connection for a failure that is not about consent', async () => {
    // Prepare
    const w = world({ reauthorize: graphError('POST', 503, 'serviceNotAvailable') });

    // Act
    await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired')).catch(() => undefined);

    // Assess
    expect(w.connectionMarks).toEqual([]);
  });

  it('publishes Renewal Failed and rethrows a Graph 5xx, so Lambda retries and then dead-letters the event', async () => {
    // Prepare
    const unavailable = graphError('POST', 503, 'serviceNotAvailable');
    const w = world({ reauthorize: unavailable });

    // Act
    const handling = handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    await expect(handling).rejects.toBe(unavailable);
    expect(w.records.get(SUBSCRIPTION_ID)?.status).toBe('active');
    expect(w.published).toEqual([
      expect.objectContaining({ detailType: SUBSCRIPTION_DETAIL_TYPES.renewalFailed, detail: expect.objectContaining({ failure: expect.objectContaining({ reason: 'graph-error', status: 503 }) }) }),
    ]);
  });
});

describe('handleLifecycleEvent: subscriptionRemoved', () => {
  it('recreates the subscription with the same resource, change types, URLs and clientState, replaces the record and publishes Recreated', async () => {
    // Prepare
    const w = world();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved'));

    // Assess
    expect(result).toMatchObject({ outcome: 'recreated', subscriptionId: SUBSCRIPTION_ID, newSubscriptionId: 'new-subscription-id' });
    expect(w.calls).toEqual([
      {
        op: 'create',
        input: expect.objectContaining({
          resource: 'users',
          changeType: 'created,updated',
          notificationUrl: `${WEBHOOK_BASE}contoso`,
          lifecycleNotificationUrl: `${WEBHOOK_BASE}contoso`,
          clientState: tenantClientState(WEBHOOK_SECRET, 'contoso', TENANT),
        }),
      },
    ]);
    expect(w.records.has(SUBSCRIPTION_ID)).toBe(false);
    expect(w.records.get('new-subscription-id')).toMatchObject({ connectionId: 'conn-1', tenantId: TENANT, resource: 'users', status: 'active' });
    expect(w.published).toEqual([
      expect.objectContaining({ detailType: SUBSCRIPTION_DETAIL_TYPES.recreated, detail: expect.objectContaining({ subscriptionId: 'new-subscription-id', previousSubscriptionId: SUBSCRIPTION_ID }) }),
    ]);
    expectValid(w.published);
  });

  it('rethrows a store fault after the recreation without publishing Renewal Failed (our side, not the consumer\'s)', async () => {
    // Prepare
    const w = world({ putFails: true });

    // Act
    const handling = handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved'));

    // Assess
    await expect(handling).rejects.toThrow('DynamoDB is down');
    expect(w.published).toEqual([]);
    expect(w.logger.error).toHaveBeenCalledWith('lifecycle action failed unexpectedly', expect.objectContaining({ subscriptionId: SUBSCRIPTION_ID }));
  });

  it('reports an unpublished Recreated event without failing: the repair at Graph is done', async () => {
    // Prepare
    const w = world({ publishFails: true });

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved'));

    // Assess
    expect(result).toMatchObject({ outcome: 'recreated', unpublishedEvents: 1 });
    expect(w.records.has('new-subscription-id')).toBe(true);
  });

  it('acts only on the copy addressed to the subscription\'s own connection', async () => {
    // Prepare: the intake published one copy per connection of the tenant
    const w = world();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved', { connectionId: 'conn-2' }));

    // Assess
    expect(result.outcome).toBe('ignored');
    expect(w.calls).toEqual([]);
    expect(w.records.has(SUBSCRIPTION_ID)).toBe(true);
  });
});

describe('handleLifecycleEvent: missed, unknown and invalid events', () => {
  it('makes no Graph call for missed: consumers got the notification and resync', async () => {
    // Prepare
    const w = world();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('missed'));

    // Assess
    expect(result.outcome).toBe('missed');
    expect(w.calls).toEqual([]);
    expect(w.published).toEqual([]);
  });

  it('ignores a subscription not recorded here, logging it', async () => {
    // Prepare
    const w = world();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved', { subscriptionId: 'someone-elses' }));

    // Assess
    expect(result).toMatchObject({ outcome: 'ignored', subscriptionId: 'someone-elses' });
    expect(w.calls).toEqual([]);
    expect(w.logger.warn).toHaveBeenCalledWith('lifecycle event for a subscription not recorded here ignored', expect.objectContaining({ subscriptionId: 'someone-elses' }));
  });

  it('ignores a lifecycle event kind Graph may add later', async () => {
    // Prepare
    const w = world();

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('somethingNew'));

    // Assess
    expect(result.outcome).toBe('ignored');
    expect(w.calls).toEqual([]);
  });

  it.each([
    ['another detail-type', { ...busEvent('missed'), 'detail-type': DETAIL_TYPES.change }, 'detail-type'],
    ['no subscription id', { ...busEvent('missed'), detail: { ...busEvent('missed').detail, metadata: { tenantId: TENANT } } }, 'detail.metadata.subscriptionId'],
    ['not an object', 'hello', 'expected object'],
  ])('refuses an event with %s, naming the field', async (_name, event, named) => {
    // Prepare
    const w = world();

    // Act
    const handling = handleLifecycleEvent(w.ports, event);

    // Assess
    await expect(handling).rejects.toThrow(InvalidLifecycleEventError);
    await expect(handling).rejects.toThrow(named);
    expect(w.calls).toEqual([]);
  });
});

describe('handleLifecycleEvent: subscriptions with resource data', () => {
  const MESSAGES = 'users/8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d/messages';
  const CURRENT = { id: 'enc-new', certificateBase64: 'MII-new-der', notAfter: new Date('2027-06-01T00:00:00Z') };
  const richMaxExpiry = new Date(NOW.getTime() + (1_440 - EXPIRY_SAFETY_MARGIN_MINUTES) * MINUTE).toISOString();
  const rich = (overrides: Partial<SubscriptionRecord> = {}) =>
    record({ resource: MESSAGES, changeTypes: ['created'], includeResourceData: true, encryptionCertificateId: 'enc-old', ...overrides });

  it('recreates a removed rich subscription with the current certificate and the shorter lifetime', async () => {
    // Prepare
    const w = world({ records: [rich()] });
    w.ports.encryptionCertificateOf = async () => CURRENT;

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved'));

    // Assess
    expect(result.outcome).toBe('recreated');
    expect(w.calls.map((c) => c.input)).toEqual([
      expect.objectContaining({ includeResourceData: true, encryptionCertificate: CURRENT.certificateBase64, encryptionCertificateId: CURRENT.id, expirationDateTime: new Date(richMaxExpiry) }),
    ]);
    expect(w.records.get('new-subscription-id')).toMatchObject({ includeResourceData: true, encryptionCertificateId: CURRENT.id });
  });

  it('renews a due rich subscription to the shorter maximum, rotating its certificate', async () => {
    // Prepare: granted 20 hours ago for 24: renewal is due
    const w = world({ records: [rich({ createdAt: '2026-02-28T16:00:00.000Z', expiresAt: '2026-03-01T16:00:00.000Z' })] });
    w.ports.encryptionCertificateOf = async () => CURRENT;

    // Act
    const result = await handleLifecycleEvent(w.ports, busEvent('reauthorizationRequired'));

    // Assess
    expect(result.outcome).toBe('renewed');
    expect(w.calls).toEqual([{ op: 'renew', id: SUBSCRIPTION_ID, expiry: richMaxExpiry, encryptionCertificateId: CURRENT.id }]);
    expect(w.records.get(SUBSCRIPTION_ID)).toMatchObject({ expiresAt: richMaxExpiry, encryptionCertificateId: CURRENT.id });
  });

  it('publishes missing-credentials and rethrows, without a Graph call, when the secret has no certificate', async () => {
    // Prepare
    const w = world({ records: [rich()] });
    w.ports.encryptionCertificateOf = async (integrationId) => {
      throw new MissingEncryptionCertificateError(integrationId);
    };

    // Act
    const handled = handleLifecycleEvent(w.ports, busEvent('subscriptionRemoved'));

    // Assess
    await expect(handled).rejects.toThrow(MissingEncryptionCertificateError);
    expect(w.calls).toEqual([]);
    expect(w.published.map((e) => [e.detailType, e.detail.failure?.reason])).toEqual([[SUBSCRIPTION_DETAIL_TYPES.renewalFailed, 'missing-credentials']]);
    expect(w.records.get(SUBSCRIPTION_ID)).toMatchObject({ status: 'active' });
    expectValid(w.published);
  });
});
