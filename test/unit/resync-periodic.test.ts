import { periodicDue, sweepPeriodicResyncs } from '../../shared/resync/periodic';
import type { ResyncJob } from '../../shared/resync/resync-job';
import type { ResyncState } from '../../shared/store/resync-checkpoints';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-05T12:00:00.000Z');

function state(overrides: Partial<ResyncState> = {}): ResyncState {
  return {
    integrationId: 'contoso',
    connectionId: 'conn-1',
    declaration: 'users:updated',
    subscriptionId: 'sub-1',
    tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    resource: 'users',
    deltaLink: 'https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x',
    deltaLinkAt: new Date(NOW - 25 * HOUR).toISOString(),
    updatedAt: new Date(NOW - 25 * HOUR).toISOString(),
    ...overrides,
  };
}

describe('periodicDue', () => {
  it('is due once the last run and the baseline are older than the interval, and never during a run', () => {
    expect(periodicDue(state(), NOW, 24 * HOUR)).toBe(true);
    expect(periodicDue(state({ deltaLinkAt: new Date(NOW - 23 * HOUR).toISOString() }), NOW, 24 * HOUR)).toBe(false);
    const recentRun = { trigger: 'missed' as const, mode: 'incremental' as const, outcome: 'failed' as const, finishedAt: new Date(NOW - HOUR).toISOString(), objects: 0, pages: 0, durationMs: 5 };
    expect(periodicDue(state({ lastRun: recentRun }), NOW, 24 * HOUR)).toBe(false);
    const running = { mode: 'full' as const, trigger: 'operator' as const, next: 'https://graph.microsoft.com/v1.0/users/delta', startedAt: new Date(NOW - 30 * HOUR).toISOString(), pages: 1, changed: 100, deleted: 0, throttled: 0, resumed: 0 };
    expect(periodicDue(state({ run: running }), NOW, 24 * HOUR)).toBe(false);
    // No baseline yet (it failed): due, so the net takes it.
    const { deltaLink: _d, deltaLinkAt: _a, ...noBaseline } = state();
    expect(periodicDue(noBaseline, NOW, 24 * HOUR)).toBe(true);
  });
});

describe('sweepPeriodicResyncs', () => {
  it('pages every integration\'s resync states and asks for a periodic catch-up of the due ones only', async () => {
    // Prepare: integration a has 150 states over two pages, 100 of them due; b has one unreadable item
    const pages: Record<string, { states: ResyncState[]; invalid: { sk: string; reason: string }[]; lastKey?: { pk: string; sk: string } }[]> = {
      a: [
        { states: Array.from({ length: 100 }, (_, i) => state({ integrationId: 'a', subscriptionId: `a-${i}` })), invalid: [], lastKey: { pk: 'INTEGRATION#a', sk: 'RESYNC#x' } },
        { states: Array.from({ length: 50 }, (_, i) => state({ integrationId: 'a', subscriptionId: `a-late-${i}`, deltaLinkAt: new Date(NOW - HOUR).toISOString() })), invalid: [] },
      ],
      b: [{ states: [], invalid: [{ sk: 'RESYNC#bad', reason: 'invalid' }] }],
    };
    const asked: ResyncJob[][] = [];
    const warnings: string[] = [];
    // Act
    const report = await sweepPeriodicResyncs(
      {
        connections: { listIntegrations: async () => ({ integrations: ['a', 'b'].map((integrationId) => ({ integrationId, provider: 'p', configVersion: 0, routesVersion: 0, createdAt: '', updatedAt: '' })) as never, invalidItems: [] }) },
        states: { list: async (integrationId, options) => (pages[integrationId] ?? [])[options?.startKey === undefined ? 0 : 1] ?? { states: [], invalid: [] } },
        requests: { request: async (jobs) => void asked.push([...jobs]) },
        logger: { warn: (message) => void warnings.push(message) },
      },
      { now: NOW, everyMs: 24 * HOUR, deadline: NOW + HOUR, clock: { now: () => NOW } },
    );
    // Assess
    expect(report).toEqual({ integrations: 2, declarations: 150, requested: 100, notDue: 50, invalid: 1, stoppedEarly: false });
    expect(asked.flat().map((job) => [job.trigger, job.subscriptionId])).toEqual(Array.from({ length: 100 }, (_, i) => ['periodic', `a-${i}`]));
    expect(warnings).toEqual(['resync state skipped: it does not parse']);
  });

  it('stops at its deadline; the next sweep asks again', async () => {
    const report = await sweepPeriodicResyncs(
      {
        connections: { listIntegrations: async () => ({ integrations: [{ integrationId: 'a' }] as never, invalidItems: [] }) },
        states: { list: async () => ({ states: [state()], invalid: [] }) },
        requests: { request: async () => undefined },
        logger: { warn: () => undefined },
      },
      { now: NOW, everyMs: 24 * HOUR, deadline: NOW, clock: { now: () => NOW } },
    );
    expect(report).toMatchObject({ requested: 0, stoppedEarly: true });
  });
});
