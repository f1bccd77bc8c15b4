/**
 * Two `npm start`s as the two regions of a multi-region stage: each with its own data directory, emulator, region
 * (GRAPH_RELAY_REGION) and deliveries table (GRAPH_RELAY_DELIVERIES_TABLE), both on one DynamoDB Local
 * (GRAPH_RELAY_DYNAMODB_ENDPOINT) whose connections table stands for the global table, with the writer lease on and
 * heartbeats every second. One holds the lease while both run; when it stops, the other takes over once the lease is
 * past its expiry and the grace.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local';
import { WRITER_LEASE_KEY } from '../../shared/leadership/writer-lease';
import { startNpmStart, type NpmStartStack } from '../../testkit/npm-start';

const LEASE = { heartbeatSeconds: 1, ttlSeconds: 3, graceSeconds: 1 };
const BASE_ENV = { ...process.env };

let dynamodb: DynamoDbLocal;
let documents: DynamoDBDocumentClient;
const stacks: NpmStartStack[] = [];
const dataDirs: string[] = [];
const output: string[] = [];

beforeAll(async () => {
  // Its own DynamoDB Local: the stacks use the default table names, which other suites' stacks may use too.
  dynamodb = await startDynamoDbLocal();
  documents = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: dynamodb.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS }));
});

afterAll(async () => {
  for (const stack of stacks) await stack.stop();
  documents?.destroy();
  await dynamodb?.stop();
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

async function startRegion(region: string): Promise<NpmStartStack> {
  const dataDir = await mkdtemp(join(tmpdir(), `graph-relay-${region}-`));
  dataDirs.push(dataDir);
  const stack = await startNpmStart({
    dataDir,
    dynamodbEndpoint: dynamodb.endpoint,
    baseEnv: BASE_ENV,
    log: (line) => output.push(`${region}: ${line}`),
    settings: {
      GRAPH_RELAY_REGION: region,
      GRAPH_RELAY_WRITER_LEASE: 'on',
      GRAPH_RELAY_LEASE_HEARTBEAT_SECONDS: String(LEASE.heartbeatSeconds),
      GRAPH_RELAY_WRITER_LEASE_TTL_SECONDS: String(LEASE.ttlSeconds),
      GRAPH_RELAY_WRITER_LEASE_GRACE_SECONDS: String(LEASE.graceSeconds),
      GRAPH_RELAY_DELIVERIES_TABLE: `graph-relay-local-deliveries-${region}`,
      // No scheduled runs against Graph: the lease is what is under test.
      GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS: '0',
      GRAPH_RELAY_CONNECTIONS_STREAM: 'false',
    },
  });
  stacks.push(stack);
  return stack;
}

interface LeaseSample {
  holder: string;
  epoch: number;
  acquiredAt: string;
  expiresAtMs: number;
}

async function lease(): Promise<LeaseSample | undefined> {
  const { Item } = await documents.send(new GetCommand({ TableName: 'graph-relay-local-connections', Key: WRITER_LEASE_KEY, ConsistentRead: true }));
  return Item as LeaseSample | undefined;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('two npm starts sharing one DynamoDB Local', () => {
  it('have one writer while both run, and the other takes over at expiry + grace once the writer stops', async () => {
    // Prepare: eu-west-1 first (its first heartbeat takes the lease before it reports started), then us-east-1
    const first = await startRegion('eu-west-1');
    const second = await startRegion('us-east-1');

    // Act 1: both heartbeat, every second, for a few TTLs
    const samples: LeaseSample[] = [];
    for (let i = 0; i < 30; i += 1) {
      const sample = await lease();
      if (sample !== undefined) samples.push(sample);
      await pause(250);
    }

    // Assess 1: the same holder and epoch throughout, renewed as it goes; each stack reports its region and lease
    expect(first.descriptor).toMatchObject({ region: 'eu-west-1', writerLease: 'on', deliveriesTable: 'graph-relay-local-deliveries-eu-west-1', connectionsTable: 'graph-relay-local-connections' });
    expect(second.descriptor).toMatchObject({ region: 'us-east-1', writerLease: 'on', deliveriesTable: 'graph-relay-local-deliveries-us-east-1', connectionsTable: 'graph-relay-local-connections' });
    expect(samples).toHaveLength(30);
    expect(new Set(samples.map((s) => `${s.holder} ${s.epoch}`))).toEqual(new Set(['eu-west-1 1']));
    expect(new Set(samples.map((s) => s.expiresAtMs)).size).toBeGreaterThan(1);

    // Act 2: the writer stops (its last renewal, seen by polling throughout, is the lease's last expiry)
    const stopped = first.stop();
    let last = await lease();
    let now = last;
    while (now?.holder === 'eu-west-1') {
      last = now;
      await pause(100);
      now = await lease();
    }
    await stopped;

    // Assess 2
    expect(last).toMatchObject({ holder: 'eu-west-1', epoch: 1 });
    expect(now).toMatchObject({ holder: 'us-east-1', epoch: 2 });
    expect(Date.parse(now?.acquiredAt ?? '')).toBeGreaterThan((last?.expiresAtMs ?? Infinity) + LEASE.graceSeconds * 1000);
    expect(second.running()).toBe(true);
  });
});
