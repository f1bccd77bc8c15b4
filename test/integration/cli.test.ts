/**
 * The real `graph-relay` process (bin/graph-relay.mjs) against DynamoDB Local and the project's AWS emulator:
 * stdout, stderr and exit codes as an operator sees them. AWS mode reaches the same services through the SDK's
 * AWS_ENDPOINT_URL_* variables, with CloudFormation answered by a minimal stand-in for DescribeStacks.
 */
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TAKES_EFFECT } from '../../cli/takes-effect';
import { startAwsEmulator, type AwsEmulator } from '../../local/aws-emulator';
import { LOCAL_CREDENTIALS, writeLocalStackDescriptor } from '../../local/descriptor';
import { ensureTables } from '../../local/tables';
import { DynamoDbConnectionsStore } from '../../shared/store/dynamodb-connections-store';
import { DynamoDbSubscriptionsStore, type SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { createTestCertificate } from '../../testkit/graph-fake/test-credentials';
import { encryptContent } from '../../testkit/rich-content';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';
import { decryptContent } from '../../shared/rich/encrypted-content';
import { encryptionKeysFrom } from '../../shared/secrets/encryption-keys';
import { runCli, type CliResult } from '../support/cli-process';

const REGION = 'us-east-1';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const TABLE = `cli-test-connections-${randomUUID()}`;
const PREFIX = `graph-relay/cli-test-${randomUUID()}/`;
const WEBHOOK_BASE_URL = 'http://127.0.0.1:3000/webhook/';
const USER = '8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d';
const HOUR = 3_600_000;


let dataDir: string;
let emulator: AwsEmulator;
let dynamodb: DynamoDBClient;
let secretsManager: SecretsManagerClient;
/** The product's own stores on the test table: to seed records and to check what the CLI wrote. */
let connectionsStore: DynamoDbConnectionsStore;
let subscriptionsStore: DynamoDbSubscriptionsStore;

function dynamodbEndpoint(): string {
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest, whose global setup starts DynamoDB Local');
  return endpoint;
}

/** Runs the CLI as an operator would, with a clean AWS environment so nothing reaches a real account. */
function cli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<CliResult> {
  return runCli(args, { GRAPH_RELAY_DATA_DIR: dataDir, ...env }, stdin);
}

const local = (...args: string[]) => cli(['--local', ...args]);
const CLIENT_ID = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const CLIENT_SECRET = 'Abc8Q~very.secret_value-1234567890abcdefgh';

async function storedSecret(integrationId: string): Promise<unknown> {
  const { SecretString } = await secretsManager.send(new GetSecretValueCommand({ SecretId: `${PREFIX}${integrationId}` }));
  return JSON.parse(SecretString ?? 'null');
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'graph-relay-cli-'));
  emulator = await startAwsEmulator({ region: REGION });
  dynamodb = new DynamoDBClient({ endpoint: dynamodbEndpoint(), region: REGION, credentials: LOCAL_CREDENTIALS });
  secretsManager = new SecretsManagerClient({ endpoint: emulator.url, region: REGION, credentials: LOCAL_CREDENTIALS });
  await ensureTables(dynamodb, { connectionsTable: TABLE, deliveriesTable: `${TABLE}-deliveries` });
  connectionsStore = new DynamoDbConnectionsStore(DynamoDBDocumentClient.from(dynamodb), TABLE);
  subscriptionsStore = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), TABLE);
  // The descriptor `npm start` would write; this test process stands in for the running stack (pid).
  await writeLocalStackDescriptor(dataDir, {
    pid: process.pid,
    region: REGION,
    intakeUrl: 'http://127.0.0.1:3000',
    webhookBaseUrl: WEBHOOK_BASE_URL,
    dynamodbEndpoint: dynamodbEndpoint(),
    awsEmulatorEndpoint: emulator.url,
    connectionsTable: TABLE,
    deliveriesTable: `${TABLE}-deliveries`,
    eventBusName: 'graph-relay-cli-test',
    eventSource: 'graph-relay',
    webhookSecretPrefix: PREFIX,
    eventsFile: 'events.ndjson',
    startedAt: new Date().toISOString(),
  });
});

afterAll(async () => {
  await dynamodb?.send(new DeleteTableCommand({ TableName: TABLE })).catch(() => undefined);
  dynamodb?.destroy();
  secretsManager?.destroy();
  await emulator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('graph-relay --local', () => {
  it('puts an integration: generated secret printed once and stored, notificationUrl shown', async () => {
    // Act
    const result = await local('integrations', 'put', 'contoso');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`integration "contoso" created (provider microsoft-oauth2-cc); webhook secret ${PREFIX}contoso created`);
    expect(lines[3]).toBe("clientState: each tenant's own value, and the plain secret for every tenant accepted (--shared-client-state refused to change)");
    expect(lines[4]).toBe(`notificationUrl for subscriptions: ${WEBHOOK_BASE_URL}contoso`);
    expect(await storedSecret('contoso')).toEqual({ webhookSecret: lines[2] });
  });

  it('rotates with --json: stdout is only JSON, the old secret stays accepted', async () => {
    // Prepare
    await local('integrations', 'put', 'rotating', '--webhook-secret', 'first-secret-of-16');

    // Act
    const result = await local('integrations', 'put', 'rotating', '--rotate', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const printed = JSON.parse(result.stdout) as { generatedWebhookSecret: string; secretChange: string; created: boolean };
    expect(printed).toMatchObject({ secretChange: 'updated', created: false });
    expect(await storedSecret('rotating')).toEqual({
      webhookSecret: printed.generatedWebhookSecret,
      previousWebhookSecret: 'first-secret-of-16',
    });
  });

  it('adds, lists, gets and removes a connection', async () => {
    // Prepare
    await local('integrations', 'put', 'fabrikam', '--webhook-secret', 'fabrikam-secret-123');

    // Act
    const added = await local('connections', 'add', 'fabrikam', 'conn-1', '--tenant-id', TENANT.toUpperCase());
    const listed = await local('connections', 'list', '--integration', 'fabrikam');
    const listedJson = await local('connections', 'list', '--json');
    const got = await local('connections', 'get', 'fabrikam', 'conn-1', '--json');
    const removed = await local('connections', 'remove', 'fabrikam', 'conn-1');
    const gone = await local('connections', 'get', 'fabrikam', 'conn-1');

    // Assess
    expect(added).toEqual({
      code: 0,
      stdout:
        `connection "conn-1" added to integration "fabrikam" (tenant ${TENANT})\n` +
        "routing picks it up within one registry refresh of the running intakes (REGISTRY_REFRESH_SECONDS, 30 s by default); a new intake instance routes it at once\n",
      stderr: '',
    });
    const [header, row, ...rest] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^INTEGRATION +CONNECTION +TENANT +STATUS +CREATED$/);
    expect(row).toMatch(new RegExp(`^fabrikam +conn-1 +${TENANT} +active +\\d{4}-\\d\\d-\\d\\dT`));
    expect(rest).toEqual([]);
    expect(JSON.parse(listedJson.stdout)).toEqual([expect.objectContaining({ integrationId: 'fabrikam', connectionId: 'conn-1', tenantId: TENANT, status: 'active' })]);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ integrationId: 'fabrikam', connectionId: 'conn-1', tenantId: TENANT });
    expect(removed.code).toBe(0);
    expect(removed.stdout.split('\n')[0]).toBe('connection "conn-1" removed from integration "fabrikam"');
    expect(gone).toEqual({ code: 1, stdout: '', stderr: 'graph-relay: connection "conn-1" not found in integration "fabrikam"\n' });
  });

  it('refuses a duplicate connection and an unknown integration with exit code 1', async () => {
    // Prepare
    await local('integrations', 'put', 'duplicates', '--webhook-secret', 'duplicates-secret-1');
    await local('connections', 'add', 'duplicates', 'conn-1', '--tenant-id', TENANT);

    // Act
    const duplicate = await local('connections', 'add', 'duplicates', 'conn-1', '--tenant-id', TENANT, '--json');
    const unknown = await local('connections', 'add', 'unknown', 'conn-1', '--tenant-id', TENANT);

    // Assess
    expect(duplicate).toEqual({ code: 1, stdout: '', stderr: 'graph-relay: connection "conn-1" already exists in integration "duplicates"\n' });
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: 'graph-relay: integration "unknown" does not exist (create it with: graph-relay integrations put unknown --provider microsoft-oauth2-cc)\n',
    });
  });

  it('refuses a bad tenant id with exit code 2', async () => {
    // Act
    const result = await local('connections', 'add', 'contoso', 'conn-1', '--tenant-id', 'contoso.onmicrosoft.com');

    // Assess
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: 'graph-relay: invalid tenant id "contoso.onmicrosoft.com": tenant id must be a GUID such as 84bd8158-6d4d-4958-8b9f-9d6445542f95\n',
    });
  });

  it('adds a connection with declared subscriptions, shows them, and edits them', async () => {
    // Prepare
    await local('integrations', 'put', 'declaring', '--webhook-secret', 'declaring-secret-12');

    // Act
    const added = await local(
      'connections', 'add', 'declaring', 'conn-1', '--tenant-id', TENANT,
      '--subscribe', 'users:deleted,created', '--subscribe', `/users/${USER}/messages:created`,
    );
    const stored = await connectionsStore.getConnection('declaring', 'conn-1');
    const subscribed = await local('connections', 'subscribe', 'declaring', 'conn-1', 'groups:updated');
    const unsubscribed = await local('connections', 'unsubscribe', 'declaring', 'conn-1', 'users:created,deleted');
    const got = await local('connections', 'get', 'declaring', 'conn-1');
    const gotJson = await local('connections', 'get', 'declaring', 'conn-1', '--json');

    // Assess
    expect(added.code).toBe(0);
    expect(added.stderr).toBe('');
    expect(added.stdout.split('\n').slice(1, 3)).toEqual(['declared subscription users:created,deleted', `declared subscription users/${USER}/messages:created`]);
    expect(stored?.subscriptions).toEqual(['users:created,deleted', `users/${USER}/messages:created`]);
    expect(subscribed).toEqual({ code: 0, stdout: 'connection "conn-1" of integration "declaring" now declares groups:updated\n', stderr: '' });
    expect(unsubscribed.code).toBe(0);
    expect(got.stdout.split('\n').slice(4, 6)).toEqual([`subscriptions  users/${USER}/messages:created`, '               groups:updated']);
    expect(JSON.parse(gotJson.stdout)).toMatchObject({ subscriptions: [`users/${USER}/messages:created`, 'groups:updated'] });
  });

  it('refuses an unsupported resource in --subscribe with exit code 2 and adds nothing', async () => {
    // Prepare
    await local('integrations', 'put', 'refusing', '--webhook-secret', 'refusing-secret-123');

    // Act
    const result = await local('connections', 'add', 'refusing', 'conn-1', '--tenant-id', TENANT, '--subscribe', 'planner/tasks:created');

    // Assess
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^graph-relay: invalid subscription declaration "planner\/tasks:created": unsupported resource "planner\/tasks": supported kinds are [^\n]+\n$/);
    expect(await connectionsStore.getConnection('refusing', 'conn-1')).toBeUndefined();
  });

  it('lists recorded subscriptions as a table and as JSON, filtered by expiry', async () => {
    // Prepare
    await local('integrations', 'put', 'subscribed', '--webhook-secret', 'subscribed-secret-1');
    const base = { integrationId: 'subscribed', connectionId: 'conn-1', tenantId: TENANT, status: 'active' as const };
    const soon = new Date(Date.now() + 2 * HOUR).toISOString();
    await subscriptionsStore.put({ ...base, subscriptionId: 'sub-soon', resource: 'users', changeTypes: ['created', 'updated'], expiresAt: soon });
    await subscriptionsStore.put({
      ...base,
      subscriptionId: 'sub-late',
      resource: `users/${USER}/messages`,
      changeTypes: ['created'],
      expiresAt: new Date(Date.now() + 50 * HOUR).toISOString(),
      status: 'needs-consent',
    });

    // Act
    const table = await local('subscriptions', 'list', '--integration', 'subscribed');
    const expiring = await local('subscriptions', 'list', '--expiring-within', '24h', '--json');
    const badDuration = await local('subscriptions', 'list', '--expiring-within', 'tomorrow');

    // Assess
    expect(table.code).toBe(0);
    expect(table.stderr).toBe('');
    expect(table.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^INTEGRATION +CONNECTION +TENANT +RESOURCE +CHANGE TYPES +RICH +ID +EXPIRES +STATUS$/),
      expect.stringMatching(new RegExp(`^subscribed +conn-1 +${TENANT} +users +created,updated +no +sub-soon +${soon.replace(/\./g, '\\.')} +active$`)),
      expect.stringMatching(new RegExp(`^subscribed +conn-1 +${TENANT} +users/${USER}/messages +created +no +sub-late +\\S+ +needs-consent$`)),
    ]);
    const listed = JSON.parse(expiring.stdout) as SubscriptionRecord[];
    expect(listed.map((record) => record.subscriptionId)).toEqual(['sub-soon']);
    expect(listed[0]).toMatchObject({ integrationId: 'subscribed', resource: 'users', changeTypes: ['created', 'updated'], expiresAt: soon });
    expect(badDuration).toEqual({
      code: 2,
      stdout: '',
      stderr: 'graph-relay: invalid --expiring-within "tomorrow": expected a whole number of minutes, hours or days, e.g. 90m, 24h, 2d\n',
    });
  });

  it('lists integrations with their secret status as JSON', async () => {
    // Act
    const result = await local('integrations', 'list', '--json');

    // Assess
    expect(result.code).toBe(0);
    const listed = JSON.parse(result.stdout) as { integrationId: string; secret: string }[];
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ integrationId: 'contoso', secret: 'present' })]));
  });

  it('sets app credentials: a client secret from stdin, then a certificate from a PEM file, listed by kind only', async () => {
    // Prepare
    await local('integrations', 'put', 'app-creds', '--webhook-secret', 'app-creds-secret-123');
    const certificate = createTestCertificate();
    const keyPem = certificate.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pemFile = join(dataDir, 'app.pem');
    await writeFile(pemFile, `${certificate.certificatePem}${keyPem}`);

    // Act
    const withSecret = await cli(['--local', 'integrations', 'put', 'app-creds', '--client-id', CLIENT_ID, '--client-secret', '-'], {}, `${CLIENT_SECRET}\n`);
    const storedWithSecret = await storedSecret('app-creds');
    const listedWithSecret = await local('integrations', 'list');
    const withCertificate = await local('integrations', 'put', 'app-creds', '--client-id', CLIENT_ID, '--client-certificate-file', pemFile, '--json');
    const listedJson = await local('integrations', 'list', '--json');

    // Assess
    expect(withSecret.code).toBe(0);
    expect(withSecret.stderr).toBe('');
    expect(withSecret.stdout.split('\n')[1]).toBe(`app credentials set: client ${CLIENT_ID}, client secret`);
    expect(storedWithSecret).toEqual({ webhookSecret: 'app-creds-secret-123', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const [header, ...rows] = listedWithSecret.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^INTEGRATION +PROVIDER +CREATED +SECRET +SHARED CLIENTSTATE +APP CREDENTIALS +ENCRYPTION CERTS +CURRENT CERT$/);
    expect(rows).toContainEqual(expect.stringMatching(/^app-creds +microsoft-oauth2-cc +\S+ +present +accepted +secret +0 +-$/));
    expect(withCertificate.code).toBe(0);
    expect(JSON.parse(withCertificate.stdout)).toMatchObject({ integrationId: 'app-creds', secretChange: 'updated', appCredentials: 'certificate' });
    expect(await storedSecret('app-creds')).toEqual({
      webhookSecret: 'app-creds-secret-123',
      clientId: CLIENT_ID,
      clientCertificate: { certificatePem: certificate.certificatePem, privateKeyPem: keyPem },
    });
    expect(JSON.parse(listedJson.stdout)).toContainEqual(expect.objectContaining({ integrationId: 'app-creds', secret: 'present', appCredentials: 'certificate' }));
    expect(`${withSecret.stdout}${listedWithSecret.stdout}${withCertificate.stdout}${listedJson.stdout}`).not.toMatch(/secret_value|PRIVATE KEY/);
  });

  it('reads webhook secrets given as - from stdin, one line each in the order given, and refuses an empty one', async () => {
    // Act
    const both = await cli(['--local', 'integrations', 'put', 'from-stdin', '--previous-webhook-secret', '-', '--webhook-secret', '-'], {}, 'stdin-previous-secret-1\nstdin-current-secret-22\n');
    const empty = await cli(['--local', 'integrations', 'put', 'never-from-stdin', '--webhook-secret', '-'], {}, '\n');
    const short = await cli(['--local', 'integrations', 'put', 'never-from-stdin', '--webhook-secret', '-', '--client-id', CLIENT_ID, '--client-secret', '-'], {}, 'only-one-line-secret-1\n');

    // Assess
    expect(both.code).toBe(0);
    expect(await storedSecret('from-stdin')).toEqual({ webhookSecret: 'stdin-current-secret-22', previousWebhookSecret: 'stdin-previous-secret-1' });
    expect(`${both.stdout}${both.stderr}`).not.toContain('stdin-');
    expect(empty).toEqual({ code: 2, stdout: '', stderr: 'graph-relay: --webhook-secret -: nothing was read from stdin\n' });
    expect(short).toEqual({ code: 2, stdout: '', stderr: 'graph-relay: --webhook-secret - and --client-secret - read one line each from stdin, in that order: got 1 line\n' });
    const listed = await local('integrations', 'list', '--json');
    expect(JSON.parse(listed.stdout)).not.toContainEqual(expect.objectContaining({ integrationId: 'never-from-stdin' }));
  });

  it('warns in --help that secrets given as arguments stay in shell history and ps', async () => {
    // Act
    const help = await local('integrations', 'put', '--help');

    // Assess
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Secrets given as arguments stay in shell history and are visible to other users in ps');
    expect(help.stdout).toContain(`$ printf '%s\\n' "$NEW_SECRET" "$OLD_SECRET" | graph-relay integrations put contoso --webhook-secret - --previous-webhook-secret -`);
    expect(help.stdout).toMatch(/--webhook-secret <secret> +the clientState subscriptions send \(16-128 printable characters\); - reads it from stdin/);
  });

  it('refuses incomplete app credentials with exit code 2 and changes nothing', async () => {
    // Act
    const result = await local('integrations', 'put', 'never-created', '--client-secret', CLIENT_SECRET);
    const listed = await local('integrations', 'list', '--json');

    // Assess
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'graph-relay: --client-secret and --client-certificate-file need --client-id\n' });
    expect(JSON.parse(listed.stdout)).not.toContainEqual(expect.objectContaining({ integrationId: 'never-created' }));
  });

  it('creates and lists encryption certificates; the stored key decrypts content encrypted with the listed certificate', async () => {
    // Prepare
    await local('integrations', 'put', 'rich', '--webhook-secret', 'rich-webhook-secret-1');

    // Act
    const first = await local('certificates', 'create', 'rich', '--id', 'enc-1');
    const second = await local('certificates', 'create', 'rich', '--json');
    const listed = await local('certificates', 'list', 'rich', '--json');
    const table = await local('certificates', 'list', 'rich');
    const integrations = await local('integrations', 'list', '--json');

    // Assess
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    expect(second.code).toBe(0);
    const created = JSON.parse(second.stdout) as { id: string; thumbprint: string; previousCurrentId: string };
    expect(created).toMatchObject({ id: expect.stringMatching(/^graph-relay-\d{8}$/), previousCurrentId: 'enc-1' });
    const rows = JSON.parse(listed.stdout) as { id: string; current: boolean; thumbprint: string; status: string }[];
    expect(rows.map((row) => [row.id, row.current, row.status]).sort()).toEqual([[created.id, true, 'valid'], ['enc-1', false, 'valid']].sort());
    expect(table.stdout.trimEnd().split('\n')[0]).toMatch(/^ID +CURRENT +THUMBPRINT +NOT AFTER +STATUS$/);
    expect(JSON.parse(integrations.stdout)).toContainEqual(expect.objectContaining({ integrationId: 'rich', encryptionCertificates: 2, currentEncryptionCertificateId: created.id }));
    const secret = (await storedSecret('rich')) as { webhookSecret: string; encryptionCertificates: Record<string, { certificatePem: string }> };
    expect(secret.webhookSecret).toBe('rich-webhook-secret-1');
    const keys = encryptionKeysFrom(secret);
    expect(keys.current()?.id).toBe(created.id);
    for (const row of rows) {
      const certificate = new X509Certificate(secret.encryptionCertificates[row.id]?.certificatePem ?? '');
      expect(createHash('sha1').update(certificate.raw).digest('hex').toUpperCase()).toBe(row.thumbprint);
      const content = encryptContent({ id: `user-of-${row.id}` }, { publicKey: certificate.publicKey, id: row.id, thumbprint: row.thumbprint });
      expect(decryptContent(content, keys.privateKey(content.encryptionCertificateId))).toEqual({ id: `user-of-${row.id}` });
    }
    const printed = [first, second, listed, table, integrations].map((result) => `${result.stdout}${result.stderr}`).join('');
    expect(printed).not.toMatch(/PRIVATE KEY|privateKey/);
  });

  it('puts encryption certificates from PEM files, switches the current one, removes the old one, and refuses bad input', async () => {
    // Prepare
    await local('integrations', 'put', 'rich-files', '--webhook-secret', 'rich-files-secret-12');
    const old = createSelfSignedCertificate({ commonName: 'old' });
    const next = createSelfSignedCertificate({ commonName: 'next' });
    const oldCert = join(dataDir, 'old-cert.pem');
    const oldKey = join(dataDir, 'old-key.pem');
    const nextBoth = join(dataDir, 'next.pem');
    await writeFile(oldCert, old.certificatePem);
    await writeFile(oldKey, old.privateKeyPem);
    await writeFile(nextBoth, `${next.certificatePem}${next.privateKeyPem}`);

    // Act
    const added = await local('integrations', 'put', 'rich-files', '--encryption-certificate-id', 'old', '--encryption-certificate-file', oldCert, '--encryption-key-file', oldKey);
    const mismatched = await local('integrations', 'put', 'rich-files', '--encryption-certificate-id', 'bad', '--encryption-certificate-file', oldCert, '--encryption-key-file', nextBoth);
    const currentRemoval = await local('certificates', 'remove', 'rich-files', 'old');
    const switched = await local(
      'integrations', 'put', 'rich-files',
      '--encryption-certificate-id', 'next', '--encryption-certificate-file', nextBoth, '--encryption-key-file', nextBoth,
      '--current-encryption-certificate', 'next', '--remove-encryption-certificate', 'old',
    );
    const missing = await local('certificates', 'remove', 'rich-files', 'old');

    // Assess
    expect(added.code).toBe(0);
    expect(added.stdout.split('\n')[1]).toBe(`encryption certificate "old" added: thumbprint ${old.thumbprint}, not after ${old.notAfter.toISOString()}`);
    expect(mismatched).toEqual({ code: 2, stdout: '', stderr: 'graph-relay: invalid encryption certificate "bad": the private key does not belong to the certificate\n' });
    expect(currentRemoval.code).toBe(1);
    expect(currentRemoval.stderr).toMatch(/^graph-relay: cannot remove encryption certificate "old": it is the current one [^\n]*\n$/);
    expect(switched.code).toBe(0);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'graph-relay: cannot remove encryption certificate "old": integration "rich-files" has no such certificate\n' });
    expect(await storedSecret('rich-files')).toEqual({
      webhookSecret: 'rich-files-secret-12',
      encryptionCertificates: { next: { certificatePem: next.certificatePem, privateKeyPem: next.privateKeyPem, createdAt: expect.any(String) } },
      currentEncryptionCertificateId: 'next',
    });
    const printed = [added, mismatched, currentRemoval, switched, missing].map((result) => `${result.stdout}${result.stderr}`).join('');
    expect(printed).not.toContain('PRIVATE KEY');
  });

  it('tails the events file: last n as lines, or as raw JSON lines', async () => {
    // Prepare
    const events = [1, 2, 3].map((n) =>
      JSON.stringify({
        version: '0',
        id: `event-${n}`,
        'detail-type': 'Graph Change Notification',
        source: 'graph-relay',
        account: '000000000000',
        time: `2024-05-01T12:00:0${n}Z`,
        region: REGION,
        resources: [],
        detail: {
          from: 'microsoft-oauth2-cc',
          providerConfigKey: 'contoso',
          type: 'forward',
          connectionId: 'conn-1',
          payload: { value: [] },
          metadata: { idempotencyKey: `${n}abcdef`.repeat(8), tenantId: TENANT, subscriptionId: 'sub', receivedAt: '2024-05-01T12:00:00Z' },
        },
      }),
    );
    await writeFile(join(dataDir, 'events.ndjson'), `${events.join('\n')}\n`);

    // Act
    const lines = await local('events', 'tail', '--limit', '2');
    const json = await local('events', 'tail', '--json');

    // Assess
    expect(lines).toEqual({
      code: 0,
      stdout:
        'TIME                  DETAIL-TYPE                   INTEGRATION  CONNECTION  IDEMPOTENCY KEY\n' +
        '2024-05-01T12:00:02Z  Graph Change Notification     contoso      conn-1      2abcdef2abcd\n' +
        '2024-05-01T12:00:03Z  Graph Change Notification     contoso      conn-1      3abcdef3abcd\n',
      stderr: '',
    });
    expect(json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual(events.map((e) => JSON.parse(e) as unknown));
  });
});

describe('graph-relay in AWS mode', () => {
  let cloudFormation: Server;
  let awsEnv: Record<string, string>;

  beforeAll(async () => {
    cloudFormation = await describeStacksStandIn({
      'GraphRelay-it': { ConnectionsTableName: TABLE, WebhookSecretPrefix: PREFIX, WebhookBaseUrl: 'https://relay.example.com/webhook/' },
      // A region's stack of a multi-region stage: its integration secrets get a replica in the other region.
      'GraphRelay-multi': { ConnectionsTableName: TABLE, WebhookSecretPrefix: PREFIX, WebhookBaseUrl: 'https://graph.example.com/webhook/', SecretReplicaRegions: 'eu-central-1' },
      // A multi-region stage's stack in the CLI's region, named GraphRelay-<stage>-<region>: there is no GraphRelay-global.
      [`GraphRelay-global-${REGION}`]: {
        ConnectionsTableName: TABLE,
        WebhookSecretPrefix: PREFIX,
        WebhookBaseUrl: 'https://global.example.com/webhook/',
        RegionalWebhookBaseUrl: `https://abc123.execute-api.${REGION}.amazonaws.com/webhook/`,
        SecretReplicaRegions: `${REGION},eu-central-1`,
        PrimaryRegion: REGION,
        SecondaryRegion: 'eu-central-1',
        WriterLeaseTableName: `${TABLE}-lease`,
      },
    });
    const address = cloudFormation.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    awsEnv = {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_CLOUDFORMATION: `http://127.0.0.1:${port}`,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint(),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: emulator.url,
    };
  });

  afterAll(async () => {
    await new Promise((done) => cloudFormation?.close(done));
  });

  it('reads the table and secret prefix from the stack outputs', async () => {
    // Act
    const result = await cli(['--stage', 'it', 'integrations', 'put', 'from-stack', '--webhook-secret', 'from-stack-secret-1'], awsEnv);

    // Assess
    expect(result).toEqual({
      code: 0,
      stdout:
        `integration "from-stack" created (provider microsoft-oauth2-cc); webhook secret ${PREFIX}from-stack created\n` +
        "clientState: each tenant's own value, and the plain secret for every tenant accepted (--shared-client-state refused to change)\n" +
        'notificationUrl for subscriptions: https://relay.example.com/webhook/from-stack\n' +
        `${TAKES_EFFECT.message}\n`,
      stderr: '',
    });
    expect(await storedSecret('from-stack')).toEqual({ webhookSecret: 'from-stack-secret-1' });
  });

  it('creates the secret with a replica in the region a multi-region stack names (the emulator accepts AddReplicaRegions)', async () => {
    // Act
    const result = await cli(['--stage', 'multi', 'integrations', 'put', 'replicated', '--webhook-secret', 'replicated-secret-1'], awsEnv);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').slice(0, 2)).toEqual([
      `integration "replicated" created (provider microsoft-oauth2-cc); webhook secret ${PREFIX}replicated created`,
      `webhook secret ${PREFIX}replicated replicated to eu-central-1`,
    ]);
    expect(await storedSecret('replicated')).toEqual({ webhookSecret: 'replicated-secret-1' });
  });

  it("finds a multi-region stage's stack in the CLI's region, GraphRelay-<stage>-<region>", async () => {
    // Act
    const result = await cli(['--stage', 'global', 'integrations', 'put', 'global-one', '--webhook-secret', 'global-one-secret-1'], awsEnv);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        `integration "global-one" created (provider microsoft-oauth2-cc); webhook secret ${PREFIX}global-one created`,
        `webhook secret ${PREFIX}global-one replicated to eu-central-1`,
        'notificationUrl for subscriptions: https://global.example.com/webhook/global-one',
      ]),
    );
    expect(await storedSecret('global-one')).toEqual({ webhookSecret: 'global-one-secret-1' });
  });

  it('explains a missing stack in one line, naming both stacks looked for', async () => {
    // Act
    const result = await cli(['connections', 'list'], awsEnv);

    // Assess
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "graph-relay: stack GraphRelay-dev not found in us-east-1, nor GraphRelay-dev-us-east-1 (a multi-region stage's stack in that region): " +
        'deploy with npx cdk deploy -c stage=dev, or pass --connections-table and --webhook-secret-prefix\n',
    });
  });

  it('needs no stack when both names are given', async () => {
    // Act
    const result = await cli(['--stage', 'absent', '--connections-table', TABLE, '--webhook-secret-prefix', PREFIX, 'connections', 'list', '--json'], awsEnv);

    // Assess
    expect(result.code).toBe(0);
    expect(Array.isArray(JSON.parse(result.stdout))).toBe(true);
  });

  it('lists subscriptions from the table named by the stack', async () => {
    // Prepare
    await cli(['--stage', 'it', 'integrations', 'put', 'aws-subscribed', '--webhook-secret', 'aws-subscribed-secret'], awsEnv);
    await subscriptionsStore.put({
      integrationId: 'aws-subscribed',
      subscriptionId: 'sub-aws',
      connectionId: 'conn-1',
      tenantId: TENANT,
      resource: 'groups',
      changeTypes: ['deleted'],
      expiresAt: new Date(Date.now() + HOUR).toISOString(),
      status: 'active',
    });

    // Act
    const result = await cli(['--stage', 'it', 'subscriptions', 'list', '--integration', 'aws-subscribed', '--connection', 'conn-1', '--json'], awsEnv);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ subscriptionId: 'sub-aws', resource: 'groups', changeTypes: ['deleted'] })]);
  });

  it('refuses events tail: a bus cannot be read', async () => {
    // Act
    const result = await cli(['events', 'tail'], awsEnv);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^graph-relay: events tail reads the local stack only: EventBridge has no API to read events from a bus\. .*\n$/);
  });
});

/** CloudFormation's query-protocol answers to DescribeStacks, for the given stacks' outputs. */
async function describeStacksStandIn(stacks: Record<string, Record<string, string>>): Promise<Server> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const name = new URLSearchParams(body).get('StackName') ?? '';
      const outputs = stacks[name];
      response.setHeader('content-type', 'text/xml');
      if (outputs === undefined) {
        response.statusCode = 400;
        response.end(
          `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>` +
            `<Code>ValidationError</Code><Message>Stack with id ${name} does not exist</Message></Error>` +
            `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
        );
        return;
      }
      const members = Object.entries(outputs)
        .map(([key, value]) => `<member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`)
        .join('');
      response.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks>` +
          `<member><StackName>${name}</StackName><StackStatus>CREATE_COMPLETE</StackStatus>` +
          `<CreationTime>2024-05-01T12:00:00Z</CreationTime><Outputs>${members}</Outputs></member>` +
          `</Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
          `</DescribeStacksResponse>`,
      );
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return server;
}
