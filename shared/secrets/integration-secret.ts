import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as z from 'zod';

/** Graph caps clientState at 128 characters. */
export const MAX_CLIENT_STATE_LENGTH = 128;

const webhookSecret = z
  .string()
  .min(16, 'webhook secret must be at least 16 characters')
  .max(MAX_CLIENT_STATE_LENGTH, `webhook secret must be at most ${MAX_CLIENT_STATE_LENGTH} characters (Graph's clientState limit)`)
  .regex(/^[\x21-\x7e]+$/, 'webhook secret must be printable ASCII without spaces');

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The app's (client) id in Microsoft Entra ID. Messages never repeat the value: a typo could be a pasted secret. */
export const clientIdSchema = z.string().regex(GUID, 'client id must be a GUID such as 00000000-0000-0000-0000-000000000000');

/** An Entra ID client secret is about 40 printable characters; anything with spaces or control characters is a paste mistake. */
export const clientSecretSchema = z
  .string()
  .min(1, 'client secret must not be empty')
  .max(1024, 'client secret must be at most 1024 characters')
  .regex(/^[\x21-\x7e]+$/, 'client secret must be printable ASCII without spaces');

/**
 * Why a certificate and private key cannot sign client assertions, or `undefined` when they can: both PEMs parse
 * (node:crypto), the key is RSA (what the identity platform accepts for RS256/PS256) and belongs to the certificate.
 */
export function clientCertificateProblem(certificate: { certificatePem: string; privateKeyPem: string }): string | undefined {
  let x509: X509Certificate;
  let key: KeyObject;
  try {
    x509 = new X509Certificate(certificate.certificatePem);
  } catch {
    return 'certificatePem is not a PEM X.509 certificate';
  }
  try {
    key = createPrivateKey(certificate.privateKeyPem);
  } catch {
    return 'privateKeyPem is not a PEM private key (encrypted keys are not supported)';
  }
  if (key.asymmetricKeyType !== 'rsa') return `the private key must be RSA, not ${key.asymmetricKeyType ?? 'unknown'}`;
  if (!x509.checkPrivateKey(key)) return 'the private key does not belong to the certificate';
  return undefined;
}

export const clientCertificateSchema = z
  .object({
    certificatePem: z.string().min(1, 'certificatePem must not be empty'),
    privateKeyPem: z.string().min(1, 'privateKeyPem must not be empty'),
  })
  .superRefine((value, ctx) => {
    const problem = clientCertificateProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

export type ClientCertificate = z.infer<typeof clientCertificateSchema>;

/** Our name for an encryption certificate, sent to Graph as `encryptionCertificateId` (Graph allows 128 characters). */
export const encryptionCertificateIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'encryption certificate id must be 1-128 characters: letters, digits, ".", "_", ":", "-"');

/** RSA key sizes Graph accepts for `encryptionCertificate`. */
export const ENCRYPTION_KEY_BITS = { min: 2048, max: 4096 } as const;

/**
 * Why a certificate and private key cannot be a subscription's encryption certificate, or `undefined` when they can:
 * both PEMs parse, the key is RSA of 2048-4096 bits and belongs to the certificate.
 */
export function encryptionCertificateProblem(certificate: { certificatePem: string; privateKeyPem: string }): string | undefined {
  const problem = clientCertificateProblem(certificate);
  if (problem !== undefined) return problem;
  const bits = new X509Certificate(certificate.certificatePem).publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < ENCRYPTION_KEY_BITS.min || bits > ENCRYPTION_KEY_BITS.max) {
    return `the RSA key has ${bits} bits; Graph accepts ${ENCRYPTION_KEY_BITS.min} to ${ENCRYPTION_KEY_BITS.max}`;
  }
  return undefined;
}

export const encryptionCertificateSchema = z
  .object({
    certificatePem: z.string().min(1, 'certificatePem must not be empty'),
    privateKeyPem: z.string().min(1, 'privateKeyPem must not be empty'),
    /** When it was added: the newest is the default current one. */
    createdAt: z.iso.datetime({ offset: true }).optional(),
  })
  .superRefine((value, ctx) => {
    const problem = encryptionCertificateProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

export type EncryptionCertificate = z.infer<typeof encryptionCertificateSchema>;

const webhookFields = {
  webhookSecret,
  previousWebhookSecret: webhookSecret.optional(),
};

/**
 * App credentials for app-only Graph tokens: `clientId` with either `clientSecret` or `clientCertificate`. A
 * `clientId` alone is an integration that only receives (its subscriptions are made elsewhere): the intake still
 * needs it, as the audience of rich notifications' validation tokens.
 */
const appCredentialFields = {
  clientId: clientIdSchema.optional(),
  clientSecret: clientSecretSchema.optional(),
  clientCertificate: clientCertificateSchema.optional(),
};

function checkAppCredentials(
  value: { clientId?: string | undefined; clientSecret?: string | undefined; clientCertificate?: ClientCertificate | undefined },
  ctx: z.RefinementCtx,
): void {
  const hasSecret = value.clientSecret !== undefined;
  const hasCertificate = value.clientCertificate !== undefined;
  if (hasSecret && hasCertificate) {
    ctx.addIssue({ code: 'custom', message: 'set either clientSecret or clientCertificate, not both' });
  }
  if ((hasSecret || hasCertificate) && value.clientId === undefined) {
    ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'clientId is required with clientSecret or clientCertificate' });
  }
}

/**
 * Key pairs for rich notifications, by `encryptionCertificateId`: several at once during a rotation (Graph keeps
 * using the old certificate until each subscription is updated). New subscriptions use `currentEncryptionCertificateId`.
 */
const encryptionFields = {
  encryptionCertificates: z.record(encryptionCertificateIdSchema, encryptionCertificateSchema).optional(),
  currentEncryptionCertificateId: encryptionCertificateIdSchema.optional(),
};

function checkEncryptionCertificates(
  value: { encryptionCertificates?: Record<string, unknown> | undefined; currentEncryptionCertificateId?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  const current = value.currentEncryptionCertificateId;
  if (current !== undefined && value.encryptionCertificates?.[current] === undefined) {
    ctx.addIssue({ code: 'custom', path: ['currentEncryptionCertificateId'], message: `currentEncryptionCertificateId "${current}" is not among encryptionCertificates` });
  }
}

/**
 * What the intake needs: the webhook secrets only, so app credentials an operator got wrong never stop
 * notifications from being accepted.
 */
export const webhookSecretsPartSchema = z.object(webhookFields).loose();

/** The app credentials of the secret only (the webhook secret is not checked), other fields preserved. */
export const appCredentialsPartSchema = z.object(appCredentialFields).loose().superRefine(checkAppCredentials);

/**
 * The JSON kept in an integration's Secrets Manager secret: the webhook secret(s), and optionally the app
 * credentials for Graph and the encryption certificates for rich notifications. Other fields are preserved when the webhook secret is rotated or credentials are set.
 */
export const integrationSecretSchema = z
  .object({ ...webhookFields, ...appCredentialFields, ...encryptionFields })
  .loose()
  .superRefine((value, ctx) => {
    checkAppCredentials(value, ctx);
    checkEncryptionCertificates(value, ctx);
  });

export type IntegrationSecret = z.infer<typeof integrationSecretSchema>;

export const webhookSecretSchema = webhookSecret;

/** One secret per integration, named `<prefix><integrationId>`, e.g. `graph-relay/prod/integrations/contoso`. */
export function integrationSecretName(prefix: string, integrationId: string): string {
  return `${prefix}${integrationId}`;
}
