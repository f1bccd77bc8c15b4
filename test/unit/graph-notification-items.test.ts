/**
 * The intake's two-step reading of a webhook body: `parseNotificationEnvelope` checks the collection only,
 * `clientStateOf` / `claimedTenantOf` read what verification needs from an unparsed item, and
 * `parseNotificationItem` parses an item once it verified, reading Graph's shapes (explicit nulls, organizationId).
 */
import {
  claimedTenantOf,
  clientStateOf,
  InvalidNotificationBodyError,
  MAX_NOTIFICATION_DEPTH,
  parseNotificationEnvelope,
  parseNotificationItem,
  type ChangeNotification,
} from '../../shared/graph/change-notification';

const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const ORGANIZATION = '0f7c2d3e-1a2b-4c5d-8e9f-a0b1c2d3e4f5';
const FALLBACK = 'c0ffee00-1a2b-4c5d-8e9f-a0b1c2d3e4f5';

function item(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    subscriptionId: '9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3c',
    tenantId: TENANT,
    changeType: 'updated',
    clientState: 'client-state-value-0123456789',
    resource: 'Users/u1',
    ...overrides,
  };
}

function without(record: Record<string, unknown>, ...names: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([name]) => !names.includes(name)));
}

/** The notification, failing the test with the reason when the item was refused. */
function parsed(candidate: unknown, tenantFallback?: string): ChangeNotification {
  const result = parseNotificationItem(candidate, tenantFallback);
  if ('reason' in result) throw new Error(`refused: ${result.reason}`);
  return result.notification;
}

/** An item nested `levels` deep, the item itself being level 1. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 2; level < levels; level += 1) value = { inner: value };
  return item({ resourceData: value });
}

describe('parseNotificationItem: Graph shapes', () => {
  it('drops explicit nulls at the top level, and keeps nested ones', () => {
    // Prepare
    const candidate = item({ sequence: null, encryptedContent: null, lifecycleEvent: null, resourceData: { id: 'u1', etag: null } });

    // Act
    const notification = parsed(candidate);

    // Assess
    expect(['sequence', 'encryptedContent', 'lifecycleEvent'].filter((name) => name in notification)).toEqual([]);
    expect(notification.resourceData).toEqual({ id: 'u1', etag: null });
  });

  it('takes organizationId as the tenant when there is no tenantId, and keeps organizationId as sent', () => {
    // Prepare
    const candidate = without(item({ organizationId: ORGANIZATION, lifecycleEvent: 'reauthorizationRequired' }), 'tenantId', 'changeType');

    // Act
    const notification = parsed(candidate, FALLBACK);

    // Assess
    expect(notification.tenantId).toBe(ORGANIZATION);
    expect(notification.organizationId).toBe(ORGANIZATION);
  });

  it.each([
    ['tenantId null', { tenantId: null }],
    ['tenantId empty', { tenantId: '' }],
  ])('takes organizationId with %s', (_label, fields) => {
    // Prepare
    const candidate = item({ ...fields, organizationId: ORGANIZATION });

    // Act
    const notification = parsed(candidate, FALLBACK);

    // Assess
    expect(notification.tenantId).toBe(ORGANIZATION);
  });

  it('keeps tenantId when both are sent, and ignores the fallback', () => {
    // Prepare
    const candidate = item({ organizationId: ORGANIZATION });

    // Act
    const notification = parsed(candidate, FALLBACK);

    // Assess
    expect(notification.tenantId).toBe(TENANT);
    expect(notification.organizationId).toBe(ORGANIZATION);
  });

  it('uses the fallback only when neither tenantId nor organizationId is present', () => {
    // Prepare
    const neither = without(item(), 'tenantId');

    // Act
    const withFallback = parsed(neither, FALLBACK);
    const withoutFallback = parseNotificationItem(neither);

    // Assess
    expect(withFallback.tenantId).toBe(FALLBACK);
    expect(withoutFallback).toEqual({ reason: expect.stringContaining('tenantId') });
  });

  it('accepts resource "" as Graph sends it in some lifecycle notifications', () => {
    // Act
    const notification = parsed(item({ resource: '' }));

    // Assess
    expect(notification.resource).toBe('');
  });

  it('keeps unknown fields, nested ones included', () => {
    // Prepare
    const candidate = item({ sequence: 7, '@odata.type': '#Microsoft.Graph.ChangeNotification', resourceData: { id: 'u1', extra: { deep: [1, 2] } } });

    // Act
    const notification = parsed(candidate);

    // Assess
    expect(notification).toMatchObject({ sequence: 7, '@odata.type': '#Microsoft.Graph.ChangeNotification', resourceData: { extra: { deep: [1, 2] } } });
  });

  it(`accepts an item ${MAX_NOTIFICATION_DEPTH} levels deep and refuses one a level deeper, with the limit as reason`, () => {
    // Act
    const atLimit = parseNotificationItem(nested(MAX_NOTIFICATION_DEPTH));
    const deeper = parseNotificationItem(nested(MAX_NOTIFICATION_DEPTH + 1));

    // Assess
    expect('notification' in atLimit).toBe(true);
    expect(deeper).toEqual({ reason: `nested deeper than ${MAX_NOTIFICATION_DEPTH} levels` });
  });

  it.each([
    ['a string', 'value'],
    ['a number', 42],
    ['null', null],
    ['an array', [item()]],
  ])('refuses an item that is %s, with a reason', (_label, candidate) => {
    // Act
    const result = parseNotificationItem(candidate, FALLBACK);

    // Assess
    expect(result).toEqual({ reason: expect.stringMatching(/\S/) });
  });

  it('refuses an item with both or neither of changeType and lifecycleEvent', () => {
    // Act
    const both = parseNotificationItem(item({ lifecycleEvent: 'missed' }));
    const neither = parseNotificationItem(without(item(), 'changeType'));

    // Assess
    expect(both).toEqual({ reason: expect.stringContaining('exactly one of changeType and lifecycleEvent') });
    expect(neither).toEqual({ reason: expect.stringContaining('exactly one of changeType and lifecycleEvent') });
  });
});

describe('clientStateOf and claimedTenantOf: read before parsing', () => {
  it('read the clientState and the tenant, tenantId before organizationId', () => {
    // Prepare
    const candidate = item({ organizationId: ORGANIZATION });

    // Act
    const read = [clientStateOf(candidate), claimedTenantOf(candidate)];

    // Assess
    expect(read).toEqual(['client-state-value-0123456789', TENANT]);
  });

  it.each([
    ['tenantId absent', without(item(), 'tenantId')],
    ['tenantId empty', item({ tenantId: '' })],
    ['tenantId not a string', item({ tenantId: 7 })],
  ])('claimedTenantOf falls back to organizationId with %s', (_label, candidate) => {
    // Act
    const tenant = claimedTenantOf({ ...candidate, organizationId: ORGANIZATION });

    // Assess
    expect(tenant).toBe(ORGANIZATION);
  });

  it('claimedTenantOf is undefined when the item names no tenant', () => {
    // Act
    const tenant = claimedTenantOf(without(item({ organizationId: '' }), 'tenantId'));

    // Assess
    expect(tenant).toBeUndefined();
  });

  it.each([
    ['a number', item({ clientState: 42 })],
    ['null', item({ clientState: null })],
    ['absent', without(item(), 'clientState')],
  ])('clientStateOf is undefined when the clientState is %s', (_label, candidate) => {
    // Act
    const clientState = clientStateOf(candidate);

    // Assess
    expect(clientState).toBeUndefined();
  });

  it.each([
    ['a string', 'clientState'],
    ['null', null],
    ['an array', [item()]],
    ['an object whose clientState is inherited', Object.create({ clientState: 'inherited-0123456789', tenantId: TENANT }) as object],
    ['JSON whose clientState hides under __proto__', JSON.parse(`{"__proto__": {"clientState": "hidden", "tenantId": "${TENANT}"}}`) as unknown],
  ])('read nothing from an item that is %s', (_label, candidate) => {
    // Act
    const read = [clientStateOf(candidate), claimedTenantOf(candidate)];

    // Assess
    expect(read).toEqual([undefined, undefined]);
  });
});

describe('parseNotificationEnvelope', () => {
  it('returns the items unread, whatever they are, and the validation tokens', () => {
    // Prepare
    const body = JSON.stringify({ value: [item(), 42, 'x', null], validationTokens: ['t1'] });

    // Act
    const envelope = parseNotificationEnvelope(body);

    // Assess
    expect(envelope).toEqual({ items: [item(), 42, 'x', null], validationTokens: ['t1'] });
  });

  it.each([
    ['absent', {}],
    ['null', { validationTokens: null }],
  ])('gives no validation tokens when they are %s', (_label, extra) => {
    // Act
    const envelope = parseNotificationEnvelope(JSON.stringify({ value: [], ...extra }));

    // Assess
    expect(envelope.validationTokens).toEqual([]);
  });

  it.each([
    ['non-JSON', '{"value": [', 'body is not valid JSON'],
    ['a JSON array', '[]', 'body must be a JSON object with a "value" array'],
    ['a JSON string', '"value"', 'body must be a JSON object with a "value" array'],
    ['JSON null', 'null', 'body must be a JSON object with a "value" array'],
    ['an object without value', '{"values": []}', 'value must be an array of notifications'],
    ['an object whose value is not an array', '{"value": {}}', 'value must be an array of notifications'],
  ])('refuses %s', (_label, body, message) => {
    // Act
    const act = () => parseNotificationEnvelope(body);

    // Assess
    expect(act).toThrow(InvalidNotificationBodyError);
    expect(act).toThrow(message);
  });
});
