/**
 * Rich notifications (change notifications with resource data) in the intake, after clientState verification and
 * before routing:
 *
 * 1. `validationTokens`: every token is validated (signature by Microsoft's keys, expiry, audience = the integration's
 *    app, Graph's change-tracking app, issuer of a tenant in the POST), and every tenant with encrypted items must
 *    have one (Graph sends one per app and tenant). One invalid or missing token makes the whole POST
 *    suspicious: nothing in it is published, and it is answered 202 as Microsoft recommends (a retry would carry
 *    the same token). A POST with encrypted items and no tokens is refused.
 * 2. Each `encryptedContent` is decrypted with the private key of its `encryptionCertificateId`; an item whose
 *    signature does not match is never published (counted as forged), the rest of the POST goes on.
 * 3. A certificate id the integration's secret does not hold, an unusable key, a JWKS that cannot be fetched or an
 *    integration without a client id is our configuration or Microsoft's availability, not the sender: the POST is
 *    answered 5xx so Graph redelivers while the operator is alerted.
 *
 * The published notification carries the plaintext resource as `decryptedContent` and no `encryptedContent`.
 */
import type { ChangeNotification } from '../graph/change-notification';
import { decryptContent, encryptedContentSchema, EncryptedContentError } from '../rich/encrypted-content';
import type { ValidationTokenVerifier } from '../rich/validation-tokens';
import type { EncryptionKeys } from '../secrets/encryption-keys';
import { describeError } from '../util/errors';

/** What the intake needs of an integration for rich notifications, from its secret. */
export interface RichConfig {
  /** The app's client id(s): the `aud` of Graph's validation tokens. Empty when the secret has none. */
  audiences: readonly string[];
  keys: EncryptionKeys;
}

export interface RichPorts {
  tokens: Pick<ValidationTokenVerifier, 'verify'>;
  /** @throws when the integration's secret cannot be read (the POST is answered 5xx). */
  configOf(integrationId: string): Promise<RichConfig>;
}

export interface RichItem {
  index: number;
  notification: ChangeNotification;
}

/** A notification as published after decryption: `decryptedContent` in place of `encryptedContent`. */
export type DecryptedNotification = ChangeNotification & { decryptedContent: unknown; encryptedContent?: never };

export type RichCheck =
  /** Nothing rich in the POST: the items go on untouched. */
  | { kind: 'plain' }
  /** Tokens valid; encrypted items decrypted in place, those that failed left out (forged). */
  | { kind: 'checked'; items: RichItem[]; forged: { index: number; reason: string }[] }
  /** A validation token failed: publish nothing, answer 202. */
  | { kind: 'tokens-refused'; reason: string }
  /** Encrypted items without validation tokens: refused (400). */
  | { kind: 'tokens-missing' }
  /** Configuration or JWKS problem: answer 5xx so Graph redelivers. */
  | { kind: 'unavailable'; reason: string };

export function isRich(tokens: readonly string[], items: readonly RichItem[]): boolean {
  return tokens.length > 0 || items.some((item) => item.notification.encryptedContent !== undefined);
}

export async function checkRichNotifications(
  integrationId: string,
  tokens: readonly string[],
  items: readonly RichItem[],
  ports: RichPorts | undefined,
): Promise<RichCheck> {
  if (!isRich(tokens, items)) return { kind: 'plain' };
  if (items.length === 0) return { kind: 'checked', items: [], forged: [] };
  if (tokens.length === 0) return { kind: 'tokens-missing' };
  if (ports === undefined) return { kind: 'unavailable', reason: 'rich notifications are not configured in this intake' };

  let config: RichConfig;
  try {
    config = await ports.configOf(integrationId);
  } catch (error) {
    return { kind: 'unavailable', reason: `cannot read the integration's secret: ${describeError(error)}` };
  }
  if (config.audiences.length === 0) {
    return {
      kind: 'unavailable',
      reason: `integration "${integrationId}" has no client id to check validation tokens against: set it with graph-relay integrations put ${integrationId} --client-id <guid> …`,
    };
  }

  const tenantIds = [...new Set(items.map((item) => item.notification.tenantId.toLowerCase()))];
  try {
    const result = await ports.tokens.verify(tokens, { audiences: config.audiences, tenantIds });
    if (!result.valid) return { kind: 'tokens-refused', reason: result.reason };
    // Graph sends one token per (app, tenant) with resource data: a tenant's encrypted items need its own token.
    const vouched = new Set(result.tenantIds);
    const uncovered = items.find((item) => item.notification.encryptedContent !== undefined && !vouched.has(item.notification.tenantId.toLowerCase()));
    if (uncovered !== undefined) {
      return { kind: 'tokens-refused', reason: `no validation token for tenant ${uncovered.notification.tenantId.toLowerCase()}, whose items carry resource data` };
    }
  } catch (error) {
    return { kind: 'unavailable', reason: `cannot validate the validation tokens: ${describeError(error)}` };
  }

  const checked: RichItem[] = [];
  const forged: { index: number; reason: string }[] = [];
  for (const item of items) {
    const { encryptedContent, ...rest } = item.notification;
    if (encryptedContent === undefined) {
      checked.push(item);
      continue;
    }
    const content = encryptedContentSchema.safeParse(encryptedContent);
    if (!content.success) {
      forged.push({ index: item.index, reason: `encryptedContent is malformed: ${content.error.issues.map((issue) => issue.message).join('; ')}` });
      continue;
    }
    let key;
    try {
      key = config.keys.privateKey(content.data.encryptionCertificateId);
    } catch (error) {
      return { kind: 'unavailable', reason: describeError(error) };
    }
    try {
      const decryptedContent = decryptContent(content.data, key);
      const decrypted: DecryptedNotification = { ...rest, decryptedContent };
      checked.push({ index: item.index, notification: decrypted });
    } catch (error) {
      if (!(error instanceof EncryptedContentError)) throw error;
      forged.push({ index: item.index, reason: error.message });
    }
  }
  return { kind: 'checked', items: checked, forged };
}
