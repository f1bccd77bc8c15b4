/**
 * App credentials in an integration's secret: the schema's additions (and that the webhook part still parses
 * alone), and appCredentialsFrom / appCredentialsKind with a real RSA key and self-signed certificate.
 */
import { generateKeyPairSync } from 'node:crypto';
import {
  appCredentialsFrom,
  appCredentialsKind,
  InvalidAppCredentialsError,
  MissingAppCredentialsError,
} from '../../shared/secrets/app-credentials';
import { integrationSecretSchema, webhookSecretsPartSchema } from '../../shared/secrets/integration-secret';
import { createTestCertificate } from '../../testkit/graph-fake/test-credentials';

const CLIENT_ID = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const WEBHOOK_SECRET = 'webhook-secret-0123456789';
const CLIENT_SECRET = 'Abc8Q~very.secret_value-1234567890abcdefgh';

const certificate = createTestCertificate();
const privateKeyPem = certificate.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const clientCertificate = { certificatePem: certificate.certificatePem, privateKeyPem };

describe('integrationSecretSchema', () => {
  it('still accepts a secret with only the webhook secret, keeping unknown fields', () => {
    // Act
    const parsed = integrationSecretSchema.parse({ webhookSecret: WEBHOOK_SECRET, note: 'kept' });

    // Assess
    expect(parsed).toEqual({ webhookSecret: WEBHOOK_SECRET, note: 'kept' });
  });

  it.each([
    ['a client secret', { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
    ['a certificate', { clientId: CLIENT_ID, clientCertificate }],
    ['nothing else (an integration that only receives: rich notifications are verified against it)', { clientId: CLIENT_ID }],
  ])('accepts a client id with %s', (_kind, credentials) => {
    // Act
    const parsed = integrationSecretSchema.safeParse({ webhookSecret: WEBHOOK_SECRET, ...credentials });

    // Assess
    expect(parsed.success).toBe(true);
  });

  it('leaves app credentials to their own schema: the intake part ignores them', () => {
    // Prepare
    const secret = { webhookSecret: WEBHOOK_SECRET, clientSecret: CLIENT_SECRET, clientCertificate };

    // Act
    const intake = webhookSecretsPartSchema.safeParse(secret);
    const full = integrationSecretSchema.safeParse(secret);

    // Assess
    expect(intake.success).toBe(true);
    expect(full.success).toBe(false);
  });
});

describe('appCredentialsFrom', () => {
  it('returns client secret credentials', () => {
    // Act
    const credentials = appCredentialsFrom({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, 'contoso');

    // Assess
    expect(credentials).toEqual({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });

  it("returns certificate credentials in the token client's shape", () => {
    // Act
    const credentials = appCredentialsFrom({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientCertificate }, 'contoso');

    // Assess
    expect(credentials).toEqual({ clientId: CLIENT_ID, certificate: { certificatePem: certificate.certificatePem, privateKeyPem } });
  });

  it('accepts a PKCS#1 ("RSA PRIVATE KEY") key as well', () => {
    // Prepare
    const pkcs1 = certificate.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

    // Act
    const credentials = appCredentialsFrom({ clientId: CLIENT_ID, clientCertificate: { ...clientCertificate, privateKeyPem: pkcs1 } }, 'contoso');

    // Assess
    expect(credentials).toMatchObject({ clientId: CLIENT_ID, certificate: { privateKeyPem: pkcs1 } });
  });

  it('throws MissingAppCredentialsError saying how to set them', () => {
    // Act
    const act = () => appCredentialsFrom({ webhookSecret: WEBHOOK_SECRET }, 'contoso');

    // Assess
    expect(act).toThrow(MissingAppCredentialsError);
    expect(act).toThrow(
      'integration "contoso" has no app credentials: set them with graph-relay integrations put contoso --client-id <guid> --client-secret - (or --client-certificate-file <pem>)',
    );
  });

  it('throws MissingAppCredentialsError for a client id alone, saying it only receives and how to add credentials', () => {
    // Act
    const act = () => appCredentialsFrom({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID }, 'contoso');

    // Assess
    expect(act).toThrow(MissingAppCredentialsError);
    expect(act).toThrow(
      `integration "contoso" only receives (client id ${CLIENT_ID}, no credentials): to call Graph, set them with graph-relay integrations put contoso ` +
        '--client-id <guid> --client-secret - (or --client-certificate-file <pem>)',
    );
  });

  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  it.each([
    ['both kinds', { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, clientCertificate }, 'set either clientSecret or clientCertificate, not both'],
    ['no client id', { clientSecret: CLIENT_SECRET }, 'clientId: clientId is required with clientSecret or clientCertificate'],
    ['a client id that is no GUID', { clientId: 'my-app', clientSecret: CLIENT_SECRET }, 'clientId: client id must be a GUID'],
    ['a client secret with a space', { clientId: CLIENT_ID, clientSecret: `${CLIENT_SECRET} ` }, 'clientSecret: client secret must be printable ASCII without spaces'],
    ['a certificate that is not PEM', { clientId: CLIENT_ID, clientCertificate: { ...clientCertificate, certificatePem: 'not a certificate' } }, 'clientCertificate: certificatePem is not a PEM X.509 certificate'],
    ['a key that is not PEM', { clientId: CLIENT_ID, clientCertificate: { ...clientCertificate, privateKeyPem: 'not a key' } }, 'clientCertificate: privateKeyPem is not a PEM private key'],
    ['the key of another certificate', { clientId: CLIENT_ID, clientCertificate: { ...clientCertificate, privateKeyPem: otherKey } }, 'clientCertificate: the private key does not belong to the certificate'],
    ['an EC key', { clientId: CLIENT_ID, clientCertificate: { ...clientCertificate, privateKeyPem: ecKey } }, 'clientCertificate: the private key must be RSA, not ec'],
    ['a certificate without its key', { clientId: CLIENT_ID, clientCertificate: { certificatePem: certificate.certificatePem } }, 'clientCertificate.privateKeyPem: Invalid input'],
  ])('refuses %s with InvalidAppCredentialsError, naming the problem but no value', (_case, secret, problem) => {
    // Act
    let thrown: unknown;
    try {
      appCredentialsFrom({ webhookSecret: WEBHOOK_SECRET, ...secret }, 'contoso');
    } catch (error) {
      thrown = error;
    }

    // Assess
    expect(thrown).toBeInstanceOf(InvalidAppCredentialsError);
    const message = (thrown as Error).message;
    expect(message).toMatch(/^integration "contoso" has invalid app credentials \(/);
    expect(message).toContain(problem);
    expect(message).not.toContain(CLIENT_SECRET);
    expect(message).not.toContain('PRIVATE KEY');
    expect(message).not.toContain('my-app');
    expect(message).not.toContain('\n');
  });

  it('refuses a secret that is not a JSON object', () => {
    // Act
    const act = () => appCredentialsFrom('{"clientId":"x"}', 'contoso');

    // Assess
    expect(act).toThrow(new InvalidAppCredentialsError('contoso', 'the secret is not a JSON object'));
  });
});

describe('appCredentialsKind', () => {
  it.each([
    [{ webhookSecret: WEBHOOK_SECRET }, 'none'],
    [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, 'secret'],
    [{ clientId: CLIENT_ID, clientCertificate }, 'certificate'],
    [{ clientId: CLIENT_ID }, 'receive-only'],
    [{ clientSecret: CLIENT_SECRET }, 'invalid'],
    [null, 'invalid'],
  ])('tells %j as %s', (secret, kind) => {
    // Act
    const actual = appCredentialsKind(secret);

    // Assess
    expect(actual).toBe(kind);
  });
});

describe('appCredentialsFrom on a cached secret', () => {
  it('returns the same credentials object for the same secret object, so the token client parses the PEMs once', () => {
    // Prepare
    const secret = { webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientCertificate };

    // Act
    const first = appCredentialsFrom(secret, 'contoso');
    const again = appCredentialsFrom(secret, 'contoso');
    const fromCopy = appCredentialsFrom({ ...secret }, 'contoso');

    // Assess
    expect(again).toBe(first);
    expect(fromCopy).not.toBe(first);
    expect(fromCopy).toEqual(first);
  });
});
