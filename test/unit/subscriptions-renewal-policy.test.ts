import {
  RENEWAL_SAFETY_MARGIN_MINUTES,
  RENEWAL_SHARD_COUNT,
  RENEWAL_SHARDS,
  renewalDueAt,
  renewalShardOf,
} from '../../shared/subscriptions/renewal-policy';
import { randomUUID } from 'node:crypto';

const MINUTE = 60_000;

describe('renewalDueAt', () => {
  it('is half way through a long lifetime (users: 41,760 minutes)', () => {
    // Prepare
    const grantedAt = '2026-01-01T00:00:00.000Z';
    const expiresAt = new Date(Date.parse(grantedAt) + 41_760 * MINUTE).toISOString();

    // Act
    const due = renewalDueAt({ grantedAt, expiresAt });

    // Assess
    expect(due).toBe(new Date(Date.parse(grantedAt) + 20_880 * MINUTE).toISOString());
  });

  it('is half way through a short lifetime too when the margin is further (Teams Shifts: 360 minutes)', () => {
    // Act
    const due = renewalDueAt({ grantedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T06:00:00.000Z' });

    // Assess
    expect(due).toBe('2026-01-01T03:00:00.000Z');
  });

  it('is the safety margin before expiry when that comes first (a 90-minute lifetime)', () => {
    // Act
    const due = renewalDueAt({ grantedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T01:30:00.000Z' });

    // Assess
    expect(RENEWAL_SAFETY_MARGIN_MINUTES).toBe(60);
    expect(due).toBe('2026-01-01T00:30:00.000Z');
  });

  it('is due at once for a lifetime no longer than the margin (presence: 60 minutes)', () => {
    // Act
    const due = renewalDueAt({ grantedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T01:00:00.000Z' });

    // Assess
    expect(Date.parse(due)).toBeLessThanOrEqual(Date.parse('2026-01-01T00:00:00.000Z'));
  });

  it('accepts Graph offsets and fractional seconds and answers in UTC ISO', () => {
    // Act
    const due = renewalDueAt({ grantedAt: '2026-01-01T02:00:00+02:00', expiresAt: '2026-01-03T00:00:00.0000000Z' });

    // Assess
    expect(due).toBe('2026-01-02T00:00:00.000Z');
  });

  it('refuses a timestamp it cannot read', () => {
    // Act
    const call = () => renewalDueAt({ grantedAt: 'yesterday', expiresAt: '2026-01-03T00:00:00Z' });

    // Assess
    expect(call).toThrow(RangeError);
  });
});

describe('renewalShardOf', () => {
  it('files a subscription under the same shard every time', () => {
    // Prepare
    const id = '7f105c7d-2dc5-4530-97cd-4e7ae6534c07';

    // Act
    const shards = [renewalShardOf(id), renewalShardOf(id)];

    // Assess
    expect(shards[0]).toBe(shards[1]);
    expect(RENEWAL_SHARDS).toContain(shards[0]);
  });

  it('spreads subscriptions over every shard', () => {
    // Prepare
    const ids = Array.from({ length: 2000 }, () => randomUUID());

    // Act
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(renewalShardOf(id), (counts.get(renewalShardOf(id)) ?? 0) + 1);

    // Assess
    expect(RENEWAL_SHARDS).toEqual(Array.from({ length: RENEWAL_SHARD_COUNT }, (_, i) => `RENEWAL#${i}`));
    expect([...counts.keys()].sort()).toEqual([...RENEWAL_SHARDS].sort());
    // 200 expected per shard; a shard under 100 would mean the hash is not spreading them.
    for (const count of counts.values()) expect(count).toBeGreaterThan(100);
  });
});
