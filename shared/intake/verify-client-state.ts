import { verifyClientState } from '../graph/client-state';
import { claimedTenantOf, clientStateOf } from '../graph/change-notification';
import type { RegisteredIntegration } from '../routing/integration-registry';
import type { AcceptedSecrets, FreshSecrets } from '../secrets/integration-secret-cache';

/** An item that carries a clientState, not yet parsed. */
export interface Candidate {
  index: number;
  item: unknown;
  clientState: string;
  /** `tenantId`, else `organizationId`, as the item names it. */
  claimedTenant: string | undefined;
}

/** A candidate whose clientState verified; `tenant` is the one a per-tenant clientState vouches for. */
export interface Matched extends Candidate {
  tenant?: string;
}

/** Only items that carry a clientState can verify: a POST with none costs no secret read. */
export function candidatesOf(items: readonly unknown[]): Candidate[] {
  const candidates: Candidate[] = [];
  items.forEach((item, index) => {
    const clientState = clientStateOf(item);
    if (clientState !== undefined) candidates.push({ index, item, clientState, claimedTenant: claimedTenantOf(item) });
  });
  return candidates;
}

/**
 * Checks each clientState against the accepted secrets: for a notification of tenant T, T's per-tenant value, or the
 * plain secret when the integration accepts it. On a mismatch the secret is read again (`reread`) unless it was read
 * since the request arrived (a rotation takes effect at once). Only a POST in which nothing verified may find the
 * re-read rate-limited: its mismatches are then `unconfirmed`, never proven forged, and it is refused (non-2xx).
 */
export async function verifyCandidates(
  integration: RegisteredIntegration,
  candidates: readonly Candidate[],
  secrets: AcceptedSecrets,
  reread: (options: { vouched: boolean }) => Promise<FreshSecrets>,
): Promise<{ matched: Matched[]; unconfirmed: number }> {
  const check = (accepted: AcceptedSecrets) => {
    const policy = { integrationId: integration.integrationId, secrets: accepted ?? [], acceptShared: integration.sharedClientState !== 'refused' };
    const matched: Matched[] = [];
    const mismatched: Candidate[] = [];
    for (const candidate of candidates) {
      const verdict = verifyClientState(candidate.clientState, candidate.claimedTenant, policy);
      if (!verdict.ok) mismatched.push(candidate);
      else matched.push(verdict.kind === 'per-tenant' ? { ...candidate, tenant: verdict.tenant } : candidate);
    }
    return { matched, mismatched };
  };

  let result = check(secrets);
  let unconfirmed = 0;
  if (result.mismatched.length > 0) {
    // Items the cached secret verified vouch for the sender, so the re-read is made now rather than rate-limited.
    const fresh = await reread({ vouched: result.matched.length > 0 });
    if (fresh === 'unconfirmed') unconfirmed = result.mismatched.length;
    else result = check(fresh);
  }
  return { matched: result.matched.sort((a, b) => a.index - b.index), unconfirmed };
}
