/**
 * `doctor`'s resync checks against fakes: one line per `;resync` declaration (and per state one left behind), the
 * baseline's age, the last run and a run in progress, graded ✓ / ⚠ / ✗, and their counts in --json.
 */
import { countResync, doctor, formatCheck, runChecks, type DoctorCheck } from '../../cli/commands/doctor';
import type { CommandContext } from '../../cli/context';
import type { Connection } from '../../shared/store/items';
import type { ResyncState } from '../../shared/store/resync-checkpoints';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';

const NOW = new Date('2026-12-05T09:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';

function ago(ms: number): string {
  return new Date(NOW.getTime() - ms).toISOString();
}

function connection(connectionId: string, subscriptions: string[]): Connection {
  return { integrationId: 'contoso', connectionId, tenantId: TENANT, subscriptions, status: 'active', createdAt: '', updatedAt: '' } as Connection;
}

function record(connectionId: string, subscriptionId: string, resource: string, changeTypes: SubscriptionRecord['changeTypes']): SubscriptionRecord {
  return { integrationId: 'contoso', connectionId, tenantId: TENANT, resource, changeTypes, subscriptionId, expiresAt: new Date(NOW.getTime() + 2 * DAY).toISOString(), status: 'active', createdAt: ago(HOUR), updatedAt: ago(HOUR) };
}

function state(connectionId: string, declaration: string, fields: Partial<ResyncState>): ResyncState {
  return { integrationId: 'contoso', connectionId, declaration, subscriptionId: 'sub-old', tenantId: TENANT, resource: 'users', updatedAt: ago(HOUR), ...fields };
}

function context(connections: Connection[], subscriptions: SubscriptionRecord[], states: ResyncState[], invalid: { sk: string; reason: string }[] = []): CommandContext {
  return {
    target: { region: 'us-east-1', connectionsTable: 't', webhookSecretPrefix: 'p/', webhookBaseUrl: 'https://relay.example/webhook/' },
    store: {
      listIntegrations: async () => ({ integrations: [{ integrationId: 'contoso', provider: 'p', configVersion: 0, routesVersion: 0, createdAt: '', updatedAt: '' }], invalidItems: [] }),
      listConnections: async () => ({ connections, invalidItems: [] }),
    },
    subscriptions: { listByIntegration: async () => ({ subscriptions, invalidItems: [] }) },
    secrets: {
      read: async () => JSON.stringify({ webhookSecret: 'doctor-webhook-secret-0123456789', clientId: '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b', clientSecret: 'Abc8Q~very.secret_value-1234567890abcdefgh' }),
    },
    renewalSchedule: { status: async () => ({ state: 'enabled', description: 'on' }) },
    resync: {
      states: {
        // Two pages, as the table answers a long list.
        list: async (_id: string, options: { startKey?: unknown } = {}) =>
          options.startKey === undefined
            ? { states: states.slice(0, 1), invalid, ...(states.length > 1 ? { lastKey: { pk: 'p', sk: 's' } } : {}) }
            : { states: states.slice(1), invalid: [] },
      },
    },
  } as unknown as CommandContext;
}

/** The identity platform issues a token: app credentials are not what these tests are about. */
const issued = async () => ({ loginUrl: 'https://login.example' });

const echo: typeof fetch = async (input) => {
  const token = new URL(String(input)).searchParams.get('validationToken') ?? '';
  return new Response(token, { status: 200, headers: { 'content-type': 'text/plain' } });
};

function resyncLines(checks: DoctorCheck[]): string[] {
  return checks.filter((c) => c.check.startsWith('resync')).map(formatCheck);
}

describe('doctor: resync', () => {
  it('shows the baseline age, the last run and a run in progress; passes a fresh baseline', async () => {
    // Prepare
    const c = context(
      [connection('conn-1', ['users:updated,deleted;resync'])],
      [record('conn-1', 'sub-1', 'users', ['updated', 'deleted'])],
      [
        state('conn-1', 'users:updated,deleted', {
          deltaLink: 'https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x',
          deltaLinkAt: ago(3 * HOUR),
          lastRun: { trigger: 'missed', mode: 'incremental', outcome: 'completed', finishedAt: ago(3 * HOUR), objects: 12, pages: 1, durationMs: 800 },
          run: { mode: 'incremental', trigger: 'periodic', next: 'https://x', startedAt: ago(60_000), pages: 2, changed: 3, deleted: 1, throttled: 0, resumed: 0 },
          leaseOwner: 'function',
          leaseUntil: new Date(NOW.getTime() + 5 * 60_000).toISOString(),
        }),
      ],
    );

    // Act
    const checks = await runChecks(c, { fetch: echo, now: () => NOW, requestToken: issued });

    // Assess
    expect(resyncLines(checks)).toEqual([
      `✓ resync contoso/conn-1 users:updated,deleted: baseline 3 h old (${ago(3 * HOUR)}); last run missed incremental completed, 12 objects, ${ago(3 * HOUR)}; ` +
        `run in progress: incremental (periodic) since ${ago(60_000)}, 2 pages, 4 objects`,
    ]);
    expect(checks.find((check) => check.resync !== undefined)?.resync).toMatchObject({ subscriptionId: 'sub-1', declared: true, baselineAgeMs: 3 * HOUR, run: { stopped: false, objects: 4 } });
  });

  it('warns of a missing baseline and of one older than 7 days: the next run will be full', async () => {
    // Prepare
    const c = context(
      [connection('conn-1', ['users:updated;resync', 'groups:updated;resync', 'users:created'])],
      // users:created is declared without ;resync: it has its subscription, and no resync line.
      [record('conn-1', 'sub-users', 'users', ['updated']), record('conn-1', 'sub-groups', 'groups', ['updated']), record('conn-1', 'sub-users-created', 'users', ['created'])],
      [state('conn-1', 'users:updated', { deltaLink: 'https://x', deltaLinkAt: ago(8 * DAY) })],
    );

    // Act
    const checks = await runChecks(c, { fetch: echo, now: () => NOW, requestToken: issued });

    // Assess
    expect(resyncLines(checks)).toEqual([
      '⚠ resync contoso/conn-1 groups:updated: no baseline; no run yet: changes missed now cannot be told from the rest: the next run will be full (consumers receive every current object again)' +
        ' — fix: graph-relay subscriptions resync sub-groups --integration contoso',
      `⚠ resync contoso/conn-1 users:updated: baseline 8 days old (${ago(8 * DAY)}); no run yet: Graph's directory delta tokens expire after 7 days (Outlook's sooner): ` +
        'the next run will be full (consumers receive every current object again) — fix: graph-relay subscriptions resync sub-users --integration contoso',
    ]);
    expect(checks.every((check) => check.ok)).toBe(true);
  });

  it("fails when the last run failed, with its error and the command to run; a stopped run says it goes on", async () => {
    // Prepare
    const c = context(
      [connection('conn-1', ['users:updated;resync'])],
      [record('conn-1', 'sub-1', 'users', ['updated'])],
      [
        state('conn-1', 'users:updated', {
          deltaLink: 'https://x',
          deltaLinkAt: ago(DAY),
          lastRun: { trigger: 'missed', mode: 'full', outcome: 'failed', finishedAt: ago(HOUR), objects: 200, pages: 2, durationMs: 900, error: 'Graph 403 Authorization_RequestDenied: Insufficient privileges' },
          run: { mode: 'full', trigger: 'missed', next: 'https://x', startedAt: ago(2 * HOUR), pages: 2, changed: 200, deleted: 0, throttled: 0, resumed: 0 },
        }),
      ],
    );

    // Act
    const checks = await runChecks(c, { fetch: echo, now: () => NOW, requestToken: issued });

    // Assess
    expect(resyncLines(checks)).toEqual([
      `✗ resync contoso/conn-1 users:updated: baseline 24 h old (${ago(DAY)}); last run missed full failed, 200 objects, ${ago(HOUR)}; ` +
        `run in progress: full (missed) since ${ago(2 * HOUR)}, 2 pages, 200 objects, stopped: it goes on from its checkpoint at the next run: ` +
        'Graph 403 Authorization_RequestDenied: Insufficient privileges — fix: graph-relay subscriptions resync sub-1 --integration contoso',
    ]);
  });

  it('shows a state no longer declared ;resync as passed, and says nothing for an integration without resync', async () => {
    // Prepare
    const leftOver = context([connection('conn-1', ['users:updated'])], [], [state('conn-1', 'users:updated', { deltaLink: 'https://x', deltaLinkAt: ago(30 * DAY) })]);
    const none = context([connection('conn-1', ['users:updated'])], [], []);

    // Act
    const left = await runChecks(leftOver, { fetch: echo, now: () => NOW, requestToken: issued });
    const nothing = await runChecks(none, { fetch: echo, now: () => NOW, requestToken: issued });

    // Assess
    expect(resyncLines(left)).toEqual([`✓ resync contoso/conn-1 users:updated: baseline 30 days old (${ago(30 * DAY)}); no run yet; no longer declared ;resync`]);
    expect(resyncLines(nothing)).toEqual([]);
  });

  it('fails an item that cannot be read, and names a reconcile when no subscription is recorded', async () => {
    // Prepare
    const c = context([connection('conn-2', ['groups:deleted;resync'])], [], [], [{ sk: 'RESYNC#conn-2#x', reason: 'deltaLinkAt: invalid' }]);

    // Act
    const checks = await runChecks(c, { fetch: echo, now: () => NOW, requestToken: issued });

    // Assess
    expect(resyncLines(checks)).toEqual([
      '✗ resync item contoso/RESYNC#conn-2#x: cannot be read: deltaLinkAt: invalid — fix: correct or delete the item in the connections table',
      expect.stringMatching(/^⚠ resync contoso\/conn-2 groups:deleted: no baseline; .* — fix: graph-relay reconcile --integration contoso --connection conn-2 \(no active subscription is recorded for it\)$/),
    ]);
  });

  it('counts the declarations, missing and old baselines, failed runs and runs in progress in --json', async () => {
    // Prepare
    const c = context(
      [connection('conn-1', ['users:updated;resync', 'groups:updated;resync', 'users:deleted;resync'])],
      [record('conn-1', 'sub-1', 'users', ['updated'])],
      [
        state('conn-1', 'groups:updated', { deltaLinkAt: ago(9 * DAY) }),
        state('conn-1', 'users:deleted', {
          deltaLinkAt: ago(HOUR),
          lastRun: { trigger: 'operator', mode: 'full', outcome: 'failed', finishedAt: ago(HOUR), objects: 0, pages: 0, durationMs: 1, error: 'x' },
        }),
      ],
    );
    const stdout: string[] = [];

    // Act
    await doctor(c, { json: true }, { out: (line) => stdout.push(line), err: () => undefined }, { fetch: echo, now: () => NOW, requestToken: issued }).catch(() => undefined);

    // Assess
    const report = JSON.parse(stdout.join('\n')) as { resync: unknown; checks: DoctorCheck[] };
    expect(report.resync).toEqual({ declarations: 3, baselineMissing: 1, baselineOld: 1, failed: 1, inProgress: 0 });
    expect(countResync(report.checks)).toEqual(report.resync);
  });
});
