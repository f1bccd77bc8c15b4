/**
 * `doctor` with a multi-region (or local, lease on) context: the regions' checks come right after the renewal
 * schedule, in the text and the `--json` output alike, and a failing region fails doctor.
 */
import { doctor, runChecks } from '../../cli/commands/doctor';
import type { RegionsAccess, RegionsReport } from '../../cli/commands/doctor-regions';
import type { CommandContext } from '../../cli/context';
import { CommandFailedError, type Output } from '../../cli/output';

const NOW = new Date('2026-12-06T10:00:00Z');
const at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000).toISOString();

function healthyReport(overrides: Partial<RegionsReport> = {}): RegionsReport {
  return {
    regions: [
      { region: 'eu-west-1', role: 'primary', health: { status: 'ok', latencyMs: 40 }, dns: { healthyCheckers: 15, checkers: 15 } },
      { region: 'eu-central-1', role: 'secondary', health: { status: 'ok', latencyMs: 55 }, dns: { healthyCheckers: 15, checkers: 15 } },
    ],
    lease: { holder: 'eu-west-1', epoch: 3, renewedAt: at(-20), expiresAt: at(160) },
    leaseGraceSeconds: 60,
    replication: { maxLatencyMs: 900 },
    ...overrides,
  };
}

function context(regions: RegionsAccess | undefined): CommandContext {
  return {
    target: { region: 'eu-west-1', connectionsTable: 't', webhookSecretPrefix: 'p/', webhookBaseUrl: 'https://relay.example/webhook/', primaryRegion: 'eu-west-1', secondaryRegion: 'eu-central-1', writerLeaseTable: 'lease' },
    store: {
      listIntegrations: async () => ({ integrations: [{ integrationId: 'contoso', provider: 'p', createdAt: '', updatedAt: '' }], invalidItems: [] }),
      listConnections: async () => ({ connections: [], invalidItems: [] }),
    },
    subscriptions: { listByIntegration: async () => ({ subscriptions: [], invalidItems: [] }) },
    secrets: { read: async () => JSON.stringify({ webhookSecret: 'doctor-webhook-secret-0123456789' }) },
    renewalSchedule: { status: async () => ({ state: 'enabled', description: 'schedule on' }) },
    ...(regions === undefined ? {} : { regions }),
  } as unknown as CommandContext;
}

/** Answers the handshake as Graph requires. */
const echo: typeof fetch = async (input) => {
  const token = new URL(String(input)).searchParams.get('validationToken') ?? '';
  return new Response(token, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } });
};

const dependencies = { fetch: echo, now: () => NOW };

function capture(): Output & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (line) => lines.push(line), err: (line) => lines.push(line) };
}

describe('doctor: the regions in runChecks', () => {
  it('adds each region, the writer lease and replication right after the renewal schedule', async () => {
    // Act
    const checks = await runChecks(context({ report: async () => healthyReport() }), dependencies);

    // Assess
    expect(checks.slice(0, 6).map((c) => [c.check, c.ok])).toEqual([
      ['renewal schedule', true],
      ['region eu-west-1 (primary)', true],
      ['region eu-central-1 (secondary)', true],
      ['Graph writer lease', true],
      ['connections table replication', true],
      ['webhook handshake contoso', true],
    ]);
    expect(checks[3]?.detail).toBe('held by eu-west-1 (epoch 3), renewed 20 s ago, expires in 160 s');
  });

  it('passes with healthy regions, and carries their checks in --json', async () => {
    // Prepare
    const output = capture();

    // Act
    await doctor(context({ report: async () => healthyReport() }), { json: true }, output, dependencies);

    // Assess
    const printed = JSON.parse(output.lines.join('\n')) as { healthy: boolean; checks: { check: string }[] };
    expect(printed.healthy).toBe(true);
    expect(printed.checks.map((c) => c.check).slice(1, 5)).toEqual(['region eu-west-1 (primary)', 'region eu-central-1 (secondary)', 'Graph writer lease', 'connections table replication']);
  });

  it('fails doctor (exit 1) when a region cannot be reached', async () => {
    // Prepare
    const report = healthyReport({
      regions: [
        { region: 'eu-west-1', role: 'primary', health: { status: 'ok', latencyMs: 40 } },
        { region: 'eu-central-1', role: 'secondary', health: { status: 'unreachable', problem: 'connect ECONNREFUSED' } },
      ],
    });
    const output = capture();

    // Act
    const act = doctor(context({ report: async () => report }), { json: false }, output, dependencies);

    // Assess
    await expect(act).rejects.toThrow(CommandFailedError);
    expect(output.lines.filter((line) => line.startsWith('✗'))).toEqual([
      expect.stringMatching(/^✗ region eu-central-1 \(secondary\): \/health cannot be reached \(connect ECONNREFUSED\)/),
    ]);
  });

  it('turns a report that throws into one failed check naming what failed, and goes on', async () => {
    // Prepare
    const failing: RegionsAccess = {
      report: async () => {
        throw Object.assign(new Error('User is not authorized to perform: dynamodb:GetItem on table lease'), { name: 'AccessDeniedException' });
      },
    };

    // Act
    const checks = await runChecks(context(failing), dependencies);

    // Assess
    expect(checks[1]).toEqual({
      check: 'regions',
      ok: false,
      detail: 'the regions, the Graph writer lease and replication could not be read: AccessDeniedException: User is not authorized to perform: dynamodb:GetItem on table lease',
      fix: 'check this identity may read the regional stacks (cloudformation:DescribeStacks), Route 53 health checks, CloudWatch metrics and table lease in eu-west-1',
    });
    expect(checks[2]?.check).toBe('webhook handshake contoso');
  });

  it('adds nothing without regions, nor for a report that says one region', async () => {
    // Act
    const without = await runChecks(context(undefined), dependencies);
    const single = await runChecks(context({ report: async () => undefined }), dependencies);

    // Assess
    expect(without.map((c) => c.check)).toEqual(single.map((c) => c.check));
    expect(without.map((c) => c.check).slice(0, 2)).toEqual(['renewal schedule', 'webhook handshake contoso']);
    expect(without.some((c) => c.check.startsWith('region') || c.check === 'Graph writer lease')).toBe(false);
  });
});
