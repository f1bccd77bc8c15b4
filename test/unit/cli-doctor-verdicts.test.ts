/**
 * What `doctor`'s ✓ stands for: app credentials are proven by a token the identity platform issues (a stub at the
 * token port here; the real token client against the Graph fake in the integration test), a receive-only
 * integration is shown as such, and every declared subscription is backed by a subscription record.
 */
import { doctor, runChecks, type TokenRequest } from '../../cli/commands/doctor';
import type { CommandContext } from '../../cli/context';
import { CommandFailedError } from '../../cli/output';
import { TokenRequestError, type AppCredentials } from '../../shared/graph/token-client';
import type { Connection } from '../../shared/store/items';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';

const NOW = new Date('2026-12-05T09:00:00Z');
const HOUR = 3_600_000;
const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const OTHER_TENANT = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
const CLIENT_ID = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const CLIENT_SECRET = 'Abc8Q~very.secret_value-1234567890abcdefgh';
const WEBHOOK_SECRET = 'doctor-webhook-secret-0123456789';
const WITH_CREDENTIALS = { webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };

function connection(connectionId: string, subscriptions: string[], fields: Partial<Connection> = {}): Connection {
  return { integrationId: 'contoso', connectionId, tenantId: TENANT, subscriptions, status: 'active', createdAt: '', updatedAt: '', ...fields } as Connection;
}

function record(connectionId: string, resource: string, changeTypes: SubscriptionRecord['changeTypes']): SubscriptionRecord {
  const at = new Date(NOW.getTime() - HOUR).toISOString();
  return { integrationId: 'contoso', connectionId, tenantId: TENANT, resource, changeTypes, subscriptionId: `sub-${connectionId}`, expiresAt: new Date(NOW.getTime() + 48 * HOUR).toISOString(), status: 'active', createdAt: at, updatedAt: at };
}

function context(secret: Record<string, unknown>, connections: Connection[], subscriptions: SubscriptionRecord[] = []): CommandContext {
  return {
    target: { region: 'us-east-1', connectionsTable: 't', webhookSecretPrefix: 'p/', webhookBaseUrl: 'https://relay.example/webhook/' },
    store: {
      listIntegrations: async () => ({ integrations: [{ integrationId: 'contoso', provider: 'p', createdAt: '', updatedAt: '' }], invalidItems: [] }),
      listConnections: async () => ({ connections, invalidItems: [] }),
    },
    subscriptions: { listByIntegration: async () => ({ subscriptions, invalidItems: [] }) },
    secrets: { read: async () => JSON.stringify(secret) },
    renewalSchedule: { status: async () => ({ state: 'enabled', description: 'on' }) },
  } as unknown as CommandContext;
}

const echo: typeof fetch = async (input) => {
  const token = new URL(String(input)).searchParams.get('validationToken') ?? '';
  return new Response(token, { status: 200, headers: { 'content-type': 'text/plain' } });
};

/** A token port that records what it was asked and answers with `answer` per tenant. */
function tokens(answer: (tenantId: string) => Error | undefined = () => undefined): TokenRequest & { asked: { clientId: string; tenantId: string }[] } {
  const asked: { clientId: string; tenantId: string }[] = [];
  const request = async (credentials: AppCredentials, tenantId: string) => {
    asked.push({ clientId: credentials.clientId, tenantId });
    const error = answer(tenantId);
    if (error !== undefined) throw error;
    return { loginUrl: 'https://login.example' };
  };
  return Object.assign(request, { asked });
}

const invalidSecret = (tenantId: string) =>
  new TokenRequestError({
    tenantId,
    status: 401,
    error: 'invalid_client',
    aadsts: 'AADSTS7000215',
    kind: 'credentials',
    message: `token request for tenant ${tenantId} failed with HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided.`,
  });

describe('doctor: app credentials are checked by getting a token', () => {
  it('passes only when the identity platform issues a token, for each active connection tenant', async () => {
    // Prepare
    const port = tokens();
    const connections = [connection('conn-1', []), connection('conn-2', [], { tenantId: OTHER_TENANT }), connection('conn-3', [], { status: 'needs-consent' })];

    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, connections), { fetch: echo, now: () => NOW, requestToken: port });

    // Assess
    expect(port.asked).toEqual([
      { clientId: CLIENT_ID, tenantId: TENANT },
      { clientId: CLIENT_ID, tenantId: OTHER_TENANT },
    ]);
    expect(checks.find((c) => c.check === 'app credentials contoso')).toEqual({
      check: 'app credentials contoso',
      ok: true,
      detail: `client secret: https://login.example issued a token for 2 tenants (${TENANT}, ${OTHER_TENANT})`,
    });
  });

  it('fails a fake client secret with the token endpoint\'s AADSTS error and the command that replaces it', async () => {
    // Prepare
    const port = tokens(invalidSecret);

    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, [connection('conn-1', [])]), { fetch: echo, now: () => NOW, requestToken: port });

    // Assess
    expect(checks.find((c) => c.check === 'app credentials contoso')).toEqual({
      check: 'app credentials contoso',
      ok: false,
      detail: `client secret refused for connection conn-1: token request for tenant ${TENANT} failed with HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided.`,
      fix: 'replace them: graph-relay integrations put contoso --client-id <guid> --client-secret - (or --client-certificate-file <pem>); see TROUBLESHOOTING.md "AADSTS7000215"',
    });
    expect(JSON.stringify(checks)).not.toContain(CLIENT_SECRET);
  });

  it('names the tenant that has not consented, with the consent link and the resume command', async () => {
    // Prepare
    const port = tokens((tenantId) =>
      tenantId === OTHER_TENANT
        ? new TokenRequestError({ tenantId, status: 400, error: 'unauthorized_client', aadsts: 'AADSTS700016', kind: 'consent', message: `token request for tenant ${tenantId} failed with HTTP 400 unauthorized_client: AADSTS700016: Application with identifier '${CLIENT_ID}' was not found in the directory '${tenantId}'.` })
        : undefined,
    );

    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, [connection('conn-1', []), connection('conn-2', [], { tenantId: OTHER_TENANT })]), { fetch: echo, now: () => NOW, requestToken: port });

    // Assess
    const check = checks.find((c) => c.check === 'app credentials contoso');
    expect(check).toMatchObject({ ok: false, detail: expect.stringContaining('AADSTS700016') });
    expect(check?.detail).toMatch(/^client secret refused for connection conn-2: token request for tenant 0f2d8f49/);
    expect(check?.fix).toBe(
      `have tenant ${OTHER_TENANT}'s admin grant consent (https://login.microsoftonline.com/${OTHER_TENANT}/adminconsent?client_id=${CLIENT_ID}), then graph-relay connections resume contoso conn-2`,
    );
  });

  it('on a local stack, reminds that the CLI asks the login URL of its own environment when GRAPH_LOGIN_URL is unset', async () => {
    // Prepare: the local stack may have been started with a Graph fake's login URL, which the CLI does not read
    const local = { ...context(WITH_CREDENTIALS, [connection('conn-1', [])]), target: { region: 'us-east-1', connectionsTable: 't', webhookSecretPrefix: 'p/', webhookBaseUrl: 'https://relay.example/webhook/', renewalIntervalSeconds: 900 } } as CommandContext;

    // Act
    const unset = await runChecks(local, { fetch: echo, now: () => NOW, requestToken: tokens(invalidSecret), env: {} });
    const set = await runChecks(local, { fetch: echo, now: () => NOW, requestToken: tokens(invalidSecret), env: { GRAPH_LOGIN_URL: 'http://127.0.0.1:4010' } });

    // Assess
    expect(unset.find((c) => c.check === 'app credentials contoso')?.fix).toMatch(
      /; the token was asked of https:\/\/login\.microsoftonline\.com: if the local stack was started with GRAPH_LOGIN_URL, run doctor with the same$/,
    );
    expect(set.find((c) => c.check === 'app credentials contoso')?.fix).not.toContain('local stack');
  });

  it('warns, without asking for a token, when no active connection names a tenant to ask one for', async () => {
    // Prepare
    const port = tokens();

    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, []), { fetch: echo, now: () => NOW, requestToken: port });

    // Assess
    expect(port.asked).toEqual([]);
    expect(checks.find((c) => c.check === 'app credentials contoso')).toEqual({
      check: 'app credentials contoso',
      ok: true,
      warning: true,
      detail: 'client secret set, not verified: a token is asked for a tenant, and no active connection names one',
      fix: 'graph-relay connections add contoso <connectionId> --tenant-id <guid>, then run doctor again',
    });
  });

  it('shows an integration with a client id alone as receive only, never asking for a token', async () => {
    // Prepare
    const port = tokens();

    // Act
    const checks = await runChecks(context({ webhookSecret: WEBHOOK_SECRET, clientId: CLIENT_ID }, [connection('conn-1', [])]), { fetch: echo, now: () => NOW, requestToken: port });

    // Assess
    expect(port.asked).toEqual([]);
    expect(checks.find((c) => c.check === 'app credentials contoso')).toEqual({
      check: 'app credentials contoso',
      ok: true,
      detail: `receive only: client id ${CLIENT_ID}, no credentials (graph-relay never calls Graph for it)`,
    });
  });
});

describe('doctor: an integration without app credentials', () => {
  it('is a warning, not a failure, when no connection declares a subscription (webhook only)', async () => {
    // Prepare
    const port = tokens();

    // Act
    const checks = await runChecks(context({ webhookSecret: WEBHOOK_SECRET }, [connection('conn-1', [])]), { fetch: echo, now: () => NOW, requestToken: port });

    // Assess
    expect(port.asked).toEqual([]);
    expect(checks.find((c) => c.check === 'app credentials contoso')).toEqual({
      check: 'app credentials contoso',
      ok: true,
      warning: true,
      detail: 'none: webhook only (no connection declares a subscription, so graph-relay never calls Graph for it)',
      fix: 'to let graph-relay create and renew its subscriptions: graph-relay integrations put contoso --client-id <guid> --client-secret -',
    });
  });

  it('fails when a connection declares a subscription that graph-relay must create', async () => {
    // Act
    const checks = await runChecks(context({ webhookSecret: WEBHOOK_SECRET }, [connection('conn-1', ['users:updated'])]), { fetch: echo, now: () => NOW, requestToken: tokens() });

    // Assess
    expect(checks.find((c) => c.check === 'app credentials contoso')).toMatchObject({ ok: false, detail: expect.stringContaining('has no app credentials') });
  });
});

describe('doctor: every declared subscription is backed by a subscription record', () => {
  it('fails a declaration that has no subscription, instead of "none recorded ✓", and exits 1 with --json saying so', async () => {
    // Prepare: conn-1's users declaration was never created; conn-2's groups one was
    const connections = [connection('conn-1', ['users:created,updated', 'groups:updated']), connection('conn-2', ['groups:updated'], { tenantId: OTHER_TENANT })];
    const records = [{ ...record('conn-1', 'groups', ['updated']), subscriptionId: 'sub-groups-1' }, { ...record('conn-2', 'groups', ['updated']), tenantId: OTHER_TENANT }];
    const lines: string[] = [];

    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, connections, records), { fetch: echo, now: () => NOW, requestToken: tokens() });
    const thrown = await doctor(context(WITH_CREDENTIALS, connections, records), { json: true }, { out: (line) => lines.push(line), err: () => undefined }, { fetch: echo, now: () => NOW, requestToken: tokens() }).catch((error: unknown) => error);

    // Assess
    expect(checks.filter((c) => !c.ok)).toEqual([
      {
        check: 'declaration contoso/conn-1 users:created,updated',
        ok: false,
        detail: 'declared, but no subscription is recorded for it: Graph sends none of its notifications',
        fix: 'graph-relay reconcile --integration contoso --connection conn-1 (creates it, or prints the error Graph answers)',
      },
    ]);
    expect(checks.find((c) => c.check === 'subscriptions contoso')).toBeUndefined();
    expect(thrown).toBeInstanceOf(CommandFailedError);
    expect(JSON.parse(lines.join('\n'))).toMatchObject({ healthy: false });
  });

  it("names the reconciler's last error and failed runs for a declaration it could not create", async () => {
    // Prepare: five runs failed to create it, as the reconciler records on the connection
    const failure = { error: 'Graph 400 ValidationError: Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.', attempts: 5, at: '2026-12-05T08:45:00.000Z' };
    const connections = [connection('conn-1', ['users:created,updated'], { createFailures: { 'users:created,updated': failure } })];

    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, connections), { fetch: echo, now: () => NOW, requestToken: tokens() });

    // Assess
    expect(checks.filter((c) => !c.ok)).toEqual([
      {
        check: 'declaration contoso/conn-1 users:created,updated',
        ok: false,
        detail: `declared, but no subscription is recorded for it: the reconciler failed to create it 5 times, last at ${failure.at}: ${failure.error}`,
        fix: 'see TROUBLESHOOTING.md for the error, then graph-relay reconcile --integration contoso --connection conn-1',
      },
    ]);
  });

  it('fails a declaration that does not parse, naming it and how to remove it', async () => {
    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, [connection('conn-1', ['users:created,bogus'])]), { fetch: echo, now: () => NOW, requestToken: tokens() });

    // Assess
    expect(checks.filter((c) => !c.ok)).toEqual([
      {
        check: 'declaration contoso/conn-1 users:created,bogus',
        ok: false,
        detail: expect.stringMatching(/^cannot be read, so nothing is created for it: .+/),
        fix: 'graph-relay connections unsubscribe contoso conn-1 "users:created,bogus", then subscribe it again as resource:changeTypes',
      },
    ]);
  });

  it('passes when each declaration has an active subscription, saying so', async () => {
    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, [connection('conn-1', ['users:created,updated'])], [record('conn-1', 'users', ['updated', 'created'])]), {
      fetch: echo,
      now: () => NOW,
      requestToken: tokens(),
    });

    // Assess
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.check === 'subscriptions contoso')).toEqual({
      check: 'subscriptions contoso',
      ok: true,
      detail: '1 declared, each with a subscription; 1 active, the earliest expires 2026-12-07T09:00:00.000Z',
    });
  });

  it('says "none declared, none recorded" for an integration that declares nothing', async () => {
    // Act
    const checks = await runChecks(context(WITH_CREDENTIALS, [connection('conn-1', [])]), { fetch: echo, now: () => NOW, requestToken: tokens() });

    // Assess
    expect(checks.find((c) => c.check === 'subscriptions contoso')).toEqual({ check: 'subscriptions contoso', ok: true, detail: 'none declared, none recorded' });
  });
});
