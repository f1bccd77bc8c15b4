import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeliveriesStoreError, DynamoDbDeliveriesStore } from '../../shared/store/deliveries-store';
import { deferred, settle, type Deferred } from '../support/fakes';

const TABLE = 'deliveries-test';
const WINDOW = 4.5 * 3600;
const NOW_MS = Date.UTC(2024, 4, 1, 12, 0, 0, 500);
const NOW_S = Math.floor(NOW_MS / 1000);

type Key = { idempotencyKey: string };
type Put = { PutRequest: { Item: { idempotencyKey: string; publishedAt: string; expiresAt: number } } };

interface GetCall {
  keys: Key[];
  projection: string | undefined;
  consistent: boolean | undefined;
}

function keys(count: number, prefix = 'k'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
}

/** A DocumentClient stand-in answering BatchGet and BatchWrite through the given functions. */
function stubClient(answers: {
  get?: (keys: Key[], call: number) => Promise<{ Responses?: Record<string, Record<string, unknown>[]>; UnprocessedKeys?: Record<string, { Keys: Key[] }> }>;
  write?: (puts: Put[], call: number) => Promise<{ UnprocessedItems?: Record<string, Put[]> }>;
}) {
  const getCalls: GetCall[] = [];
  const writeCalls: Put[][] = [];
  const send = async (command: unknown) => {
    if (command instanceof BatchGetCommand) {
      const request = command.input.RequestItems?.[TABLE];
      const call = { keys: (request?.Keys ?? []) as Key[], projection: request?.ProjectionExpression, consistent: request?.ConsistentRead };
      getCalls.push(call);
      return { $metadata: {}, ...(await (answers.get ?? (async () => ({})))(call.keys, getCalls.length)) };
    }
    if (command instanceof BatchWriteCommand) {
      const puts = (command.input.RequestItems?.[TABLE] ?? []) as Put[];
      writeCalls.push(puts);
      return { $metadata: {}, ...(await (answers.write ?? (async () => ({})))(puts, writeCalls.length)) };
    }
    throw new Error('unexpected command');
  };
  return { client: { send } as unknown as DynamoDBDocumentClient, getCalls, writeCalls };
}

const store = (client: DynamoDBDocumentClient) => new DynamoDbDeliveriesStore(client, TABLE, WINDOW, () => NOW_MS);
const marker = (idempotencyKey: string, expiresAt = NOW_S + 3600) => ({ idempotencyKey, expiresAt });

describe('DynamoDbDeliveriesStore.findPublished', () => {
  it('reads at most 100 keys per BatchGet, each key once', async () => {
    // Prepare
    const stub = stubClient({});
    const all = keys(250);

    // Act
    await store(stub.client).findPublished([...all, ...all.slice(0, 20)]);

    // Assess
    expect(stub.getCalls.map((c) => c.keys.length).sort((a, b) => b - a)).toEqual([100, 100, 50]);
    const requested = stub.getCalls.flatMap((c) => c.keys.map((k) => k.idempotencyKey));
    expect(requested.sort()).toEqual(all);
    expect(stub.getCalls[0]?.projection).toMatch(/idempotencyKey/);
    expect(stub.getCalls[0]?.projection).toMatch(/expiresAt/);
    // A marker written by an attempt seconds earlier must be seen: strongly consistent reads only.
    expect(stub.getCalls.map((c) => c.consistent)).toEqual([true, true, true]);
  });

  it('sends its BatchGets concurrently', async () => {
    // Prepare
    const pending: Deferred<{ Responses: Record<string, Record<string, unknown>[]> }>[] = [];
    const stub = stubClient({
      get: () => {
        const d = deferred<{ Responses: Record<string, Record<string, unknown>[]> }>();
        pending.push(d);
        return d.promise;
      },
    });

    // Act
    const finding = store(stub.client).findPublished(keys(300));
    await settle();
    const inFlight = pending.length;
    for (const d of pending) d.resolve({ Responses: { [TABLE]: [] } });
    await finding;

    // Assess
    expect(inFlight).toBe(3);
  });

  it('returns the keys with a live marker', async () => {
    // Prepare
    const stub = stubClient({
      get: async (requested) => ({ Responses: { [TABLE]: requested.filter((_, i) => i % 2 === 0).map((k) => marker(k.idempotencyKey)) } }),
    });
    const all = keys(6);

    // Act
    const found = await store(stub.client).findPublished(all);

    // Assess
    expect([...found].sort()).toEqual([all[0], all[2], all[4]]);
  });

  it('does not count an expired marker that TTL has not deleted yet', async () => {
    // Prepare
    const stub = stubClient({
      get: async () => ({
        Responses: {
          [TABLE]: [marker('expired-long-ago', NOW_S - 3600), marker('expired-now', NOW_S), marker('live', NOW_S + 1), { idempotencyKey: 'no-expiry' }],
        },
      }),
    });

    // Act
    const found = await store(stub.client).findPublished(['expired-long-ago', 'expired-now', 'live', 'no-expiry']);

    // Assess
    expect([...found]).toEqual(['live']);
  });

  it('retries exactly the keys DynamoDB left unprocessed', async () => {
    // Prepare
    const all = keys(10);
    const stub = stubClient({
      get: async (requested, call) =>
        call === 1
          ? { Responses: { [TABLE]: [marker(all[0] as string)] }, UnprocessedKeys: { [TABLE]: { Keys: requested.slice(5) } } }
          : { Responses: { [TABLE]: requested.map((k) => marker(k.idempotencyKey)) } },
    });

    // Act
    const found = await store(stub.client).findPublished(all);

    // Assess
    expect(stub.getCalls).toHaveLength(2);
    expect(stub.getCalls[1]?.keys.map((k) => k.idempotencyKey)).toEqual(all.slice(5));
    expect([...found].sort()).toEqual([all[0], ...all.slice(5)]);
  });

  it('fails with DeliveriesStoreError when keys stay unprocessed', async () => {
    // Prepare
    const stub = stubClient({ get: async (requested) => ({ UnprocessedKeys: { [TABLE]: { Keys: requested } } }) });

    // Act
    const finding = store(stub.client).findPublished(keys(3));

    // Assess
    await expect(finding).rejects.toBeInstanceOf(DeliveriesStoreError);
    expect(stub.getCalls.length).toBeGreaterThan(1);
  });

  it('makes no call for no keys', async () => {
    // Prepare
    const stub = stubClient({});

    // Act
    const found = await store(stub.client).findPublished([]);

    // Assess
    expect(found.size).toBe(0);
    expect(stub.getCalls).toHaveLength(0);
  });
});

describe('DynamoDbDeliveriesStore.markPublished', () => {
  it('writes at most 25 markers per BatchWrite, each key once, expiring after the window', async () => {
    // Prepare
    const stub = stubClient({});
    const all = keys(60);

    // Act
    await store(stub.client).markPublished([...all, all[0] as string]);

    // Assess
    expect(stub.writeCalls.map((c) => c.length).sort((a, b) => b - a)).toEqual([25, 25, 10]);
    const items = stub.writeCalls.flat().map((p) => p.PutRequest.Item);
    expect(items.map((i) => i.idempotencyKey).sort()).toEqual(all);
    for (const item of items) {
      expect(item.expiresAt).toBe(NOW_S + WINDOW);
      expect(item.publishedAt).toBe(new Date(NOW_MS).toISOString());
    }
  });

  it('sends its BatchWrites concurrently', async () => {
    // Prepare
    const pending: Deferred<{ UnprocessedItems?: Record<string, Put[]> }>[] = [];
    const stub = stubClient({
      write: () => {
        const d = deferred<{ UnprocessedItems?: Record<string, Put[]> }>();
        pending.push(d);
        return d.promise;
      },
    });

    // Act
    const marking = store(stub.client).markPublished(keys(75));
    await settle();
    const inFlight = pending.length;
    for (const d of pending) d.resolve({});
    await marking;

    // Assess
    expect(inFlight).toBe(3);
  });

  it('retries exactly the markers DynamoDB left unprocessed', async () => {
    // Prepare
    const stub = stubClient({ write: async (puts, call) => (call === 1 ? { UnprocessedItems: { [TABLE]: puts.slice(20) } } : {}) });
    const all = keys(25);

    // Act
    await store(stub.client).markPublished(all);

    // Assess
    expect(stub.writeCalls).toHaveLength(2);
    expect(stub.writeCalls[1]?.map((p) => p.PutRequest.Item.idempotencyKey)).toEqual(all.slice(20));
  });

  it('fails with DeliveriesStoreError when markers stay unwritten', async () => {
    // Prepare
    const stub = stubClient({ write: async (puts) => ({ UnprocessedItems: { [TABLE]: puts } }) });

    // Act
    const marking = store(stub.client).markPublished(keys(2));

    // Assess
    await expect(marking).rejects.toBeInstanceOf(DeliveriesStoreError);
  });

  it('makes no call for no keys', async () => {
    // Prepare
    const stub = stubClient({});

    // Act
    await store(stub.client).markPublished([]);

    // Assess
    expect(stub.writeCalls).toHaveLength(0);
  });
});

describe('DynamoDbDeliveriesStore: round trip', () => {
  it('finds what it marked, until the window ends', async () => {
    // Prepare: an in-memory table behind the stub
    const table = new Map<string, Record<string, unknown>>();
    const stub = stubClient({
      get: async (requested) => ({
        Responses: { [TABLE]: requested.flatMap((k) => {
          const item = table.get(k.idempotencyKey);
          return item === undefined ? [] : [item];
        }) },
      }),
      write: async (puts) => {
        for (const p of puts) table.set(p.PutRequest.Item.idempotencyKey, p.PutRequest.Item);
        return {};
      },
    });
    let now = NOW_MS;
    const deliveries = new DynamoDbDeliveriesStore(stub.client, TABLE, WINDOW, () => now);
    await deliveries.markPublished(['a', 'b']);

    // Act
    now = NOW_MS + (WINDOW - 1) * 1000;
    const withinWindow = await deliveries.findPublished(['a', 'b', 'c']);
    now = NOW_MS + (WINDOW + 1) * 1000;
    const afterWindow = await deliveries.findPublished(['a', 'b', 'c']);

    // Assess
    expect([...withinWindow].sort()).toEqual(['a', 'b']);
    expect(afterWindow.size).toBe(0);
  });
});
