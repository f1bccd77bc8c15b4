/**
 * The real `graph-relay` process changing Graph subscriptions: the local stack in-process (DynamoDB Local, the AWS
 * emulator, the intake answering Graph's validation handshake), the Graph fake reached through GRAPH_API_URL and
 * GRAPH_LOGIN_URL, and the descriptor the stack writes, which `--local` reads. Also a tenant's consent revoked
 * and granted again: the connection marked needs-consent, and `connections resume`.
 */
import { tenantClientState } from '../../shared/graph/client-state';
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { createSelfSignedCertificate } from '../../cli/self-signed-certificate';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';
import { runCli, type CliResult } from '../support/cli-process';

const APP = { clientId: randomUUID(), clientSecret: 'cli-app-secret~0123456789abcdef' };

let t: TestStack;
let fake: GraphFake;
let dynamodb: DynamoDBClient;
let records: DynamoDbSubscriptionsStore;

function cli(...args: string[]): Promise<CliResult> {
  return runCli(['--local', ...args], { GRAPH_RELAY_DATA_DIR: t.dataDir, GRAPH_API_URL: fake.url, GRAPH_LOGIN_URL: fake.loginUrl });
}

beforeAll(async () => {
  t = await startTestStack();
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  const endpoint = process.env['TEST_DYNAMODB_ENDPOINT'];
  if (endpoint === undefined) throw new Error('TEST_DYNAMODB_ENDPOINT is not set: run through jest');
  dynamodb = new DynamoDBClient({ region: t.stack.descriptor.region, credentials: LOCAL_CREDENTIALS, endpoint });
  records = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), t.stack.descriptor.connectionsTable);
});

afterAll(async () => {
  dynamodb?.destroy();
  await fake?.close();
  await t?.stop();
});

async function integration(): Promise<{ integrationId: string; webhookSecret: string; tenant: string }> {
  const tenant = randomUUID();
  const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId: tenant }] });
  await t.putSecret(integrationId, { webhookSecret, ...APP });
  return { integrationId, webhookSecret, tenant };
}

describe('graph-relay --local subscriptions and reconcile against the Graph fake', () => {
  it('creates through the real handshake, renews, recreates after Graph lost it, and deletes', async () => {
    // Prepare
    const { integrationId, webhookSecret, tenant } = await integration();
    const notificationUrl = `${t.stack.descriptor.webhookBaseUrl}${integrationId}`;

    // Act: create
    const created = await cli('subscriptions', 'create', integrationId, 'conn-1', '--resource', 'users', '--change-type', 'created,updated', '--json');

    // Assess
    expect(created.code).toBe(0);
    const { subscription } = JSON.parse(created.stdout) as { subscription: { subscriptionId: string; expiresAt: string } };
    expect(fake.subscriptions(tenant)).toEqual([
      expect.objectContaining({ id: subscription.subscriptionId, resource: 'users', changeType: 'created,updated', notificationUrl, clientState: tenantClientState(webhookSecret, integrationId, tenant) }),
    ]);
    expect(await records.get(integrationId, subscription.subscriptionId)).toMatchObject({ connectionId: 'conn-1', status: 'active' });
    expect((await t.store.getConnection(integrationId, 'conn-1'))?.subscriptions).toEqual(['users:created,updated']);

    // Act: renew, then Graph loses it and renew recreates it
    const renewed = await cli('subscriptions', 'renew', subscription.subscriptionId);
    fake.deleteSubscription(subscription.subscriptionId);
    const recreated = await cli('subscriptions', 'renew', subscription.subscriptionId, '--json');

    // Assess
    expect(renewed.code).toBe(0);
    expect(renewed.stdout).toMatch(new RegExp(`^renewed subscription ${subscription.subscriptionId} \\(users:created,updated of ${integrationId}/conn-1\\); expires `));
    expect(recreated.code).toBe(0);
    const outcome = JSON.parse(recreated.stdout) as { outcome: string; subscriptionId: string };
    expect(outcome.outcome).toBe('recreated');
    expect(fake.subscriptions(tenant).map((s) => s.id)).toEqual([outcome.subscriptionId]);
    expect(await records.get(integrationId, subscription.subscriptionId)).toBeUndefined();

    // Act: delete
    const deleted = await cli('subscriptions', 'delete', outcome.subscriptionId);

    // Assess
    expect(deleted.code).toBe(0);
    expect(fake.subscriptions(tenant)).toEqual([]);
    expect(await records.get(integrationId, outcome.subscriptionId)).toBeUndefined();
    expect(deleted.stderr).toMatch(/still declares users:created,updated: the reconciler will create it again/);
  });

  it('reconcile --dry-run prints the plan without calling Graph; reconcile applies it', async () => {
    // Prepare
    const { integrationId, tenant } = await integration();
    await t.store.setSubscriptions(integrationId, 'conn-1', ['groups:deleted', 'users:creatd']);

    // Act
    const dryRun = await cli('reconcile', '--integration', integrationId, '--dry-run');
    const applied = await cli('reconcile', '--integration', integrationId);

    // Assess
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout.trimEnd().split('\n')).toEqual([
      `would create groups:deleted for ${integrationId}/conn-1 (tenant ${tenant})`,
      expect.stringMatching(new RegExp(`^ignored ${integrationId}/conn-1: invalid subscription declaration "users:creatd"`)),
      'dry run: would create 1, delete 0; 0 kept; 1 invalid declarations',
    ]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(new RegExp(`^create groups:deleted for ${integrationId}/conn-1 \\(tenant ${tenant}\\): created \\S+, expires `));
    expect(fake.subscriptions(tenant).map((s) => s.resource)).toEqual(['groups']);
  });
});

describe('graph-relay --local: a connection that lost consent, and connections resume', () => {
  it('marks the connection when consent is revoked, skips its creates, and resumes it once consent is restored', async () => {
    // Prepare
    const tenant = randomUUID();
    const { integrationId, webhookSecret } = await t.seedIntegration({ connections: [{ connectionId: 'conn-1', tenantId: tenant }] });
    await t.putSecret(integrationId, { webhookSecret, ...APP });
    const created = await cli('subscriptions', 'create', integrationId, 'conn-1', '--resource', 'users', '--change-type', 'created,updated', '--json');
    expect(created.code).toBe(0);
    const { subscription } = JSON.parse(created.stdout) as { subscription: { subscriptionId: string } };
    fake.revokeConsent(tenant);

    // Act: renewal refused for consent, then a new declaration while consent is missing
    const refused = await cli('subscriptions', 'renew', subscription.subscriptionId);
    await t.store.setSubscriptions(integrationId, 'conn-1', ['users:created,updated', 'groups:deleted']);
    const listed = await cli('connections', 'list', '--integration', integrationId);
    const got = await cli('connections', 'get', integrationId, 'conn-1', '--json');
    const dryRun = await cli('reconcile', '--integration', integrationId, '--dry-run');

    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/failed \(needs-consent, HTTP 400\).*graph-relay connections resume/);
    expect(await records.get(integrationId, subscription.subscriptionId)).toMatchObject({ status: 'needs-consent' });
    expect(listed.stdout.trimEnd().split('\n')[1]).toMatch(new RegExp(`^${integrationId} +conn-1 +${tenant} +needs-consent +\\d{4}-`));
    const connection = JSON.parse(got.stdout) as Record<string, unknown>;
    expect(connection).toMatchObject({ status: 'needs-consent', statusReason: expect.stringContaining('AADSTS700016'), statusChangedAt: expect.any(String) });
    expect(String(connection['statusReason'])).not.toContain('\n');
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain(`would skip create groups:deleted for ${integrationId}/conn-1 (tenant ${tenant}): the connection needs consent since`);
    expect(dryRun.stdout.trimEnd().split('\n').at(-1)).toMatch(/^dry run: would create 0, delete 0, would skip 1 \(connection needs consent\); 1 kept;/);

    // Act: still refused, then consent granted again
    const stillRefused = await cli('connections', 'resume', integrationId, 'conn-1');
    const whileRefused = await t.store.getConnection(integrationId, 'conn-1');
    fake.restoreConsent(tenant);
    const resumed = await cli('connections', 'resume', integrationId, 'conn-1');
    const reconciled = await cli('reconcile', '--integration', integrationId, '--connection', 'conn-1');

    // Assess
    expect(stillRefused.code).toBe(1);
    expect(stillRefused.stdout).toMatch(new RegExp(`^FAILED ${subscription.subscriptionId} \\(users:created,updated\\): needs-consent, HTTP 400: `));
    expect(stillRefused.stdout).toMatch(/still needs consent: have the admin of tenant .* grant the app consent, then run this again\n$/);
    expect(whileRefused?.status).toBe('needs-consent');
    expect(resumed).toEqual({
      code: 0,
      stdout: expect.stringMatching(
        new RegExp(
          `^renewed ${subscription.subscriptionId} \\(users:created,updated\\); expires \\S+\n` +
            `connection "conn-1" of integration "${integrationId}": 1 renewed, 0 recreated, 0 still failing; no longer needs consent: `,
        ),
      ),
      stderr: '',
    });
    expect(await t.store.getConnection(integrationId, 'conn-1')).toMatchObject({ status: 'active' });
    expect(await records.get(integrationId, subscription.subscriptionId)).toMatchObject({ status: 'active' });
    expect(reconciled.code).toBe(0);
    expect(fake.subscriptions(tenant).map((s) => s.resource).sort()).toEqual(['groups', 'users']);
  });

  it('resume exits 1 with one line for a connection that does not exist', async () => {
    // Prepare
    const { integrationId } = await t.seedIntegration({});

    // Act
    const result = await cli('connections', 'resume', integrationId, 'conn-missing');

    // Assess
    expect(result).toEqual({ code: 1, stdout: '', stderr: `graph-relay: connection "conn-missing" not found in integration "${integrationId}"\n` });
  });
});

describe('graph-relay --local: subscriptions with resource data', () => {
  it('declares with --include-resource-data, creates a rich subscription with the current certificate, and refuses kinds without resource data', async () => {
    // Prepare
    const { integrationId, webhookSecret, tenant } = await integration();
    const certificate = createSelfSignedCertificate({ commonName: 'graph-relay cli rich' });
    const secret = {
      webhookSecret,
      ...APP,
      encryptionCertificates: { 'enc-cli': { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem } },
    };
    await t.putSecret(integrationId, secret);
    const user = randomUUID();

    // Act
    const added = await cli('connections', 'add', integrationId, 'conn-rich', '--tenant-id', tenant, '--subscribe', `users/${user}/messages:created`, '--include-resource-data');
    const refused = await cli('connections', 'subscribe', integrationId, 'conn-rich', 'users:created', '--include-resource-data');
    const created = await cli('subscriptions', 'create', integrationId, 'conn-1', '--resource', `users/${user}/events`, '--change-type', 'created', '--include-resource-data', '--json');

    // Assess
    expect(added.code).toBe(0);
    expect((await t.store.getConnection(integrationId, 'conn-rich'))?.subscriptions).toEqual([`users/${user}/messages:created;includeResourceData`]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cannot include resource data in Graph v1\.0: it is supported for .*Outlook message\/event\/contact/);
    expect(created.code).toBe(0);
    const { subscription } = JSON.parse(created.stdout) as { subscription: { subscriptionId: string } };
    expect(fake.subscription(subscription.subscriptionId)).toMatchObject({
      includeResourceData: true,
      encryptionCertificateId: 'enc-cli',
      encryptionCertificate: certificate.certificateDer.toString('base64'),
    });
    expect(await records.get(integrationId, subscription.subscriptionId)).toMatchObject({ includeResourceData: true, encryptionCertificateId: 'enc-cli' });
    expect((await t.store.getConnection(integrationId, 'conn-1'))?.subscriptions).toEqual([`users/${user}/events:created;includeResourceData`]);
  });

  it('refuses a rich create when the secret holds no encryption certificate, naming the command that makes one', async () => {
    // Prepare
    const { integrationId, tenant } = await integration();

    // Act
    const created = await cli('subscriptions', 'create', integrationId, 'conn-1', '--resource', `users/${randomUUID()}/messages`, '--change-type', 'created', '--include-resource-data');

    // Assess
    expect(created.code).toBe(1);
    expect(created.stderr).toMatch(new RegExp(`create one with: graph-relay certificates create ${integrationId}`));
    expect(fake.subscriptions(tenant)).toEqual([]);
    expect((await t.store.getConnection(integrationId, 'conn-1'))?.subscriptions ?? []).toEqual([]);
  });
  it('refuses a rich create when the current encryption certificate expired, before any call to Graph', async () => {
    // Prepare
    const { integrationId, webhookSecret, tenant } = await integration();
    const expired = createSelfSignedCertificate({ commonName: 'graph-relay cli expired', validFrom: Date.now() - 48 * 3_600_000, validTo: Date.now() - 3_600_000 });
    const secret = { webhookSecret, ...APP, encryptionCertificates: { 'enc-old': { certificatePem: expired.certificatePem, privateKeyPem: expired.privateKeyPem } } };
    await t.putSecret(integrationId, secret);
    fake.resetStats();

    // Act
    const created = await cli('subscriptions', 'create', integrationId, 'conn-1', '--resource', `users/${randomUUID()}/messages`, '--change-type', 'created', '--include-resource-data');

    // Assess
    expect(created.code).toBe(1);
    expect(created.stderr).toMatch(new RegExp(`the current encryption certificate "enc-old" expired .*; create one with: graph-relay certificates create ${integrationId}\n$`));
    expect(fake.stats()).toEqual({});
    expect(fake.subscriptions(tenant)).toEqual([]);
  });
});
