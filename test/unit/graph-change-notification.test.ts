import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  InvalidNotificationBodyError,
  kindOf,
  MAX_NOTIFICATION_DEPTH,
  nestedDeeperThan,
  parseNotificationBody,
  type ChangeNotification,
} from '../../shared/graph/change-notification';

const FIXTURES = join(__dirname, '..', 'fixtures', 'graph-docs');

/** Microsoft's documented payload as a delivery body; single-item examples are wrapped in a collection. */
function documentedBody(file: string): string {
  const json = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Record<string, unknown>;
  return JSON.stringify('value' in json ? json : { value: [json] });
}

const SECRET = 'client-state-secret-value-42';

function item(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    subscriptionId: '9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3c',
    tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    changeType: 'created',
    clientState: SECRET,
    resource: 'users/u1/messages/m1',
    ...overrides,
  };
}

describe('parseNotificationBody: Microsoft documented payloads', () => {
  it.each([
    ['webhooks-message-created-basic.json', 'change'],
    ['lifecycle-missed.json', 'lifecycle'],
    ['lifecycle-reauthorizationRequired.json', 'lifecycle'],
    ['lifecycle-subscriptionRemoved.json', 'lifecycle'],
    ['teams-channel-rich-encrypted.json', 'change'],
    ['teams-team-rich-encrypted.json', 'change'],
    ['teams-chatmessage-chat-created-rich-encrypted.json', 'change'],
    ['teams-chatmessage-channel-created-basic-single-item.json', 'change'],
    ['teams-team-updated-basic-single-item.json', 'change'],
  ])('accepts %s', (file, kind) => {
    // Prepare
    const body = documentedBody(file);

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.refused).toEqual([]);
    expect(parsed.notifications).toHaveLength(1);
    const [first] = parsed.notifications;
    expect(first?.index).toBe(0);
    expect(kindOf(first?.notification as ChangeNotification)).toBe(kind);
  });

  it('keeps every field of a documented notification, unknown ones included', () => {
    // Prepare
    const body = documentedBody('webhooks-message-created-basic.json');
    const original = (JSON.parse(body) as { value: unknown[] }).value[0];

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.notifications[0]?.notification).toEqual(original);
  });

  it('keeps the encrypted content and validation tokens of a rich notification', () => {
    // Prepare
    const body = documentedBody('teams-channel-rich-encrypted.json');

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.validationTokens).toEqual(['<<--ValidationTokens-->>']);
    expect(parsed.notifications[0]?.notification.encryptedContent).toEqual(
      expect.objectContaining({ dataKey: '<<--EnryptedDataKeyUsedForEncryptingContent-->>' }),
    );
  });

  it("refuses the documentation's lifecycle template, whose lifecycleEvent is a placeholder", () => {
    // Prepare
    const body = documentedBody('lifecycle-structure-template.json');

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.notifications).toEqual([]);
    expect(parsed.refused).toEqual([{ index: 0, reason: expect.stringContaining('lifecycleEvent') }]);
  });

  it('accepts several notifications of several tenants in one POST', () => {
    // Prepare
    const body = JSON.stringify({
      value: [item(), item({ tenantId: '0f2d8f49-862a-493b-9ca8-82a10637e17d' }), item({ changeType: undefined, lifecycleEvent: 'missed' })],
    });

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.notifications.map((n) => n.index)).toEqual([0, 1, 2]);
    expect(parsed.validationTokens).toEqual([]);
  });

  it('accepts an empty collection', () => {
    // Prepare
    const body = '{"value": []}';

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed).toEqual({ notifications: [], refused: [], validationTokens: [] });
  });
});

describe('parseNotificationBody: refused items', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no subscriptionId', item({ subscriptionId: undefined }), /subscriptionId/],
    ['an empty subscriptionId', item({ subscriptionId: '' }), /subscriptionId/],
    ['no tenantId', item({ tenantId: undefined }), /tenantId/],
    ['an empty tenantId', item({ tenantId: '' }), /tenantId/],
    ['both changeType and lifecycleEvent', item({ lifecycleEvent: 'missed' }), /exactly one of changeType and lifecycleEvent/],
    ['neither changeType nor lifecycleEvent', item({ changeType: undefined }), /exactly one of changeType and lifecycleEvent/],
    ['an unknown changeType', item({ changeType: 'renamed' }), /changeType/],
    ['an unknown lifecycleEvent', item({ changeType: undefined, lifecycleEvent: 'expired' }), /lifecycleEvent/],
    ['a non-object resourceData', item({ resourceData: 'x' }), /resourceData/],
  ])('refuses an item with %s, naming the field', (_label, bad, reason) => {
    // Prepare
    const body = JSON.stringify({ value: [bad] });

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.notifications).toEqual([]);
    expect(parsed.refused).toEqual([{ index: 0, reason: expect.stringMatching(reason) }]);
  });

  it('refuses bad items alone, by their index in value', () => {
    // Prepare
    const body = JSON.stringify({
      value: [item(), item({ tenantId: undefined }), null, item(), 'text', item({ changeType: undefined })],
    });

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.notifications.map((n) => n.index)).toEqual([0, 3]);
    expect(parsed.refused.map((r) => r.index)).toEqual([1, 2, 4, 5]);
  });

  it('never echoes values in the reasons', () => {
    // Prepare
    const body = JSON.stringify({
      value: [
        item({ changeType: `changed-${SECRET}` }),
        item({ clientState: 12345678987654321 }),
        item({ tenantId: undefined, subscriptionId: { secret: SECRET } }),
        item({ clientState: `${SECRET}${'x'.repeat(2000)}` }),
        item({ lifecycleEvent: `event-${SECRET}` }),
        item({ resourceData: SECRET }),
      ],
    });

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.refused).toHaveLength(6);
    const reasons = JSON.stringify(parsed.refused);
    expect(reasons).not.toContain(SECRET);
    expect(reasons).not.toContain('12345678987654321');
  });
});

describe('parseNotificationBody: nesting depth', () => {
  function nested(levels: number): unknown {
    let value: unknown = 'leaf';
    for (let i = 0; i < levels; i += 1) value = i % 2 === 0 ? [value] : { child: value };
    return value;
  }

  it(`accepts an item nested exactly ${MAX_NOTIFICATION_DEPTH} levels deep`, () => {
    // Prepare: the item is level 1, resourceData level 2, so resourceData.deep holds the remaining levels
    const body = JSON.stringify({ value: [item({ resourceData: { deep: nested(MAX_NOTIFICATION_DEPTH - 2) } })] });

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.refused).toEqual([]);
    expect(parsed.notifications).toHaveLength(1);
  });

  it('refuses an item one level deeper, alone and without echoing it', () => {
    // Prepare
    const body = JSON.stringify({ value: [item({ resourceData: { deep: nested(MAX_NOTIFICATION_DEPTH - 1) } }), item()] });

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.refused).toEqual([{ index: 0, reason: `nested deeper than ${MAX_NOTIFICATION_DEPTH} levels` }]);
    expect(parsed.notifications.map((n) => n.index)).toEqual([1]);
  });

  it('checks an item nested 400,000 levels deep without overflowing the stack', () => {
    // Prepare: under the 1 MB body limit
    const body = `{"value":[{"subscriptionId":"s","tenantId":"t","changeType":"created","resourceData":{"a":${'['.repeat(400_000)}${']'.repeat(400_000)}}}]}`;

    // Act
    const parsed = parseNotificationBody(body);

    // Assess
    expect(parsed.refused).toEqual([{ index: 0, reason: expect.stringMatching(/nested deeper/) }]);
  });

  it.each<[string, unknown, boolean]>([
    ['a string', 'text', false],
    ['an empty object', {}, false],
    ['two levels', { a: [1] }, false],
    ['three levels', { a: [[1]] }, true],
  ])('nestedDeeperThan(%s, 2)', (_label, value, expected) => {
    // Prepare
    const max = 2;

    // Act
    const deeper = nestedDeeperThan(value, max);

    // Assess
    expect(deeper).toBe(expected);
  });
});

describe('parseNotificationBody: bodies that are not a collection', () => {
  it.each([
    ['empty', ''],
    ['not JSON', '<xml/>'],
    ['null', 'null'],
    ['an array', '[]'],
    ['a number', '42'],
    ['an object without value', '{}'],
    ['a non-array value', '{"value": {}}'],
    ['a null value', '{"value": null}'],
  ])('throws InvalidNotificationBodyError for %s', (_label, body) => {
    // Prepare
    const parse = () => parseNotificationBody(body);

    // Act
    let thrown: unknown;
    try {
      parse();
    } catch (error) {
      thrown = error;
    }

    // Assess
    expect(thrown).toBeInstanceOf(InvalidNotificationBodyError);
  });

  it('does not echo the body in the error message', () => {
    // Prepare
    const body = `{"value": "${SECRET}"}`;

    // Act
    let message = '';
    try {
      parseNotificationBody(body);
    } catch (error) {
      message = (error as Error).message;
    }

    // Assess
    expect(message).toMatch(/value/);
    expect(message).not.toContain(SECRET);
  });
});
