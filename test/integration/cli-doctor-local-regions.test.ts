/**
 * `graph-relay --local doctor --json` against the real local stack run as one region of two (writer lease on): the
 * region's own `/health` answered by the stack's intake, and the lease its heartbeat holds in the connections table,
 * checked right after the renewal schedule.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { WRITER_LEASE_KEY } from '../../shared/leadership/writer-lease';
import { startTestStack, type TestStack } from '../support/test-stack';
import { runCli } from '../support/cli-process';

const REGION = 'eu-west-1';

let t: TestStack;
let dynamodb: DynamoDBClient;

beforeAll(async () => {
  // A long TTL: the lease is held, not about to expire, whatever the test's pace.
  t = await startTestStack({ region: REGION, renewal: { intervalSeconds: 3600 }, writerLease: { heartbeatSeconds: 3600, ttlSeconds: 600, graceSeconds: 60 } });
  const d = t.stack.descriptor;
  dynamodb = new DynamoDBClient({ region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.dynamodbEndpoint });
});

afterAll(async () => {
  dynamodb?.destroy();
  await t?.stop();
});

interface JsonCheck {
  check: string;
  ok: boolean;
  warning?: boolean;
  detail: string;
}

describe('graph-relay --local doctor with the writer lease on', () => {
  it('shows the region ✓ with /health ok and the lease held by that region, after the renewal schedule', async () => {
    // Prepare: a webhook-only integration, so nothing else fails; the heartbeat has taken the lease before doctor reads it.
    await t.seedIntegration({ integrationId: 'contoso' });
    await t.stack.writerLease?.runNow();

    // Act
    const result = await runCli(['--local', 'doctor', '--json'], { GRAPH_RELAY_DATA_DIR: t.dataDir });

    // Assess
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { healthy, checks } = JSON.parse(result.stdout) as { healthy: boolean; checks: JsonCheck[] };
    expect(healthy).toBe(true);
    expect(checks.slice(0, 5).map((c) => [c.check, c.ok])).toEqual([
      ['renewal schedule', true],
      [`region ${REGION} (local)`, true],
      ['Graph writer lease', true],
      ['connections table replication', true],
      ['webhook handshake contoso', true],
    ]);
    expect(checks[1]).toMatchObject({ detail: '/health ok (table, secret, bus)' });
    expect(checks[1]?.warning).toBeUndefined();
    expect(checks[2]?.detail).toMatch(new RegExp(`^held by ${REGION} \\(epoch \\d+\\), renewed \\d+ s ago, expires in \\d+ s$`));
    expect(checks[2]?.warning).toBeUndefined();
    expect(checks[3]?.detail).toBe('one DynamoDB Local stands in for the global table: nothing is replicated');
  });

  it('fails doctor (exit 1) when the lease is past its expiry and the grace: no region writes to Graph', async () => {
    // Prepare: another region's lease, as its heartbeat wrote it, expired five minutes ago.
    const expiresAtMs = Date.now() - 300_000;
    const renewedAt = new Date(expiresAtMs - 180_000).toISOString();
    await DynamoDBDocumentClient.from(dynamodb).send(
      new PutCommand({
        TableName: t.stack.descriptor.connectionsTable,
        Item: { ...WRITER_LEASE_KEY, type: 'writer-lease', holder: 'us-east-1', epoch: 99, acquiredAt: renewedAt, renewedAt, expiresAt: new Date(expiresAtMs).toISOString(), expiresAtMs },
      }),
    );

    // Act
    const result = await runCli(['--local', 'doctor', '--json'], { GRAPH_RELAY_DATA_DIR: t.dataDir });

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^graph-relay: 1 of \d+ checks failed\n$/);
    const { healthy, checks } = JSON.parse(result.stdout) as { healthy: boolean; checks: JsonCheck[] };
    expect(healthy).toBe(false);
    expect(checks.filter((c) => !c.ok)).toEqual([
      expect.objectContaining({ check: 'Graph writer lease', detail: expect.stringMatching(/^expired 30\d s ago \(was held by us-east-1 \(epoch 99\), renewed 48\d s ago\): no region writes to Graph/) }),
    ]);
  });
});
