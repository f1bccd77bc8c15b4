/**
 * DynamoDbRefusalStore against DynamoDB Local: reports of one bucket and day add up in one item, and `recent` reads
 * back only the buckets and days asked for, in one round however many keys that is.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import type { RefusalReport } from '../../shared/intake/refusal-tally';
import { DynamoDbRefusalStore, refusalKey } from '../../shared/store/refusal-store';

const suffix = randomUUID().slice(0, 8);
const TABLES = { connectionsTable: `refusals-connections-${suffix}`, deliveriesTable: `refusals-deliveries-${suffix}` };
const NOW = new Date('2026-12-05T09:30:00.000Z');
const DAY_SECONDS = 86_400;

let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;

function endpoint(): string {
  const value = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (value === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  return value;
}

function report(fields: Partial<RefusalReport> & Pick<RefusalReport, 'bucket'>): RefusalReport {
  return { requests: 1, items: 1, reasons: { 'clientstate-mismatch': 1 }, sampleIds: [], firstAt: NOW.toISOString(), lastAt: NOW.toISOString(), ...fields };
}

/** The DocumentClient with its BatchGetItem calls counted. */
function countingClient(): { client: DynamoDBDocumentClient; batchGets: () => number } {
  let batchGets = 0;
  const client = {
    send: (command: BatchGetCommand) => {
      if (command instanceof BatchGetCommand) batchGets += 1;
      return doc.send(command);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, batchGets: () => batchGets };
}

beforeAll(async () => {
  dynamodb = new DynamoDBClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS, endpoint: endpoint() });
  doc = DynamoDBDocumentClient.from(dynamodb);
  await ensureTables(dynamodb, TABLES);
});

afterAll(async () => {
  for (const table of Object.values(TABLES)) await dynamodb?.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
  dynamodb?.destroy();
});

describe('DynamoDbRefusalStore', () => {
  it('adds up two reports of one bucket and day: requests, items and each reason; lastAt is the later one', async () => {
    // Prepare
    const store = new DynamoDbRefusalStore(doc, TABLES.deliveriesTable);
    const bucket = `add-${randomUUID().slice(0, 8)}`;
    await store.record(report({ bucket, requests: 2, items: 5, reasons: { 'clientstate-mismatch': 2 }, lastAt: '2026-12-05T08:00:00.000Z' }));

    // Act
    await store.record(report({ bucket, requests: 3, items: 4, reasons: { 'clientstate-mismatch': 1, 'no-webhook-secret': 2 }, lastAt: '2026-12-05T09:00:00.000Z' }));
    const days = await store.recent([bucket], 1, NOW);

    // Assess
    expect(days).toEqual([
      {
        bucket,
        day: '2026-12-05',
        requests: 5,
        items: 9,
        reasons: { 'clientstate-mismatch': 3, 'no-webhook-secret': 2 },
        sampleIds: [],
        lastAt: '2026-12-05T09:00:00.000Z',
      },
    ]);
  });

  it('stores under refusals#<day>#<bucket>, with reserved words as attribute names and an expiry a week after the day', async () => {
    // Prepare
    const store = new DynamoDbRefusalStore(doc, TABLES.deliveriesTable);

    // Act
    await store.record(report({ bucket: '(unknown)', reasons: { 'unknown-integration': 1 }, sampleIds: ['wp-admin'], lastAt: '2026-11-30T23:59:59.000Z' }));
    const { Item } = await doc.send(new GetCommand({ TableName: TABLES.deliveriesTable, Key: { idempotencyKey: refusalKey('(unknown)', '2026-11-30') } }));

    // Assess
    expect(Item).toMatchObject({
      idempotencyKey: 'refusals#2026-11-30#(unknown)',
      bucket: '(unknown)',
      day: '2026-11-30',
      requests: 1,
      items: 1,
      reason_unknown_integration: 1,
      sampleIds: ['wp-admin'],
      expiresAt: Date.parse('2026-11-30T00:00:00Z') / 1000 + 8 * DAY_SECONDS,
    });
  });

  it('returns only the buckets and the days asked for: today and yesterday, UTC', async () => {
    // Prepare
    const store = new DynamoDbRefusalStore(doc, TABLES.deliveriesTable);
    const asked = `asked-${randomUUID().slice(0, 8)}`;
    const other = `other-${randomUUID().slice(0, 8)}`;
    await store.record(report({ bucket: asked, lastAt: '2026-12-05T00:00:00.000Z' }));
    await store.record(report({ bucket: asked, lastAt: '2026-12-04T23:59:59.999Z' }));
    await store.record(report({ bucket: asked, lastAt: '2026-12-03T12:00:00.000Z' }));
    await store.record(report({ bucket: asked, lastAt: '2026-12-06T00:00:01.000Z' }));
    await store.record(report({ bucket: other, lastAt: '2026-12-05T09:00:00.000Z' }));

    // Act
    const days = await store.recent([asked], 2, NOW);

    // Assess
    expect(days.map((d) => `${d.bucket} ${d.day}`).sort()).toEqual([`${asked} 2026-12-04`, `${asked} 2026-12-05`]);
  });

  it('reads many buckets in one round, and makes no call for none', async () => {
    // Prepare
    const seed = new DynamoDbRefusalStore(doc, TABLES.deliveriesTable);
    const buckets = Array.from({ length: 60 }, (_, i) => `many-${suffix}-${i}`);
    await Promise.all(buckets.map((bucket) => seed.record(report({ bucket }))));
    const counting = countingClient();
    const store = new DynamoDbRefusalStore(counting.client, TABLES.deliveriesTable);

    // Act
    const days = await store.recent(buckets, 2, NOW);
    const callsForMany = counting.batchGets();
    const none = await store.recent([], 2, NOW);

    // Assess: 120 keys, over DynamoDB's 100 per BatchGetItem, in two concurrent calls
    expect(days).toHaveLength(60);
    expect(new Set(days.map((d) => d.bucket))).toEqual(new Set(buckets));
    expect(callsForMany).toBe(2);
    expect(none).toEqual([]);
    expect(counting.batchGets()).toBe(callsForMany);
  });
});
