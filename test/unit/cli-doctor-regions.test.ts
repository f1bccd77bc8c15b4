import { regionChecks, type RegionsReport, type RegionStatus } from '../../cli/commands/doctor-regions';

const NOW = new Date('2026-12-06T10:00:00Z');
const at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000).toISOString();

const healthy = (region: string, role: RegionStatus['role']): RegionStatus => ({
  region,
  role,
  health: { status: 'ok', latencyMs: 40 },
  dns: { healthyCheckers: 15, checkers: 15 },
});

function report(overrides: Partial<RegionsReport> = {}): RegionsReport {
  return {
    regions: [healthy('eu-west-1', 'primary'), healthy('eu-central-1', 'secondary')],
    lease: { holder: 'eu-west-1', epoch: 3, renewedAt: at(-20), expiresAt: at(160) },
    leaseGraceSeconds: 60,
    replication: { maxLatencyMs: 900 },
    ...overrides,
  };
}

const byName = (checks: ReturnType<typeof regionChecks>, name: string) => checks.find((c) => c.check === name);

describe('doctor: regions', () => {
  it('passes a healthy deployment: both regions, the primary writing, replication under the lease grace', () => {
    const checks = regionChecks(report(), NOW);

    expect(checks.map((c) => [c.check, c.ok, c.warning ?? false])).toEqual([
      ['region eu-west-1 (primary)', true, false],
      ['region eu-central-1 (secondary)', true, false],
      ['Graph writer lease', true, false],
      ['connections table replication', true, false],
    ]);
    expect(byName(checks, 'Graph writer lease')?.detail).toBe('held by eu-west-1 (epoch 3), renewed 20 s ago, expires in 160 s');
    expect(byName(checks, 'region eu-west-1 (primary)')?.detail).toContain('15 of 15 checkers');
  });

  it('says which checks a healthy region could not make yet (no integration: no secret to read)', () => {
    const checks = regionChecks(report({ regions: [{ region: 'eu-west-1', role: 'local', health: { status: 'ok', latencyMs: 12, skipped: ['secret'] } }] }), NOW);

    expect(byName(checks, 'region eu-west-1 (local)')).toMatchObject({ ok: true, detail: '/health ok (table, bus; secret not checked: no integration yet)' });
  });

  it('fails a region whose deep health fails, naming only the failing checks', () => {
    const checks = regionChecks(report({ regions: [{ region: 'eu-west-1', role: 'primary', health: { status: 'failed', failing: ['bus'], latencyMs: 2000 } }, healthy('eu-central-1', 'secondary')] }), NOW);

    const primary = byName(checks, 'region eu-west-1 (primary)');
    expect(primary?.ok).toBe(false);
    expect(primary?.detail).toBe('/health fails: bus');
  });

  it('fails an unreachable region and says where Graph goes meanwhile', () => {
    const checks = regionChecks(report({ regions: [healthy('eu-west-1', 'primary'), { region: 'eu-central-1', role: 'secondary', health: { status: 'unreachable', problem: 'connect ECONNREFUSED' } }] }), NOW);

    const secondary = byName(checks, 'region eu-central-1 (secondary)');
    expect(secondary?.ok).toBe(false);
    expect(secondary?.fix).toContain('other region');
  });

  it('warns when Route 53\'s checkers disagree with a region that answers doctor', () => {
    const checks = regionChecks(report({ regions: [{ ...healthy('eu-west-1', 'primary'), dns: { healthyCheckers: 2, checkers: 15 } }, healthy('eu-central-1', 'secondary')] }), NOW);

    expect(byName(checks, 'region eu-west-1 (primary)')).toMatchObject({ ok: true, warning: true });
  });

  it('warns when the secondary holds the lease after a failover, and fails when it has lapsed past the grace', () => {
    const failedOver = regionChecks(report({ lease: { holder: 'eu-central-1', epoch: 4, renewedAt: at(-10), expiresAt: at(170) } }), NOW);
    const lapsed = regionChecks(report({ lease: { holder: 'eu-central-1', epoch: 4, renewedAt: at(-400), expiresAt: at(-220) } }), NOW);
    const expiring = regionChecks(report({ lease: { holder: 'eu-west-1', epoch: 4, renewedAt: at(-200), expiresAt: at(-20) } }), NOW);

    expect(byName(failedOver, 'Graph writer lease')).toMatchObject({ ok: true, warning: true });
    expect(byName(lapsed, 'Graph writer lease')).toMatchObject({ ok: false });
    expect(byName(lapsed, 'Graph writer lease')?.detail).toContain('expired 220 s ago');
    expect(byName(expiring, 'Graph writer lease')).toMatchObject({ ok: true, warning: true });
  });

  it('fails when no region ever held the lease', () => {
    const { lease: _none, ...rest } = report();
    const checks = regionChecks(rest, NOW);

    expect(byName(checks, 'Graph writer lease')).toMatchObject({ ok: false });
  });

  it('warns when replication lags past the lease grace, or cannot be read', () => {
    expect(byName(regionChecks(report({ replication: { maxLatencyMs: 75_000 } }), NOW), 'connections table replication')).toMatchObject({ ok: true, warning: true });
    expect(byName(regionChecks(report({ replication: { problem: 'AccessDenied' } }), NOW), 'connections table replication')).toMatchObject({ ok: true, warning: true });
    expect(byName(regionChecks(report({ replication: { none: 'one DynamoDB Local (no replication)' } }), NOW), 'connections table replication')).toMatchObject({ ok: true });
  });
});
