/**
 * The Graph writer lease on DynamoDB Local: two regions (two lease instances of different region names over one
 * connections table, the global table's stand-in) heartbeat at the same instants, racing on the conditional writes.
 * Exactly one holds the lease at any time; when the holder stops, the other takes over at its expiry plus the grace
 * (on its first heartbeat after), and the old holder's fenced Graph client sends nothing past its expiry.
 *
 * Time is the heartbeats' own (`now` is given to each), so the run checks the rule at every instant without waiting.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { GraphClient } from '../../shared/graph/graph-client';
import { DynamoDbHandoffStore, DynamoDbWriterLeaseStore } from '../../shared/leadership/dynamodb-leadership-store';
import { fenceBudgetMs, fencedFetch, LeaseWriterGate, WriterLeaseLostError } from '../../shared/leadership/writer-gate';
import { WriterLease, WRITER_LEASE_KEY, type HeartbeatResult } from '../../shared/leadership/writer-lease';
import { StoreDataError } from '../../shared/store/store-data-error';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const SETTINGS = { ttlSeconds: 6, graceSeconds: 2 };
const HEARTBEAT_MS = 1_000;
const REGIONS = ['eu-west-1', 'us-east-1'] as const;
type Region = (typeof REGIONS)[number];

let dynamodb: DynamoDBClient;
let documents: DynamoDBDocumentClient;
const tables: string[] = [];

beforeAll(() => {
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  dynamodb = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  documents = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
});

afterAll(async () => {
  for (const table of tables) await dynamodb.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
  dynamodb?.destroy();
});

async function newTable(): Promise<string> {
  const suffix = randomUUID().slice(0, 8);
  const names = { connectionsTable: `lease-connections-${suffix}`, deliveriesTable: `lease-deliveries-${suffix}` };
  await ensureTables(dynamodb, names);
  tables.push(names.connectionsTable, names.deliveriesTable);
  return names.connectionsTable;
}

/** One region: its own lease instance and store over the shared table, and a Graph client fenced by its gate. */
function region(name: Region, table: string, clock: { now: number }) {
  const lease = new WriterLease(new DynamoDbWriterLeaseStore(documents, table), SETTINGS);
  const gate = new LeaseWriterGate(lease, name, () => clock.now);
  const sent: number[] = [];
  const refused: number[] = [];
  const graph = new GraphClient({
    config: { apiUrl: 'https://graph.example.test' },
    tokens: { getToken: async () => 'token', invalidate: () => undefined } as unknown as ConstructorParameters<typeof GraphClient>[0]['tokens'],
    fetch: fencedFetch(gate, {
      apiUrl: 'https://graph.example.test',
      budgetMs: fenceBudgetMs(SETTINGS.ttlSeconds),
      now: () => clock.now,
      fetch: async () => {
        sent.push(clock.now);
        return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
      },
    }),
    clock: { now: () => clock.now, sleep: async () => undefined },
  });
  /** One Graph write (a renewal's PATCH), recording whether it was sent. */
  const write = async () => {
    try {
      await graph.request({ method: 'PATCH', path: '/subscriptions/sub-1', tenantId: 't-1', body: { expirationDateTime: new Date(clock.now).toISOString() } });
    } catch (error) {
      if (!(error instanceof WriterLeaseLostError)) throw error;
      refused.push(clock.now);
    }
  };
  return { name, lease, gate, sent, refused, write, heartbeat: () => lease.heartbeat(name, clock.now) };
}

describe('writer lease on DynamoDB Local', () => {
  it('has exactly one holder at every heartbeat of two regions racing for it; a takeover comes at expiry + grace, and the old holder writes nothing to Graph after its expiry', async () => {
    // Prepare
    const table = await newTable();
    const clock = { now: T0 };
    const regions = REGIONS.map((name) => region(name, table, clock));
    const holding = new Map<Region, { from: number; until: number }[]>(REGIONS.map((name) => [name, []]));
    const record = (name: Region, result: HeartbeatResult) => {
      if (result.outcome !== 'held-by-other') holding.get(name)?.push({ from: clock.now, until: result.lease.expiresAtMs });
    };

    // Act 1: 20 heartbeats of both at the same instants (the first one a race for an absent item)
    const holders: string[] = [];
    for (let tick = 0; tick < 20; tick += 1) {
      const results = await Promise.all(regions.map((r) => r.heartbeat()));
      results.forEach((result, i) => record(REGIONS[i] as Region, result));
      holders.push(results.filter((result) => result.outcome !== 'held-by-other').length === 1 ? 'one' : 'not one');
      await Promise.all(regions.map((r) => r.write()));
      clock.now += HEARTBEAT_MS;
    }

    // Assess 1: exactly one region renewed or acquired at each instant, always the same one
    expect(holders).toEqual(Array(20).fill('one'));
    const [first, second] = regions.map((r) => holding.get(r.name) ?? []);
    const holder = (first?.length ?? 0) > 0 ? regions[0] : regions[1];
    const other = holder === regions[0] ? regions[1] : regions[0];
    if (holder === undefined || other === undefined) throw new Error('no regions');
    expect([first?.length, second?.length].sort()).toEqual([0, 20]);
    expect(other.sent).toEqual([]);
    expect(holder.sent).toHaveLength(20);

    // Act 2: the holder stops heartbeating (a regional outage), but its functions go on trying to write to Graph
    const expiry = (await holder.lease.read())?.expiresAtMs ?? 0;
    let takeoverAt: number | undefined;
    while (takeoverAt === undefined) {
      const result = await other.heartbeat();
      record(other.name, result);
      if (result.outcome === 'acquired') {
        takeoverAt = clock.now;
        expect(result).toMatchObject({ takeover: true, previousHolder: holder.name, lease: { holder: other.name, epoch: 2 } });
      }
      await Promise.all([holder.write(), other.write()]);
      clock.now += HEARTBEAT_MS;
    }
    for (let tick = 0; tick < 5; tick += 1) {
      await Promise.all([holder.write(), other.heartbeat().then((result) => record(other.name, result)), other.write()]);
      clock.now += HEARTBEAT_MS;
    }

    // Assess 2: the takeover on the first heartbeat past expiry + grace; no Graph write of the old holder after its
    // expiry (nor one that could still be running then); the holding intervals of the two never overlap
    const graceEnd = expiry + SETTINGS.graceSeconds * 1000;
    expect(takeoverAt).toBeGreaterThan(graceEnd);
    expect(takeoverAt - HEARTBEAT_MS).toBeLessThanOrEqual(graceEnd);
    expect(holder.sent.filter((at) => at + fenceBudgetMs(SETTINGS.ttlSeconds) >= expiry)).toEqual([]);
    expect(holder.refused.length).toBeGreaterThan(0);
    expect(other.sent.every((at) => at >= takeoverAt)).toBe(true);
    expect(other.sent.length).toBeGreaterThan(0);
    const oldIntervals = holding.get(holder.name) ?? [];
    const newIntervals = holding.get(other.name) ?? [];
    for (const late of newIntervals) for (const early of oldIntervals) expect(late.from).toBeGreaterThan(early.until);
    const item = await documents.send(new GetCommand({ TableName: table, Key: WRITER_LEASE_KEY, ConsistentRead: true }));
    expect(item.Item).toMatchObject({ holder: other.name, epoch: 2, expiresAt: expect.stringMatching(/^2026-12-01T10:00:\d\d\.000Z$/) });
  });

  it('refuses a malformed lease item with a clear error naming the item', async () => {
    // Prepare
    const table = await newTable();
    await documents.send(new PutCommand({ TableName: table, Item: { ...WRITER_LEASE_KEY, holder: 'eu-west-1', epoch: 'one' } }));

    // Act
    const heartbeat = new WriterLease(new DynamoDbWriterLeaseStore(documents, table), SETTINGS).heartbeat('eu-west-1', T0);

    // Assess
    await expect(heartbeat).rejects.toBeInstanceOf(StoreDataError);
    await expect(new WriterLease(new DynamoDbWriterLeaseStore(documents, table), SETTINGS).read()).rejects.toThrow(/writer lease item LEASE \/ GRAPH_WRITER is invalid: epoch/);
  });

  it('keeps hand-offs as HANDOFF / <kind>#<id> with a ttl a week on, lists them and deletes them', async () => {
    // Prepare
    const table = await newTable();
    const store = new DynamoDbHandoffStore(documents, table, () => T0);

    // Act
    await store.put({ kind: 'lifecycle', id: 'event-1', payload: '{"id":"event-1"}', fromRegion: 'eu-west-1' });
    await store.put({ kind: 'resync', id: 'message-1', payload: '{"job":1}', fromRegion: 'eu-west-1' });
    const listed = await store.list(10);
    const raw = await documents.send(new GetCommand({ TableName: table, Key: { pk: 'HANDOFF', sk: 'lifecycle#event-1' } }));
    await store.delete({ kind: 'lifecycle', id: 'event-1', createdAt: new Date(T0).toISOString() });
    const after = await store.list(10);

    // Assess
    expect(listed.handoffs.map((h) => `${h.kind}#${h.id}`)).toEqual(['lifecycle#event-1', 'resync#message-1']);
    expect(raw.Item).toMatchObject({ createdAt: new Date(T0).toISOString(), fromRegion: 'eu-west-1', ttl: Math.floor(T0 / 1000) + 7 * 24 * 3600 });
    expect(after.handoffs.map((h) => h.id)).toEqual(['message-1']);
  });

  it('keeps a hand-off stored again after it was listed: the delivered copy is deleted, the new one is not', async () => {
    // Prepare: listed by the writer, then handed off anew (the writer's lifecycle function lost the lease meanwhile)
    const table = await newTable();
    let now = T0;
    const store = new DynamoDbHandoffStore(documents, table, () => now);
    await store.put({ kind: 'lifecycle', id: 'event-2', payload: '{"id":"event-2"}', fromRegion: 'eu-west-1' });
    const [listed] = (await store.list(10)).handoffs;
    now = T0 + 1_000;
    await store.put({ kind: 'lifecycle', id: 'event-2', payload: '{"id":"event-2"}', fromRegion: 'eu-central-1' });

    // Act
    await store.delete(listed!);

    // Assess
    expect((await store.list(10)).handoffs).toEqual([expect.objectContaining({ id: 'event-2', fromRegion: 'eu-central-1', createdAt: new Date(T0 + 1_000).toISOString() })]);
  });
});
