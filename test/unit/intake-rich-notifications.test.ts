/**
 * Rich notifications through the intake's notification logic (processNotifications) with the real validation-token
 * verifier against a local JWKS, real encryption (the way Graph encrypts) and Microsoft's own test vector:
 * decrypted resources published, forged items and suspicious POSTs never published, configuration faults answered
 * so that Graph redelivers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventEntry } from '../../shared/events/contract';
import { parseNotificationEnvelope, type ChangeNotification, type NotificationEnvelope } from '../../shared/graph/change-notification';
import { processNotifications } from '../../shared/intake/process-notifications';
import type { RichConfig } from '../../shared/intake/rich-notifications';
import { createSelfSignedCertificate, type SelfSignedCertificate } from '../../cli/self-signed-certificate';
import { createValidationTokenVerifier } from '../../shared/rich/validation-tokens';
import { encryptionKeysFrom } from '../../shared/secrets/encryption-keys';
import { changeNotification, FakeSecrets, fakePorts, INTEGRATION_ID, routingSnapshot, TENANT_A, TENANT_B, type FakePorts } from '../support/fakes';
import { startFakeJwks, unreachableUrl, v1Claims, v2Claims, type FakeJwks } from '../../testkit/jwks';
import { encryptContent } from '../../testkit/rich-content';

const APP_ID = '3f6a1c2e-0d4b-4a7e-9b1a-5c2d7e8f9a01';
const FIXTURES = join(__dirname, '..', 'fixtures', 'rich-notification');
const SNAPSHOT = routingSnapshot({
  connections: [
    { connectionId: 'a-1', tenantId: TENANT_A },
    { connectionId: 'b-1', tenantId: TENANT_B },
  ],
});
const MESSAGE = { id: 'AAMkAGI2THVSAAA=', subject: 'Quarterly numbers', body: { contentType: 'text', content: 'Hello World' } };

let jwks: FakeJwks;
let current: SelfSignedCertificate;
let previous: SelfSignedCertificate;

beforeAll(async () => {
  jwks = await startFakeJwks();
  current = createSelfSignedCertificate({ commonName: 'graph-relay contoso 2026' });
  previous = createSelfSignedCertificate({ commonName: 'graph-relay contoso 2025' });
});

afterAll(async () => {
  await jwks.close();
});

const secretDocument = () => ({
  webhookSecret: 'unused-here-0123456789',
  clientId: APP_ID,
  encryptionCertificates: {
    'cert-2026': { certificatePem: current.certificatePem, privateKeyPem: current.privateKeyPem },
    'cert-2025': { certificatePem: previous.certificatePem, privateKeyPem: previous.privateKeyPem },
  },
});

function richPorts(config: Partial<RichConfig> = {}, jwksUrl = jwks.url): FakePorts {
  const ports = fakePorts({ snapshot: SNAPSHOT });
  const verifier = createValidationTokenVerifier({ jwksUrl });
  const document = secretDocument();
  ports.rich = {
    tokens: verifier,
    configOf: async () => ({ audiences: [APP_ID], keys: encryptionKeysFrom(document), ...config }),
  };
  return ports;
}

/** A rich notification of `tenantId` carrying `resource`, encrypted for `certificateId`. */
function richNotification(tenantId: string, resource: unknown = MESSAGE, certificate: SelfSignedCertificate = current, certificateId = 'cert-2026'): ChangeNotification {
  return changeNotification({
    tenantId,
    resource: `users/u1/messages/${String((resource as { id?: string }).id ?? 'x')}`,
    encryptedContent: { ...encryptContent(resource, { publicKey: certificate.publicKey, id: certificateId }), encryptionCertificateThumbprint: certificate.thumbprint },
  });
}

function collection(notifications: ChangeNotification[], validationTokens: string[]): NotificationEnvelope {
  return { items: notifications, validationTokens };
}

const tokenFor = (tenantId: string, overrides: Record<string, unknown> = {}) =>
  jwks.sign(v2Claims({ tenantId, audience: APP_ID, issuedAt: Math.floor(Date.now() / 1000) - 60 }, overrides));

const notificationsOf = (events: readonly EventEntry[]) => events.map((event) => event.detail.payload.value[0] as Record<string, unknown>);

describe('processNotifications: rich notifications', () => {
  it('publishes the decrypted resource as decryptedContent, without encryptedContent', async () => {
    // Prepare
    const ports = richPorts();
    const item = richNotification(TENANT_A);

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection([item], [await tokenFor(TENANT_A)]), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'accepted', counts: { received: 1, forged: 0, published: 1, events: 1 } });
    const [published] = notificationsOf(ports.publisher.published);
    expect(published?.['decryptedContent']).toEqual(MESSAGE);
    expect(published).not.toHaveProperty('encryptedContent');
    expect(published).not.toHaveProperty('clientState');
    expect(published?.['resourceData']).toEqual(item.resourceData);
  });

  it('decrypts with the old and the new certificate during a rotation', async () => {
    // Prepare
    const ports = richPorts();
    const underOld = richNotification(TENANT_A, { id: 'old' }, previous, 'cert-2025');
    const underNew = richNotification(TENANT_A, { id: 'new' }, current, 'cert-2026');

    // Act
    await processNotifications(INTEGRATION_ID, collection([underOld, underNew], [await tokenFor(TENANT_A)]), ports);

    // Assess
    expect(notificationsOf(ports.publisher.published).map((n) => n['decryptedContent'])).toEqual([{ id: 'old' }, { id: 'new' }]);
  });

  it('never publishes an item whose signature does not match, and publishes the rest', async () => {
    // Prepare
    const ports = richPorts();
    const genuine = richNotification(TENANT_A, { id: 'genuine' });
    const tampered = richNotification(TENANT_A, { id: 'tampered' });
    const content = tampered.encryptedContent as Record<string, string>;
    const data = Buffer.from(content['data'] ?? '', 'base64');
    data[0] = (data[0] ?? 0) ^ 0xff;
    content['data'] = data.toString('base64');

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection([tampered, genuine], [await tokenFor(TENANT_A)]), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'accepted', counts: { received: 2, forged: 1, published: 1 } });
    expect(notificationsOf(ports.publisher.published).map((n) => n['decryptedContent'])).toEqual([{ id: 'genuine' }]);
    expect(ports.logger.records).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'encrypted notifications refused', fields: expect.objectContaining({ items: 1, index: 0, reason: expect.stringMatching(/HMAC/) }) }),
    );
    expect(ports.deliveries.marked.size).toBe(1);
  });

  it.each([
    ['the wrong audience', { aud: 'a1b2c3d4-0000-4000-8000-0123456789ab' }, /audience/],
    ['the wrong azp', { azp: 'a1b2c3d4-0000-4000-8000-0123456789ab' }, /azp/],
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 3600 }, /expired/],
  ])('publishes nothing of a POST with %s, and answers it as accepted-but-suspicious', async (_what, overrides, reason) => {
    // Prepare
    const ports = richPorts();
    const items = [richNotification(TENANT_A), changeNotification({ tenantId: TENANT_A })];

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection(items, [await tokenFor(TENANT_A, overrides)]), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'suspicious', counts: { received: 2, forged: 2, published: 0 }, reason: expect.stringMatching(reason) });
    expect(ports.publisher.published).toEqual([]);
    expect(ports.deliveries.marked.size).toBe(0);
  });

  it("refuses a POST whose tenant B items ride on tenant A's token", async () => {
    // Prepare
    const ports = richPorts();
    const items = [richNotification(TENANT_A), richNotification(TENANT_B)];

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection(items, [await tokenFor(TENANT_A)]), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'suspicious', reason: `no validation token for tenant ${TENANT_B}, whose items carry resource data` });
    expect(ports.publisher.published).toEqual([]);
  });

  it('publishes a mixed-tenant POST when each tenant has its token (v1 and v2)', async () => {
    // Prepare
    const ports = richPorts();
    const items = [richNotification(TENANT_A, { id: 'a' }), richNotification(TENANT_B, { id: 'b' })];
    const tokens = [await tokenFor(TENANT_A), await jwks.sign(v1Claims({ tenantId: TENANT_B, audience: APP_ID, issuedAt: Math.floor(Date.now() / 1000) - 60 }))];

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection(items, tokens), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'accepted', counts: { published: 2, forged: 0 } });
    expect(ports.publisher.published.map((event) => [event.detail.connectionId, (event.detail.payload.value[0] as Record<string, unknown>)['decryptedContent']])).toEqual([
      ['a-1', { id: 'a' }],
      ['b-1', { id: 'b' }],
    ]);
  });

  it('refuses encrypted items that arrive without validation tokens', async () => {
    // Prepare
    const ports = richPorts();

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection([richNotification(TENANT_A)], []), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'unverifiable', counts: { forged: 1, published: 0 } });
    expect(ports.publisher.published).toEqual([]);
  });

  it.each([
    ['an unknown certificate id', () => richPorts(), (item: ChangeNotification) => ({ ...item, encryptedContent: { ...(item.encryptedContent ?? {}), encryptionCertificateId: 'cert-1999' } }), /no encryption certificate "cert-1999"/],
    ['an integration without a client id', () => richPorts({ audiences: [] }), (item: ChangeNotification) => item, /has no client id/],
  ])('answers 5xx (Graph redelivers) for %s: our configuration, not the sender', async (_what, makePorts, change, reason) => {
    // Prepare
    const ports = makePorts();
    const item = change(richNotification(TENANT_A));

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection([item], [await tokenFor(TENANT_A)]), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'unavailable' });
    expect(ports.publisher.published).toEqual([]);
    expect(ports.logger.records).toContainEqual(expect.objectContaining({ level: 'error', fields: expect.objectContaining({ reason: expect.stringMatching(reason) }) }));
  });

  it('answers 5xx when the JWKS cannot be fetched: never a silent drop, never trusted', async () => {
    // Prepare
    const ports = richPorts({}, await unreachableUrl());

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection([richNotification(TENANT_A)], [await tokenFor(TENANT_A)]), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'unavailable' });
    expect(ports.publisher.published).toEqual([]);
  });

  it('answers 5xx for a rich POST when the intake has no rich ports at all', async () => {
    // Prepare
    const ports = fakePorts({ snapshot: SNAPSHOT });

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, collection([richNotification(TENANT_A)], [await tokenFor(TENANT_A)]), ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'unavailable' });
  });

  it('suppresses a redelivery of an encrypted notification like any other (the key is of what Graph sent)', async () => {
    // Prepare
    const ports = richPorts();
    const item = richNotification(TENANT_A);
    const token = await tokenFor(TENANT_A);
    await processNotifications(INTEGRATION_ID, collection([item], [token]), ports);

    // Act
    const again = await processNotifications(INTEGRATION_ID, collection([item], [token]), ports);

    // Assess
    expect(again).toMatchObject({ kind: 'accepted', counts: { duplicates: 1, published: 0 } });
    expect(ports.publisher.published).toHaveLength(1);
  });

  it("decrypts Microsoft's SDK vector delivered as a changeNotificationCollection", async () => {
    // Prepare: the fixture's collection, its clientState and tenant, and a token we sign for that tenant
    const body = JSON.parse(readFileSync(join(FIXTURES, 'rich-notification.json'), 'utf8')) as { value: Record<string, unknown>[] };
    const vector = body.value[0] as { tenantId: string; clientState: string; encryptedContent: { encryptionCertificateId: string } };
    const parsed = parseNotificationEnvelope(JSON.stringify({ ...body, validationTokens: [await tokenFor(vector.tenantId)] }));
    const ports = fakePorts({ snapshot: routingSnapshot({ connections: [{ connectionId: 'vector', tenantId: vector.tenantId }] }), secrets: new FakeSecrets([vector.clientState]) });
    const document = {
      encryptionCertificates: {
        [vector.encryptedContent.encryptionCertificateId]: {
          certificatePem: readFileSync(join(FIXTURES, 'cert.pem'), 'utf8'),
          privateKeyPem: readFileSync(join(FIXTURES, 'key.pem'), 'utf8'),
        },
      },
    };
    ports.rich = { tokens: createValidationTokenVerifier({ jwksUrl: jwks.url }), configOf: async () => ({ audiences: [APP_ID], keys: encryptionKeysFrom(document) }) };

    // Act
    const outcome = await processNotifications(INTEGRATION_ID, parsed, ports);

    // Assess
    expect(outcome).toMatchObject({ kind: 'accepted', counts: { published: 1, forged: 0 } });
    const decrypted = notificationsOf(ports.publisher.published)[0]?.['decryptedContent'] as { etag: string; body: { content: string } };
    expect(decrypted.body.content).toBe('Hello World');
    expect(decrypted.etag).toBe('1625126194597');
  });
});
