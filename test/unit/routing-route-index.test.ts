import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { indexRouteChanges, routeChangesOf } from '../../shared/routing/route-index';

const T1 = '11111111-1111-4111-8111-111111111111';
const T2 = '22222222-2222-4222-8222-222222222222';
let sequence = 0;

function image(connectionId: string, tenantId: string, extra: Record<string, AttributeValue> = {}): Record<string, AttributeValue> {
  return {
    pk: { S: 'INTEGRATION#contoso' },
    sk: { S: `CONNECTION#${connectionId}` },
    type: { S: 'connection' },
    integrationId: { S: 'contoso' },
    connectionId: { S: connectionId },
    tenantId: { S: tenantId },
    createdAt: { S: '2026-12-01T00:00:00.000Z' },
    updatedAt: { S: '2026-12-01T00:00:00.000Z' },
    ...extra,
  };
}

function record(eventName: 'INSERT' | 'MODIFY' | 'REMOVE', connectionId: string, images: { old?: Record<string, AttributeValue>; new?: Record<string, AttributeValue> }): DynamoDBRecord {
  sequence += 1;
  return {
    eventName,
    dynamodb: {
      Keys: { pk: { S: 'INTEGRATION#contoso' }, sk: { S: `CONNECTION#${connectionId}` } },
      SequenceNumber: String(sequence),
      ...(images.old === undefined ? {} : { OldImage: images.old }),
      ...(images.new === undefined ? {} : { NewImage: images.new }),
    },
  };
}

const plain = (changes: ReturnType<typeof routeChangesOf>['changes']) => changes.map(({ action, tenantId, connectionId }) => ({ action, tenantId, connectionId }));

describe('routeChangesOf', () => {
  it('adds an inserted connection to its tenant (tenant ids lower-cased) and ignores other items', () => {
    // Act
    const { changes, ignored } = routeChangesOf([
      record('INSERT', 'c1', { new: image('c1', T1.toUpperCase()) }),
      { eventName: 'INSERT', dynamodb: { Keys: { pk: { S: 'INTEGRATION#contoso' }, sk: { S: 'SUBSCRIPTION#s1' } }, SequenceNumber: '999' } },
    ]);

    // Assess
    expect(plain(changes)).toEqual([{ action: 'add', tenantId: T1, connectionId: 'c1' }]);
    expect(ignored).toBe(1);
  });

  it('collapses a batch to its net effect: moved twice and back means one add, and a removal from the tenant in between', () => {
    // Act
    const { changes } = routeChangesOf([
      record('INSERT', 'c1', { new: image('c1', T1) }),
      record('MODIFY', 'c1', { old: image('c1', T1), new: image('c1', T2) }),
      record('MODIFY', 'c1', { old: image('c1', T2), new: image('c1', T1) }),
    ]);

    // Assess
    expect(plain(changes)).toEqual([
      { action: 'remove', tenantId: T2, connectionId: 'c1' },
      { action: 'add', tenantId: T1, connectionId: 'c1' },
    ]);
    expect(changes.every((change) => change.sequenceNumbers.length === 3)).toBe(true);
  });

  it('removes a deleted connection, and one edited into an invalid item, from its tenant', () => {
    // Act
    const { changes } = routeChangesOf([
      record('REMOVE', 'gone', { old: image('gone', T1) }),
      record('MODIFY', 'broken', { old: image('broken', T2), new: image('broken', 'not-a-guid') }),
    ]);

    // Assess
    expect(plain(changes)).toEqual([
      { action: 'remove', tenantId: T1, connectionId: 'gone' },
      { action: 'remove', tenantId: T2, connectionId: 'broken' },
    ]);
  });

  it('changes nothing for an edit that keeps the tenant (declarations, status), so cached routes stay valid', () => {
    // Act
    const { changes } = routeChangesOf([record('MODIFY', 'c1', { old: image('c1', T1), new: image('c1', T1, { status: { S: 'needs-consent' } }) })]);

    // Assess
    expect(changes).toEqual([]);
  });
});

describe('indexRouteChanges', () => {
  it('reports the records of a change that failed, in stream order, and bumps no version for that integration', async () => {
    // Prepare: every route write fails
    const sent: string[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: { Key?: { sk?: string } } }) => {
        sent.push(`${command.constructor.name} ${command.input.Key?.sk ?? ''}`);
        throw new Error('ProvisionedThroughputExceededException');
      },
    } as unknown as DynamoDBDocumentClient;
    const warnings: string[] = [];
    const records = [record('INSERT', 'a', { new: image('a', T1) }), record('INSERT', 'b', { new: image('b', T2) })];

    // Act
    const outcome = await indexRouteChanges(
      { client, tableName: 't', now: () => new Date(), logger: { info: () => undefined, warn: (message) => warnings.push(message) } },
      records,
    );

    // Assess
    expect(outcome.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.dynamodb?.SequenceNumber));
    expect(sent.some((line) => line.includes('INTEGRATION#'))).toBe(false);
    expect(warnings).toHaveLength(2);
  });
});
