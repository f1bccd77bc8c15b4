/**
 * `graph-relay --local doctor` against the real local stack (its intake answering the validation handshake,
 * DynamoDB Local, the Secrets Manager emulator), in process through `run` with the real SDK ports, and once as the
 * real process. Each case gets its own connections table, deliveries table and secret prefix (a descriptor of its
 * own pointing at them), so its exit code reflects only what it seeded. Refused requests are posted to the stack's
 * own intake, and doctor reads them with the stack's own descriptor. App credentials are proven by a token from the
 * Graph fake's identity platform, the login URL the local stack and the CLI are both given (GRAPH_LOGIN_URL).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { sdkPorts } from '../../cli/context';
import { run } from '../../cli/main';
import { LOCAL_CREDENTIALS, writeLocalStackDescriptor, type LocalStackDescriptor } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbRefusalStore } from '../../shared/store/refusal-store';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { notification } from '../../testkit/notification';
import { startTestStack, type TestStack } from '../support/test-stack';
import { runCli, type CliResult } from '../support/cli-process';

const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const CLIENT_ID = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const CLIENT_SECRET = 'Abc8Q~very.secret_value-1234567890abcdefgh';
const WEBHOOK_SECRET = 'doctor-webhook-secret-0123456789';
const HOUR = 3_600_000;

let t: TestStack;
let fake: GraphFake;
let dynamodb: DynamoDBClient;
let secretsManager: SecretsManagerClient;
const tables: string[] = [];
const dirs: string[] = [];

/** The CLI's own environment, as in-process runs read it. */
const graphEnv: Record<string, string | undefined> = {};

beforeAll(async () => {
  fake = await startGraphFake({ apps: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }] });
  t = await startTestStack({ graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  for (const [name, value] of Object.entries({ GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl })) {
    graphEnv[name] = process.env[name];
    process.env[name] = value;
  }
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  const clientConfig = { region: t.stack.descriptor.region, credentials: LOCAL_CREDENTIALS };
  dynamodb = new DynamoDBClient({ ...clientConfig, endpoint });
  secretsManager = new SecretsManagerClient({ ...clientConfig, endpoint: t.stack.descriptor.awsEmulatorEndpoint });
});

afterAll(async () => {
  for (const table of tables) {
    await dynamodb?.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    await dynamodb?.send(new DeleteTableCommand({ TableName: `${table}-deliveries` })).catch(() => undefined);
  }
  dynamodb?.destroy();
  secretsManager?.destroy();
  await t?.stop();
  await fake?.close();
  for (const [name, value] of Object.entries(graphEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

interface Case {
  dataDir: string;
  prefix: string;
  deliveriesTable: string;
  connections: DynamoDbConnectionsStore;
  subscriptions: DynamoDbSubscriptionsStore;
  putSecret(integrationId: string, value: Record<string, unknown>): Promise<void>;
}

/** A table, a secret prefix and a descriptor of their own; the stack's descriptor otherwise, with `changes`. */
async function newCase(changes: Partial<LocalStackDescriptor> = {}): Promise<Case> {
  const suffix = randomUUID().slice(0, 8);
  const table = `doctor-${suffix}`;
  tables.push(table);
  await ensureTables(dynamodb, { connectionsTable: table, deliveriesTable: `${table}-deliveries` });
  const prefix = `graph-relay/doctor-${suffix}/`;
  const dataDir = await mkdtemp(join(tmpdir(), 'graph-relay-doctor-'));
  dirs.push(dataDir);
  const deliveriesTable = `${table}-deliveries`;
  await writeLocalStackDescriptor(dataDir, { ...t.stack.descriptor, renewalIntervalSeconds: 900, connectionsTable: table, deliveriesTable, webhookSecretPrefix: prefix, ...changes });
  const documents = DynamoDBDocumentClient.from(dynamodb);
  return {
    dataDir,
    prefix,
    deliveriesTable,
    connections: new DynamoDbConnectionsStore(documents, table),
    subscriptions: new DynamoDbSubscriptionsStore(documents, table),
    putSecret: async (integrationId, value) => {
      await secretsManager.send(new CreateSecretCommand({ Name: `${prefix}${integrationId}`, SecretString: JSON.stringify(value) }));
    },
  };
}

/** An integration with everything healthy: secret, app credentials, a certificate, an active connection and its declared subscription. */
async function seedHealthy(c: Case, integrationId: string): Promise<void> {
  const certificate = createSelfSignedCertificate({ commonName: `graph-relay ${integrationId}` });
  await c.connections.putIntegration({ integrationId, provider: 'microsoft-oauth2-cc' });
  await c.putSecret(integrationId, {
    webhookSecret: WEBHOOK_SECRET,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    encryptionCertificates: { 'enc-1': { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem } },
  });
  await c.connections.addConnection({ integrationId, connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created,updated'] });
  await c.subscriptions.put(subscription(integrationId, { expiresAt: new Date(Date.now() + 48 * HOUR).toISOString() }));
}

function subscription(integrationId: string, fields: { expiresAt: string; subscriptionId?: string; createdAt?: string }) {
  return {
    integrationId,
    subscriptionId: fields.subscriptionId ?? randomUUID(),
    connectionId: 'conn-1',
    tenantId: TENANT,
    resource: 'users',
    changeTypes: ['created' as const, 'updated' as const],
    expiresAt: fields.expiresAt,
    status: 'active' as const,
    createdAt: fields.createdAt ?? new Date(Date.now() - 24 * HOUR).toISOString(),
  };
}

async function doctor(c: Pick<Case, 'dataDir'>, ...flags: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  return cli(c, 'doctor', ...flags);
}

/** A command of the CLI in process against the case's descriptor, e.g. `cli(c, 'reconcile')`. */
async function cli(c: Pick<Case, 'dataDir'>, ...args: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const previous = process.env['GRAPH_RELAY_DATA_DIR'];
  process.env['GRAPH_RELAY_DATA_DIR'] = c.dataDir;
  try {
    const code = await run(['--local', ...args], {
      output: { out: (line) => stdout.push(...line.split('\n')), err: (line) => stderr.push(line) },
      ports: sdkPorts,
      interrupt: () => new AbortController().signal,
    });
    return { code, stdout, stderr };
  } finally {
    if (previous === undefined) delete process.env['GRAPH_RELAY_DATA_DIR'];
    else process.env['GRAPH_RELAY_DATA_DIR'] = previous;
  }
}

function failed(lines: string[]): string[] {
  return lines.filter((line) => line.startsWith('✗'));
}

function warned(lines: string[]): string[] {
  return lines.filter((line) => line.startsWith('⚠'));
}

const NO_REFUSALS = 'none in the last 2 days (UTC)';

describe('graph-relay --local doctor', () => {
  it('passes every check of a healthy stack and reports the handshake latency', async () => {
    // Prepare
    const c = await newCase();
    await seedHealthy(c, 'contoso');

    // Act
    const result = await doctor(c);

    // Assess
    expect(result.stderr).toEqual([]);
    expect(result.code).toBe(0);
    expect(failed(result.stdout)).toEqual([]);
    expect(result.stdout).toEqual([
      '✓ renewal schedule: the local stack renews every 900 s',
      expect.stringMatching(/^✓ webhook handshake contoso: 200 text\/plain, the validation token echoed exactly \(\d+ ms\)$/),
      `✓ secret contoso: secret ${c.prefix}contoso holds a webhook secret`,
      `✓ app credentials contoso: client secret: ${fake.loginUrl} issued a token for tenant ${TENANT}`,
      expect.stringMatching(/^✓ encryption certificate contoso\/enc-1 \(current\): valid until \d{4}-/),
      '✓ connections contoso: 1 active',
      expect.stringMatching(/^✓ subscriptions contoso: 1 declared, each with a subscription; 1 active, the earliest expires \d{4}-/),
      // The seeded record predates per-tenant values (no clientStateKey): the plain secret, accepted by default
      "✓ clientState contoso: 0 subscriptions with their tenant's own value, 1 with the plain secret (accepted)",
      `✓ refused webhook requests contoso: ${NO_REFUSALS}`,
      `✓ refused webhook requests to unknown integrations: ${NO_REFUSALS}`,
    ]);
    expect(result.stdout.join('\n')).not.toContain(CLIENT_SECRET);
    expect(result.stdout.join('\n')).not.toContain(WEBHOOK_SECRET);
  });

  it('prints the checks as JSON with --json, as the real process, exit code 0', async () => {
    // Prepare
    const c = await newCase();
    await seedHealthy(c, 'fabrikam');

    // Act
    const result = await cliProcess(c.dataDir, ['--local', 'doctor', '--json']);

    // Assess
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { healthy: boolean; checks: { check: string; ok: boolean; latencyMs?: number }[] };
    expect(report.healthy).toBe(true);
    expect(report.checks.find((check) => check.check === 'webhook handshake fabrikam')).toEqual(expect.objectContaining({ ok: true, latencyMs: expect.any(Number) }));
  });

  it('fails when the webhook does not answer', async () => {
    // Prepare: a port nothing listens on
    const closed = await listenThenClose();
    const c = await newCase({ webhookBaseUrl: `${closed}/webhook/` });
    await seedHealthy(c, 'contoso');

    // Act
    const result = await doctor(c);

    // Assess
    expect(result.code).toBe(1);
    expect(failed(result.stdout)).toEqual([expect.stringMatching(/^✗ webhook handshake contoso: POST http:\/\/127\.0\.0\.1:\d+\/webhook\/contoso got no answer: .* — fix: start the local stack: npm start$/)]);
    expect(result.stderr).toEqual(['graph-relay: 1 of 10 checks failed']);
  });

  it('fails when the webhook echoes the token wrongly (still URL-encoded) or answers JSON', async () => {
    // Prepare: answers with the raw, still-encoded query value
    const wrong = await startServer((query, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(/validationToken=([^&]*)/.exec(query)?.[1] ?? '');
    });
    const json = await startServer((_query, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const c = await newCase({ webhookBaseUrl: `${wrong.url}/webhook/` });
    await seedHealthy(c, 'contoso');
    const d = await newCase({ webhookBaseUrl: `${json.url}/webhook/` });
    await seedHealthy(d, 'contoso');

    try {
      // Act
      const echoed = await doctor(c);
      const jsonAnswer = await doctor(d);

      // Assess
      expect(echoed.code).toBe(1);
      expect(failed(echoed.stdout)).toEqual([
        expect.stringMatching(/^✗ webhook handshake contoso: the body was "Validation%3A\+graph-relay.*", not the validation token sent \(\d+ ms\) — fix: see TROUBLESHOOTING\.md "Response must exactly match validationToken query parameter"$/),
      ]);
      expect(jsonAnswer.code).toBe(1);
      expect(failed(jsonAnswer.stdout)).toEqual([expect.stringMatching(/^✗ webhook handshake contoso: answered with content-type "application\/json"; Graph needs text\/plain/)]);
    } finally {
      await wrong.close();
      await json.close();
    }
  });

  it('fails when the webhook redirects, even to a server that would echo the token right', async () => {
    // Prepare: the target echoes correctly; the webhook only redirects to it with 307
    const target = await startServer((query, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(new URLSearchParams(query).get('validationToken') ?? '');
    });
    const redirecting = await startServer((query, res) => res.writeHead(307, { location: `${target.url}/webhook/contoso?${query}` }).end());
    const c = await newCase({ webhookBaseUrl: `${redirecting.url}/webhook/` });
    await seedHealthy(c, 'contoso');

    try {
      // Act
      const result = await doctor(c);

      // Assess
      expect(result.code).toBe(1);
      expect(failed(result.stdout)).toEqual([expect.stringMatching(/^✗ webhook handshake contoso: answered 307; Graph needs 200 OK/)]);
    } finally {
      await redirecting.close();
      await target.close();
    }
  });

  it('fails on a missing secret and on invalid app credentials, naming the fix and never the values', async () => {
    // Prepare
    const c = await newCase();
    await c.connections.putIntegration({ integrationId: 'no-secret', provider: 'microsoft-oauth2-cc' });
    await c.connections.putIntegration({ integrationId: 'bad-credentials', provider: 'microsoft-oauth2-cc' });
    await c.putSecret('bad-credentials', { webhookSecret: WEBHOOK_SECRET, clientId: 'not-a-guid', clientSecret: CLIENT_SECRET });

    // Act
    const result = await doctor(c);

    // Assess
    expect(result.code).toBe(1);
    expect(failed(result.stdout)).toEqual([
      `✗ app credentials bad-credentials: integration "bad-credentials" has invalid app credentials (clientId: client id must be a GUID such as 00000000-0000-0000-0000-000000000000): replace them with graph-relay integrations put bad-credentials --client-id <guid> --client-secret - (or --client-certificate-file <pem>)`,
      `✗ secret no-secret: secret ${c.prefix}no-secret does not exist — fix: graph-relay integrations put no-secret`,
    ]);
    expect(result.stdout.join('\n')).not.toContain(CLIENT_SECRET);
  });

  it('fails when the renewal schedule is disabled (interval 0)', async () => {
    // Prepare
    const c = await newCase({ renewalIntervalSeconds: 0 });
    await seedHealthy(c, 'contoso');

    // Act
    const result = await doctor(c);

    // Assess
    expect(result.code).toBe(1);
    expect(failed(result.stdout)).toEqual([
      '✗ renewal schedule: the local stack runs no scheduled renewal (GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS=0): subscriptions expire within days — fix: restart the local stack without GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS=0',
    ]);
  });

  it('fails a client secret the identity platform refuses (a well-formed fake), with its AADSTS error, exit code 1', async () => {
    // Prepare: the format is right; the Graph fake's app has another secret
    const c = await newCase();
    await seedHealthy(c, 'contoso');
    const fakeSecret = 'Zzz8Q~not.the_apps_secret-1234567890abcdef';
    await secretsManager.send(new PutSecretValueCommand({ SecretId: `${c.prefix}contoso`, SecretString: JSON.stringify({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientSecret: fakeSecret }) }));

    // Act
    const result = await doctor(c);
    const json = await doctor(c, '--json');

    // Assess
    expect(result.code).toBe(1);
    expect(failed(result.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^✗ app credentials contoso: client secret refused for connection conn-1: token request for tenant ${TENANT} failed with HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided\\..* — fix: replace them: graph-relay integrations put contoso --client-id <guid> --client-secret - \\(or --client-certificate-file <pem>\\); see TROUBLESHOOTING\\.md "AADSTS7000215"$`,
        ),
      ),
    ]);
    expect(result.stdout.join('\n')).not.toContain(fakeSecret);
    const report = JSON.parse(json.stdout.join('\n')) as { healthy: boolean; checks: { check: string; ok: boolean; detail: string }[] };
    expect(report.healthy).toBe(false);
    expect(report.checks.find((check) => check.check === 'app credentials contoso')).toMatchObject({ ok: false, detail: expect.stringContaining('AADSTS7000215') });
  });

  it('fails a declared subscription that was never created, naming it, and shows a receive-only integration as such', async () => {
    // Prepare: conn-1 declares groups too, which no subscription record backs; fabrikam has a client id alone
    const c = await newCase();
    await seedHealthy(c, 'contoso');
    await c.connections.setSubscriptions('contoso', 'conn-1', ['users:created,updated', 'groups:updated']);
    await c.connections.putIntegration({ integrationId: 'fabrikam', provider: 'microsoft-oauth2-cc' });
    await c.putSecret('fabrikam', { webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID });

    // Act
    const result = await doctor(c);

    // Assess
    expect(result.code).toBe(1);
    expect(failed(result.stdout)).toEqual([
      '✗ declaration contoso/conn-1 groups:updated: declared, but no subscription is recorded for it: Graph sends none of its notifications — fix: graph-relay reconcile --integration contoso --connection conn-1 (creates it, or prints the error Graph answers)',
    ]);
    expect(result.stdout).not.toContainEqual(expect.stringMatching(/^✓ subscriptions contoso/));
    expect(result.stdout).toContain(`✓ app credentials fabrikam: receive only: client id ${CLIENT_ID}, no credentials (graph-relay never calls Graph for it)`);
  });

  it("names the error the reconciler met creating a declared subscription, recorded by graph-relay reconcile", async () => {
    // Prepare: groups is declared too; the app's secret was replaced by a wrong one, so its create is refused
    const c = await newCase();
    await seedHealthy(c, 'contoso');
    await c.connections.setSubscriptions('contoso', 'conn-1', ['users:created,updated', 'groups:updated']);
    await secretsManager.send(
      new PutSecretValueCommand({ SecretId: `${c.prefix}contoso`, SecretString: JSON.stringify({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientSecret: 'Zzz8Q~not.the_apps_secret-1234567890abcdef' }) }),
    );
    const reconciled = await cli(c, 'reconcile', '--integration', 'contoso');

    // Act
    const result = await doctor(c);

    // Assess
    expect(reconciled.code).toBe(1);
    expect(result.code).toBe(1);
    expect(failed(result.stdout)).toContainEqual(
      expect.stringMatching(
        /^✗ declaration contoso\/conn-1 groups:updated: declared, but no subscription is recorded for it: the reconciler failed to create it once, last at \d{4}-[^ ]+Z: .*AADSTS7000215.* — fix: see TROUBLESHOOTING\.md for the error, then graph-relay reconcile --integration contoso --connection conn-1$/,
      ),
    );
  });

  it('records the renewal interval in the descriptor the local stack writes', () => {
    // Assess: the test stack starts without a schedule
    expect(t.stack.descriptor.renewalIntervalSeconds).toBe(0);
  });

  it('lists expired, late, needs-consent and failed subscriptions and needs-consent connections, each with its command', async () => {
    // Prepare
    const c = await newCase();
    await seedHealthy(c, 'contoso');
    const now = Date.now();
    await c.subscriptions.put(subscription('contoso', { subscriptionId: 'sub-expired', expiresAt: new Date(now - HOUR).toISOString(), createdAt: new Date(now - 72 * HOUR).toISOString() }));
    await c.subscriptions.put(subscription('contoso', { subscriptionId: 'sub-late', expiresAt: new Date(now + 2 * HOUR).toISOString(), createdAt: new Date(now - 70 * HOUR).toISOString() }));
    // A short-lived subscription (presence: an hour) is always close to expiry: not late.
    await c.subscriptions.put(subscription('contoso', { subscriptionId: 'sub-short', expiresAt: new Date(now + 50 * 60_000).toISOString(), createdAt: new Date(now - 10 * 60_000).toISOString() }));
    await c.subscriptions.put(subscription('contoso', { subscriptionId: 'sub-consent', expiresAt: new Date(now + 24 * HOUR).toISOString() }));
    await c.subscriptions.markNeedsConsent('contoso', 'sub-consent', 'AADSTS65001: consent revoked');
    await c.subscriptions.put(subscription('contoso', { subscriptionId: 'sub-failed', expiresAt: new Date(now + 24 * HOUR).toISOString() }));
    await c.subscriptions.markFailed('contoso', 'sub-failed', 'Graph 400: resource not supported');
    await c.connections.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT });
    await c.connections.markNeedsConsent('contoso', 'conn-2', 'AADSTS65001: consent revoked');

    // Act
    const result = await doctor(c, '--json');

    // Assess
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout.join('\n')) as { healthy: boolean; checks: { check: string; ok: boolean; detail: string; fix?: string }[] };
    expect(report.healthy).toBe(false);
    const failures = report.checks.filter((check) => !check.ok);
    expect(failures).toEqual([
      {
        check: 'connection contoso/conn-2',
        ok: false,
        detail: expect.stringMatching(/^needs consent since \d{4}-.*: AADSTS65001: consent revoked$/),
        fix: `have tenant ${TENANT}'s admin grant consent again, then graph-relay connections resume contoso conn-2`,
      },
      {
        check: 'subscription contoso/conn-1 sub-consent',
        ok: false,
        detail: 'users (created,updated) needs consent: AADSTS65001: consent revoked',
        fix: "have the tenant's admin grant consent again, then graph-relay connections resume contoso conn-1",
      },
      {
        check: 'subscription contoso/conn-1 sub-expired',
        ok: false,
        detail: expect.stringMatching(/^users \(created,updated\) expired .*: Graph no longer sends its notifications$/),
        fix: 'graph-relay subscriptions renew sub-expired --integration contoso (recreates it)',
      },
      {
        check: 'subscription contoso/conn-1 sub-failed',
        ok: false,
        detail: 'users (created,updated) failed to renew: Graph 400: resource not supported',
        fix: 'graph-relay subscriptions renew sub-failed --integration contoso',
      },
      {
        check: 'subscription contoso/conn-1 sub-late',
        ok: false,
        detail: expect.stringMatching(/^users \(created,updated\) expires .*, within 6 h: renewal is behind$/),
        fix: "graph-relay subscriptions renew sub-late --integration contoso, and check the renewal schedule and its function's logs",
      },
    ]);
    expect(result.stderr).toEqual([`graph-relay: 5 of ${report.checks.length} checks failed`]);
  });
});

describe('graph-relay --local doctor: refused webhook requests', () => {
  const FORGED = 'forged-client-state-0123456789';

  /** The stack's own tables and secret prefix, where its intake records what it refused. */
  async function stackCase(): Promise<string> {
    const dataDir = await mkdtemp(join(tmpdir(), 'graph-relay-doctor-'));
    dirs.push(dataDir);
    await writeLocalStackDescriptor(dataDir, { ...t.stack.descriptor, renewalIntervalSeconds: 900 });
    return dataDir;
  }

  let dataDir: string;
  let integrationId: string;

  beforeAll(async () => {
    ({ integrationId } = await t.seedIntegration({ webhookSecret: WEBHOOK_SECRET, connections: [{ connectionId: 'conn-1', tenantId: TENANT }] }));
    await t.putSecret(integrationId, { webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    dataDir = await stackCase();
    const unknown = await t.post('no-such-integration', { value: [notification({ tenantId: TENANT, clientState: FORGED })] });
    const forged = await t.post(integrationId, { value: [notification({ tenantId: TENANT, clientState: FORGED }), notification({ tenantId: TENANT, clientState: FORGED })] });
    // Both answered alike, so that the answer does not tell which integration ids exist.
    expect([unknown.status, forged.status]).toEqual([403, 403]);
  });

  it('warns of a forged clientState on a known integration and of an unknown id, with what to do, exit code 0', async () => {
    // Act
    const result = await doctor({ dataDir });

    // Assess
    expect(result.stderr).toEqual([]);
    expect(result.code).toBe(0);
    expect(failed(result.stdout)).toEqual([]);
    expect(warned(result.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^⚠ refused webhook requests ${integrationId}: 1 request \\(2 items\\) refused in the last 2 days \\(UTC\\): clientState mismatch 1; last \\d{4}-\\d{2}-\\d{2}T[^ ]+Z — fix: subscriptions carry a clientState this integration does not accept: recreate them `,
        ),
      ),
      expect.stringMatching(/^⚠ refused webhook requests to unknown integrations: 1 request \(1 item\) refused in the last 2 days \(UTC\): unknown integration 1; last \d{4}-[^ ]+Z; ids asked for: no-such-integration — fix: /),
    ]);
    expect(result.stdout.join('\n')).not.toContain(FORGED);
  });

  it('includes the refused webhook requests in --json', async () => {
    // Act
    const result = await doctor({ dataDir }, '--json');

    // Assess
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout.join('\n')) as { healthy: boolean; warnings: number; checks: { check: string }[] };
    expect(report).toMatchObject({ healthy: true, warnings: 2 });
    const iso = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(report.checks.filter((check) => check.check.startsWith('refused webhook requests'))).toEqual([
      {
        check: `refused webhook requests ${integrationId}`,
        ok: true,
        warning: true,
        detail: expect.stringContaining('clientState mismatch 1'),
        fix: expect.stringContaining(`graph-relay reconcile --integration ${integrationId}`),
        refusals: { bucket: integrationId, requests: 1, items: 2, reasons: { 'clientstate-mismatch': 1 }, sampleIds: [], lastAt: iso },
      },
      {
        check: 'refused webhook requests to unknown integrations',
        ok: true,
        warning: true,
        detail: expect.stringContaining('ids asked for: no-such-integration'),
        fix: expect.any(String),
        refusals: { bucket: '(unknown)', requests: 1, items: 1, reasons: { 'unknown-integration': 1 }, sampleIds: ['no-such-integration'], lastAt: iso },
      },
    ]);
  });
});

describe('graph-relay doctor in AWS mode', () => {
  let standIn: { url: string; close(): Promise<void> };
  let c: Case;
  let table: string;
  const schedules: Record<string, string> = { 'renewal-on': 'ENABLED', 'renewal-off': 'DISABLED' };

  beforeAll(async () => {
    c = await newCase();
    table = tables.at(-1) ?? '';
    await seedHealthy(c, 'contoso');
    const outputs = {
      ConnectionsTableName: table,
      DeliveriesTableName: c.deliveriesTable,
      WebhookSecretPrefix: c.prefix,
      WebhookBaseUrl: t.stack.descriptor.webhookBaseUrl,
    };
    standIn = await awsStandIn(
      {
        'GraphRelay-on': { ...outputs, RenewalScheduleName: 'renewal-on' },
        'GraphRelay-off': { ...outputs, RenewalScheduleName: 'renewal-off' },
        'GraphRelay-old': outputs,
      },
      schedules,
    );
  });

  afterAll(async () => {
    await standIn?.close();
  });

  const aws = (...args: string[]) =>
    cliProcess(c.dataDir, args, {
      AWS_REGION: t.stack.descriptor.region,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_CLOUDFORMATION: standIn.url,
      AWS_ENDPOINT_URL_SCHEDULER: standIn.url,
      AWS_ENDPOINT_URL_DYNAMODB: process.env['TEST_DYNAMODB_ENDPOINT'] ?? '',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: t.stack.descriptor.awsEmulatorEndpoint,
    });

  it('passes with the schedule named by RenewalScheduleName ENABLED', async () => {
    // Act
    const result = await aws('--stage', 'on', 'doctor');

    // Assess
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('✓ renewal schedule: schedule renewal-on (rate(5 minutes)) is ENABLED');
  });

  it('fails with the schedule DISABLED, and says plainly when the output is missing', async () => {
    // Act
    const disabled = await aws('--stage', 'off', 'doctor');
    const old = await aws('--stage', 'old', 'doctor');

    // Assess
    expect(disabled.code).toBe(1);
    expect(failed(disabled.stdout.split('\n'))).toEqual([
      '✗ renewal schedule: schedule renewal-off (rate(5 minutes)) is DISABLED: subscriptions expire within days — fix: enable it (aws scheduler update-schedule … --state ENABLED, or redeploy the stack)',
    ]);
    expect(disabled.stderr).toBe('graph-relay: 1 of 10 checks failed\n');
    expect(old.code).toBe(1);
    expect(failed(old.stdout.split('\n'))).toEqual([
      '✗ renewal schedule: stack GraphRelay-old has no output RenewalScheduleName (older deployment, or names given as flags): redeploy it',
    ]);
  });

  it('shows the refused webhook requests recorded in the stack output DeliveriesTableName, as warnings', async () => {
    // Prepare: as the intake records a report (the first refusal of each bucket at once)
    const store = new DynamoDbRefusalStore(DynamoDBDocumentClient.from(dynamodb), c.deliveriesTable);
    const at = new Date().toISOString();
    await store.record({ bucket: 'contoso', requests: 3, items: 4, reasons: { 'clientstate-mismatch': 2, 'clientstate-unconfirmed': 1 }, sampleIds: [], firstAt: at, lastAt: at });
    await store.record({ bucket: '(unknown)', requests: 2, items: 2, reasons: { 'unknown-integration': 2 }, sampleIds: ['wp-admin', 'test'], firstAt: at, lastAt: at });

    // Act
    const result = await aws('--stage', 'on', 'doctor');

    // Assess: strangers' requests and mismatches warn; they do not fail doctor
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(warned(result.stdout.split('\n'))).toEqual([
      `⚠ refused webhook requests contoso: 3 requests (4 items) refused in the last 2 days (UTC): clientState mismatch 2, clientState not confirmed 1; last ${at} — fix: subscriptions carry a clientState this integration does not accept: recreate them (graph-relay subscriptions delete <subscriptionId> --integration contoso, then graph-relay reconcile --integration contoso), or, if the secret they carry was replaced, accept it again with graph-relay integrations put contoso --previous-webhook-secret - (the old value on stdin)`,
      `⚠ refused webhook requests to unknown integrations: 2 requests (2 items) refused in the last 2 days (UTC): unknown integration 2; last ${at}; ids asked for: wp-admin, test — fix: none needed for ids that are not yours (anyone can post to the webhook); for an id you expect, create its integration: graph-relay integrations put <integrationId>`,
    ]);
  });

  it('says refused webhook requests cannot be checked when the names are given as flags', async () => {
    // Act
    const result = await aws('--connections-table', table, '--webhook-secret-prefix', c.prefix, 'doctor');

    // Assess
    expect(warned(result.stdout.split('\n'))).toEqual([
      '⚠ refused webhook requests: cannot be checked: the deliveries table is unknown: the stack has no output DeliveriesTableName, or its names were given as flags',
    ]);
  });

  it('exits 2 on a bad command line, before reading the stack', async () => {
    // Act
    const result = await aws('doctor', '--verbose');

    // Assess
    expect(result).toEqual({ code: 2, stdout: '', stderr: "graph-relay: unknown option '--verbose' (see --help)\n" });
  });
});

/** CloudFormation DescribeStacks (query protocol) and EventBridge Scheduler GetSchedule (REST-JSON) on one port. */
async function awsStandIn(stacks: Record<string, Record<string, string>>, schedules: Record<string, string>): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const schedule = /^\/schedules\/([^/?]+)/.exec(request.url ?? '');
      if (request.method === 'GET' && schedule !== null) {
        const name = decodeURIComponent(schedule[1] ?? '');
        const state = schedules[name];
        response.setHeader('content-type', 'application/json');
        if (state === undefined) {
          response.writeHead(404, { 'x-amzn-errortype': 'ResourceNotFoundException' }).end(JSON.stringify({ Message: `Schedule ${name} does not exist.` }));
          return;
        }
        response.end(JSON.stringify({ Name: name, GroupName: 'default', State: state, ScheduleExpression: 'rate(5 minutes)', Arn: `arn:aws:scheduler:us-east-1:123456789012:schedule/default/${name}` }));
        return;
      }
      const name = new URLSearchParams(body).get('StackName') ?? '';
      const outputs = stacks[name];
      response.setHeader('content-type', 'text/xml');
      if (outputs === undefined) {
        response.statusCode = 400;
        response.end(`<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${name} does not exist</Message></Error></ErrorResponse>`);
        return;
      }
      const members = Object.entries(outputs)
        .map(([key, value]) => `<member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`)
        .join('');
      response.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks>` +
          `<member><StackName>${name}</StackName><StackStatus>CREATE_COMPLETE</StackStatus>` +
          `<CreationTime>2024-05-01T12:00:00Z</CreationTime><Outputs>${members}</Outputs></member>` +
          `</Stacks></DescribeStacksResult></DescribeStacksResponse>`,
      );
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((done) => server.close(() => done())) };
}

function cliProcess(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { GRAPH_RELAY_DATA_DIR: dataDir, GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl, ...env });
}

async function startServer(answer: (query: string, res: import('node:http').ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer((req.url ?? '').split('?')[1] ?? '', res));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** A URL on a port that was free a moment ago: connections to it are refused. */
async function listenThenClose(): Promise<string> {
  const server = await startServer((_query, res) => res.end());
  await server.close();
  return server.url;
}
