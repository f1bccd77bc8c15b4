import { ParameterNotFoundError, TransformParameterError } from '@aws-lambda-powertools/parameters';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { integrationSecretName } from './integration-secret';
import { SecretUnavailableError } from './webhook-secrets';

export interface IntegrationSecretsOptions {
  client: SecretsManagerClient;
  prefix: string;
  /** How long a read secret is trusted before it is read again (rotation shows within this). */
  maxAgeSeconds: number;
}

/**
 * Whole integration secrets (webhook secret and app credentials) as parsed JSON, cached with an explicit max age.
 * The cache keeps the parsed object, so repeated reads return the same object and the credentials derived from
 * it (PEMs parsed, tokens cached) are reused until the secret is read again.
 */
export class IntegrationSecrets {
  private readonly provider: SecretsProvider;

  constructor(private readonly options: IntegrationSecretsOptions) {
    this.provider = new SecretsProvider({ awsSdkV3Client: options.client });
  }

  /** @throws SecretUnavailableError when the secret is missing, unreadable or not JSON; never with its value. */
  async read(integrationId: string): Promise<unknown> {
    const name = integrationSecretName(this.options.prefix, integrationId);
    try {
      return await this.provider.get(name, { maxAge: this.options.maxAgeSeconds, transform: 'json', throwOnMissing: true });
    } catch (error) {
      if (error instanceof ParameterNotFoundError) throw new SecretUnavailableError(`secret ${name} does not exist`);
      // A JSON parse error quotes the text it failed on, so its message is never repeated.
      if (error instanceof TransformParameterError) throw new SecretUnavailableError(`secret ${name} is not JSON`);
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
      throw new SecretUnavailableError(`cannot read secret ${name}: ${detail}`);
    }
  }
}
