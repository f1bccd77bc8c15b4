import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { GraphRequestError } from '../../shared/graph/graph-client';
import type { CreateSubscriptionInput, GraphSubscription } from '../../shared/graph/subscriptions-api';
import type { Connection } from '../../shared/store/items';
import type { SubscriptionInput, SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { connectionChangesOf, reconcileConnectionChanges } from '../../shared/subscriptions/connection-changes';
import type { ReconcilePorts } from '../../shared/subscriptions/reconcile';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const OTHER_TENANT = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
let sequence = 100;

function streamRecord(input: {
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  integrationId?: string;
  sk: string;
  oldImage?: Record<string, AttributeValue>;
  newImage?: Record<string, AttributeValue>;
}): DynamoDBRecord {
  sequence += 1;
  return {
    eventName: input.eventName,
    eventSource: 'aws:dynamodb',
    dynamodb: {
      Keys: { pk: { S: `INTEGRATION#${input.integrationId ?? 'contoso'}` }, sk: { S: input.sk } },
      SequenceNumber: String(sequence),
      StreamViewType: 'NEW_AND_OLD_IMAGES',
      ...(input.oldImage === undefined ? {} : { OldImage: input.oldImage }),
      ...(input.newImage === undefined ? {} : { NewImage: input.newImage }),
    },
  };
}

function connectionImage(overrides: { tenantId?: string; subscriptions?: string[]; updatedAt?: string } = {}): Record<string, AttributeValue> {
  return {
    tenantId: { S: overrides.tenantId ?? TENANT },
    subscriptions: { L: (overrides.subscriptions ?? ['users:created']).map((s) => ({ S: s })) },
    updatedAt: { S: overrides.updatedAt ?? '2026-03-01T00:00:00.000Z' },
  };
}

function connection(connectionId: string, subscriptions: string[], integrationId = 'contoso'): Connection {
  return { integrationId, connectionId, tenantId: TENANT, subscriptions, status: 'active', createdAt: '2026-03-01T00:00:00.000Z', updatedAt: '2026-03-01T00:00:00.000Z' };
}

/** Ports over in-memory connections and records; Graph creates succeed unless `createFails` says otherwise. */
function world(input: { connections: Connection[]; createFails?: Record<string, Error>; readFails?: string[]; clock?: number }) {
  const records: SubscriptionRecord[] = [];
  const creates: { resource: string }[] = [];
  const getConnection = jest.fn(async (integrationId: string, connectionId: string) => {
    if (input.readFails?.includes(integrationId)) throw new Error('DynamoDB is down');
    return input.connections.find((c) => c.integrationId === integrationId && c.connectionId === connectionId);
  });
  const ports: ReconcilePorts = {
    connections: {
      listIntegrations: async () => ({ integrations: [], invalidItems: [] }),
      getConnection,
      listConnectionsPage: async () => ({ connections: [], invalidItems: [] }),
      existingConnectionIds: async () => new Set<string>(),
      markNeedsConsent: async () => true,
    },
    store: {
      listByConnection: async (integrationId, connectionId) => ({
        subscriptions: records.filter((r) => r.integrationId === integrationId && r.connectionId === connectionId),
        invalidItems: [],
      }),
      listByIntegrationPage: async () => ({ subscriptions: [], invalidItems: [], unindexed: [] }),
      setConnectionKey: async () => true,
      put: async (record: SubscriptionInput) => {
        const stored = { ...record, createdAt: new Date(NOW).toISOString(), updatedAt: new Date(NOW).toISOString() };
        records.push(stored);
        return stored;
      },
      delete: async () => true,
    },
    graphFor: async () => ({
      async createSubscription(_tenantId: string, request: CreateSubscriptionInput): Promise<GraphSubscription> {
        creates.push({ resource: request.resource });
        const failure = input.createFails?.[request.resource];
        if (failure !== undefined) throw failure;
        return { id: `sub-${creates.length}`, resource: request.resource, changeType: request.changeType, expirationDateTime: request.expirationDateTime } as GraphSubscription;
      },
      deleteSubscription: async () => 'deleted' as const,
    }),
    webhookSecretOf: async () => 'webhook-secret-0123456789',
    notificationUrlFor: (id) => `https://relay.example.com/webhook/${id}`,
    logger: { info: jest.fn(), warn: jest.fn(), error: jest.fn() },
    clock: { now: () => input.clock ?? NOW },
  };
  return { ports, records, creates, getConnection };
}

function graphError(status: number): GraphRequestError {
  return new GraphRequestError({ method: 'POST', path: '/subscriptions', tenantId: TENANT, status, code: 'ExtensionError', message: `HTTP ${status}`, requestId: 'req-1', clientRequestId: 'c-1' });
}

const DEADLINE = NOW + 60_000;

describe('connectionChangesOf', () => {
  it('keeps connection items only: subscription records (the reconciler\'s own writes) and integration items are ignored', () => {
    // Prepare
    const records = [
      streamRecord({ eventName: 'INSERT', sk: 'SUBSCRIPTION#sub-1' }),
      streamRecord({ eventName: 'INSERT', sk: 'CONNECTION#conn-1', newImage: connectionImage() }),
      { ...streamRecord({ eventName: 'INSERT', sk: 'INTEGRATION#contoso' }), dynamodb: { Keys: { pk: { S: 'INTEGRATIONS' }, sk: { S: 'INTEGRATION#contoso' } }, SequenceNumber: '1' } },
    ];

    // Act
    const changes = connectionChangesOf(records);

    // Assess
    expect(changes.targets).toEqual([{ integrationId: 'contoso', connectionId: 'conn-1', sequenceNumbers: [records[1]!.dynamodb!.SequenceNumber] }]);
    expect(changes.ignored.map((entry) => [entry.reason, entry.sk])).toEqual([
      ['not-a-connection', 'SUBSCRIPTION#sub-1'],
      ['not-a-connection', 'INTEGRATION#contoso'],
    ]);
  });

  it('makes one target of several changes of a connection, keeping every sequence number', () => {
    // Prepare
    const insert = streamRecord({ eventName: 'INSERT', sk: 'CONNECTION#conn-1', newImage: connectionImage() });
    const other = streamRecord({ eventName: 'REMOVE', sk: 'CONNECTION#conn-2', oldImage: connectionImage() });
    const modify = streamRecord({ eventName: 'MODIFY', sk: 'CONNECTION#conn-1', oldImage: connectionImage(), newImage: connectionImage({ subscriptions: ['users:created', 'groups:deleted'] }) });

    // Act
    const changes = connectionChangesOf([insert, other, modify]);

    // Assess
    expect(changes.targets).toEqual([
      { integrationId: 'contoso', connectionId: 'conn-1', sequenceNumbers: [insert.dynamodb!.SequenceNumber, modify.dynamodb!.SequenceNumber] },
      { integrationId: 'contoso', connectionId: 'conn-2', sequenceNumbers: [other.dynamodb!.SequenceNumber] },
    ]);
  });

  it('skips a MODIFY that leaves the tenant and the declarations as they were, but not one that changes the tenant', () => {
    // Prepare
    const touched = streamRecord({ eventName: 'MODIFY', sk: 'CONNECTION#conn-1', oldImage: connectionImage(), newImage: connectionImage({ updatedAt: '2026-03-02T00:00:00.000Z' }) });
    const moved = streamRecord({ eventName: 'MODIFY', sk: 'CONNECTION#conn-2', oldImage: connectionImage(), newImage: connectionImage({ tenantId: OTHER_TENANT }) });

    // Act
    const changes = connectionChangesOf([touched, moved]);

    // Assess
    expect(changes.targets.map((t) => t.connectionId)).toEqual(['conn-2']);
    expect(changes.ignored).toEqual([{ reason: 'unchanged', eventName: 'MODIFY', sk: 'CONNECTION#conn-1', sequenceNumber: touched.dynamodb!.SequenceNumber }]);
  });

  it('reconciles a MODIFY of the status only: a connection resumed gets the creates skipped while it needed consent', () => {
    // Prepare
    const resumed = streamRecord({
      eventName: 'MODIFY',
      sk: 'CONNECTION#conn-1',
      oldImage: { ...connectionImage(), status: { S: 'needs-consent' }, statusReason: { S: 'HTTP 403' } },
      newImage: connectionImage(),
    });

    // Act
    const changes = connectionChangesOf([resumed]);

    // Assess
    expect(changes.targets.map((t) => t.connectionId)).toEqual(['conn-1']);
    expect(changes.ignored).toEqual([]);
  });

  it('reconciles a MODIFY whose images are missing rather than guess it changed nothing', () => {
    // Act
    const changes = connectionChangesOf([streamRecord({ eventName: 'MODIFY', sk: 'CONNECTION#conn-1' })]);

    // Assess
    expect(changes.targets.map((t) => t.connectionId)).toEqual(['conn-1']);
  });

  it('ignores a connection record whose keys are not valid ids', () => {
    // Act
    const changes = connectionChangesOf([streamRecord({ eventName: 'INSERT', integrationId: 'bad id!', sk: 'CONNECTION#conn-1' })]);

    // Assess
    expect(changes.targets).toEqual([]);
    expect(changes.ignored.map((entry) => entry.reason)).toEqual(['unreadable-keys']);
  });
});

describe('reconcileConnectionChanges', () => {
  it('reconciles each changed connection once, scoped to it, and reports no failure when all succeed', async () => {
    // Prepare
    const w = world({ connections: [connection('conn-1', ['users:created']), connection('conn-2', ['groups:deleted'])] });
    const records = [
      streamRecord({ eventName: 'INSERT', sk: 'CONNECTION#conn-1', newImage: connectionImage() }),
      streamRecord({ eventName: 'MODIFY', sk: 'CONNECTION#conn-1' }),
      streamRecord({ eventName: 'INSERT', sk: 'SUBSCRIPTION#sub-0' }),
    ];

    // Act
    const outcome = await reconcileConnectionChanges(w.ports, records, { deadline: DEADLINE });

    // Assess
    expect(outcome).toEqual({ batchItemFailures: [], reconciled: 1, ignored: 1 });
    expect(w.getConnection).toHaveBeenCalledTimes(1);
    expect(w.creates).toEqual([{ resource: 'users' }]);
    expect(w.records.map((r) => [r.connectionId, r.resource])).toEqual([['conn-1', 'users']]);
  });

  it('reports every record of a connection whose Graph create failed, and none of the others', async () => {
    // Prepare
    const w = world({ connections: [connection('conn-1', ['users:created']), connection('conn-2', ['groups:deleted'])], createFails: { users: graphError(503) } });
    const first = streamRecord({ eventName: 'INSERT', sk: 'CONNECTION#conn-1' });
    const second = streamRecord({ eventName: 'INSERT', sk: 'CONNECTION#conn-2' });
    const third = streamRecord({ eventName: 'MODIFY', sk: 'CONNECTION#conn-1' });

    // Act
    const outcome = await reconcileConnectionChanges(w.ports, [first, second, third], { deadline: DEADLINE });

    // Assess
    expect(outcome.batchItemFailures).toEqual([{ itemIdentifier: first.dynamodb!.SequenceNumber }, { itemIdentifier: third.dynamodb!.SequenceNumber }]);
    expect(outcome.reconciled).toBe(1);
    expect(w.records.map((r) => r.connectionId)).toEqual(['conn-2']);
  });

  it('reports the records of an integration whose reads fail, and goes on with the others', async () => {
    // Prepare
    const w = world({ connections: [connection('conn-1', ['users:created'], 'contoso'), connection('conn-9', ['users:created'], 'fabrikam')], readFails: ['contoso'] });
    const failing = streamRecord({ eventName: 'REMOVE', sk: 'CONNECTION#conn-1' });
    const fine = streamRecord({ eventName: 'INSERT', integrationId: 'fabrikam', sk: 'CONNECTION#conn-9' });

    // Act
    const outcome = await reconcileConnectionChanges(w.ports, [failing, fine], { deadline: DEADLINE });

    // Assess
    expect(outcome.batchItemFailures).toEqual([{ itemIdentifier: failing.dynamodb!.SequenceNumber }]);
    expect(w.records.map((r) => r.integrationId)).toEqual(['fabrikam']);
  });

  it('does not hand back a change only the operator can fix (consent refused): the schedule retries it later', async () => {
    // Prepare
    const w = world({ connections: [connection('conn-1', ['users:created'])], createFails: { users: graphError(403) } });

    // Act
    const outcome = await reconcileConnectionChanges(w.ports, [streamRecord({ eventName: 'INSERT', sk: 'CONNECTION#conn-1' })], { deadline: DEADLINE });

    // Assess
    expect(outcome).toEqual({ batchItemFailures: [], reconciled: 1, ignored: 0 });
    expect(w.creates).toHaveLength(1);
  });

  it('hands back the records of changes it had no time left to make, without calling Graph', async () => {
    // Prepare: the deadline has already passed
    const w = world({ connections: [connection('conn-1', ['users:created'])] });
    const record = streamRecord({ eventName: 'INSERT', sk: 'CONNECTION#conn-1' });

    // Act
    const outcome = await reconcileConnectionChanges(w.ports, [record], { deadline: NOW - 1 });

    // Assess
    expect(outcome.batchItemFailures).toEqual([{ itemIdentifier: record.dynamodb!.SequenceNumber }]);
    expect(w.creates).toEqual([]);
  });
});
