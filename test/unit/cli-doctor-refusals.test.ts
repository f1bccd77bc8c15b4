/**
 * `doctor`'s refused-requests checks against fakes: how the days read are summed, how they are graded, and what the
 * advice says for each reason.
 */
import { formatCheck, REFUSAL_DAYS, runChecks, summarizeRefusals, type DoctorCheck } from '../../cli/commands/doctor';
import type { CommandContext, RefusalAccess } from '../../cli/context';
import type { Integration } from '../../shared/store/items';
import type { RefusalDay } from '../../shared/store/refusal-store';

const NOW = new Date('2026-12-05T09:00:00Z');

function integration(integrationId: string, fields: Partial<Integration> = {}): Integration {
  return { integrationId, provider: 'p', configVersion: 0, routesVersion: 0, createdAt: '', updatedAt: '', ...fields };
}

function day(fields: Partial<RefusalDay> & Pick<RefusalDay, 'bucket' | 'day'>): RefusalDay {
  return { requests: 1, items: 1, reasons: {}, sampleIds: [], lastAt: `${fields.day}T08:00:00.000Z`, ...fields };
}

/** A healthy integration; `refusals` answers the read of refused webhook requests. */
function context(integrations: Integration[], refusals: RefusalAccess | undefined): CommandContext {
  return {
    target: { region: 'us-east-1', connectionsTable: 't', webhookSecretPrefix: 'p/', webhookBaseUrl: 'https://relay.example/webhook/' },
    store: {
      listIntegrations: async () => ({ integrations, invalidItems: [] }),
      listConnections: async () => ({ connections: [], invalidItems: [] }),
    },
    subscriptions: { listByIntegration: async () => ({ subscriptions: [], invalidItems: [] }) },
    secrets: {
      read: async () =>
        JSON.stringify({
          webhookSecret: 'doctor-webhook-secret-0123456789',
          clientId: '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b',
          clientSecret: 'Abc8Q~very.secret_value-1234567890abcdefgh',
        }),
    },
    renewalSchedule: { status: async () => ({ state: 'enabled', description: 'on' }) },
    ...(refusals === undefined ? {} : { refusals }),
  } as unknown as CommandContext;
}

const echo: typeof fetch = async (input) => {
  const token = new URL(String(input)).searchParams.get('validationToken') ?? '';
  return new Response(token, { status: 200, headers: { 'content-type': 'text/plain' } });
};

function refusalChecks(checks: DoctorCheck[]): DoctorCheck[] {
  return checks.filter((c) => c.check.startsWith('refused webhook requests'));
}

describe('doctor: refused webhook requests', () => {
  it('reads every integration and the unknown bucket, today and yesterday, in one call', async () => {
    // Prepare
    const calls: { buckets: readonly string[]; days: number; now: Date | undefined }[] = [];
    const refusals: RefusalAccess = {
      recent: async (buckets, days, now) => {
        calls.push({ buckets, days, now });
        return [];
      },
    };

    // Act
    await runChecks(context([integration('contoso'), integration('fabrikam')], refusals), { fetch: echo, now: () => NOW });

    // Assess
    expect(calls).toEqual([{ buckets: ['contoso', 'fabrikam', '(unknown)'], days: 2, now: NOW }]);
    expect(REFUSAL_DAYS).toBe(2);
  });

  it('passes with none, places each integration last in its group and the unknown ids at the end', async () => {
    // Prepare
    const refusals: RefusalAccess = { recent: async () => [] };

    // Act
    const checks = await runChecks(context([integration('contoso'), integration('fabrikam')], refusals), { fetch: echo, now: () => NOW });

    // Assess
    expect(checks.map(formatCheck).filter((line) => /^. (refused webhook requests|subscriptions) /.test(line))).toEqual([
      '✓ subscriptions contoso: none declared, none recorded',
      '✓ refused webhook requests contoso: none in the last 2 days (UTC)',
      '✓ subscriptions fabrikam: none declared, none recorded',
      '✓ refused webhook requests fabrikam: none in the last 2 days (UTC)',
      '✓ refused webhook requests to unknown integrations: none in the last 2 days (UTC)',
    ]);
    expect(checks.at(-1)?.check).toBe('refused webhook requests to unknown integrations');
  });

  it('warns, never fails, and advises recreating subscriptions on a clientState mismatch', async () => {
    // Prepare
    const refusals: RefusalAccess = {
      recent: async () => [day({ bucket: 'contoso', day: '2026-12-05', requests: 2, items: 3, reasons: { 'clientstate-mismatch': 2 } })],
    };

    // Act
    const checks = await runChecks(context([integration('contoso')], refusals), { fetch: echo, now: () => NOW });

    // Assess
    const [check] = refusalChecks(checks);
    expect(check).toMatchObject({ ok: true, warning: true });
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(check === undefined ? '' : formatCheck(check)).toBe(
      '⚠ refused webhook requests contoso: 2 requests (3 items) refused in the last 2 days (UTC): clientState mismatch 2; last 2026-12-05T08:00:00.000Z — fix: ' +
        'subscriptions carry a clientState this integration does not accept: recreate them (graph-relay subscriptions delete <subscriptionId> --integration contoso, ' +
        'then graph-relay reconcile --integration contoso), or, if the secret they carry was replaced, accept it again with graph-relay integrations put contoso --previous-webhook-secret - (the old value on stdin)',
    );
  });

  it('offers --shared-client-state accepted only to an integration that refuses the plain secret', async () => {
    // Prepare
    const refusals: RefusalAccess = {
      recent: async () => ['strict', 'lenient'].map((bucket) => day({ bucket, day: '2026-12-05', reasons: { 'clientstate-mismatch': 1 } })),
    };
    const integrations = [integration('strict', { sharedClientState: 'refused' }), integration('lenient', { sharedClientState: 'accepted' })];

    // Act
    const checks = refusalChecks(await runChecks(context(integrations, refusals), { fetch: echo, now: () => NOW }));

    // Assess
    expect(checks.find((c) => c.check === 'refused webhook requests strict')?.fix).toMatch(/, or, for subscriptions that carry the plain webhook secret \(made outside graph-relay\), accept it again with graph-relay integrations put strict --shared-client-state accepted$/);
    expect(checks.find((c) => c.check === 'refused webhook requests lenient')?.fix).not.toContain('--shared-client-state');
  });

  it('advises creating the webhook secret when requests were refused for the lack of one, and gives no advice for unconfirmed alone', async () => {
    // Prepare
    const refusals: RefusalAccess = {
      recent: async () => [
        day({ bucket: 'no-secret', day: '2026-12-05', reasons: { 'no-webhook-secret': 1 } }),
        day({ bucket: 'rotating', day: '2026-12-05', reasons: { 'clientstate-unconfirmed': 1 } }),
      ],
    };

    // Act
    const checks = refusalChecks(await runChecks(context([integration('no-secret'), integration('rotating')], refusals), { fetch: echo, now: () => NOW }));

    // Assess
    expect(checks.find((c) => c.check === 'refused webhook requests no-secret')).toMatchObject({
      warning: true,
      detail: expect.stringContaining('no webhook secret 1'),
      fix: 'the integration had no webhook secret: graph-relay integrations put no-secret',
    });
    const rotating = checks.find((c) => c.check === 'refused webhook requests rotating');
    expect(rotating).toMatchObject({ warning: true, detail: expect.stringContaining('clientState not confirmed 1') });
    expect(rotating?.fix).toBeUndefined();
  });

  it('says in a warning why refused webhook requests cannot be checked: no deliveries table, or a read that failed', async () => {
    // Prepare
    const failing: RefusalAccess = {
      recent: async () => {
        throw new Error('User is not authorized to perform: dynamodb:BatchGetItem');
      },
    };

    // Act
    const unknown = refusalChecks(await runChecks(context([integration('contoso')], undefined), { fetch: echo, now: () => NOW }));
    const denied = refusalChecks(await runChecks(context([integration('contoso')], failing), { fetch: echo, now: () => NOW }));

    // Assess
    expect(unknown).toEqual([{ check: 'refused webhook requests', ok: true, warning: true, detail: expect.stringContaining('the deliveries table is unknown') }]);
    expect(denied).toEqual([
      { check: 'refused webhook requests', ok: true, warning: true, detail: 'cannot be checked: the deliveries table could not be read: User is not authorized to perform: dynamodb:BatchGetItem' },
    ]);
  });

  it('still reads the unknown ids when there is no integration', async () => {
    // Prepare
    const refusals: RefusalAccess = { recent: async () => [day({ bucket: '(unknown)', day: '2026-12-05', reasons: { 'unknown-integration': 1 }, sampleIds: ['x'] })] };

    // Act
    const checks = await runChecks(context([], refusals), { fetch: echo, now: () => NOW });

    // Assess
    expect(checks.map((c) => c.check)).toEqual(['renewal schedule', 'integrations', 'refused webhook requests to unknown integrations']);
    expect(checks.at(-1)).toMatchObject({ ok: true, warning: true, detail: expect.stringContaining('ids asked for: x') });
  });
});

describe('summarizeRefusals', () => {
  it('sums the days of a bucket, keeps the latest lastAt, and lists sample ids once, the most recent day first', () => {
    // Prepare
    const days = [
      day({ bucket: '(unknown)', day: '2026-12-04', requests: 5, items: 7, reasons: { 'unknown-integration': 5 }, sampleIds: ['old', 'both'], lastAt: '2026-12-04T23:59:00.000Z' }),
      day({ bucket: '(unknown)', day: '2026-12-05', requests: 2, items: 2, reasons: { 'unknown-integration': 2 }, sampleIds: ['new', 'both'], lastAt: '2026-12-05T01:00:00.000Z' }),
      day({ bucket: 'contoso', day: '2026-12-05', requests: 1, items: 4, reasons: { 'clientstate-mismatch': 1 } }),
    ];

    // Act
    const summaries = summarizeRefusals(days);

    // Assess
    expect(summaries.get('(unknown)')).toEqual({
      bucket: '(unknown)',
      requests: 7,
      items: 9,
      reasons: { 'unknown-integration': 7 },
      sampleIds: ['new', 'both', 'old'],
      lastAt: '2026-12-05T01:00:00.000Z',
    });
    expect(summaries.get('contoso')).toMatchObject({ requests: 1, items: 4, reasons: { 'clientstate-mismatch': 1 } });
  });
});
