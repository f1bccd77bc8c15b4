/**
 * doctor's clientState check: which value each recorded subscription carries, against what the intake accepts.
 */
import { clientStateCheck } from '../../cli/commands/doctor';
import { secretFingerprint } from '../../shared/graph/client-state';
import type { Integration } from '../../shared/store/items';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';

const AT = '2026-12-05T10:00:00.000Z';
const CURRENT = secretFingerprint('current-secret-0123456789');
const PREVIOUS = secretFingerprint('previous-secret-0123456789');
const RETIRED = secretFingerprint('retired-secret-0123456789');

function integration(overrides: Partial<Integration> = {}): Integration {
  return { integrationId: 'contoso', provider: 'microsoft-oauth2-cc', configVersion: 1, routesVersion: 0, createdAt: AT, updatedAt: AT, ...overrides };
}

function record(subscriptionId: string, clientStateKey?: string): SubscriptionRecord {
  return {
    integrationId: 'contoso',
    subscriptionId,
    connectionId: 'conn-1',
    tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    resource: 'users',
    changeTypes: ['updated'],
    ...(clientStateKey === undefined ? {} : { clientStateKey }),
    expiresAt: AT,
    status: 'active',
    createdAt: AT,
    updatedAt: AT,
  };
}

describe('doctor: clientState check', () => {
  it('says nothing when no subscription is recorded', () => {
    // Act
    const check = clientStateCheck(integration(), [], { current: CURRENT });

    // Assess
    expect(check).toBeUndefined();
  });

  it('passes when every subscription carries a value of the current secret or the plain secret while accepted', () => {
    // Act
    const check = clientStateCheck(integration(), [record('a', CURRENT), record('b')], { current: CURRENT });

    // Assess
    expect(check).toEqual({ check: 'clientState contoso', ok: true, detail: "1 subscription with their tenant's own value, 1 with the plain secret (accepted)" });
  });

  it('warns, without failing, while subscriptions still carry the previous secret', () => {
    // Act
    const check = clientStateCheck(integration(), [record('a', CURRENT), record('b', PREVIOUS)], { current: CURRENT, previous: PREVIOUS });

    // Assess
    expect(check).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/^1 subscription still carry a value of the previous secret/), fix: expect.stringContaining('(b)') });
  });

  it('fails for values of a secret the integration no longer has, naming them', () => {
    // Act
    const check = clientStateCheck(integration(), [record('a', CURRENT), record('gone-1', RETIRED), record('gone-2', RETIRED)], { current: CURRENT });

    // Assess
    expect(check).toMatchObject({ ok: false, detail: expect.stringContaining('their notifications are refused'), fix: expect.stringContaining('(gone-1, gone-2)') });
  });

  it('fails for plain-secret subscriptions when the integration refuses the plain secret, and says both ways out', () => {
    // Act
    const check = clientStateCheck(integration({ sharedClientState: 'refused' }), [record('a', CURRENT), record('plain')], { current: CURRENT });

    // Assess
    expect(check).toMatchObject({ ok: false, fix: expect.stringMatching(/\(plain\).*--shared-client-state accepted/) });
  });
});
