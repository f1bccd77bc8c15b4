/**
 * The app credentials kept in an integration's secret, as the token client wants them. Messages name the
 * integration and the problem, never a secret value.
 */
import { describeIssues } from '../graph/change-notification';
import type { AppCredentials } from '../graph/token-client';
import { appCredentialsPartSchema } from './integration-secret';

/**
 * Which kind of app credentials a secret holds; `receive-only` is a client id without credentials (the integration
 * receives, Graph is never called for it); `invalid` when they are set but unusable.
 */
export type AppCredentialsKind = 'secret' | 'certificate' | 'receive-only' | 'none' | 'invalid';

/** The integration's secret holds no app credentials (perhaps a client id alone): an operator has to set them. */
export class MissingAppCredentialsError extends Error {
  override readonly name = 'MissingAppCredentialsError';
  constructor(
    readonly integrationId: string,
    /** The client id of an integration that only receives. */
    readonly clientId?: string,
  ) {
    const what = clientId === undefined ? 'has no app credentials:' : `only receives (client id ${clientId}, no credentials): to call Graph,`;
    super(
      `integration "${integrationId}" ${what} set them with graph-relay integrations put ${integrationId} ` +
        '--client-id <guid> --client-secret - (or --client-certificate-file <pem>)',
    );
  }
}

/** The integration's secret holds app credentials that cannot be used (incomplete, both kinds, bad PEM, key mismatch). */
export class InvalidAppCredentialsError extends Error {
  override readonly name = 'InvalidAppCredentialsError';
  constructor(
    readonly integrationId: string,
    readonly reason: string,
  ) {
    super(
      `integration "${integrationId}" has invalid app credentials (${reason}): replace them with graph-relay integrations put ` +
        `${integrationId} --client-id <guid> --client-secret - (or --client-certificate-file <pem>)`,
    );
  }
}

function hasAny(secret: Record<string, unknown>): boolean {
  return secret['clientId'] !== undefined || secret['clientSecret'] !== undefined || secret['clientCertificate'] !== undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The token client's credentials from an integration's secret (its parsed JSON). Only the app-credential fields
 * are looked at, so a secret whose webhook secret is being fixed still yields its credentials.
 * @throws MissingAppCredentialsError when none are set, InvalidAppCredentialsError when they are unusable.
 */
export function appCredentialsFrom(secret: unknown, integrationId: string): AppCredentials {
  if (!isObject(secret)) throw new InvalidAppCredentialsError(integrationId, 'the secret is not a JSON object');
  const known = fromSecret.get(secret);
  if (known !== undefined) return known;
  const credentials = readAppCredentials(secret, integrationId);
  fromSecret.set(secret, credentials);
  return credentials;
}

/**
 * The credentials of each secret object already read: a cached secret yields the same credentials object, so
 * its PEMs are parsed and checked once here, and once in the token client (which caches by that object).
 */
const fromSecret = new WeakMap<object, AppCredentials>();

function readAppCredentials(secret: Record<string, unknown>, integrationId: string): AppCredentials {
  if (!hasAny(secret)) throw new MissingAppCredentialsError(integrationId);
  const parsed = appCredentialsPartSchema.safeParse(secret);
  if (!parsed.success) throw new InvalidAppCredentialsError(integrationId, describeIssues(parsed.error));
  const { clientId, clientSecret, clientCertificate } = parsed.data;
  // The schema guarantees a clientId with at most one of the two.
  if (clientId === undefined) throw new InvalidAppCredentialsError(integrationId, 'clientId is missing');
  if (clientSecret !== undefined) return { clientId, clientSecret };
  if (clientCertificate !== undefined) {
    return { clientId, certificate: { certificatePem: clientCertificate.certificatePem, privateKeyPem: clientCertificate.privateKeyPem } };
  }
  throw new MissingAppCredentialsError(integrationId, clientId);
}

/** Which app credentials a secret holds, for listings: never the values. */
export function appCredentialsKind(secret: unknown): AppCredentialsKind {
  if (!isObject(secret)) return 'invalid';
  if (!hasAny(secret)) return 'none';
  const parsed = appCredentialsPartSchema.safeParse(secret);
  if (!parsed.success) return 'invalid';
  if (parsed.data.clientSecret !== undefined) return 'secret';
  return parsed.data.clientCertificate !== undefined ? 'certificate' : 'receive-only';
}
