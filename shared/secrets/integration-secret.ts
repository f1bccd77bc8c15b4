import * as z from 'zod';

/** Graph caps clientState at 128 characters. */
export const MAX_CLIENT_STATE_LENGTH = 128;

const webhookSecret = z
  .string()
  .min(16, 'webhook secret must be at least 16 characters')
  .max(MAX_CLIENT_STATE_LENGTH, `webhook secret must be at most ${MAX_CLIENT_STATE_LENGTH} characters (Graph's clientState limit)`)
  .regex(/^[\x21-\x7e]+$/, 'webhook secret must be printable ASCII without spaces');

/**
 * The JSON kept in an integration's Secrets Manager secret. Other fields (app credentials, added by later
 * capabilities) are preserved when the webhook secret is rotated.
 */
export const integrationSecretSchema = z
  .object({
    webhookSecret,
    previousWebhookSecret: webhookSecret.optional(),
  })
  .loose();

export type IntegrationSecret = z.infer<typeof integrationSecretSchema>;

export const webhookSecretSchema = webhookSecret;

/** One secret per integration, named `<prefix><integrationId>`, e.g. `graph-relay/prod/integrations/contoso`. */
export function integrationSecretName(prefix: string, integrationId: string): string {
  return `${prefix}${integrationId}`;
}
