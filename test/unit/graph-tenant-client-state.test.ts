/**
 * Per-tenant clientState (`gr1.<tenant>.<mac>`) and `verifyClientState`: which values verify which notifications,
 * and that the comparisons made do not depend on which secret matched.
 */
import crypto from 'node:crypto';
import { tenantClientState, verifyClientState, type ClientStatePolicy } from '../../shared/graph/client-state';

const INTEGRATION = 'contoso';
const SECRET = 'current-webhook-secret-0123456789';
const PREVIOUS = 'previous-webhook-secret-0123456789';
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const OTHER_TENANT = '0f7c2d3e-1a2b-4c5d-8e9f-a0b1c2d3e4f5';
/** Graph's limit on a subscription's clientState. */
const GRAPH_MAX_CLIENT_STATE = 128;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function policy(fields: Partial<ClientStatePolicy> = {}): ClientStatePolicy {
  return { integrationId: INTEGRATION, secrets: [SECRET], acceptShared: false, ...fields };
}

/** The value with its MAC part replaced. */
function withMac(value: string, mac: (original: string) => string): string {
  const at = value.lastIndexOf('.');
  return `${value.slice(0, at + 1)}${mac(value.slice(at + 1))}`;
}

describe('tenantClientState', () => {
  it('is gr1.<tenant in lower case>.<43 base64url characters>, within Graph\'s 128 characters', () => {
    // Prepare
    const tenant = TENANT.toUpperCase();

    // Act
    const value = tenantClientState(SECRET, INTEGRATION, tenant);

    // Assess
    expect(value).toMatch(new RegExp(`^gr1\\.${TENANT}\\.[A-Za-z0-9_-]{43}$`));
    expect(value.length).toBeLessThanOrEqual(GRAPH_MAX_CLIENT_STATE);
  });

  it('differs per tenant, per integration and per secret, and is the same for the same inputs', () => {
    // Act
    const values = [
      tenantClientState(SECRET, INTEGRATION, TENANT),
      tenantClientState(SECRET, INTEGRATION, OTHER_TENANT),
      tenantClientState(SECRET, 'fabrikam', TENANT),
      tenantClientState(PREVIOUS, INTEGRATION, TENANT),
    ];

    // Assess
    expect(new Set(values).size).toBe(4);
    expect(tenantClientState(SECRET, INTEGRATION, TENANT.toUpperCase())).toBe(values[0]);
  });
});

describe('verifyClientState: per-tenant values', () => {
  it.each([
    ['as tenantId', TENANT],
    ['in upper case', TENANT.toUpperCase()],
  ])('verifies a notification of its own tenant (claimed %s)', (_label, claimed) => {
    // Prepare
    const value = tenantClientState(SECRET, INTEGRATION, TENANT);

    // Act
    const verdict = verifyClientState(value, claimed, policy());

    // Assess
    expect(verdict).toEqual({ ok: true, kind: 'per-tenant', tenant: TENANT });
  });

  it('verifies a notification that names no tenant, and gives the tenant it vouches for', () => {
    // Prepare
    const value = tenantClientState(SECRET, INTEGRATION, TENANT);

    // Act
    const verdict = verifyClientState(value, undefined, policy());

    // Assess
    expect(verdict).toEqual({ ok: true, kind: 'per-tenant', tenant: TENANT });
  });

  it("refuses a notification of another tenant, even when the plain secret is accepted", () => {
    // Prepare
    const value = tenantClientState(SECRET, INTEGRATION, TENANT);

    // Act
    const verdicts = [verifyClientState(value, OTHER_TENANT, policy()), verifyClientState(value, OTHER_TENANT, policy({ acceptShared: true }))];

    // Assess
    expect(verdicts).toEqual([{ ok: false }, { ok: false }]);
  });

  it('refuses a value made for another integration id, or with another secret', () => {
    // Prepare
    const otherIntegration = tenantClientState(SECRET, 'fabrikam', TENANT);
    const otherSecret = tenantClientState('some-other-secret-0123456789', INTEGRATION, TENANT);

    // Act
    const verdicts = [verifyClientState(otherIntegration, TENANT, policy()), verifyClientState(otherSecret, TENANT, policy())];

    // Assess
    expect(verdicts).toEqual([{ ok: false }, { ok: false }]);
  });

  it('accepts a value made with the previous secret while it is still accepted', () => {
    // Prepare
    const value = tenantClientState(PREVIOUS, INTEGRATION, TENANT);

    // Act
    const accepted = verifyClientState(value, TENANT, policy({ secrets: [SECRET, PREVIOUS] }));
    const dropped = verifyClientState(value, TENANT, policy({ secrets: [SECRET] }));

    // Assess
    expect(accepted).toEqual({ ok: true, kind: 'per-tenant', tenant: TENANT });
    expect(dropped).toEqual({ ok: false });
  });

  it.each([
    ['one MAC character changed', (mac: string) => `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`],
    ['the MAC truncated by one character', (mac: string) => mac.slice(0, -1)],
    ['the MAC with one character more', (mac: string) => `${mac}A`],
    ['the MAC as padded standard base64', (mac: string) => `${Buffer.from(mac, 'base64url').toString('base64')}`],
    ['the MAC as hex', (mac: string) => Buffer.from(mac, 'base64url').toString('hex')],
    ['no MAC', () => ''],
  ])('refuses a value with %s', (_label, alter) => {
    // Prepare
    const value = withMac(tenantClientState(SECRET, INTEGRATION, TENANT), alter);

    // Act
    const verdict = verifyClientState(value, TENANT, policy({ acceptShared: true }));

    // Assess
    expect(verdict).toEqual({ ok: false });
  });

  // The last of 43 base64url characters carries 2 bits that decode to nothing: a value whose last character differs
  // only in them decodes to the same MAC. Such a value was never issued, so it must not verify.
  it('refuses a value whose MAC is re-encoded with different unused trailing bits', () => {
    // Prepare
    const value = withMac(tenantClientState(SECRET, INTEGRATION, TENANT), (mac) => `${mac.slice(0, -1)}${BASE64URL[BASE64URL.indexOf(mac.at(-1) ?? 'A') ^ 1] ?? ''}`);

    // Act
    const verdict = verifyClientState(value, TENANT, policy());

    // Assess
    expect(value).not.toBe(tenantClientState(SECRET, INTEGRATION, TENANT));
    expect(verdict).toEqual({ ok: false });
  });

  it('refuses a value whose tenant part was changed to another tenant, or written in upper case', () => {
    // Prepare
    const value = tenantClientState(SECRET, INTEGRATION, TENANT);
    const moved = value.replace(TENANT, OTHER_TENANT);
    const upper = value.replace(TENANT, TENANT.toUpperCase());

    // Act
    const verdicts = [verifyClientState(moved, OTHER_TENANT, policy()), verifyClientState(moved, undefined, policy()), verifyClientState(upper, TENANT, policy())];

    // Assess
    expect(verdicts).toEqual([{ ok: false }, { ok: false }, { ok: false }]);
  });

  it('refuses everything when the integration has no secret, or the notification no clientState', () => {
    // Prepare
    const value = tenantClientState(SECRET, INTEGRATION, TENANT);

    // Act
    const verdicts = [verifyClientState(value, TENANT, policy({ secrets: [], acceptShared: true })), verifyClientState(undefined, TENANT, policy({ acceptShared: true }))];

    // Assess
    expect(verdicts).toEqual([{ ok: false }, { ok: false }]);
  });
});

describe('verifyClientState: the plain secret', () => {
  it('is accepted, for any tenant or none, only when the integration accepts it', () => {
    // Act
    const shared = [TENANT, OTHER_TENANT, undefined].map((tenant) => verifyClientState(SECRET, tenant, policy({ acceptShared: true })));
    const refused = verifyClientState(SECRET, TENANT, policy({ acceptShared: false }));

    // Assess
    expect(shared).toEqual([{ ok: true, kind: 'shared' }, { ok: true, kind: 'shared' }, { ok: true, kind: 'shared' }]);
    expect(refused).toEqual({ ok: false });
  });

  it('accepts the previous plain secret, and refuses a near miss', () => {
    // Act
    const previous = verifyClientState(PREVIOUS, TENANT, policy({ secrets: [SECRET, PREVIOUS], acceptShared: true }));
    const nearMiss = verifyClientState(`${SECRET} `, TENANT, policy({ secrets: [SECRET, PREVIOUS], acceptShared: true }));

    // Assess
    expect(previous).toEqual({ ok: true, kind: 'shared' });
    expect(nearMiss).toEqual({ ok: false });
  });
});

describe('verifyClientState: constant time', () => {
  afterEach(() => jest.restoreAllMocks());

  /** The fixed-size comparisons one verification makes, and their sizes. */
  function comparisons(received: string, accepted: ClientStatePolicy): number[] {
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    verifyClientState(received, TENANT, accepted);
    const sizes = compare.mock.calls.map(([a, b]) => {
      expect((a as NodeJS.ArrayBufferView).byteLength).toBe((b as NodeJS.ArrayBufferView).byteLength);
      return (a as NodeJS.ArrayBufferView).byteLength;
    });
    compare.mockRestore();
    return sizes;
  }

  it('compares a per-tenant value with every secret, whichever matches', () => {
    // Prepare
    const both = policy({ secrets: [SECRET, PREVIOUS] });

    // Act
    const first = comparisons(tenantClientState(SECRET, INTEGRATION, TENANT), both);
    const second = comparisons(tenantClientState(PREVIOUS, INTEGRATION, TENANT), both);
    const neither = comparisons(tenantClientState('some-other-secret-0123456789', INTEGRATION, TENANT), both);

    // Assess
    expect(first).toEqual([32, 32]);
    expect(second).toEqual(first);
    expect(neither).toEqual(first);
  });

  it('compares the plain secret with every secret, whichever matches', () => {
    // Prepare
    const both = policy({ secrets: [SECRET, PREVIOUS], acceptShared: true });

    // Act
    const first = comparisons(SECRET, both);
    const second = comparisons(PREVIOUS, both);
    const neither = comparisons('x'.repeat(100), both);

    // Assess
    expect(first).toEqual([32, 32]);
    expect(second).toEqual(first);
    expect(neither).toEqual(first);
  });
});
