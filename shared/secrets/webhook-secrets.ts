import { ParameterNotFoundError } from '@aws-lambda-powertools/parameters';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describeIssues } from '../graph/change-notification';
import type { RichConfig } from '../intake/rich-notifications';
import { encryptionKeysFrom } from './encryption-keys';
import { clientIdSchema, integrationSecretName, webhookSecretsPartSchema } from './integration-secret';

/** The secret could not be read (service error, access denied): the request must fail with 5xx so Graph retries. */
export class SecretUnavailableError extends Error {
  override readonly name = 'SecretUnavailableError';
}

export interface WebhookSecretsOptions {
  client: SecretsManagerClient;
  prefix: string;
  /** How long a read secret is trusted before it is read again. */
  maxAgeSeconds: number;
  /** Minimum time between forced re-reads of one integration's secret after a clientState mismatch. */
  refreshIntervalSeconds: number;
  /**
   * When a scheduled re-read fails (Secrets Manager erroring or unreachable, not a missing secret), the last secret
   * read successfully keeps being used for up to this long, so that an outage of Secrets Manager does not turn every
   * webhook into a 503. 0 turns it off. A re-read forced by a clientState mismatch never falls back: a secret rotated
   * during the outage must not make genuine notifications look forged.
   */
  staleIfErrorSeconds?: number;
  /** Told each time a stale secret is used instead of a failed read (the runtime logs it). */
  onStale?: (event: { integrationId: string; ageSeconds: number; error: string }) => void;
  now?: () => number;
}

/** The webhook secrets an integration currently accepts, or `undefined` when it has none (refuse everything). */
export type AcceptedSecrets = readonly string[] | undefined;

/**
 * Integration webhook secrets from Secrets Manager, cached with an explicit max age. A mismatch may force one
 * re-read (rate-limited per integration) so a rotated secret takes effect at once.
 */
export class WebhookSecrets {
  private readonly provider: SecretsProvider;
  private readonly lastForcedAt = new Map<string, number>();
  private readonly missingUntil = new Map<string, number>();
  /** Integrations whose cached secret failed to parse: re-read (rate-limited) instead of serving it for max age. */
  private readonly invalid = new Set<string>();
  /**
   * The last secret text read per integration and its parsed JSON: one parse per change, one object to cache on.
   * `readAt` is when Secrets Manager (or the provider's cache, itself at most max age old) last returned it.
   */
  private readonly documents = new Map<string, { raw: string; json: unknown; readAt: number }>();
  private readonly now: () => number;

  constructor(private readonly options: WebhookSecretsOptions) {
    this.provider = new SecretsProvider({ awsSdkV3Client: options.client });
    this.now = options.now ?? Date.now;
  }

  async accepted(integrationId: string): Promise<AcceptedSecrets> {
    return this.read(integrationId, this.invalid.has(integrationId) && this.mayForce(integrationId));
  }

  /**
   * What rich notifications need from the same (cached) secret: the app's client id (the validation tokens'
   * audience) and the encryption keys. Plain notifications never depend on either.
   * @throws SecretUnavailableError when the secret cannot be read or does not exist.
   */
  async richConfig(integrationId: string): Promise<RichConfig> {
    const accepted = await this.accepted(integrationId);
    const document = this.documents.get(integrationId)?.json;
    if (accepted === undefined || document === undefined) {
      throw new SecretUnavailableError(`secret ${integrationSecretName(this.options.prefix, integrationId)} does not exist`);
    }
    const clientId = clientIdSchema.safeParse((document as Record<string, unknown>)['clientId']);
    return { audiences: clientId.success ? [clientId.data.toLowerCase()] : [], keys: encryptionKeysFrom(document) };
  }

  /** Re-reads after a mismatch unless this integration was re-read within the refresh interval. */
  async refreshAfterMismatch(integrationId: string): Promise<AcceptedSecrets | 'not-refreshed'> {
    // A secret just found missing is not looked for again before its negative entry expires.
    const missing = this.missingUntil.get(integrationId);
    if (missing !== undefined && missing > this.now()) return 'not-refreshed';
    if (!this.mayForce(integrationId)) return 'not-refreshed';
    return this.read(integrationId, true);
  }

  private mayForce(integrationId: string): boolean {
    const last = this.lastForcedAt.get(integrationId) ?? Number.NEGATIVE_INFINITY;
    if (this.now() - last < this.options.refreshIntervalSeconds * 1000) return false;
    this.lastForcedAt.set(integrationId, this.now());
    return true;
  }

  private async read(integrationId: string, forceFetch: boolean): Promise<AcceptedSecrets> {
    // A missing secret is remembered briefly so a flood of notifications does not become a flood of reads.
    const missing = this.missingUntil.get(integrationId);
    if (!forceFetch && missing !== undefined && missing > this.now()) return undefined;
    const name = integrationSecretName(this.options.prefix, integrationId);
    let raw: unknown;
    try {
      raw = await this.provider.get(name, {
        maxAge: this.options.maxAgeSeconds,
        forceFetch,
        throwOnMissing: true,
      });
    } catch (error) {
      if (error instanceof ParameterNotFoundError) {
        this.missingUntil.set(integrationId, this.now() + this.options.refreshIntervalSeconds * 1000);
        return undefined;
      }
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
      const stale = forceFetch ? undefined : this.staleAccepted(integrationId, name, detail);
      if (stale !== undefined) return stale;
      throw new SecretUnavailableError(`cannot read secret ${name}: ${detail}`);
    }
    this.missingUntil.delete(integrationId);
    try {
      const json = this.parse(integrationId, name, raw);
      const secrets = acceptedSecretsFrom(name, json);
      this.invalid.delete(integrationId);
      return secrets;
    } catch (error) {
      this.invalid.add(integrationId);
      throw error;
    }
  }

  /** The last good secret, if it is recent enough to stand in for a failed read. */
  private staleAccepted(integrationId: string, name: string, detail: string): readonly string[] | undefined {
    const known = this.documents.get(integrationId);
    const limitMs = (this.options.staleIfErrorSeconds ?? 0) * 1000;
    if (known === undefined || limitMs <= 0 || this.invalid.has(integrationId)) return undefined;
    const ageMs = this.now() - known.readAt;
    if (ageMs > limitMs) return undefined;
    this.options.onStale?.({ integrationId, ageSeconds: Math.round(ageMs / 1000), error: detail });
    return acceptedSecretsFrom(name, known.json);
  }

  private parse(integrationId: string, name: string, raw: unknown): unknown {
    if (typeof raw !== 'string') throw new SecretUnavailableError(`secret ${name} has no SecretString`);
    const known = this.documents.get(integrationId);
    if (known?.raw === raw) {
      known.readAt = this.now();
      return known.json;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new SecretUnavailableError(`secret ${name} is not JSON`);
    }
    this.documents.set(integrationId, { raw, json, readAt: this.now() });
    return json;
  }
}

function acceptedSecretsFrom(name: string, json: unknown): readonly string[] {
  // Only the webhook secrets: app credentials got wrong must not stop notifications from being accepted.
  const parsed = webhookSecretsPartSchema.safeParse(json);
  if (!parsed.success) throw new SecretUnavailableError(`secret ${name} is invalid: ${describeIssues(parsed.error)}`);
  return secretsOf(parsed.data);
}

function secretsOf(secret: { webhookSecret: string; previousWebhookSecret?: string | undefined }): readonly string[] {
  return secret.previousWebhookSecret === undefined
    ? [secret.webhookSecret]
    : [secret.webhookSecret, secret.previousWebhookSecret];
}
