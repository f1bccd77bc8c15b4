import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local';
import { ensureTables } from '../../local/tables';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { keys } from '../../shared/store/items';
import type { PageKey } from '../../shared/store/page-key';
import { CONNECTION_INDEX } from '../../shared/store/connection-index';
import { RENEWAL_INDEX } from '../../shared/store/renewal-index';
import { DynamoDbSubscriptionsStore, type SubscriptionInput } from '../../shared/store/subscriptions-store';
import { renewalDueAt, renewalShardOf, RENEWAL_SHARDS } from '../../shared/subscriptions/renewal-policy';
import { changeNotification } from '../support/fakes';
import { routeThroughTable } from '../support/table-routes';

const REGION = 'us-east-1';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const DAY = 24 * 60 * 60_000;

let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;
const tables: string[] = [];

function endpoint(): string {
  const value = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (value === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  return value;
}

/** A fresh pair of tables, as `npm start` creates them. */
async function freshTables(): Promise<{ connectionsTable: string; deliveriesTable: string }> {
  const suffix = randomUUID().slice(0, 8);
  const names = { connectionsTable: `subs-connections-${suffix}`, deliveriesTable: `subs-deliveries-${suffix}` };
  tables.push(names.connectionsTable, names.deliveriesTable);
  await ensureTables(dynamodb, names);
  return names;
}

/** A settable clock for the store's timestamps. */
function clock(start: string) {
  let now = new Date(start);
  return {
    now: () => now,
    set: (iso: string) => {
      now = new Date(iso);
    },
  };
}

/** A subscription id that files under the given shard. */
function idInShard(shard: string): string {
  for (;;) {
    const id = randomUUID();
    if (renewalShardOf(id) === shard) return id;
  }
}

function subscription(overrides: Partial<SubscriptionInput> = {}): SubscriptionInput {
  return {
    integrationId: 'contoso',
    subscriptionId: randomUUID(),
    connectionId: 'conn-1',
    tenantId: TENANT,
    resource: 'users',
    changeTypes: ['created', 'updated'],
    expiresAt: '2026-01-30T00:00:00.000Z',
    status: 'active',
    ...overrides,
  };
}

beforeAll(() => {
  dynamodb = new DynamoDBClient({ endpoint: endpoint(), region: REGION, credentials: LOCAL_CREDENTIALS });
  doc = DynamoDBDocumentClient.from(dynamodb);
});

afterEach(async () => {
  await Promise.all(tables.splice(0).map((TableName) => dynamodb.send(new DeleteTableCommand({ TableName })).catch(() => undefined)));
});

afterAll(() => {
  dynamodb.destroy();
});

describe('DynamoDbSubscriptionsStore', () => {
  let names: { connectionsTable: string; deliveriesTable: string };
  let table: string;
  let time: ReturnType<typeof clock>;
  let store: DynamoDbSubscriptionsStore;

  beforeEach(async () => {
    names = await freshTables();
    table = names.connectionsTable;
    time = clock('2026-01-01T00:00:00.000Z');
    store = new DynamoDbSubscriptionsStore(doc, table, time.now);
  });

  /** The stored item of a record, as the console shows it. */
  async function itemOf(record: { integrationId: string; subscriptionId: string }): Promise<Record<string, unknown> | undefined> {
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: keys.subscription(record.integrationId, record.subscriptionId) }));
    return Item;
  }

  /** Rewrites a record's item as versions before the ByConnection index wrote it: without its key. */
  async function unindex(record: { integrationId: string; subscriptionId: string }): Promise<void> {
    const { connectionKey: _key, ...item } = (await itemOf(record)) ?? {};
    await doc.send(new PutCommand({ TableName: table, Item: item }));
  }

  it('writes a record the intake can route with, filed in the renewal index while active', async () => {
    // Prepare
    const connections = new DynamoDbConnectionsStore(doc, table);
    await connections.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    await connections.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT });
    // A second connection of the tenant: only the subscription item can route to conn-1 alone.
    await connections.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT });
    const input = subscription({ tenantId: TENANT.toUpperCase() });

    // Act
    const stored = await store.put(input);

    // Assess
    expect(stored).toEqual({
      ...input,
      tenantId: TENANT,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(await store.get('contoso', input.subscriptionId)).toEqual(stored);
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: keys.subscription('contoso', input.subscriptionId) }));
    expect(Item).toMatchObject({
      pk: 'INTEGRATION#contoso',
      sk: `SUBSCRIPTION#${input.subscriptionId}`,
      type: 'subscription',
      renewalShard: renewalShardOf(input.subscriptionId),
      renewAt: renewalDueAt({ grantedAt: '2026-01-01T00:00:00.000Z', expiresAt: input.expiresAt }),
      connectionKey: 'contoso#conn-1',
    });
    const routing = await routeThroughTable(doc, names, 'contoso', [changeNotification({ subscriptionId: input.subscriptionId, tenantId: TENANT })]);
    expect(routing).toEqual({ routes: [['conn-1']], invalidItems: [] });
  });

  it('keeps subscriptions that are not active out of the renewal index', async () => {
    // Prepare
    const input = subscription({ status: 'needs-consent', lastError: 'Forbidden: consent revoked', expiresAt: '2026-01-01T00:10:00.000Z' });

    // Act
    await store.put(input);

    // Assess
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: keys.subscription('contoso', input.subscriptionId) }));
    expect(Item).not.toHaveProperty('renewalShard');
    expect(Item).not.toHaveProperty('renewAt');
    expect((await store.findDue(new Date('2026-02-01T00:00:00Z'), { limit: 10 })).due).toEqual([]);
  });

  it('refuses to write a record that could not be read back', async () => {
    // Act
    const put = store.put(subscription({ expiresAt: 'next week' }));

    // Assess
    await expect(put).rejects.toThrow(/is invalid: expiresAt: /);
  });

  it('lists an integration\'s subscriptions, reporting items that do not parse', async () => {
    // Prepare
    const a = await store.put(subscription({ connectionId: 'conn-a' }));
    const b = await store.put(subscription({ connectionId: 'conn-b', resource: 'groups' }));
    await store.put(subscription({ integrationId: 'fabrikam' }));
    await doc.send(
      new PutCommand({ TableName: table, Item: { ...keys.subscription('contoso', 'hand-edited'), type: 'subscription', subscriptionId: 'hand-edited' } }),
    );

    // Act
    const all = await store.listByIntegration('contoso');

    // Assess
    expect(all.subscriptions.map((s) => s.subscriptionId).sort()).toEqual([a.subscriptionId, b.subscriptionId].sort());
    expect(all.invalidItems).toEqual([{ pk: 'INTEGRATION#contoso', sk: 'SUBSCRIPTION#hand-edited', reason: expect.stringContaining('connectionId') }]);
  });

  describe('by connection (the ByConnection index)', () => {
    it('lists one connection\'s records, never another connection\'s nor another integration\'s of the same id', async () => {
      // Prepare
      const mine = [await store.put(subscription({ connectionId: 'conn-a' })), await store.put(subscription({ connectionId: 'conn-a', resource: 'groups' }))];
      await store.put(subscription({ connectionId: 'conn-b' }));
      await store.put(subscription({ integrationId: 'fabrikam', connectionId: 'conn-a' }));

      // Act
      const listed = await store.listByConnection('contoso', 'conn-a');
      const none = await store.listByConnection('contoso', 'conn-z');

      // Assess
      expect(listed.subscriptions).toEqual(expect.arrayContaining(mine));
      expect(listed.subscriptions).toHaveLength(2);
      expect(listed.invalidItems).toEqual([]);
      expect(none).toEqual({ subscriptions: [], invalidItems: [] });
    });

    it('misses a record written before the index until setConnectionKey files it, and never files one deleted or moved meanwhile', async () => {
      // Prepare: items as an older version wrote them, without the index key
      const [old, gone, moved] = [subscription(), subscription({ resource: 'groups' }), subscription({ resource: 'users/abc/messages' })];
      for (const input of [old, gone, moved]) await unindex(await store.put(input));
      await store.delete('contoso', gone.subscriptionId);
      await doc.send(new PutCommand({ TableName: table, Item: { ...(await itemOf(moved)), connectionId: 'conn-2' } }));
      const before = await store.listByConnection('contoso', 'conn-1');

      // Act
      const filed = await Promise.all([old, gone, moved].map((input) => store.setConnectionKey('contoso', input.subscriptionId, 'conn-1')));

      // Assess
      expect(before.subscriptions).toEqual([]);
      expect(filed).toEqual([true, false, false]);
      expect((await store.listByConnection('contoso', 'conn-1')).subscriptions.map((r) => r.subscriptionId)).toEqual([old.subscriptionId]);
      expect(await itemOf(gone)).toBeUndefined();
    });

    it('reports an item whose index key names a connection that is not its own (an edit by hand)', async () => {
      // Prepare: connectionId changed in the console, the key left as it was
      const record = await store.put(subscription());
      await doc.send(new PutCommand({ TableName: table, Item: { ...(await itemOf(record)), connectionId: 'conn-2' } }));

      // Act
      const listed = await store.listByConnection('contoso', 'conn-1');

      // Assess
      expect(listed.subscriptions).toEqual([]);
      expect(listed.invalidItems).toEqual([{ pk: 'INTEGRATION#contoso', sk: `SUBSCRIPTION#${record.subscriptionId}`, reason: expect.stringContaining('filed under connection contoso#conn-1, which is not its own') }]);
    });

    it('pages through an integration\'s records, naming those the index misses', async () => {
      // Prepare: 5 records, 2 of them without their index key
      const ids = ['sub-1', 'sub-2', 'sub-3', 'sub-4', 'sub-5'];
      for (const subscriptionId of ids) await store.put(subscription({ subscriptionId }));
      for (const subscriptionId of ['sub-2', 'sub-5']) await unindex({ integrationId: 'contoso', subscriptionId });

      // Act
      const pages = [];
      let startKey: PageKey | undefined;
      do {
        const page = await store.listByIntegrationPage('contoso', { limit: 2, ...(startKey === undefined ? {} : { startKey }) });
        pages.push(page);
        startKey = page.nextKey;
      } while (startKey !== undefined);

      // Assess
      expect(pages.map((page) => page.subscriptions.map((r) => r.subscriptionId))).toEqual([['sub-1', 'sub-2'], ['sub-3', 'sub-4'], ['sub-5']]);
      expect(pages.flatMap((page) => page.unindexed)).toEqual([
        { subscriptionId: 'sub-2', connectionId: 'conn-1' },
        { subscriptionId: 'sub-5', connectionId: 'conn-1' },
      ]);
      expect(pages[0]?.nextKey).toEqual({ pk: 'INTEGRATION#contoso', sk: 'SUBSCRIPTION#sub-2' });
    });
  });

  it('deletes a record once', async () => {
    // Prepare
    const record = await store.put(subscription());

    // Act
    const first = await store.delete('contoso', record.subscriptionId);
    const second = await store.delete('contoso', record.subscriptionId);

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(await store.get('contoso', record.subscriptionId)).toBeUndefined();
  });

  describe('findDue', () => {
    it('finds only active subscriptions due at that moment, across shards, earliest first', async () => {
      // Prepare: created 2026-01-01; users live 29 days, so half-life is 14.5 days
      const due = [];
      for (const [i, shard] of RENEWAL_SHARDS.slice(0, 4).entries()) {
        due.push(await store.put(subscription({ subscriptionId: idInShard(shard), expiresAt: new Date(Date.parse('2026-01-11T00:00:00Z') + i * DAY).toISOString() })));
      }
      await store.put(subscription({ expiresAt: '2026-01-30T00:00:00.000Z' }));
      await store.put(subscription({ status: 'failed', expiresAt: '2026-01-02T00:00:00.000Z' }));

      // Act
      const found = await store.findDue(new Date('2026-01-10T00:00:00Z'), { limit: 100 });

      // Assess: renewAt of the four is Jan 6, 6.5, 7, 7.5; the fifth is due Jan 15
      expect(found.due).toEqual(due);
      expect(found.invalidItems).toEqual([]);
    });

    it('returns at most `limit`, the earliest due over all shards', async () => {
      // Prepare: three due in one shard, two in another, interleaved in time
      const [s0, s1] = [RENEWAL_SHARDS[0]!, RENEWAL_SHARDS[1]!];
      const expiries = [[s0, 2], [s1, 3], [s0, 4], [s1, 5], [s0, 6]] as const;
      const records = [];
      for (const [shard, days] of expiries) {
        records.push(await store.put(subscription({ subscriptionId: idInShard(shard), expiresAt: new Date(Date.parse('2026-01-01T00:00:00Z') + days * DAY).toISOString() })));
      }

      // Act
      const found = await store.findDue(new Date('2026-02-01T00:00:00Z'), { limit: 3 });
      const onlyShard1 = await store.findDue(new Date('2026-02-01T00:00:00Z'), { limit: 10, shards: [s1] });

      // Assess
      expect(found.due).toEqual(records.slice(0, 3));
      expect(onlyShard1.due).toEqual([records[1], records[3]]);
    });

    it('reports index items that do not parse and still fills the limit', async () => {
      // Prepare: hand-edited items in the index (unparsable, or no longer active) sort before the valid ones
      const shard = RENEWAL_SHARDS[2]!;
      const valid = [];
      for (const days of [3, 4]) {
        valid.push(await store.put(subscription({ subscriptionId: idInShard(shard), expiresAt: new Date(Date.parse('2026-01-01T00:00:00Z') + days * DAY).toISOString() })));
      }
      await doc.send(
        new PutCommand({
          TableName: table,
          Item: { ...keys.subscription('contoso', 'broken'), type: 'subscription', subscriptionId: 'broken', renewalShard: shard, renewAt: '2025-12-01T00:00:00.000Z' },
        }),
      );
      const stale = await store.put(subscription({ subscriptionId: idInShard(shard), expiresAt: '2026-01-02T00:00:00.000Z' }));
      const { Item } = await doc.send(new GetCommand({ TableName: table, Key: keys.subscription('contoso', stale.subscriptionId) }));
      await doc.send(new PutCommand({ TableName: table, Item: { ...Item, status: 'failed' } }));

      // Act
      const found = await store.findDue(new Date('2026-02-01T00:00:00Z'), { limit: 2, shards: [shard] });

      // Assess
      expect(found.due).toEqual(valid);
      expect(found.invalidItems).toEqual([
        { pk: 'INTEGRATION#contoso', sk: 'SUBSCRIPTION#broken', reason: expect.stringContaining('connectionId') },
        { pk: 'INTEGRATION#contoso', sk: `SUBSCRIPTION#${stale.subscriptionId}`, reason: 'status is "failed" but the item carries renewal index keys' },
      ]);
    });

    it('refuses a limit or shard it cannot honour', async () => {
      // Act
      const zero = store.findDue(new Date(), { limit: 0 });
      const unknown = store.findDue(new Date(), { limit: 1, shards: ['RENEWAL#99'] });

      // Assess
      await expect(zero).rejects.toThrow('findDue limit must be a positive integer, got 0');
      await expect(unknown).rejects.toThrow(/unknown renewal shard\(s\) RENEWAL#99: shards are RENEWAL#0, /);
    });
  });

  it('takes a subscription that needs consent out of renewal, keeping the error', async () => {
    // Prepare
    const record = await store.put(subscription({ expiresAt: '2026-01-02T00:00:00.000Z' }));
    time.set('2026-01-01T12:00:00.000Z');

    // Act
    const marked = await store.markNeedsConsent('contoso', record.subscriptionId, 'Graph 403 Forbidden: Insufficient privileges');

    // Assess
    expect(marked).toEqual({ ...record, status: 'needs-consent', lastError: 'Graph 403 Forbidden: Insufficient privileges', updatedAt: '2026-01-01T12:00:00.000Z' });
    expect((await store.findDue(new Date('2026-02-01T00:00:00Z'), { limit: 10 })).due).toEqual([]);
  });

  it('records a renewal: new expiry, active again, re-filed when half the new lifetime has passed', async () => {
    // Prepare
    const record = await store.put(subscription({ expiresAt: '2026-01-02T00:00:00.000Z' }));
    await store.markFailed('contoso', record.subscriptionId, 'Graph 500');
    time.set('2026-01-01T18:00:00.000Z');

    // Act
    const renewed = await store.recordRenewal('contoso', record.subscriptionId, '2026-01-30T18:00:00.000Z');

    // Assess
    expect(renewed).toEqual({
      ...record,
      expiresAt: '2026-01-30T18:00:00.000Z',
      status: 'active',
      lastRenewedAt: '2026-01-01T18:00:00.000Z',
      updatedAt: '2026-01-01T18:00:00.000Z',
    });
    expect((await store.findDue(new Date('2026-01-16T05:59:59Z'), { limit: 10 })).due).toEqual([]);
    expect((await store.findDue(new Date('2026-01-16T06:00:00Z'), { limit: 10 })).due).toEqual([renewed]);
  });

  it('never brings back a deleted record as a fragment', async () => {
    // Prepare
    const record = await store.put(subscription());
    await store.delete('contoso', record.subscriptionId);

    // Act
    const renewed = await store.recordRenewal('contoso', record.subscriptionId, '2026-02-01T00:00:00.000Z');
    const marked = await store.markNeedsConsent('contoso', record.subscriptionId, 'Graph 401');

    // Assess
    expect([renewed, marked]).toEqual([undefined, undefined]);
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: keys.subscription('contoso', record.subscriptionId) }));
    expect(Item).toBeUndefined();
  });
});

describe('connection items with declared subscriptions', () => {
  it('keeps reading connections whatever the declarations say, and routes one added beside them', async () => {
    // Prepare
    const names = await freshTables();
    const table = names.connectionsTable;
    const connections = new DynamoDbConnectionsStore(doc, table);
    await connections.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    const base = { type: 'connection', integrationId: 'contoso', tenantId: TENANT, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };
    const items = {
      listed: ['users:created,updated', 'not a declaration', 'planner/tasks:created'],
      'string-set': new Set(['users:deleted', 'groups:updated']),
      'wrong-type': 42,
    };
    for (const [connectionId, subscriptions] of Object.entries(items)) {
      await doc.send(new PutCommand({ TableName: table, Item: { ...keys.connection('contoso', connectionId), ...base, connectionId, subscriptions } }));
    }
    await connections.addConnection({ integrationId: 'contoso', connectionId: 'plain', tenantId: TENANT });

    // Act
    const routing = await routeThroughTable(doc, names, 'contoso', [changeNotification({ tenantId: TENANT })]);
    const listed = await connections.listConnections('contoso');

    // Assess
    // Connections written by hand reach the tenant route through the table's stream (the route index), not here.
    expect(routing.routes[0]).toContain('plain');
    expect(routing.invalidItems).toEqual([]);
    expect(Object.fromEntries(listed.connections.map((c) => [c.connectionId, c.subscriptions]))).toEqual({
      listed: ['users:created,updated', 'not a declaration', 'planner/tasks:created'],
      'string-set': ['groups:updated', 'users:deleted'],
      plain: [],
    });
    expect(listed.invalidItems).toEqual([
      { sk: 'CONNECTION#wrong-type', reason: 'subscriptions: subscriptions must be a list of strings such as "users:created,updated,deleted"' },
    ]);
  });
});

describe('ensureTables and the indexes', () => {
  // Its own DynamoDB Local, like `npm start`'s: with dozens of TTL tables from other suites in the shared one,
  // DynamoDB Local can leave an index added by UpdateTable in CREATING for over 30 s.
  let own: DynamoDbLocal;
  let dynamodb: DynamoDBClient;
  let doc: DynamoDBDocumentClient;

  beforeAll(async () => {
    own = await startDynamoDbLocal();
    dynamodb = new DynamoDBClient({ endpoint: own.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
    doc = DynamoDBDocumentClient.from(dynamodb);
  });

  afterAll(async () => {
    dynamodb.destroy();
    await own.stop();
  });

  it('adds the indexes to a connections table created before they existed, once', async () => {
    // Prepare: the table as earlier versions of `npm start` left it in the local data directory
    const names = { connectionsTable: 'connections-before-index', deliveriesTable: 'deliveries-before-index' };
    await dynamodb.send(
      new CreateTableCommand({
        TableName: names.connectionsTable,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const store = new DynamoDbSubscriptionsStore(doc, names.connectionsTable, () => new Date('2026-01-01T00:00:00Z'));
    const record = await store.put(subscription({ expiresAt: '2026-01-02T00:00:00.000Z' }));

    // Act
    await Promise.all([ensureTables(dynamodb, names), ensureTables(dynamodb, names)]);
    await ensureTables(dynamodb, names);

    // Assess
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: names.connectionsTable }));
    expect(Table?.GlobalSecondaryIndexes?.map((index) => ({ name: index.IndexName, keys: index.KeySchema, projection: index.Projection?.ProjectionType }))).toEqual([
      {
        name: RENEWAL_INDEX.indexName,
        keys: [
          { AttributeName: 'renewalShard', KeyType: 'HASH' },
          { AttributeName: 'renewAt', KeyType: 'RANGE' },
        ],
        projection: 'ALL',
      },
      {
        name: CONNECTION_INDEX.indexName,
        keys: [
          { AttributeName: 'connectionKey', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        projection: 'ALL',
      },
    ]);
    expect((await store.findDue(new Date('2026-01-02T00:00:00Z'), { limit: 5 })).due).toEqual([record]);
    expect((await store.listByConnection('contoso', 'conn-1')).subscriptions).toEqual([record]);
  });
});
