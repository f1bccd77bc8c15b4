import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildEvents, DETAIL_TYPES, idempotencyKey } from '../../shared/events/contract';
import { detailSchemas, jsonSchemaOf, schemaFileName } from '../../shared/events/detail-schemas';
import { parseNotificationBody } from '../../shared/graph/change-notification';

const fixture = (name: string) => readFileSync(join(__dirname, '..', 'fixtures', 'graph-docs', name), 'utf8');

function eventsFor(body: string, connectionIds: string[]) {
  const { notifications } = parseNotificationBody(body);
  return notifications.flatMap(({ notification }) =>
    buildEvents({
      source: 'graph-relay',
      provider: 'microsoft-oauth2-cc',
      integrationId: 'contoso',
      notification,
      idempotencyKey: idempotencyKey('contoso', notification),
      connectionIds,
      receivedAt: '2026-11-25T21:00:00.000Z',
    }),
  );
}

describe('event detail JSON Schemas', () => {
  it.each(Object.keys(detailSchemas))('the committed schema of "%s" is the one generated from the contract', (detailType) => {
    // Prepare
    const committed = JSON.parse(readFileSync(join(__dirname, '..', '..', 'shared', 'events', 'schemas', schemaFileName(detailType)), 'utf8'));
    // Act
    const generated = jsonSchemaOf(detailType as keyof typeof detailSchemas);
    // Assess (regenerate with `npm run schemas` when the contract changes)
    expect(committed).toEqual(generated);
  });

  it('events built from Microsoft\'s documented payloads match their detail-type\'s schema', () => {
    // Prepare
    const bodies = [
      fixture('webhooks-message-created-basic.json'),
      fixture('lifecycle-missed.json'),
      fixture('lifecycle-reauthorizationRequired.json'),
      fixture('lifecycle-subscriptionRemoved.json'),
      JSON.stringify({ value: [JSON.parse(fixture('teams-team-updated-basic-single-item.json'))] }),
      fixture('teams-chatmessage-chat-created-rich-encrypted.json'),
    ];
    // Act
    const routed = bodies.flatMap((body) => eventsFor(body, ['conn-1', 'conn-2']));
    const unrouted = bodies.flatMap((body) => eventsFor(body, []));
    // Assess
    expect(routed.length).toBeGreaterThanOrEqual(12);
    expect(new Set(routed.map((e) => e.detailType))).toEqual(new Set([DETAIL_TYPES.change, DETAIL_TYPES.lifecycle]));
    expect(unrouted.every((e) => e.detailType === DETAIL_TYPES.unrouted)).toBe(true);
    for (const event of [...routed, ...unrouted]) {
      const result = detailSchemas[event.detailType].safeParse(JSON.parse(JSON.stringify(event.detail)));
      expect(result.error?.issues).toBeUndefined();
    }
  });

  it('a detail that still carries clientState, or a change item under the lifecycle type, is refused', () => {
    // Prepare
    const [event] = eventsFor(fixture('webhooks-message-created-basic.json'), ['conn-1']);
    const detail = JSON.parse(JSON.stringify(event?.detail));
    const leaked = { ...detail, payload: { value: [{ ...detail.payload.value[0], clientState: 'secretClientValue' }] } };
    // Act
    const leakedResult = detailSchemas[DETAIL_TYPES.change].safeParse(leaked);
    const wrongType = detailSchemas[DETAIL_TYPES.lifecycle].safeParse(detail);
    // Assess
    expect(leakedResult.success).toBe(false);
    expect(wrongType.success).toBe(false);
  });
});
