/**
 * Subscriptions with resource data end to end on the local stack (intake over HTTP, DynamoDB Local, the AWS
 * emulator's bus, the reconcile and renewal functions) against the Graph fake, which encrypts like Graph and signs
 * validation tokens with a JWKS of its own that the intake is pointed at (GRAPH_JWKS_URL, read when the intake's
 * runtime is created, so it is set before the stack starts).
 *
 * Time: as in subscriptions-e2e.test.ts, `Date` (the product's clock) and the fake's clock move together.
 */
import { createHash, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { createSelfSignedCertificate, type SelfSignedCertificate } from '../../cli/self-signed-certificate';
import { DETAIL_TYPES, type ForwardDetail } from '../../shared/events/contract';
import { JWKS_URL_ENV } from '../../shared/rich/validation-tokens';
import { DynamoDbSubscriptionsStore } from '../../shared/store/subscriptions-store';
import { EXPIRY_SAFETY_MARGIN_MINUTES } from '../../shared/subscriptions/subscription-requests';
import { startGraphFake, type GraphFake } from '../../testkit/graph-fake';
import { startTestStack, type TestStack } from '../support/test-stack';
import { fakeDateOnly } from '../support/fake-date';

const APP = { clientId: randomUUID(), clientSecret: 'rich-e2e-app-secret~0123456789abcdef' };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Outlook subscriptions with resource data live 1,440 minutes; renewal is due once half of that has passed. */
const PAST_RICH_RENEWAL_TIME = 13 * HOUR;

let fake: GraphFake;
let t: TestStack;
let dynamodb: DynamoDBClient;
let subscriptions: DynamoDbSubscriptionsStore;
let first: SelfSignedCertificate;
let second: SelfSignedCertificate;

beforeAll(() => {
  first = createSelfSignedCertificate({ commonName: 'graph-relay rich e2e 1' });
  second = createSelfSignedCertificate({ commonName: 'graph-relay rich e2e 2' });
});

beforeEach(async () => {
  jest.resetModules();
  fakeDateOnly();
  fake = await startGraphFake({ apps: [APP], validationTimeoutMs: 2_000 });
  process.env[JWKS_URL_ENV] = fake.jwksUrl;
  t = await startTestStack({ renewal: { intervalSeconds: 0 }, graph: { apiUrl: fake.url, loginUrl: fake.loginUrl } });
  const d = t.stack.descriptor;
  dynamodb = new DynamoDBClient({ region: d.region, credentials: LOCAL_CREDENTIALS, endpoint: d.dynamodbEndpoint });
  subscriptions = new DynamoDbSubscriptionsStore(DynamoDBDocumentClient.from(dynamodb), d.connectionsTable);
});

afterEach(async () => {
  dynamodb?.destroy();
  await t?.stop();
  await fake?.close();
  delete process.env[JWKS_URL_ENV];
  jest.useRealTimers();
});

function advanceClocks(ms: number): void {
  jest.setSystemTime(Date.now() + ms);
  fake.clock.advance(ms);
}

function encryptionEntry(certificate: SelfSignedCertificate, createdAt: string) {
  return { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem, createdAt };
}

/** An integration whose secret holds app credentials and the first encryption certificate, with one rich declaration. */
async function richConnection() {
  const tenantId = randomUUID();
  const userId = randomUUID();
  const connectionId = `conn-${randomUUID().slice(0, 8)}`;
  const { integrationId, webhookSecret } = await t.seedIntegration({});
  const secret = { webhookSecret, ...APP, encryptionCertificates: { 'enc-1': encryptionEntry(first, new Date().toISOString()) }, currentEncryptionCertificateId: 'enc-1' };
  await t.putSecret(integrationId, secret);
  const declaration = `users/${userId}/messages:created;includeResourceData`;
  await t.store.addConnection({ integrationId, connectionId, tenantId, subscriptions: [declaration] });
  return { integrationId, webhookSecret, tenantId, connectionId, userId, secret };
}

function changeEvents(integrationId: string): Record<string, unknown>[] {
  return t.stack.emulator
    .events(t.stack.descriptor.eventBusName)
    .filter((e) => e['detail-type'] === DETAIL_TYPES.change && e.detail['providerConfigKey'] === integrationId)
    .flatMap((e) => ((e.detail['payload'] as { value: Record<string, unknown>[] }).value));
}

function message(subject: string): Record<string, unknown> {
  return { '@odata.type': '#Microsoft.Graph.Message', id: randomUUID(), subject, from: { emailAddress: { address: 'ceo@contoso.example' } } };
}

describe('rich subscriptions end to end: local stack + Graph fake', () => {
  it('creates the declared rich subscription with the certificate and the shorter lifetime, publishes decrypted content, and publishes nothing of a tampered POST', async () => {
    // Prepare
    const c = await richConnection();

    // Act 1: the reconciler creates the subscription
    const summary = await t.stack.reconcile.runNow();

    // Assess 1
    expect(summary).toMatchObject({ created: 1, failed: 0, invalidDeclarations: 0 });
    const [atGraph, ...others] = fake.subscriptions(c.tenantId);
    expect(others).toEqual([]);
    expect(atGraph).toMatchObject({
      resource: `users/${c.userId}/messages`,
      changeType: 'created',
      includeResourceData: true,
      encryptionCertificateId: 'enc-1',
      encryptionCertificate: first.certificateDer.toString('base64'),
    });
    const lifetimeMinutes = (atGraph!.expiresAt - atGraph!.createdAt) / MINUTE;
    expect(lifetimeMinutes).toBeGreaterThan(1_440 - EXPIRY_SAFETY_MARGIN_MINUTES - 1);
    expect(lifetimeMinutes).toBeLessThanOrEqual(1_440);
    const { subscriptions: records } = await subscriptions.listByIntegration(c.integrationId);
    expect(records).toEqual([expect.objectContaining({ subscriptionId: atGraph!.id, includeResourceData: true, encryptionCertificateId: 'enc-1', status: 'active' })]);

    // Act 2: Graph pushes a rich notification
    const content = message('Quarterly numbers');
    const pushed = await fake.pushChange(atGraph!.id, { changeType: 'created', resourceData: { '@odata.type': '#Microsoft.Graph.Message', id: content['id'] }, content });

    // Assess 2: the bus carries the decrypted resource, never the encrypted one
    expect(pushed).toMatchObject({ delivered: true, status: 202 });
    expect(pushed.payload.validationTokens).toHaveLength(1);
    const published = changeEvents(c.integrationId);
    expect(published).toEqual([expect.objectContaining({ subscriptionId: atGraph!.id, decryptedContent: content })]);
    expect(published[0]).not.toHaveProperty('encryptedContent');

    // Act 3: tampered POSTs (bad token signature, token for another app, no tokens, content signature not matching)
    const tampered = [
      await fake.pushChange(atGraph!.id, { changeType: 'created', content: message('forged 1') }, { rich: { tokens: 'bad-signature' } }),
      await fake.pushChange(atGraph!.id, { changeType: 'created', content: message('forged 2') }, { rich: { tokens: 'wrong-audience' } }),
      await fake.pushChange(atGraph!.id, { changeType: 'created', content: message('forged 3') }, { rich: { tokens: 'none' } }),
      await fake.pushChange(atGraph!.id, { changeType: 'created', content: message('forged 4') }, { rich: { content: 'bad-data-signature' } }),
    ];

    // Assess 3: answered, but nothing more on the bus
    expect(tampered.map((r) => r.status >= 200 && r.status < 500)).toEqual([true, true, true, true]);
    expect(changeEvents(c.integrationId)).toHaveLength(1);
    expect(fake.internalErrors()).toEqual([]);
  });

  it('rotates the certificate on renewal and decrypts pushes under the new and the old certificate', async () => {
    // Prepare: a rich subscription created with enc-1, then enc-2 becomes current (both keys kept in the secret)
    const c = await richConnection();
    await t.stack.reconcile.runNow();
    const [created] = fake.subscriptions(c.tenantId);
    const rotated = {
      ...c.secret,
      encryptionCertificates: { ...c.secret.encryptionCertificates, 'enc-2': encryptionEntry(second, new Date(Date.now() + MINUTE).toISOString()) },
      currentEncryptionCertificateId: 'enc-2',
    };
    await t.putSecret(c.integrationId, rotated);
    advanceClocks(PAST_RICH_RENEWAL_TIME);

    // Act 1: the renewal run
    const renewal = await t.stack.renewal.runNow();

    // Assess 1: the PATCH carried enc-2, the record names it, the lifetime stays the shorter one
    expect(renewal).toMatchObject({ due: 1, renewed: 1, failed: 0 });
    const renewed = fake.subscription(created!.id);
    expect(renewed).toMatchObject({ encryptionCertificateId: 'enc-2', encryptionCertificate: second.certificateDer.toString('base64'), renewals: 1 });
    expect((renewed!.expiresAt - fake.clock.now()) / MINUTE).toBeLessThanOrEqual(1_440);
    expect(await subscriptions.get(c.integrationId, created!.id)).toMatchObject({ encryptionCertificateId: 'enc-2', status: 'active' });

    // Act 2: a push under the new certificate, and one Graph still sends under the old
    const fresh = message('under enc-2');
    const stale = message('under enc-1');
    const underNew = await fake.pushChange(created!.id, { changeType: 'created', content: fresh });
    const underOld = await fake.pushChange(created!.id, { changeType: 'created', content: stale }, { rich: { certificateId: 'enc-1' } });

    // Assess 2
    expect([underNew.status, underOld.status]).toEqual([202, 202]);
    expect((underNew.payload.value[0]?.['encryptedContent'] as { encryptionCertificateId: string }).encryptionCertificateId).toBe('enc-2');
    expect((underOld.payload.value[0]?.['encryptedContent'] as { encryptionCertificateId: string }).encryptionCertificateId).toBe('enc-1');
    expect(changeEvents(c.integrationId).map((n) => n['decryptedContent'])).toEqual([fresh, stale]);
  });

  it('delivers a 300 KB decrypted resource whole, through the payload bucket', async () => {
    // Prepare
    const c = await richConnection();
    await t.stack.reconcile.runNow();
    const [created] = fake.subscriptions(c.tenantId);
    const large = { ...message('a long thread'), body: { contentType: 'html', content: `<p>${'Größe ✓ '.repeat(30_000)}</p>` } };
    const s3 = new S3Client({ region: t.stack.descriptor.region, credentials: LOCAL_CREDENTIALS, endpoint: t.stack.descriptor.awsEmulatorEndpoint, forcePathStyle: true });

    try {
      // Act
      const pushed = await fake.pushChange(created!.id, { changeType: 'created', content: large });
      const events = t.stack.emulator
        .events(t.stack.descriptor.eventBusName)
        .filter((e) => e['detail-type'] === DETAIL_TYPES.change && e.detail['providerConfigKey'] === c.integrationId);
      const detail = events[0]?.detail as unknown as ForwardDetail;
      const ref = detail.payloadRef!;
      const object = await s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());

      // Assess: the event names the object and keeps the routing fields; the object holds the plaintext, whole
      expect(pushed.status).toBe(202);
      expect(events).toHaveLength(1);
      expect(detail.connectionId).toBe(c.connectionId);
      expect(detail.payload.value[0]).toEqual(expect.objectContaining({ subscriptionId: created!.id, changeType: 'created' }));
      expect(detail.payload.value[0]).not.toHaveProperty('decryptedContent');
      expect(bytes.length).toBe(ref.size);
      expect(bytes.length).toBeGreaterThan(300 * 1024);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref.sha256);
      const full = JSON.parse(bytes.toString('utf8')) as ForwardDetail;
      expect(full.payload.value[0]?.['decryptedContent']).toEqual(large);
      expect(full.payload.value[0]).not.toHaveProperty('encryptedContent');
    } finally {
      s3.destroy();
    }
  });

  it('fails a rich create without calling Graph when the secret has no encryption certificate', async () => {
    // Prepare
    const c = await richConnection();
    const { encryptionCertificates: _removed, currentEncryptionCertificateId: _current, ...withoutCertificates } = c.secret;
    await t.putSecret(c.integrationId, withoutCertificates);
    fake.resetStats();

    // Act
    const summary = await t.stack.reconcile.runNow();

    // Assess
    expect(summary).toMatchObject({ created: 0, failed: 1 });
    expect(fake.subscriptions(c.tenantId)).toEqual([]);
    expect(fake.stats()).toEqual({});
  });
});
