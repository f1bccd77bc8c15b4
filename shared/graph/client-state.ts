import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time comparison of a notification's clientState with an expected secret. Both sides are hashed
 * first so the comparison takes the same time whatever the lengths.
 */
export function clientStateMatches(received: string | undefined, expected: string): boolean {
  if (received === undefined || expected.length === 0) return false;
  const a = createHash('sha256').update(received, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Per-tenant clientState: `gr1.<tenant>.<mac>`, where mac is the base64url HMAC-SHA256, keyed by the integration's
 * webhook secret, of the integration id and the tenant. 84 characters, inside Graph's 128-character limit. The tenant
 * travels in the clear so that a notification that names no tenant (Graph sometimes sends none) still has one the
 * secret vouches for; a value made for one tenant verifies no notification of another.
 */
const TENANT_CLIENT_STATE = /^gr1\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

export function tenantClientState(secret: string, integrationId: string, tenantId: string): string {
  const tenant = tenantId.toLowerCase();
  return `gr1.${tenant}.${tenantMac(secret, integrationId, tenant).toString('base64url')}`;
}

function tenantMac(secret: string, integrationId: string, tenant: string): Buffer {
  return createHmac('sha256', secret).update(`graph-relay clientState v1\n${integrationId}\n${tenant}`, 'utf8').digest();
}

/**
 * Which webhook secret a per-tenant clientState was made with, as the subscription's record keeps it: 16 hex digits
 * of a SHA-256 of the secret (never the secret), so an operator can see which subscriptions still carry a value of
 * the previous secret before dropping it.
 */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(`graph-relay webhook secret fingerprint\n${secret}`, 'utf8').digest('hex').slice(0, 16);
}

/** The clientState a new subscription of `tenantId` carries, and the fingerprint its record keeps. */
export function newSubscriptionClientState(secret: string, integrationId: string, tenantId: string): { clientState: string; clientStateKey: string } {
  return { clientState: tenantClientState(secret, integrationId, tenantId), clientStateKey: secretFingerprint(secret) };
}

/** What an integration accepts as clientState: its secrets (current first, then the previous one) and whether their plain value counts. */
export interface ClientStatePolicy {
  integrationId: string;
  secrets: readonly string[];
  /**
   * Whether the plain secret is accepted for every tenant (subscriptions created outside graph-relay with one
   * secret for all, the flow Nango documents). When false, only per-tenant values are.
   */
  acceptShared: boolean;
}

export type ClientStateVerdict =
  /** `tenant`: the tenant a per-tenant value vouches for (lower case); absent for the plain secret. */
  | { ok: true; kind: 'per-tenant'; tenant: string }
  | { ok: true; kind: 'shared' }
  | { ok: false };

/**
 * Verifies a notification's clientState for the tenant it names (`claimedTenant`, from `tenantId` or
 * `organizationId`; undefined when it names none). A per-tenant value verifies only a notification of its own
 * tenant (or one naming no tenant, which then belongs to the value's tenant). Every accepted secret is compared,
 * so timing does not tell which one matched.
 */
export function verifyClientState(received: string | undefined, claimedTenant: string | undefined, policy: ClientStatePolicy): ClientStateVerdict {
  if (received === undefined || policy.secrets.length === 0) return { ok: false };
  const perTenant = TENANT_CLIENT_STATE.exec(received);
  if (perTenant !== null) {
    const tenant = perTenant[1] ?? '';
    const text = perTenant[2] ?? '';
    const mac = Buffer.from(text, 'base64url');
    // Only the canonical encoding: the last of 43 characters carries two bits that decoding ignores, and a value
    // graph-relay never issued must not verify.
    const canonical = mac.length === 32 && mac.toString('base64url') === text;
    const matched = policy.secrets.map((secret) => canonical && timingSafeEqual(mac, tenantMac(secret, policy.integrationId, tenant))).includes(true);
    if (matched && (claimedTenant === undefined || claimedTenant.toLowerCase() === tenant)) return { ok: true, kind: 'per-tenant', tenant };
  }
  if (policy.acceptShared && policy.secrets.map((secret) => clientStateMatches(received, secret)).includes(true)) return { ok: true, kind: 'shared' };
  return { ok: false };
}
