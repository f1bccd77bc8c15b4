/**
 * The CLI in-process through `run`, with fakes only at its ports: in-memory ConnectionsStore, SubscriptionsStore
 * and SecretStore.
 * Covers argument validation, table and JSON output, hints, secret handling and exit codes.
 */
import { tenantClientState } from '../../shared/graph/client-state';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandContext, Context, GlobalOptions, Ports, ResyncAccess } from '../../cli/context';
import type { CliGraph, EventsAccess } from '../../cli/graph-access';
import { TAKES_EFFECT } from '../../cli/takes-effect';
import { INTAKE_DEFAULTS } from '../../shared/config/intake-config';
import { RECONCILE_DEFAULTS } from '../../shared/config/reconcile-config';
import { RENEWAL_DEFAULTS } from '../../shared/config/renewal-config';
import { RESYNC_DEFAULTS } from '../../shared/config/resync-config';
import { run } from '../../cli/main';
import type { SecretStatus, SecretStore } from '../../cli/secret-store';
import {
  ConnectionExistsError,
  IntegrationNotFoundError,
  type ConnectionsStore,
  type InvalidItem,
  type NewConnection,
} from '../../shared/store/connections-store';
import type { PageKey } from '../../shared/store/page-key';
import type { InvalidSubscriptionItem, SubscriptionInput, SubscriptionRecord, SubscriptionsStore } from '../../shared/store/subscriptions-store';
import { LocalStackNotRunningError } from '../../local/descriptor';
import type { SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { GraphRequestError, GraphThrottledError, type GraphRequest } from '../../shared/graph/graph-client';
import type { CreateSubscriptionInput, DeleteOutcome, GraphSubscription } from '../../shared/graph/subscriptions-api';
import { MissingAppCredentialsError } from '../../shared/secrets/app-credentials';
import type { Connection, Integration, SharedClientState } from '../../shared/store/items';
import { resyncSubscription } from '../../cli/commands/resync';
import type { EventEntry } from '../../shared/events/contract';
import type { ResyncJob } from '../../shared/resync/resync-job';
import type { DeltaGraph } from '../../shared/resync/run-resync';
import { ResyncLeaseLostError, type ResyncKey, type ResyncState, type ResyncStateChanges, type ResyncStateStore } from '../../shared/store/resync-checkpoints';
import { createTestCertificate } from '../../testkit/graph-fake/test-credentials';

const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const PREFIX = 'graph-relay/test/integrations/';
const AT = '2024-05-01T12:00:00.000Z';
const CLIENT_ID = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const CLIENT_SECRET = 'Abc8Q~very.secret_value-1234567890abcdefgh';
const USER = '8a1d4c2e-5b6f-4e7a-9c8d-0e1f2a3b4c5d';

class MemoryConnectionsStore implements ConnectionsStore {
  readonly integrations = new Map<string, Integration>();
  readonly connections = new Map<string, Connection>();
  invalidItems: readonly InvalidItem[] = [];
  /** Tenant routes and resync states of each integration, counted as the partition's other kinds of item. */
  readonly derivedItems = new Map<string, { tenantRoutes: number; resyncStates: number }>();

  /** The subscription records live in the same partition, as in the table. */
  constructor(private readonly records?: MemorySubscriptionsStore) {}

  async countIntegrationItems(integrationId: string) {
    const derived = this.derivedItems.get(integrationId) ?? { tenantRoutes: 0, resyncStates: 0 };
    const subscriptions = [...(this.records?.records.values() ?? [])].filter((r) => r.integrationId === integrationId).length;
    return { connections: (await this.listConnections(integrationId)).connections.length, subscriptions, ...derived, other: 0 };
  }
  async removeIntegration(integrationId: string) {
    const items = await this.countIntegrationItems(integrationId);
    for (const [key, connection] of this.connections) if (connection.integrationId === integrationId) this.connections.delete(key);
    for (const [key, record] of this.records?.records ?? []) if (record.integrationId === integrationId) this.records?.records.delete(key);
    this.derivedItems.delete(integrationId);
    return { items, integration: this.integrations.delete(integrationId) };
  }

  /** Like the DynamoDB store: every put moves the configuration version; the routes version and a setting not given are kept. */
  async putIntegration(input: { integrationId: string; provider: string; sharedClientState?: SharedClientState }) {
    const existing = this.integrations.get(input.integrationId);
    const sharedClientState = input.sharedClientState ?? existing?.sharedClientState;
    const integration: Integration = {
      ...input,
      ...(sharedClientState === undefined ? {} : { sharedClientState }),
      configVersion: (existing?.configVersion ?? 0) + 1,
      routesVersion: existing?.routesVersion ?? 0,
      createdAt: existing?.createdAt ?? AT,
      updatedAt: AT,
    };
    this.integrations.set(input.integrationId, integration);
    return { integration, created: existing === undefined };
  }
  async bumpConfigVersion(integrationId: string) {
    const existing = this.integrations.get(integrationId);
    if (existing === undefined) return false;
    this.integrations.set(integrationId, { ...existing, configVersion: existing.configVersion + 1 });
    return true;
  }
  private bumpRoutesVersion(integrationId: string) {
    const existing = this.integrations.get(integrationId);
    if (existing !== undefined) this.integrations.set(integrationId, { ...existing, routesVersion: existing.routesVersion + 1 });
  }
  async getIntegration(integrationId: string) {
    return this.integrations.get(integrationId);
  }
  async listIntegrations() {
    return { integrations: [...this.integrations.values()], invalidItems: [] };
  }
  /** Set to make the next setSubscriptions find the item changed by someone else, as many times as given. */
  concurrentEdits = 0;
  async addConnection(input: NewConnection) {
    if (!this.integrations.has(input.integrationId)) throw new IntegrationNotFoundError(input.integrationId);
    const key = `${input.integrationId}/${input.connectionId}`;
    if (this.connections.has(key)) throw new ConnectionExistsError(input.integrationId, input.connectionId);
    const connection: Connection = { ...input, tenantId: input.tenantId.toLowerCase(), subscriptions: [...(input.subscriptions ?? [])], status: 'active', createdAt: AT, updatedAt: AT };
    this.connections.set(key, connection);
    this.bumpRoutesVersion(input.integrationId);
    return connection;
  }
  async getConnection(integrationId: string, connectionId: string) {
    return this.connections.get(`${integrationId}/${connectionId}`);
  }
  async listConnections(integrationId: string) {
    const connections = [...this.connections.values()].filter((c) => c.integrationId === integrationId);
    return { connections, invalidItems: this.invalidItems };
  }
  async listConnectionsPage(integrationId: string, options: { limit: number; startKey?: PageKey }) {
    const all = (await this.listConnections(integrationId)).connections.sort((a, b) => a.connectionId.localeCompare(b.connectionId));
    const after = options.startKey?.sk;
    const rest = all.filter((c) => after === undefined || `CONNECTION#${c.connectionId}` > after);
    const connections = rest.slice(0, options.limit);
    const last = connections.at(-1);
    const nextKey = rest.length > options.limit && last !== undefined ? { pk: `INTEGRATION#${integrationId}`, sk: `CONNECTION#${last.connectionId}` } : undefined;
    return { connections, invalidItems: after === undefined ? this.invalidItems : [], ...(nextKey === undefined ? {} : { nextKey }) };
  }
  async existingConnectionIds(integrationId: string, connectionIds: readonly string[]) {
    return new Set(connectionIds.filter((id) => this.connections.has(`${integrationId}/${id}`)));
  }
  async removeConnection(integrationId: string, connectionId: string) {
    const removed = this.connections.delete(`${integrationId}/${connectionId}`);
    if (removed) this.bumpRoutesVersion(integrationId);
    return removed;
  }
  async setSubscriptions(integrationId: string, connectionId: string, subscriptions: readonly string[], options: { ifUpdatedAt?: string } = {}) {
    const key = `${integrationId}/${connectionId}`;
    const existing = this.connections.get(key);
    if (existing === undefined) return undefined;
    if (this.concurrentEdits > 0) {
      this.concurrentEdits -= 1;
      this.connections.set(key, { ...existing, updatedAt: new Date(Date.parse(existing.updatedAt) + 1000).toISOString() });
      return undefined;
    }
    if (options.ifUpdatedAt !== undefined && options.ifUpdatedAt !== existing.updatedAt) return undefined;
    const updated = { ...existing, subscriptions: [...subscriptions], updatedAt: new Date(Date.parse(existing.updatedAt) + 1000).toISOString() };
    this.connections.set(key, updated);
    return updated;
  }
  async markNeedsConsent(integrationId: string, connectionId: string, reason: string) {
    const key = `${integrationId}/${connectionId}`;
    const existing = this.connections.get(key);
    if (existing === undefined) return false;
    this.connections.set(key, { ...existing, status: 'needs-consent', statusReason: reason, statusChangedAt: existing.statusChangedAt ?? AT });
    return true;
  }
  async clearNeedsConsent(integrationId: string, connectionId: string) {
    const key = `${integrationId}/${connectionId}`;
    const existing = this.connections.get(key);
    if (existing?.status !== 'needs-consent') return false;
    const { statusReason: _reason, statusChangedAt: _at, ...rest } = existing;
    this.connections.set(key, { ...rest, status: 'active' });
    return true;
  }
  async recordCreateFailure(integrationId: string, connectionId: string, declaration: string, error: string) {
    const key = `${integrationId}/${connectionId}`;
    const existing = this.connections.get(key);
    if (existing === undefined) return false;
    const attempts = (existing.createFailures?.[declaration]?.attempts ?? 0) + 1;
    this.connections.set(key, { ...existing, createFailures: { ...existing.createFailures, [declaration]: { error, attempts, at: AT } } });
    return true;
  }
  async clearCreateFailure(integrationId: string, connectionId: string, declaration: string) {
    const key = `${integrationId}/${connectionId}`;
    const existing = this.connections.get(key);
    if (existing?.createFailures?.[declaration] === undefined) return false;
    const { [declaration]: _cleared, ...rest } = existing.createFailures;
    this.connections.set(key, { ...existing, createFailures: rest });
    return true;
  }
  async loadRegistry(): Promise<never> {
    throw new Error('the CLI does not load the integration registry');
  }
}

class MemorySubscriptionsStore implements SubscriptionsStore {
  readonly records = new Map<string, SubscriptionRecord>();
  invalidItems: InvalidSubscriptionItem[] = [];

  async put(input: SubscriptionInput) {
    const record = { ...input, createdAt: input.createdAt ?? AT, updatedAt: AT };
    this.records.set(`${input.integrationId}/${input.subscriptionId}`, record);
    return record;
  }
  async get(integrationId: string, subscriptionId: string) {
    return this.records.get(`${integrationId}/${subscriptionId}`);
  }
  async listByIntegration(integrationId: string) {
    const subscriptions = [...this.records.values()].filter((r) => r.integrationId === integrationId);
    return { subscriptions, invalidItems: this.invalidItems.filter((item) => item.pk === `INTEGRATION#${integrationId}`) };
  }
  /** One page holding everything: the CLI's listings are not about paging. */
  async listByIntegrationPage(integrationId: string) {
    return { ...(await this.listByIntegration(integrationId)), unindexed: [] };
  }
  async listByConnection(integrationId: string, connectionId: string) {
    const subscriptions = [...this.records.values()].filter((r) => r.integrationId === integrationId && r.connectionId === connectionId);
    return { subscriptions, invalidItems: [] };
  }
  async setConnectionKey(): Promise<never> {
    throw new Error('every record of this fake is filed under its connection');
  }
  async delete(integrationId: string, subscriptionId: string) {
    return this.records.delete(`${integrationId}/${subscriptionId}`);
  }
  findDue(): never {
    throw new Error('the CLI does not look for due subscriptions');
  }
  async markNeedsConsent(integrationId: string, subscriptionId: string, error: string) {
    return this.update(integrationId, subscriptionId, { status: 'needs-consent', lastError: error });
  }
  async markFailed(integrationId: string, subscriptionId: string, error: string) {
    return this.update(integrationId, subscriptionId, { status: 'failed', lastError: error });
  }
  async recordRenewal(integrationId: string, subscriptionId: string, expiresAt: string) {
    return this.update(integrationId, subscriptionId, { status: 'active', expiresAt });
  }
  private update(integrationId: string, subscriptionId: string, fields: Partial<SubscriptionRecord>) {
    const key = `${integrationId}/${subscriptionId}`;
    const existing = this.records.get(key);
    if (existing === undefined) return undefined;
    const updated = { ...existing, ...fields };
    this.records.set(key, updated);
    return updated;
  }
}

/** Graph as the commands see it: records every call; `fail` makes the next call of a kind throw. */
class FakeGraph implements CliGraph {
  readonly calls: string[] = [];
  readonly fail: Partial<Record<'create' | 'renew' | 'delete', Error>> = {};
  deleteOutcome: DeleteOutcome = 'deleted';
  lastCreate: CreateSubscriptionInput | undefined;
  private created = 0;

  async createSubscription(tenantId: string, input: CreateSubscriptionInput): Promise<GraphSubscription> {
    this.calls.push(`POST ${tenantId} ${input.resource}:${input.changeType}`);
    this.lastCreate = input;
    this.throwIfFailing('create');
    this.created += 1;
    const expirationDateTime = new Date(input.expirationDateTime).toISOString();
    return { id: `sub-new-${this.created}`, resource: input.resource, changeType: input.changeType, notificationUrl: input.notificationUrl, expirationDateTime } as GraphSubscription;
  }
  async getSubscription(tenantId: string, id: string): Promise<GraphSubscription> {
    this.calls.push(`GET ${tenantId} ${id}`);
    return { id, resource: 'users', changeType: 'created', notificationUrl: 'https://x', expirationDateTime: new Date(0).toISOString() } as GraphSubscription;
  }
  async renewSubscription(tenantId: string, id: string, expirationDateTime: Date | string): Promise<GraphSubscription> {
    this.calls.push(`PATCH ${tenantId} ${id}`);
    this.throwIfFailing('renew');
    return { id, resource: 'users', changeType: 'created', notificationUrl: 'https://x', expirationDateTime: new Date(expirationDateTime).toISOString() } as GraphSubscription;
  }
  async deleteSubscription(tenantId: string, id: string): Promise<DeleteOutcome> {
    this.calls.push(`DELETE ${tenantId} ${id}`);
    this.throwIfFailing('delete');
    return this.deleteOutcome;
  }
  private throwIfFailing(kind: 'create' | 'renew' | 'delete'): void {
    const error = this.fail[kind];
    if (error === undefined) return;
    delete this.fail[kind];
    throw error;
  }
}

function graphError(method: 'POST' | 'PATCH' | 'DELETE', status: number, code: string, message: string): GraphRequestError {
  return new GraphRequestError({ method, path: '/subscriptions', tenantId: TENANT, status, code, message, requestId: 'req-1', clientRequestId: 'client-1' });
}

class MemorySecretStore implements SecretStore {
  readonly values = new Map<string, string>();
  writes = 0;
  async read(name: string) {
    return this.values.get(name);
  }
  async create(name: string, value: string) {
    this.writes += 1;
    this.values.set(name, value);
  }
  async update(name: string, value: string) {
    this.writes += 1;
    this.values.set(name, value);
  }
  async status(name: string): Promise<SecretStatus> {
    return this.values.has(name) ? 'present' : 'missing';
  }
  async delete(name: string) {
    return this.values.delete(name);
  }
}

interface Harness {
  store: MemoryConnectionsStore;
  subscriptions: MemorySubscriptionsStore;
  secrets: MemorySecretStore;
  graph: FakeGraph;
  /** Integrations without app credentials: graphFor refuses them as the real one does. */
  withoutCredentials: Set<string>;
  published: SubscriptionEventEntry[];
  opened: GlobalOptions[];
  /** What the secrets given as `-` read. */
  stdin: string;
  /** Each read of stdin, by what it asked for. */
  stdinReads: string[];
  /** Set: stdin is a terminal and this is typed at a confirmation prompt. */
  answer?: string;
  prompts: string[];
  cli(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }>;
  secretOf(integrationId: string): Record<string, unknown>;
}

function harness(options: { webhookBaseUrl?: string; openContext?: Ports['openContext']; noEventBus?: boolean; resync?: ResyncAccess } = {}): Harness {
  const subscriptions = new MemorySubscriptionsStore();
  const store = new MemoryConnectionsStore(subscriptions);
  const secrets = new MemorySecretStore();
  const graph = new FakeGraph();
  const withoutCredentials = new Set<string>();
  const published: SubscriptionEventEntry[] = [];
  const opened: GlobalOptions[] = [];
  const events: EventsAccess = { source: 'graph-relay.test', publish: async (entries) => published.push(...entries) };
  const context: Context = {
    target: { region: 'us-east-1', connectionsTable: 'connections', webhookSecretPrefix: PREFIX, webhookBaseUrl: options.webhookBaseUrl },
    store,
    subscriptions,
    secrets,
    graph: {
      async graphFor(integrationId) {
        if (withoutCredentials.has(integrationId)) throw new MissingAppCredentialsError(integrationId);
        return graph;
      },
      webhookSecretOf: async () => 'client-state-secret-0123',
    },
    ...(options.noEventBus ? {} : { events }),
    ...(options.resync === undefined ? {} : { resync: options.resync }),
    close: () => undefined,
  };
  const ports: Ports = {
    openContext:
      options.openContext ??
      (async (globals) => {
        opened.push(globals);
        return context;
      }),
    eventsFile: async () => '/nonexistent/events.ndjson',
  };
  const h: Harness = {
    store,
    subscriptions,
    secrets,
    graph,
    withoutCredentials,
    published,
    opened,
    stdin: '',
    stdinReads: [],
    prompts: [],
    async cli(...argv) {
      const stdout: string[] = [];
      const stderr: string[] = [];
      const output = { out: (line: string) => stdout.push(line), err: (line: string) => stderr.push(line) };
      const code = await run(argv, { output, ports, interrupt: () => new AbortController().signal, readStdin: async (what) => {
          h.stdinReads.push(what);
          return h.stdin;
        },
        ...(h.answer === undefined
          ? {}
          : {
              prompt: async (question: string) => {
                h.prompts.push(question);
                return h.answer ?? '';
              },
            }),
      });
      return { code, stdout, stderr };
    },
    secretOf(integrationId) {
      return JSON.parse(secrets.values.get(`${PREFIX}${integrationId}`) ?? 'null') as Record<string, unknown>;
    },
  };
  return h;
}

describe('integrations put', () => {
  it('creates the integration and a generated secret, printed once with the notificationUrl', async () => {
    // Prepare
    const h = harness({ webhookBaseUrl: 'https://relay.example.com/webhook/' });

    // Act
    const result = await h.cli('--local', 'integrations', 'put', 'contoso');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    const secret = h.secretOf('contoso');
    expect(secret['webhookSecret']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result.stdout).toEqual([
      `integration "contoso" created (provider microsoft-oauth2-cc); webhook secret ${PREFIX}contoso created`,
      "generated webhook secret, shown only this once; subscriptions graph-relay creates carry per-tenant values derived from it, and those created elsewhere use it as their clientState:",
      secret['webhookSecret'],
      "clientState: each tenant's own value, and the plain secret for every tenant accepted (--shared-client-state refused to change)",
      'notificationUrl for subscriptions: https://relay.example.com/webhook/contoso',
      TAKES_EFFECT.message,
    ]);
    expect(h.store.integrations.get('contoso')?.provider).toBe('microsoft-oauth2-cc');
    expect(h.opened[0]).toMatchObject({ local: true });
  });

  it('stores a given secret without printing it, and leaves it unchanged on a second put', async () => {
    // Prepare
    const h = harness();
    const given = 'a-secret-of-sufficient-length';

    // Act
    const first = await h.cli('integrations', 'put', 'contoso', '--webhook-secret', given, '--provider', 'microsoft-oauth2-cc');
    const second = await h.cli('integrations', 'put', 'contoso');

    // Assess
    expect(first.code).toBe(0);
    expect(first.stdout.join('\n')).not.toContain(given);
    expect(first.stdout.slice(-2)).toEqual(['notificationUrl for subscriptions: <stack output WebhookBaseUrl>contoso', TAKES_EFFECT.message]);
    expect(second.stdout[0]).toBe(`integration "contoso" updated (provider microsoft-oauth2-cc); webhook secret ${PREFIX}contoso unchanged`);
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: given });
    expect(h.secrets.writes).toBe(1);
    // Every put moves the configuration version: running intakes drop the secret they cached.
    expect(h.store.integrations.get('contoso')?.configVersion).toBe(2);
  });

  it('rotates: a new current secret, the old one accepted as previous, other fields kept', async () => {
    // Prepare
    const h = harness();
    const old = 'the-old-webhook-secret';
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: old, clientId: CLIENT_ID, clientSecret: 'app-credential', note: 'kept' }));

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--rotate', '--json');

    // Assess
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout.join('\n')) as Record<string, unknown>;
    expect(printed).toMatchObject({ integrationId: 'contoso', created: true, secretChange: 'updated' });
    expect(h.secretOf('contoso')).toEqual({
      webhookSecret: printed['generatedWebhookSecret'],
      clientId: CLIENT_ID,
      clientSecret: 'app-credential',
      note: 'kept',
      previousWebhookSecret: old,
    });
  });

  it('prints a rotated secret once, with how to drop the previous one later', async () => {
    // Prepare
    const h = harness();
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: 'the-old-webhook-secret' }));

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--rotate');

    // Assess
    const rotated = h.secretOf('contoso')['webhookSecret'];
    expect(result.stdout).toEqual([
      `integration "contoso" created (provider microsoft-oauth2-cc); webhook secret ${PREFIX}contoso updated`,
      "generated webhook secret, shown only this once; subscriptions graph-relay creates carry per-tenant values derived from it, and those created elsewhere use it as their clientState:",
      rotated,
      "clientState: each tenant's own value, and the plain secret for every tenant accepted (--shared-client-state refused to change)",
      'the previous secret stays accepted until subscriptions use the new one; then drop it with: graph-relay integrations put contoso --webhook-secret - (the new secret on stdin)',
      'notificationUrl for subscriptions: <stack output WebhookBaseUrl>contoso',
      TAKES_EFFECT.message,
    ]);
    expect(result.stdout.join('\n')).not.toContain('the-old-webhook-secret');
  });

  it('refuses the plain secret on request, keeps the setting when not given, and counts the subscriptions that still carry it', async () => {
    // Prepare: one subscription made with the plain secret (no clientStateKey), one with a per-tenant value
    const h = harness();
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: 'current-secret-1234' }));
    const base = { integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, resource: 'users', changeTypes: ['updated' as const], expiresAt: '2030-01-01T00:00:00.000Z', status: 'active' as const };
    await h.subscriptions.put({ ...base, subscriptionId: 'sub-plain' });
    await h.subscriptions.put({ ...base, resource: 'groups', subscriptionId: 'sub-tenant', clientStateKey: '0123456789abcdef' });

    // Act
    const refused = await h.cli('integrations', 'put', 'contoso', '--shared-client-state', 'refused', '--json');
    const kept = await h.cli('integrations', 'put', 'contoso');
    const bad = await h.cli('integrations', 'put', 'contoso', '--shared-client-state', 'maybe');

    // Assess
    expect(refused.code).toBe(0);
    expect(JSON.parse(refused.stdout.join('\n'))).toMatchObject({ sharedClientState: 'refused', subscriptionsOnSharedClientState: 1 });
    expect(kept.stdout).toContain("clientState: each tenant's own value, and the plain secret for every tenant refused (--shared-client-state accepted to change)");
    expect(h.store.integrations.get('contoso')?.sharedClientState).toBe('refused');
    expect(bad.code).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/--shared-client-state.*accepted.*refused/);
  });

  it('replaces the accepted pair when a secret is given explicitly', async () => {
    // Prepare
    const h = harness();
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: 'current-secret-1234', previousWebhookSecret: 'previous-secret-1234' }));

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--webhook-secret', 'brand-new-secret-123');

    // Assess
    expect(result.code).toBe(0);
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: 'brand-new-secret-123' });
  });

  it('refuses to rotate a secret that does not exist', async () => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--rotate');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([
      `graph-relay: cannot rotate: integration "contoso" has no secret ${PREFIX}contoso yet; run integrations put without --rotate`,
    ]);
    expect(h.store.integrations.size).toBe(0);
  });

  it('leaves a secret that is not JSON alone', async () => {
    // Prepare
    const h = harness();
    h.secrets.values.set(`${PREFIX}contoso`, 'not json');

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--webhook-secret', 'brand-new-secret-123');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([`graph-relay: secret ${PREFIX}contoso is not JSON; fix or delete it before running integrations put`]);
    expect(h.secrets.values.get(`${PREFIX}contoso`)).toBe('not json');
  });

  it.each([
    [['bad id!'], 'graph-relay: invalid integration id "bad id!": integration id must be 1-64 characters: letters, digits, ".", "_", "-"'],
    [['x', '--webhook-secret', 'too short'], 'graph-relay: invalid --webhook-secret: webhook secret must be at least 16 characters; webhook secret must be printable ASCII without spaces'],
    [['x', '--previous-webhook-secret', 'x'.repeat(129)], "graph-relay: invalid --previous-webhook-secret: webhook secret must be at most 128 characters (Graph's clientState limit)"],
    [['x', '--provider', 'Microsoft OAuth'], 'graph-relay: invalid --provider "Microsoft OAuth": provider must be lower-case letters, digits and "-"'],
    [['x', '--rotate', '--webhook-secret', 'a-secret-of-sufficient-length'], 'graph-relay: --rotate generates the new secret and keeps the current one as previous: do not combine it with --webhook-secret or --previous-webhook-secret'],
  ])('refuses %j with exit code 2 before reaching AWS', async (args, message) => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('integrations', 'put', ...args);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(h.opened).toEqual([]);
  });
});

describe('integrations put with app credentials', () => {
  const certificate = createTestCertificate();
  const keyPem = certificate.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const otherKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const dir = mkdtempSync(join(tmpdir(), 'graph-relay-cli-commands-'));
  const pemFile = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const appPem = pemFile('app.pem', `${certificate.certificatePem}${keyPem}`);
  const thumbprint = createHash('sha1').update(certificate.certificateDer).digest('hex').toUpperCase();

  it('stores a client id and secret next to the webhook secret, without printing the secret', async () => {
    // Prepare
    const h = harness();
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: 'the-current-webhook-secret', note: 'kept' }));

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID.toUpperCase(), '--client-secret', CLIENT_SECRET);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout.slice(0, 2)).toEqual([
      `integration "contoso" created (provider microsoft-oauth2-cc); webhook secret ${PREFIX}contoso updated`,
      `app credentials set: client ${CLIENT_ID}, client secret`,
    ]);
    expect(result.stdout.join('\n')).not.toContain(CLIENT_SECRET);
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: 'the-current-webhook-secret', note: 'kept', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });

  it('reads the client secret from stdin with --client-secret -, and leaves the secret unchanged when put again', async () => {
    // Prepare
    const h = harness();
    h.stdin = `${CLIENT_SECRET}\n`;
    await h.cli('integrations', 'put', 'contoso', '--webhook-secret', 'the-current-webhook-secret');

    // Act
    const first = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--client-secret', '-', '--json');
    const second = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--client-secret', '-', '--json');

    // Assess
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout.join('\n'))).toMatchObject({ secretChange: 'updated', appCredentials: 'secret' });
    expect(JSON.parse(second.stdout.join('\n'))).toMatchObject({ secretChange: 'unchanged', appCredentials: 'secret' });
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: 'the-current-webhook-secret', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });

  it.each([
    ['--webhook-secret', 'webhookSecret'],
    ['--previous-webhook-secret', 'previousWebhookSecret'],
  ])('reads %s - from stdin, dropping one trailing newline, and never prints it', async (flag, field) => {
    // Prepare
    const h = harness();
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: 'the-current-webhook-secret' }));
    h.stdin = 'from-stdin-webhook-secret-1\n';

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', flag, '-');

    // Assess
    expect(result.code).toBe(0);
    expect(h.secretOf('contoso')[field]).toBe('from-stdin-webhook-secret-1');
    expect(h.stdinReads).toEqual([`the ${flag} value`]);
    expect([...result.stdout, ...result.stderr].join('\n')).not.toContain('from-stdin-webhook-secret-1');
  });

  it('reads several secrets given as - one line each, in the order the options are given', async () => {
    // Prepare
    const h = harness();
    h.stdin = `old-webhook-secret-0001\r\nnew-webhook-secret-0002\n${CLIENT_SECRET}\n`;

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--previous-webhook-secret', '-', '--client-id', CLIENT_ID, '--webhook-secret', '-', '--client-secret', '-');

    // Assess
    expect(result.code).toBe(0);
    expect(h.secretOf('contoso')).toEqual({
      webhookSecret: 'new-webhook-secret-0002',
      previousWebhookSecret: 'old-webhook-secret-0001',
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    });
    expect(h.stdinReads).toEqual(['--previous-webhook-secret, --webhook-secret, --client-secret: one per line']);
  });

  it('places a repeated option where it last appears, and reads nothing for one given a value again', async () => {
    // Prepare
    const h = harness();
    h.stdin = 'first-line-webhook-0001\nsecond-line-prev-0002\n';

    // Act
    const reordered = await h.cli('integrations', 'put', 'contoso', '--previous-webhook-secret', '-', '--webhook-secret', '-', '--previous-webhook-secret', '-');
    const overridden = await h.cli('integrations', 'put', 'fabrikam', '--webhook-secret', '-', '--webhook-secret', 'given-as-a-value-0003');

    // Assess
    expect([reordered.code, overridden.code]).toEqual([0, 0]);
    expect(h.secretOf('contoso')).toMatchObject({ webhookSecret: 'first-line-webhook-0001', previousWebhookSecret: 'second-line-prev-0002' });
    expect(h.secretOf('fabrikam')).toMatchObject({ webhookSecret: 'given-as-a-value-0003' });
    expect(h.stdinReads).toHaveLength(1);
  });

  it.each([
    [['--webhook-secret', '-'], '', 'graph-relay: --webhook-secret -: nothing was read from stdin'],
    [['--previous-webhook-secret', '-'], '\n', 'graph-relay: --previous-webhook-secret -: nothing was read from stdin'],
    [['--webhook-secret', '-', '--previous-webhook-secret', '-'], 'only-one-line-secret-1\n', 'graph-relay: --webhook-secret - and --previous-webhook-secret - read one line each from stdin, in that order: got 1 line'],
    [['--webhook-secret', '-', '--previous-webhook-secret', '-'], 'a-first-webhook-secret\nb\nc\n', 'graph-relay: --webhook-secret - and --previous-webhook-secret - read one line each from stdin, in that order: got 3 lines'],
    [['--webhook-secret', '-', '--previous-webhook-secret', '-'], '\nsecond-line-secret-02\n', 'graph-relay: --webhook-secret -: line 1 of stdin is empty'],
    [['--webhook-secret', '-'], 'short\n', 'graph-relay: invalid --webhook-secret: webhook secret must be at least 16 characters'],
  ])('refuses %j with stdin %j: exit code 2, nothing written', async (args, stdin, message) => {
    // Prepare
    const h = harness();
    h.stdin = stdin;

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', ...args);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(h.opened).toEqual([]);
    expect(h.secrets.values.size).toBe(0);
  });

  it('refuses a wrong command line before reading stdin', async () => {
    // Prepare
    const h = harness();
    h.stdin = 'never-read-webhook-secret\n';

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--webhook-secret', '-', '--client-secret', '-');

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: ['graph-relay: --client-secret and --client-certificate-file need --client-id'] });
    expect(h.stdinReads).toEqual([]);
  });

  it('replaces a client secret with a certificate from one PEM file, printing its thumbprint', async () => {
    // Prepare
    const h = harness();
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: 'the-current-webhook-secret', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }));

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--client-certificate-file', appPem);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    expect(result.stdout[1]).toBe(`app credentials set: client ${CLIENT_ID}, certificate ${thumbprint}`);
    expect(result.stdout.join('\n')).not.toContain('PRIVATE KEY');
    expect(h.secretOf('contoso')).toEqual({
      webhookSecret: 'the-current-webhook-secret',
      clientId: CLIENT_ID,
      clientCertificate: { certificatePem: certificate.certificatePem, privateKeyPem: keyPem },
    });
  });

  it("keeps the key's own certificate from a file with a chain, key first", async () => {
    // Prepare
    const h = harness();
    const issuer = createTestCertificate({ commonName: 'issuer' });
    const chain = pemFile('chain.pem', `${keyPem}${issuer.certificatePem}${certificate.certificatePem}`);

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--client-certificate-file', chain);

    // Assess
    expect(result.code).toBe(0);
    expect(h.secretOf('contoso')['clientCertificate']).toEqual({ certificatePem: certificate.certificatePem, privateKeyPem: keyPem });
  });

  it('warns when the certificate has expired', async () => {
    // Prepare
    const h = harness();
    const expired = createTestCertificate({ validFrom: Date.UTC(2020, 0, 1), validTo: Date.UTC(2021, 0, 1) });
    const file = pemFile('expired.pem', `${expired.certificatePem}${expired.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()}`);

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--client-certificate-file', file);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual(['graph-relay: warning: the certificate expired 2021-01-01T00:00:00.000Z: tokens will be refused until it is replaced']);
  });

  it('refuses to write over app credentials that are invalid in the stored secret, saying how to fix them', async () => {
    // Prepare
    const h = harness();
    const stored = JSON.stringify({ webhookSecret: 'the-current-webhook-secret', clientSecret: CLIENT_SECRET });
    h.secrets.values.set(`${PREFIX}contoso`, stored);

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--rotate');

    // Assess
    expect(result).toEqual({
      code: 1,
      stdout: [],
      stderr: [
        `graph-relay: secret ${PREFIX}contoso has invalid app credentials (clientId: clientId is required with clientSecret or clientCertificate): ` +
          'replace them with --client-id and --client-secret or --client-certificate-file',
      ],
    });
    expect(h.secrets.values.get(`${PREFIX}contoso`)).toBe(stored);
  });

  it.each([
    [['--client-secret', CLIENT_SECRET], 'graph-relay: --client-secret and --client-certificate-file need --client-id'],
    [['--client-id', 'my-app', '--client-secret', CLIENT_SECRET], 'graph-relay: invalid --client-id "my-app": client id must be a GUID such as 00000000-0000-0000-0000-000000000000'],
    [['--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET, '--client-certificate-file', 'app.pem'], 'graph-relay: give either --client-secret or --client-certificate-file, not both'],
    [['--client-id', CLIENT_ID, '--client-secret', `${CLIENT_SECRET} x`], 'graph-relay: invalid --client-secret: client secret must be printable ASCII without spaces'],
    [['--client-id', CLIENT_ID, '--client-secret', '-'], 'graph-relay: --client-secret -: nothing was read from stdin'],
    [['--client-id', CLIENT_ID, '--client-certificate-file', join(dir, 'absent.pem')], `graph-relay: cannot read --client-certificate-file ${join(dir, 'absent.pem')}: no such file`],
  ])('refuses %j with exit code 2 before reaching AWS', async (args, message) => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', ...args);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(h.opened).toEqual([]);
  });

  it.each([
    ['cert-only.pem', () => certificate.certificatePem, 'it must hold the certificate and its private key, both PEM (e.g. cat cert.pem key.pem > app.pem)'],
    ['mismatch.pem', () => `${certificate.certificatePem}${otherKeyPem}`, 'the private key does not belong to the certificate'],
    ['two-keys.pem', () => `${certificate.certificatePem}${keyPem}${otherKeyPem}`, "it holds 2 private keys; keep only the certificate's"],
    [
      'encrypted.pem',
      () => `${certificate.certificatePem}${certificate.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass' }).toString()}`,
      'the private key is encrypted; export it without a passphrase (openssl pkey -in key.pem -out plain-key.pem)',
    ],
    [
      'ec.pem',
      () => `${certificate.certificatePem}${generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()}`,
      'the private key must be RSA, not ec',
    ],
  ])('refuses the certificate file %s with exit code 2, never echoing key material', async (name, text, why) => {
    // Prepare
    const h = harness();
    const file = pemFile(name, text());

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--client-certificate-file', file);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [`graph-relay: invalid --client-certificate-file ${file}: ${why}`] });
    expect(h.opened).toEqual([]);
  });
});

describe('integrations list', () => {
  it('prints a table with each secret status, or JSON', async () => {
    // Prepare
    const h = harness();
    await h.cli('integrations', 'put', 'contoso');
    await h.store.putIntegration({ integrationId: 'fabrikam-long-name', provider: 'microsoft-oauth2-cc' });

    // Act
    const table = await h.cli('integrations', 'list');
    const json = await h.cli('integrations', 'list', '--json');

    // Assess
    expect(table.stdout).toEqual([
      'INTEGRATION         PROVIDER             CREATED                   SECRET   SHARED CLIENTSTATE  APP CREDENTIALS  ENCRYPTION CERTS  CURRENT CERT',
      `contoso             microsoft-oauth2-cc  ${AT}  present  accepted            none             0                 -`,
      `fabrikam-long-name  microsoft-oauth2-cc  ${AT}  missing  accepted            none             0                 -`,
    ]);
    expect(JSON.parse(json.stdout.join('\n'))).toEqual([
      { integrationId: 'contoso', provider: 'microsoft-oauth2-cc', configVersion: 1, routesVersion: 0, createdAt: AT, updatedAt: AT, secret: 'present', appCredentials: 'none', encryptionCertificates: 0 },
      { integrationId: 'fabrikam-long-name', provider: 'microsoft-oauth2-cc', configVersion: 1, routesVersion: 0, createdAt: AT, updatedAt: AT, secret: 'missing', appCredentials: 'none', encryptionCertificates: 0 },
    ]);
  });

  it('shows which app credentials each secret holds, never their values', async () => {
    // Prepare
    const h = harness();
    const secret = (value: Record<string, unknown>) => JSON.stringify({ webhookSecret: 'the-current-webhook-secret', ...value });
    for (const id of ['a-secret', 'b-certificate', 'c-none', 'd-invalid']) await h.store.putIntegration({ integrationId: id, provider: 'microsoft-oauth2-cc' });
    const certificate = createTestCertificate();
    const clientCertificate = { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    h.secrets.values.set(`${PREFIX}a-secret`, secret({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }));
    h.secrets.values.set(`${PREFIX}b-certificate`, secret({ clientId: CLIENT_ID, clientCertificate }));
    h.secrets.values.set(`${PREFIX}c-none`, secret({}));
    h.secrets.values.set(`${PREFIX}d-invalid`, secret({ clientSecret: CLIENT_SECRET }));

    // Act
    const table = await h.cli('integrations', 'list');
    const json = await h.cli('integrations', 'list', '--json');

    // Assess
    expect(table.stdout.map((line) => line.split(/ {2,}/)[5])).toEqual(['APP CREDENTIALS', 'secret', 'certificate', 'none', 'invalid']);
    expect((JSON.parse(json.stdout.join('\n')) as { appCredentials: string }[]).map((row) => row.appCredentials)).toEqual(['secret', 'certificate', 'none', 'invalid']);
    expect([...table.stdout, ...json.stdout].join('\n')).not.toMatch(/secret_value|PRIVATE KEY/);
  });

  it('says how to start when there is none', async () => {
    // Act
    const result = await harness().cli('integrations', 'list');

    // Assess
    expect(result.stdout).toEqual(['no integrations yet; create one with: graph-relay integrations put <integrationId>']);
  });
});

describe('integrations put keeps what is not given', () => {
  it('keeps a stored provider when --provider is not given, with or without --rotate', async () => {
    // Prepare
    const h = harness();
    await h.cli('integrations', 'put', 'contoso', '--provider', 'nango-graph');

    // Act
    const again = await h.cli('integrations', 'put', 'contoso');
    const rotated = await h.cli('integrations', 'put', 'contoso', '--rotate', '--json');

    // Assess
    expect(again.code).toBe(0);
    expect(again.stdout[0]).toBe(`integration "contoso" updated (provider nango-graph); webhook secret ${PREFIX}contoso unchanged`);
    expect(JSON.parse(rotated.stdout.join('\n'))).toMatchObject({ provider: 'nango-graph', created: false });
    expect(h.store.integrations.get('contoso')?.provider).toBe('nango-graph');
  });

  it('gives a new integration the default provider, and changes it only when --provider is given', async () => {
    // Prepare
    const h = harness();

    // Act
    await h.cli('integrations', 'put', 'contoso');
    const created = h.store.integrations.get('contoso')?.provider;
    const changed = await h.cli('integrations', 'put', 'contoso', '--provider', 'nango-graph');

    // Assess
    expect(created).toBe('microsoft-oauth2-cc');
    expect(changed.stdout[0]).toBe(`integration "contoso" updated (provider nango-graph); webhook secret ${PREFIX}contoso unchanged`);
    expect(h.store.integrations.get('contoso')?.provider).toBe('nango-graph');
  });
});

describe('integrations put --client-id alone: an integration that only receives', () => {
  it('stores the client id without credentials and says the integration only receives', async () => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID.toUpperCase());
    const json = await h.cli('integrations', 'put', 'contoso', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout[1]).toBe(
      `client id ${CLIENT_ID} without credentials: the integration only receives (rich notifications are verified against this client id); graph-relay makes no Graph call for it`,
    );
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: expect.any(String), clientId: CLIENT_ID });
    expect(JSON.parse(json.stdout.join('\n'))).toMatchObject({ appCredentials: 'receive-only', secretChange: 'unchanged' });
  });

  it('keeps stored credentials of the same client id, and drops those of another one, saying so', async () => {
    // Prepare
    const h = harness();
    const other = '11111111-2222-4333-8444-555555555555';
    h.secrets.values.set(`${PREFIX}contoso`, JSON.stringify({ webhookSecret: 'the-current-webhook-secret', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }));

    // Act
    const same = await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--json');
    const changed = await h.cli('integrations', 'put', 'contoso', '--client-id', other);

    // Assess
    expect(JSON.parse(same.stdout.join('\n'))).toMatchObject({ appCredentials: 'secret', secretChange: 'unchanged' });
    expect(changed.code).toBe(0);
    expect(changed.stderr).toEqual([`graph-relay: warning: the client secret of client ${CLIENT_ID} is removed: it cannot sign in as client ${other}`]);
    expect(h.secretOf('contoso')).toEqual({ webhookSecret: 'the-current-webhook-secret', clientId: other });
  });

  it('lists it as receive only', async () => {
    // Prepare
    const h = harness();
    await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID);

    // Act
    const table = await h.cli('integrations', 'list');
    const json = await h.cli('integrations', 'list', '--json');

    // Assess
    expect(table.stdout.map((line) => line.split(/ {2,}/)[5])).toEqual(['APP CREDENTIALS', 'receive only']);
    expect(JSON.parse(json.stdout.join('\n'))).toMatchObject([{ appCredentials: 'receive-only' }]);
  });
});

describe('when a change takes effect', () => {
  it('is computed from the cache lifetimes of the functions that read the integration', () => {
    // Assess
    const graphCallers = Math.max(RENEWAL_DEFAULTS.secretMaxAgeSeconds, RECONCILE_DEFAULTS.secretMaxAgeSeconds, RESYNC_DEFAULTS.secretMaxAgeSeconds);
    expect(TAKES_EFFECT).toEqual({
      intakeWithinSeconds: INTAKE_DEFAULTS.registryRefreshSeconds,
      intakeSetting: 'REGISTRY_REFRESH_SECONDS',
      graphCallsWithinSeconds: graphCallers,
      graphCallsSetting: 'SECRET_MAX_AGE_SECONDS',
      message:
        `takes effect on running intakes within one registry refresh (REGISTRY_REFRESH_SECONDS, ${INTAKE_DEFAULTS.registryRefreshSeconds} s by default), ` +
        `and for renewal, reconcile, lifecycle handling and resync within their secret cache age (SECRET_MAX_AGE_SECONDS, ${graphCallers} s by default)`,
    });
  });

  it('is part of the JSON of integrations put', async () => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('integrations', 'put', 'contoso', '--json');

    // Assess
    expect(JSON.parse(result.stdout.join('\n'))).toMatchObject({ takesEffect: TAKES_EFFECT });
  });
});

describe('integrations remove', () => {
  const other = '11111111-2222-4333-8444-555555555555';

  async function seeded(): Promise<Harness> {
    const h = harness();
    await h.cli('integrations', 'put', 'contoso', '--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET);
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:updated'] });
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: other });
    h.store.derivedItems.set('contoso', { tenantRoutes: 2, resyncStates: 1 });
    const base = { integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, resource: 'users', changeTypes: ['updated' as const], expiresAt: '2030-01-01T00:00:00.000Z', status: 'active' as const };
    await h.subscriptions.put({ ...base, subscriptionId: 'sub-1' });
    await h.subscriptions.put({ ...base, subscriptionId: 'sub-2', tenantId: other, connectionId: 'conn-2' });
    // Another integration, untouched.
    await h.cli('integrations', 'put', 'fabrikam');
    return h;
  }

  const plan = [
    'integrations remove contoso removes:',
    '  2 subscription(s) at Graph, deleted there first, and their records',
    '  2 connection(s)',
    '  2 tenant route(s)',
    '  1 resync state(s)',
    '  the integration item (provider microsoft-oauth2-cc)',
    `  the secret ${PREFIX}contoso (webhook secrets, app credentials, encryption certificates)`,
  ];

  it('prints what it would remove and refuses without --yes when stdin is not a terminal, touching nothing', async () => {
    // Prepare
    const h = await seeded();

    // Act
    const result = await h.cli('integrations', 'remove', 'contoso');

    // Assess
    expect(result).toEqual({ code: 2, stdout: plan, stderr: ['graph-relay: nothing removed: stdin is not a terminal to confirm; run again with --yes: graph-relay integrations remove contoso --yes'] });
    expect(h.graph.calls).toEqual([]);
    expect(h.store.integrations.has('contoso')).toBe(true);
    expect(h.subscriptions.records.size).toBe(2);
    expect(h.secrets.values.has(`${PREFIX}contoso`)).toBe(true);
  });

  it('with --yes deletes the subscriptions at Graph first, then everything the integration owns, and says so', async () => {
    // Prepare
    const h = await seeded();

    // Act
    const result = await h.cli('integrations', 'remove', 'contoso', '--yes');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    expect(h.graph.calls).toEqual([`DELETE ${TENANT} sub-1`, `DELETE ${other} sub-2`]);
    expect(result.stdout).toEqual([
      'removed integration "contoso": 2 subscription(s) deleted at Graph (0 already gone) and their records, 2 connection(s), 2 tenant route(s), 1 resync state(s), the integration item, ' +
        `and the secret ${PREFIX}contoso`,
      `the intake refuses its notifications (unknown integration) once running intakes see it gone: ${TAKES_EFFECT.message}`,
    ]);
    expect([...h.store.integrations.keys()]).toEqual(['fabrikam']);
    expect(h.store.connections.size).toBe(0);
    expect(h.subscriptions.records.size).toBe(0);
    expect([...h.secrets.values.keys()]).toEqual([`${PREFIX}fabrikam`]);
  });

  it('prints JSON with --json', async () => {
    // Prepare
    const h = await seeded();
    h.graph.deleteOutcome = 'already-gone';

    // Act
    const result = await h.cli('integrations', 'remove', 'contoso', '--yes', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.join('\n'))).toEqual({
      integrationId: 'contoso',
      removed: true,
      subscriptionsAtGraph: { deleted: 0, alreadyGone: 2 },
      items: { connections: 2, subscriptions: 2, tenantRoutes: 2, resyncStates: 1, other: 0 },
      integrationItem: true,
      secret: 'deleted',
      takesEffect: TAKES_EFFECT,
    });
  });

  it('prints the plan as JSON, and removes nothing, without --yes', async () => {
    // Prepare
    const h = await seeded();

    // Act
    const result = await h.cli('integrations', 'remove', 'contoso', '--json');

    // Assess
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout.join('\n'))).toEqual({
      integrationId: 'contoso',
      removed: false,
      subscriptionsAtGraph: 2,
      items: { connections: 2, subscriptions: 2, tenantRoutes: 2, resyncStates: 1, other: 0 },
      integrationItem: true,
      secret: 'present',
    });
    expect(h.store.integrations.has('contoso')).toBe(true);
  });

  it('stops before removing any record when Graph refuses a delete, saying what to do', async () => {
    // Prepare
    const h = await seeded();
    h.graph.fail.delete = graphError('DELETE', 403, 'Forbidden', 'Insufficient privileges');

    // Act
    const result = await h.cli('integrations', 'remove', 'contoso', '--yes');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toMatch(
      /^graph-relay: cannot delete subscription sub-1 of contoso at Graph \(.*Insufficient privileges.*\): nothing of integration "contoso" was removed \(0 of 2 subscriptions deleted\); fix the cause and run graph-relay integrations remove contoso --yes again$/,
    );
    expect(h.store.integrations.has('contoso')).toBe(true);
    expect(h.store.connections.size).toBe(2);
    expect(h.subscriptions.records.size).toBe(2);
    expect(h.secrets.values.has(`${PREFIX}contoso`)).toBe(true);
  });

  it('refuses when its subscriptions cannot be deleted at Graph for want of credentials, removing nothing', async () => {
    // Prepare
    const h = await seeded();
    h.withoutCredentials.add('contoso');

    // Act
    const result = await h.cli('integrations', 'remove', 'contoso', '--yes');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(/^graph-relay: cannot delete the 2 subscription\(s\) of contoso at Graph: integration "contoso" has no app credentials/);
    expect(h.graph.calls).toEqual([]);
    expect(h.store.integrations.has('contoso')).toBe(true);
    expect(h.subscriptions.records.size).toBe(2);
  });

  it('asks on a terminal, and removes only when the integration id is typed', async () => {
    // Prepare
    const h = await seeded();
    h.answer = 'no';

    // Act
    const declined = await h.cli('integrations', 'remove', 'contoso');
    h.answer = 'contoso';
    const confirmed = await h.cli('integrations', 'remove', 'contoso');

    // Assess
    expect(declined).toEqual({ code: 1, stdout: plan, stderr: ['graph-relay: not confirmed: nothing removed'] });
    expect(h.prompts).toEqual(['type the integration id (contoso) to remove it: ', 'type the integration id (contoso) to remove it: ']);
    expect(confirmed.code).toBe(0);
    expect(h.store.integrations.has('contoso')).toBe(false);
  });

  it('fails for an integration that does not exist, and refuses a bad id with exit code 2', async () => {
    // Prepare
    const h = harness();

    // Act
    const missing = await h.cli('integrations', 'remove', 'nope', '--yes');
    const bad = await h.cli('integrations', 'remove', 'bad id!', '--yes');

    // Assess
    expect(missing).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: integration "nope" does not exist: nothing to remove (graph-relay integrations list shows them)'] });
    expect(bad.code).toBe(2);
  });
});

describe('connections', () => {
  async function withIntegration(): Promise<Harness> {
    const h = harness();
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    return h;
  }

  it('adds a connection with its tenant id lower-cased and says when routing sees it', async () => {
    // Prepare
    const h = await withIntegration();

    // Act
    const result = await h.cli('connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT.toUpperCase());

    // Assess
    expect(result).toEqual({
      code: 0,
      stdout: [
        `connection "conn-1" added to integration "contoso" (tenant ${TENANT})`,
        "routing picks it up within one registry refresh of the running intakes (REGISTRY_REFRESH_SECONDS, 30 s by default); a new intake instance routes it at once",
      ],
      stderr: [],
    });
    expect(h.store.connections.get('contoso/conn-1')?.tenantId).toBe(TENANT);
  });

  it('prints only JSON with --json', async () => {
    // Prepare
    const h = await withIntegration();

    // Act
    const result = await h.cli('connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT, '--json');

    // Assess
    expect(JSON.parse(result.stdout.join('\n'))).toEqual({
      integrationId: 'contoso',
      connectionId: 'conn-1',
      tenantId: TENANT,
      subscriptions: [],
      status: 'active',
      createdAt: AT,
      updatedAt: AT,
    });
  });

  it('declares subscriptions with repeated --subscribe, stored in canonical form, each once', async () => {
    // Prepare
    const h = await withIntegration();

    // Act
    const result = await h.cli(
      'connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT,
      '--subscribe', ' /users : deleted,created,updated ',
      '--subscribe', `users/${USER}/messages:created`,
      '--subscribe', 'users:updated,created,deleted',
    );

    // Assess
    expect(result).toEqual({
      code: 0,
      stdout: [
        `connection "conn-1" added to integration "contoso" (tenant ${TENANT})`,
        'declared subscription users:created,updated,deleted',
        `declared subscription users/${USER}/messages:created`,
        "routing picks it up within one registry refresh of the running intakes (REGISTRY_REFRESH_SECONDS, 30 s by default); a new intake instance routes it at once",
      ],
      stderr: [],
    });
    expect(h.store.connections.get('contoso/conn-1')?.subscriptions).toEqual(['users:created,updated,deleted', `users/${USER}/messages:created`]);
  });

  it.each([
    ['planner/tasks:created', /^graph-relay: invalid subscription declaration "planner\/tasks:created": unsupported resource "planner\/tasks": supported kinds are .*Outlook message\/event\/contact.*user, group and other directory resources$/],
    ['users:created,removed', /^graph-relay: invalid subscription declaration "users:created,removed": unknown change type "removed": allowed are created, updated, deleted$/],
    ['users', /^graph-relay: invalid subscription declaration "users": expected <resource>:<changeTypes>, e.g. users:created,updated,deleted$/],
  ])('refuses --subscribe %j with exit code 2 before reaching AWS', async (declaration, message) => {
    // Prepare
    const h = await withIntegration();

    // Act
    const result = await h.cli('connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT, '--subscribe', 'groups:updated', '--subscribe', declaration);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stdout).toEqual([]);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toMatch(message);
    expect(h.opened).toEqual([]);
    expect(h.store.connections.size).toBe(0);
  });

  it.each([
    [['contoso', 'conn-1', '--tenant-id', 'not-a-guid'], 'graph-relay: invalid tenant id "not-a-guid": tenant id must be a GUID such as 84bd8158-6d4d-4958-8b9f-9d6445542f95'],
    [['contoso', 'conn 1', '--tenant-id', TENANT], 'graph-relay: invalid connection id "conn 1": connection id must be 1-128 characters: letters, digits, ".", "_", ":", "@", "-"'],
    [['-bad', 'conn-1', '--tenant-id', TENANT], "graph-relay: unknown option '-bad' (see --help)"],
    [['contoso', 'conn-1'], "graph-relay: required option '--tenant-id <guid>' not specified (see --help)"],
    [['contoso', '--tenant-id', TENANT], "graph-relay: missing required argument 'connectionId' (see --help)"],
  ])('refuses add %j with exit code 2', async (args, message) => {
    // Prepare
    const h = await withIntegration();

    // Act
    const result = await h.cli('connections', 'add', ...args);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(h.opened).toEqual([]);
  });

  it('fails with exit code 1 on a duplicate or an unknown integration', async () => {
    // Prepare
    const h = await withIntegration();
    await h.cli('connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT);

    // Act
    const duplicate = await h.cli('connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT);
    const unknown = await h.cli('connections', 'add', 'nope', 'conn-1', '--tenant-id', TENANT);

    // Assess
    expect(duplicate).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: connection "conn-1" already exists in integration "contoso"'] });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toEqual([
      'graph-relay: integration "nope" does not exist (create it with: graph-relay integrations put nope --provider microsoft-oauth2-cc)',
    ]);
  });

  it('lists every integration’s connections as a table, warning about invalid items on stderr', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.putIntegration({ integrationId: 'fabrikam', provider: 'microsoft-oauth2-cc' });
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT });
    await h.store.addConnection({ integrationId: 'fabrikam', connectionId: 'conn-20', tenantId: TENANT });
    h.store.invalidItems = [{ sk: 'CONNECTION#edited', reason: 'tenantId: tenant id must be a GUID' }];

    // Act
    const result = await h.cli('connections', 'list');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toEqual([
      'INTEGRATION  CONNECTION  TENANT                                STATUS  CREATED',
      `contoso      conn-1      ${TENANT}  active  ${AT}`,
      `fabrikam     conn-20     ${TENANT}  active  ${AT}`,
    ]);
    expect(result.stderr).toEqual([
      'graph-relay: warning: skipped invalid item CONNECTION#edited of integration "contoso": tenantId: tenant id must be a GUID',
      'graph-relay: warning: skipped invalid item CONNECTION#edited of integration "fabrikam": tenantId: tenant id must be a GUID',
    ]);
  });

  it('lists one integration as JSON, and refuses an unknown one', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT });

    // Act
    const json = await h.cli('connections', 'list', '--integration', 'contoso', '--json');
    const unknown = await h.cli('connections', 'list', '--integration', 'nope');
    const empty = await h.cli('connections', 'list', '--integration', 'contoso');
    await h.store.removeConnection('contoso', 'conn-1');
    const none = await h.cli('connections', 'list');

    // Assess
    expect(JSON.parse(json.stdout.join('\n'))).toEqual([expect.objectContaining({ integrationId: 'contoso', connectionId: 'conn-1' })]);
    expect(unknown.code).toBe(1);
    expect(empty.code).toBe(0);
    expect(none.stdout).toEqual(['no connections']);
  });

  it('gets a connection, and names what is missing when it does not exist', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT });

    // Act
    const found = await h.cli('connections', 'get', 'contoso', 'conn-1');
    const missing = await h.cli('connections', 'get', 'contoso', 'conn-2', '--json');
    const noIntegration = await h.cli('connections', 'get', 'nope', 'conn-1');

    // Assess
    expect(found.stdout).toEqual([
      'integration    contoso',
      'connection     conn-1',
      `tenant         ${TENANT}`,
      'status         active',
      'subscriptions  none',
      `created        ${AT}`,
      `updated        ${AT}`,
    ]);
    expect(missing).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: connection "conn-2" not found in integration "contoso"'] });
    expect(noIntegration.stderr[0]).toMatch(/^graph-relay: integration "nope" does not exist/);
  });

  it('removes a connection once', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT });

    // Act
    const removed = await h.cli('connections', 'remove', 'contoso', 'conn-1');
    const again = await h.cli('connections', 'remove', 'contoso', 'conn-1');

    // Assess
    expect(removed.code).toBe(0);
    expect(removed.stdout[0]).toBe('connection "conn-1" removed from integration "contoso"');
    expect(again).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: connection "conn-1" not found in integration "contoso"'] });
  });

  it('shows declared subscriptions in get, flagging one edited by hand into something invalid', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created,updated,deleted', 'users:removed'] });

    // Act
    const result = await h.cli('connections', 'get', 'contoso', 'conn-1');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout.slice(4, 6)).toEqual([
      'subscriptions  users:created,updated,deleted',
      '               users:removed  (ignored: unknown change type "removed": allowed are created, updated, deleted)',
    ]);
  });

  it('subscribes a connection to a declaration once, in canonical form', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created'] });

    // Act
    const added = await h.cli('connections', 'subscribe', 'contoso', 'conn-1', 'groups:deleted,updated');
    const again = await h.cli('connections', 'subscribe', 'contoso', 'conn-1', '/groups:updated,deleted', '--json');

    // Assess
    expect(added).toEqual({ code: 0, stdout: ['connection "conn-1" of integration "contoso" now declares groups:updated,deleted'], stderr: [] });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout.join('\n'))).toMatchObject({ subscriptions: ['users:created', 'groups:updated,deleted'] });
    expect(h.store.connections.get('contoso/conn-1')?.subscriptions).toEqual(['users:created', 'groups:updated,deleted']);
  });

  it('unsubscribes by the same subscription in any spelling, or by the exact text of an invalid one', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created,updated', 'users:removed', 'groups:updated'] });

    // Act
    const canonical = await h.cli('connections', 'unsubscribe', 'contoso', 'conn-1', 'users:updated,created');
    const invalid = await h.cli('connections', 'unsubscribe', 'contoso', 'conn-1', 'users:removed');
    const absent = await h.cli('connections', 'unsubscribe', 'contoso', 'conn-1', 'users:created');

    // Assess
    expect(canonical).toEqual({ code: 0, stdout: ['connection "conn-1" of integration "contoso" no longer declares users:updated,created'], stderr: [] });
    expect(invalid.code).toBe(0);
    expect(absent).toEqual({
      code: 1,
      stdout: [],
      stderr: ['graph-relay: connection "conn-1" of integration "contoso" does not declare "users:created"; it declares groups:updated'],
    });
    expect(h.store.connections.get('contoso/conn-1')?.subscriptions).toEqual(['groups:updated']);
  });

  it('keeps a concurrent edit: the declaration list is read again when it changed before the write', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT });
    h.store.concurrentEdits = 1;

    // Act
    const retried = await h.cli('connections', 'subscribe', 'contoso', 'conn-1', 'users:created');
    h.store.concurrentEdits = 3;
    const givenUp = await h.cli('connections', 'subscribe', 'contoso', 'conn-1', 'groups:created');

    // Assess
    expect(retried.code).toBe(0);
    expect(givenUp).toEqual({
      code: 1,
      stdout: [],
      stderr: ['graph-relay: connection "conn-1" of integration "contoso" kept changing while being edited; try again'],
    });
    expect(h.store.connections.get('contoso/conn-1')?.subscriptions).toEqual(['users:created']);
  });

  it.each([
    [['subscribe', 'contoso', 'conn-1', 'planner/tasks:created'], /^graph-relay: invalid subscription declaration "planner\/tasks:created": unsupported resource/],
    [['subscribe', 'contoso', 'conn 1', 'users:created'], /^graph-relay: invalid connection id "conn 1"/],
    [['unsubscribe', 'contoso', 'conn-1'], /^graph-relay: missing required argument 'resource:changeTypes' \(see --help\)$/],
  ])('refuses connections %j with exit code 2 before reaching AWS', async (args, message) => {
    // Prepare
    const h = await withIntegration();

    // Act
    const result = await h.cli('connections', ...args);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toEqual([expect.stringMatching(message)]);
    expect(h.opened).toEqual([]);
  });

  it('declares catch-up with --resync on every --subscribe value, combined with --include-resource-data in canonical order', async () => {
    // Prepare
    const h = await withIntegration();
    const inbox = `users/${USER}/mailFolders/inbox/messages`;

    // Act
    const result = await h.cli(
      'connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT,
      '--subscribe', `${inbox}:created;resync`,
      '--subscribe', `users/${USER}/events:updated`,
      '--include-resource-data', '--resync',
    );

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    expect(h.store.connections.get('contoso/conn-1')?.subscriptions).toEqual([
      `${inbox}:created;includeResourceData;resync`,
      `users/${USER}/events:updated;includeResourceData;resync`,
    ]);
  });

  it.each([
    [
      ['connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT, '--subscribe', `users/${USER}/messages:created`, '--resync'],
      `graph-relay: invalid subscription declaration "users/${USER}/messages:created;resync": ;resync needs a Graph delta query: Graph has no delta query for "users/${USER}/messages" (messages have delta queries per mail folder: declare users/{user}/mailFolders/{folder}/messages (e.g. mailFolders/inbox/messages)); resync is supported for `,
    ],
    [
      ['connections', 'add', 'contoso', 'conn-1', '--tenant-id', TENANT, '--resync'],
      'graph-relay: --resync applies to the --subscribe values of the command: give at least one --subscribe <resource:changeTypes>',
    ],
    [
      ['connections', 'subscribe', 'contoso', 'conn-1', 'security/alerts:created', '--resync'],
      'graph-relay: invalid subscription declaration "security/alerts:created;resync": ;resync needs a Graph delta query: Graph has no delta query for "security/alerts"; resync is supported for ',
    ],
    [
      ['connections', 'subscribe', 'contoso', 'conn-1', 'chats/getAllMessages:created;resync'],
      'graph-relay: invalid subscription declaration "chats/getAllMessages:created;resync": ;resync needs a Graph delta query: Graph has no delta query for "chats/getAllMessages"; resync is supported for ',
    ],
    [
      ['subscriptions', 'create', 'contoso', 'conn-1', '--resource', `groups/${USER}/conversations`, '--change-type', 'created', '--resync'],
      `graph-relay: invalid subscription declaration "groups/${USER}/conversations:created;resync": ;resync needs a Graph delta query: Graph has no delta query for "groups/${USER}/conversations"; resync is supported for `,
    ],
  ])('refuses %j with exit code 2 and one line listing the resources that have a delta query', async (args, start) => {
    // Prepare
    const h = await withIntegration();

    // Act
    const result = await h.cli(...args);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stdout).toEqual([]);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]?.startsWith(start)).toBe(true);
    if (start.endsWith('resync is supported for ')) expect(result.stderr[0]).toContain(`users, users/{user-object-id}, groups`);
    expect(h.opened).toEqual([]);
    expect(h.store.connections.size).toBe(0);
  });

  it('switches resync on and off for a declared subscription in place, without declaring it twice', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created,updated', 'groups:updated'] });

    // Act
    const on = await h.cli('connections', 'subscribe', 'contoso', 'conn-1', 'users:updated,created', '--resync');
    const again = await h.cli('connections', 'subscribe', 'contoso', 'conn-1', '/users:created,updated;RESYNC');
    const declaredOn = h.store.connections.get('contoso/conn-1')?.subscriptions;
    const off = await h.cli('connections', 'subscribe', 'contoso', 'conn-1', 'users:created,updated');

    // Assess
    expect(on).toEqual({ code: 0, stdout: ['connection "conn-1" of integration "contoso" now declares users:created,updated;resync instead of users:created,updated'], stderr: [] });
    expect(again.stdout).toEqual(['connection "conn-1" of integration "contoso" already declares users:created,updated;resync; nothing changed']);
    expect(declaredOn).toEqual(['users:created,updated;resync', 'groups:updated']);
    expect(off.stdout).toEqual(['connection "conn-1" of integration "contoso" now declares users:created,updated instead of users:created,updated;resync']);
    expect(h.store.connections.get('contoso/conn-1')?.subscriptions).toEqual(['users:created,updated', 'groups:updated']);
  });

  it('unsubscribes a resync declaration by its subscription, with or without ;resync', async () => {
    // Prepare
    const h = await withIntegration();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created;resync', 'groups:updated;resync'] });

    // Act
    const plain = await h.cli('connections', 'unsubscribe', 'contoso', 'conn-1', 'users:created');
    const written = await h.cli('connections', 'unsubscribe', 'contoso', 'conn-1', 'groups:updated;resync');

    // Assess
    expect([plain.code, written.code]).toEqual([0, 0]);
    expect(h.store.connections.get('contoso/conn-1')?.subscriptions).toEqual([]);
  });

  it('names what is missing when editing the declarations of an unknown connection', async () => {
    // Prepare
    const h = await withIntegration();

    // Act
    const missing = await h.cli('connections', 'subscribe', 'contoso', 'conn-9', 'users:created');
    const noIntegration = await h.cli('connections', 'unsubscribe', 'nope', 'conn-9', 'users:created');

    // Assess
    expect(missing).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: connection "conn-9" not found in integration "contoso"'] });
    expect(noIntegration.stderr[0]).toMatch(/^graph-relay: integration "nope" does not exist/);
  });
});

describe('subscriptions list', () => {
  const HOUR = 3_600_000;
  const inHours = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

  function record(integrationId: string, subscriptionId: string, fields: Partial<SubscriptionRecord> = {}): SubscriptionInput {
    return {
      integrationId,
      subscriptionId,
      connectionId: 'conn-1',
      tenantId: TENANT,
      resource: 'users',
      changeTypes: ['created', 'updated', 'deleted'],
      expiresAt: inHours(48),
      status: 'active',
      ...fields,
    };
  }

  async function seeded(): Promise<Harness> {
    const h = harness();
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    await h.store.putIntegration({ integrationId: 'fabrikam', provider: 'microsoft-oauth2-cc' });
    await h.subscriptions.put(record('contoso', 'sub-late', { expiresAt: inHours(60) }));
    await h.subscriptions.put(record('contoso', 'sub-soon', { connectionId: 'conn-2', resource: `users/${USER}/messages`, changeTypes: ['created'], expiresAt: inHours(2), includeResourceData: true }));
    await h.subscriptions.put(record('fabrikam', 'sub-consent', { status: 'needs-consent', expiresAt: inHours(20), lastError: 'Graph 403' }));
    await h.subscriptions.put(record('fabrikam', 'sub-lapsed', { expiresAt: inHours(-1) }));
    return h;
  }

  it('lists every integration’s subscriptions as a table, the earliest expiry first, flagging a lapsed one', async () => {
    // Prepare
    const h = await seeded();

    // Act
    const result = await h.cli('subscriptions', 'list');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
    const [header, ...rows] = result.stdout;
    expect(header).toMatch(/^INTEGRATION +CONNECTION +TENANT +RESOURCE +CHANGE TYPES +RICH +ID +EXPIRES +STATUS$/);
    expect(rows.map((row) => row.split(/ {2,}/))).toEqual([
      ['fabrikam', 'conn-1', TENANT, 'users', 'created,updated,deleted', 'no', 'sub-lapsed', expect.stringMatching(/^\d{4}-/), 'active (expired)'],
      ['contoso', 'conn-2', TENANT, `users/${USER}/messages`, 'created', 'yes', 'sub-soon', expect.any(String), 'active'],
      ['fabrikam', 'conn-1', TENANT, 'users', 'created,updated,deleted', 'no', 'sub-consent', expect.any(String), 'needs-consent'],
      ['contoso', 'conn-1', TENANT, 'users', 'created,updated,deleted', 'no', 'sub-late', expect.any(String), 'active'],
    ]);
  });

  it('filters by integration, connection and expiry, as JSON', async () => {
    // Prepare
    const h = await seeded();

    // Act
    const byIntegration = await h.cli('subscriptions', 'list', '--integration', 'contoso', '--json');
    const byConnection = await h.cli('subscriptions', 'list', '--connection', 'conn-1', '--json');
    const expiring = await h.cli('subscriptions', 'list', '--expiring-within', '24h', '--json');
    const expiringInContoso = await h.cli('subscriptions', 'list', '--integration', 'contoso', '--expiring-within', '90m');

    // Assess
    const ids = (result: { stdout: string[] }) => (JSON.parse(result.stdout.join('\n')) as SubscriptionRecord[]).map((r) => r.subscriptionId);
    expect(ids(byIntegration)).toEqual(['sub-soon', 'sub-late']);
    expect(ids(byConnection)).toEqual(['sub-lapsed', 'sub-consent', 'sub-late']);
    expect(ids(expiring)).toEqual(['sub-lapsed', 'sub-soon', 'sub-consent']);
    expect(JSON.parse(expiring.stdout.join('\n'))).toContainEqual(expect.objectContaining({ subscriptionId: 'sub-consent', lastError: 'Graph 403' }));
    // Whether each is rich, stated for every one (records of plain subscriptions carry no such attribute)
    expect((JSON.parse(byIntegration.stdout.join('\n')) as SubscriptionRecord[]).map((r) => [r.subscriptionId, r.includeResourceData])).toEqual([
      ['sub-soon', true],
      ['sub-late', false],
    ]);
    expect(expiringInContoso).toEqual({ code: 0, stdout: ['no subscriptions expiring within 90m'], stderr: [] });
  });

  it('warns about invalid items on stderr and says when there is nothing', async () => {
    // Prepare
    const h = harness();
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    h.subscriptions.invalidItems = [{ pk: 'INTEGRATION#contoso', sk: 'SUBSCRIPTION#edited', reason: 'expiresAt: Invalid ISO datetime' }];

    // Act
    const result = await h.cli('subscriptions', 'list');

    // Assess
    expect(result).toEqual({
      code: 0,
      stdout: ['no subscriptions'],
      stderr: ['graph-relay: warning: skipped invalid item SUBSCRIPTION#edited of integration "contoso": expiresAt: Invalid ISO datetime'],
    });
  });

  it('fails with exit code 1 for an unknown integration', async () => {
    // Act
    const result = await harness().cli('subscriptions', 'list', '--integration', 'nope');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([
      'graph-relay: integration "nope" does not exist (create it with: graph-relay integrations put nope --provider microsoft-oauth2-cc)',
    ]);
  });

  it.each([
    [['--expiring-within', '24'], 'graph-relay: invalid --expiring-within "24": expected a whole number of minutes, hours or days, e.g. 90m, 24h, 2d'],
    [['--expiring-within', '1.5h'], 'graph-relay: invalid --expiring-within "1.5h": expected a whole number of minutes, hours or days, e.g. 90m, 24h, 2d'],
    [['--expiring-within', '0h'], 'graph-relay: invalid --expiring-within "0h": expected a whole number of minutes, hours or days, e.g. 90m, 24h, 2d'],
    [['--expiring-within', '-2d'], 'graph-relay: invalid --expiring-within "-2d": expected a whole number of minutes, hours or days, e.g. 90m, 24h, 2d'],
    [['--integration', 'bad id'], 'graph-relay: invalid --integration "bad id": integration id must be 1-64 characters: letters, digits, ".", "_", "-"'],
    [['--connection', 'conn 1'], 'graph-relay: invalid --connection "conn 1": connection id must be 1-128 characters: letters, digits, ".", "_", ":", "@", "-"'],
  ])('refuses %j with exit code 2 before reaching AWS', async (args, message) => {
    // Prepare
    const h = harness();

    // Act
    const result = await h.cli('subscriptions', 'list', ...args);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
    expect(h.opened).toEqual([]);
  });
});

describe('program', () => {
  it('prints help on stdout with exit code 0', async () => {
    // Act
    const result = await harness().cli('connections', 'add', '--help');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout.join('\n')).toContain('Usage: graph-relay connections add [options] <integrationId> <connectionId>');
  });

  it.each([
    [['bogus'], "graph-relay: unknown command 'bogus' (see --help)"],
    [['--local', '--stage', 'prod', 'connections', 'list'], "graph-relay: option '--stage <stage>' cannot be used with option '--local' (see --help)"],
    [['connections', 'list', 'extra'], "graph-relay: too many arguments for 'list'. Expected 0 arguments but got 1. (see --help)"],
    [['events', 'tail', '--limit', '0'], 'graph-relay: invalid --limit "0": must be a whole number from 1 to 999999'],
  ])('refuses %j with one line and exit code 2', async (argv, message) => {
    // Act
    const result = await harness().cli(...argv);

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: [message] });
  });

  it('shows the help on stderr with exit code 2 when no command is given', async () => {
    // Act
    const result = await harness().cli('connections');

    // Assess
    expect(result.code).toBe(2);
    expect(result.stdout).toEqual([]);
    expect(result.stderr.join('\n')).toContain('Usage: graph-relay connections [options] [command]');
  });

  it('reports an unreachable target as one line with exit code 1', async () => {
    // Prepare
    const h = harness({
      openContext: async () => {
        throw new LocalStackNotRunningError('the local stack is not running (no /x/local-stack.json); start it with: npm start');
      },
    });

    // Act
    const result = await h.cli('--local', 'connections', 'list');

    // Assess
    expect(result).toEqual({
      code: 1,
      stdout: [],
      stderr: ['graph-relay: the local stack is not running (no /x/local-stack.json); start it with: npm start'],
    });
  });

  it('reports an AWS service error by its code, on one line', async () => {
    // Prepare
    const h = harness();
    h.store.listIntegrations = async () => {
      throw Object.assign(new Error('Requested resource\nnot found'), { name: 'ResourceNotFoundException' });
    };

    // Act
    const result = await h.cli('connections', 'list');

    // Assess
    expect(result).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: ResourceNotFoundException: Requested resource not found'] });
  });
});

describe('subscriptions create, renew, delete and reconcile', () => {
  const BASE = 'https://relay.example.com/webhook/';

  async function withConnection(declared: string[] = [], options: { noEventBus?: boolean } = {}): Promise<Harness> {
    const h = harness({ webhookBaseUrl: BASE, ...options });
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: declared });
    return h;
  }

  async function withRecord(options: { noEventBus?: boolean } = {}): Promise<Harness> {
    const h = await withConnection(['users:created,updated'], options);
    await h.subscriptions.put({
      integrationId: 'contoso',
      connectionId: 'conn-1',
      tenantId: TENANT,
      resource: 'users',
      changeTypes: ['created', 'updated'],
      subscriptionId: 'sub-1',
      expiresAt: '2024-05-02T12:00:00.000Z',
      status: 'active',
    });
    return h;
  }

  it('creates at Graph with the integration webhook and secret, records it and declares it on the connection', async () => {
    // Prepare
    const h = await withConnection();

    // Act
    const result = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'users', '--change-type', 'updated,created');

    // Assess
    expect(result.code).toBe(0);
    expect(h.graph.calls).toEqual([`POST ${TENANT} users:created,updated`]);
    expect(h.graph.lastCreate).toMatchObject({ notificationUrl: `${BASE}contoso`, lifecycleNotificationUrl: `${BASE}contoso`, clientState: tenantClientState('client-state-secret-0123', 'contoso', TENANT) });
    const record = await h.subscriptions.get('contoso', 'sub-new-1');
    expect(record).toMatchObject({ connectionId: 'conn-1', tenantId: TENANT, resource: 'users', changeTypes: ['created', 'updated'], status: 'active' });
    expect(result.stdout[0]).toBe(`created subscription sub-new-1 for users:created,updated of contoso/conn-1 (tenant ${TENANT}); expires ${record?.expiresAt}`);
    expect(result.stdout[1]).toMatch(/^declared users:created,updated on connection "conn-1", so renewal and the reconciler keep it/);
    expect((await h.store.getConnection('contoso', 'conn-1'))?.subscriptions).toEqual(['users:created,updated']);
  });

  it.each([
    [['--resource', 'calendars', '--change-type', 'created'], /^graph-relay: invalid subscription declaration "calendars:created": unsupported resource "calendars": supported kinds are .*user/],
    [['--resource', 'users', '--change-type', 'creatd'], /unknown change type "creatd": allowed are created, updated, deleted$/],
    [
      ['--resource', 'users', '--change-type', 'created', '--expires-in', '30d'],
      /^graph-relay: --expires-in 30d: a lifetime of 30 days is beyond the maximum for .* subscriptions: at most 29\.0 days \(41758 minutes\)$/,
    ],
    [['--resource', 'users/u1/messages', '--change-type', 'created', '--expires-in', '30m'], /^graph-relay: --expires-in 30m: a lifetime of 30 minutes is under Graph's minimum of 45 minutes$/],
    [['--resource', 'users', '--change-type', 'created', '--expires-in', 'soon'], /invalid --expires-in "soon": expected a whole number of minutes, hours or days/],
  ])('refuses %j with exit code 2 before any call', async (flags, message) => {
    // Prepare
    const h = await withConnection();

    // Act
    const result = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', ...flags);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr[0]).toMatch(message);
    expect(h.graph.calls).toEqual([]);
  });

  it('declares resync with --resync and asks Graph for the same subscription as without it', async () => {
    // Prepare
    const h = await withConnection(['groups:updated']);

    // Act
    const result = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'users', '--change-type', 'created', '--resync');

    // Assess
    expect(result.code).toBe(0);
    expect(h.graph.calls).toEqual([`POST ${TENANT} users:created`]);
    expect(h.graph.lastCreate).not.toHaveProperty('resync');
    expect(await h.subscriptions.get('contoso', 'sub-new-1')).not.toHaveProperty('resync');
    expect((await h.store.getConnection('contoso', 'conn-1'))?.subscriptions).toEqual(['groups:updated', 'users:created;resync']);
  });

  it('adds resync to a declaration already there with --resync, and keeps it when Graph refuses the create', async () => {
    // Prepare
    const h = await withConnection(['users:created', 'groups:updated;resync']);
    h.graph.fail.create = graphError('POST', 400, 'ValidationError', 'Subscription validation request failed.');

    // Act
    const withResync = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'users', '--change-type', 'created', '--resync');
    h.graph.fail.create = graphError('POST', 400, 'ValidationError', 'Subscription validation request failed.');
    const withoutResync = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'groups', '--change-type', 'updated');

    // Assess
    expect([withResync.code, withoutResync.code]).toEqual([1, 1]);
    expect((await h.store.getConnection('contoso', 'conn-1'))?.subscriptions).toEqual(['users:created;resync', 'groups:updated;resync']);
  });

  it('asks Graph for the lifetime given with --expires-in instead of the maximum', async () => {
    // Prepare
    const h = await withConnection();
    const before = Date.now();

    // Act
    const result = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'users', '--change-type', 'created', '--expires-in', '2d');

    // Assess
    expect(result.code).toBe(0);
    const asked = Date.parse(String(h.graph.lastCreate?.expirationDateTime instanceof Date ? h.graph.lastCreate.expirationDateTime.toISOString() : h.graph.lastCreate?.expirationDateTime));
    expect(asked).toBeGreaterThanOrEqual(before + 2 * 86_400_000);
    expect(asked).toBeLessThanOrEqual(Date.now() + 2 * 86_400_000);
  });

  it('removes the declaration it added when Graph refuses the create, and exits 1 with Graph’s message', async () => {
    // Prepare
    const h = await withConnection();
    h.graph.fail.create = graphError('POST', 400, 'ValidationError', 'Subscription validation request failed.');

    // Act
    const result = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'groups', '--change-type', 'deleted', '--json');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toEqual([]);
    expect(result.stderr.at(-1)).toBe('graph-relay: Graph POST /subscriptions failed (HTTP 400 ValidationError): Subscription validation request failed.');
    expect((await h.store.getConnection('contoso', 'conn-1'))?.subscriptions).toEqual([]);
    expect(h.subscriptions.records.size).toBe(0);
  });

  it('refuses a subscription the connection already has, and an integration without app credentials, without calling Graph', async () => {
    // Prepare
    const h = await withRecord();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT });
    h.withoutCredentials.add('contoso');

    // Act
    const duplicate = await h.cli('subscriptions', 'create', 'contoso', 'conn-1', '--resource', 'users', '--change-type', 'created,updated');
    const noCredentials = await h.cli('subscriptions', 'create', 'contoso', 'conn-2', '--resource', 'users', '--change-type', 'created');

    // Assess
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr[0]).toMatch(/already has subscription sub-1 for users:created,updated .*subscriptions renew sub-1$/);
    expect(noCredentials.code).toBe(1);
    expect(noCredentials.stderr[0]).toMatch(/^graph-relay: integration "contoso" has no app credentials/);
    expect(h.graph.calls).toEqual([]);
    expect((await h.store.getConnection('contoso', 'conn-2'))?.subscriptions).toEqual([]);
  });

  it('renews a subscription found by id to a new expiry and publishes Graph Subscription Renewed', async () => {
    // Prepare
    const h = await withRecord();

    // Act
    const result = await h.cli('subscriptions', 'renew', 'sub-1');

    // Assess
    expect(result.code).toBe(0);
    expect(h.graph.calls).toEqual([`PATCH ${TENANT} sub-1`]);
    const record = await h.subscriptions.get('contoso', 'sub-1');
    expect(Date.parse(record?.expiresAt ?? '')).toBeGreaterThan(Date.now() + 40 * 3_600_000);
    expect(result.stdout).toEqual([`renewed subscription sub-1 (users:created,updated of contoso/conn-1); expires ${record?.expiresAt}`]);
    expect(h.published.map((e) => e.detailType)).toEqual(['Graph Subscription Renewed']);
  });

  it('recreates on 404 like the schedule: new id recorded, old one gone, Recreated event', async () => {
    // Prepare
    const h = await withRecord();
    h.graph.fail.renew = graphError('PATCH', 404, 'ResourceNotFound', 'The object was not found.');

    // Act
    const result = await h.cli('subscriptions', 'renew', 'sub-1', '--integration', 'contoso', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.join('\n'))).toMatchObject({ outcome: 'recreated', previousSubscriptionId: 'sub-1', subscriptionId: 'sub-new-1' });
    expect(await h.subscriptions.get('contoso', 'sub-1')).toBeUndefined();
    expect(await h.subscriptions.get('contoso', 'sub-new-1')).toMatchObject({ status: 'active', connectionId: 'conn-1' });
    expect(h.published.map((e) => e.detailType)).toEqual(['Graph Subscription Recreated']);
  });

  it('exits 1 on 403 with the record marked needs-consent, and warns when no event bus is known', async () => {
    // Prepare
    const h = await withRecord({ noEventBus: true });
    h.graph.fail.renew = graphError('PATCH', 403, 'ExtensionError', 'Operation: Update; Exception: [Status Code: Forbidden; Reason: Forbidden]');

    // Act
    const result = await h.cli('subscriptions', 'renew', 'sub-1');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toEqual([]);
    expect(result.stderr).toEqual([
      'graph-relay: warning: the event bus is unknown (names given as flags): Graph Subscription Renewal Failed not published',
      expect.stringMatching(/^graph-relay: renewal of subscription sub-1 failed \(needs-consent, HTTP 403\): .*Forbidden.*grant the app consent/),
    ]);
    expect((await h.subscriptions.get('contoso', 'sub-1'))?.status).toBe('needs-consent');
  });

  it('exits 1 for an unknown subscription id and 2 for a malformed one', async () => {
    // Prepare
    const h = await withRecord();

    // Act
    const unknown = await h.cli('subscriptions', 'renew', 'sub-404');
    const malformed = await h.cli('subscriptions', 'delete', '../users');

    // Assess
    expect(unknown).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: no subscription sub-404 recorded in any integration (see graph-relay subscriptions list)'] });
    expect(malformed.code).toBe(2);
    expect(h.graph.calls).toEqual([]);
  });

  it('deletes at Graph then the record; already gone is fine; warns that the connection still declares it', async () => {
    // Prepare
    const h = await withRecord();
    h.graph.deleteOutcome = 'already-gone';

    // Act
    const result = await h.cli('subscriptions', 'delete', 'sub-1');

    // Assess
    expect(result.code).toBe(0);
    expect(h.graph.calls).toEqual([`DELETE ${TENANT} sub-1`]);
    expect(h.subscriptions.records.size).toBe(0);
    expect(result.stdout).toEqual(['subscription sub-1 was already gone at Graph (404); its record is deleted']);
    expect(result.stderr[0]).toMatch(/still declares users:created,updated: the reconciler will create it again; .*connections unsubscribe contoso conn-1 users:created,updated$/);
  });

  it('keeps the record when the Graph delete fails', async () => {
    // Prepare
    const h = await withRecord();
    h.graph.fail.delete = graphError('DELETE', 503, 'ServiceUnavailable', 'Service unavailable');

    // Act
    const result = await h.cli('subscriptions', 'delete', 'sub-1');

    // Assess
    expect(result.code).toBe(1);
    expect(await h.subscriptions.get('contoso', 'sub-1')).toBeDefined();
  });

  it('reconcile --dry-run prints each planned change and invalid declaration, calling nothing', async () => {
    // Prepare
    const h = await withRecord();
    await h.store.setSubscriptions('contoso', 'conn-1', ['groups:deleted']);
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT, subscriptions: ['users:creatd'] });

    // Act
    const result = await h.cli('reconcile', '--dry-run');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toEqual([
      `would create groups:deleted for contoso/conn-1 (tenant ${TENANT})`,
      `would delete users:created,updated (subscription sub-1) of contoso/conn-1 (tenant ${TENANT}): the connection no longer declares it`,
      expect.stringMatching(/^ignored contoso\/conn-2: invalid subscription declaration "users:creatd": unknown change type "creatd"/),
      'dry run: would create 1, delete 1; 0 kept; 1 invalid declarations',
    ]);
    expect(h.graph.calls).toEqual([]);
    expect(h.subscriptions.records.size).toBe(1);
  });

  it('reconcile applies changes, prints failures and exits 1 when any failed', async () => {
    // Prepare
    const h = await withRecord();
    await h.store.setSubscriptions('contoso', 'conn-1', ['groups:deleted', 'users:created,updated']);
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT, subscriptions: ['users:deleted'] });
    h.graph.fail.create = graphError('POST', 400, 'ValidationError', 'Subscription validation request failed.');

    // Act
    const result = await h.cli('reconcile', '--integration', 'contoso');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toEqual([
      expect.stringMatching(/^create users:deleted for contoso\/conn-2 \(tenant .*\): created sub-new-1, expires /),
      expect.stringMatching(/^FAILED create groups:deleted for contoso\/conn-1 .*: graph-error: Graph POST \/subscriptions failed \(HTTP 400 ValidationError\).* \(request-id req-1\)$/),
      'created 1, deleted 0, failed 1, deferred 0; 1 kept; 0 invalid declarations',
    ]);
    expect(result.stderr).toEqual(['graph-relay: reconcile: 1 of 2 changes failed']);
  });

  it('refuses --connection without --integration with exit code 2', async () => {
    // Act
    const result = await harness().cli('reconcile', '--connection', 'conn-1');

    // Assess
    expect(result).toEqual({ code: 2, stdout: [], stderr: ['graph-relay: --connection needs --integration: a connection id is unique within its integration only'] });
  });
});

describe('connections: needs-consent, resume', () => {
  const BASE = 'https://relay.example.com/webhook/';
  const REFUSED = "AADSTS700016: Application with identifier 'x' was not found in the directory";

  /** conn-1 marked needs-consent with one needs-consent, one failed and one active subscription. */
  async function withConsentLost(): Promise<Harness> {
    const h = harness({ webhookBaseUrl: BASE });
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created', 'groups:updated', 'users:deleted'] });
    await h.store.markNeedsConsent('contoso', 'conn-1', REFUSED);
    const base = { integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, expiresAt: '2024-05-02T12:00:00.000Z' };
    await h.subscriptions.put({ ...base, resource: 'users', changeTypes: ['created'], subscriptionId: 'sub-consent', status: 'needs-consent', lastError: 'HTTP 403' });
    await h.subscriptions.put({ ...base, resource: 'groups', changeTypes: ['updated'], subscriptionId: 'sub-failed', status: 'failed', lastError: 'HTTP 400' });
    await h.subscriptions.put({ ...base, resource: 'users', changeTypes: ['deleted'], subscriptionId: 'sub-active', status: 'active' });
    return h;
  }

  it('shows the status in list and get, and the reason and time in JSON', async () => {
    // Prepare
    const h = await withConsentLost();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT });

    // Act
    const listed = await h.cli('connections', 'list');
    const got = await h.cli('connections', 'get', 'contoso', 'conn-1');
    const json = await h.cli('connections', 'get', 'contoso', 'conn-1', '--json');
    const activeJson = await h.cli('connections', 'get', 'contoso', 'conn-2', '--json');

    // Assess
    expect(listed.stdout).toEqual([
      'INTEGRATION  CONNECTION  TENANT                                STATUS         CREATED',
      `contoso      conn-1      ${TENANT}  needs-consent  ${AT}`,
      `contoso      conn-2      ${TENANT}  active         ${AT}`,
    ]);
    expect(got.stdout[3]).toBe(`status         needs-consent since ${AT}: ${REFUSED} (once consent is granted again: graph-relay connections resume contoso conn-1)`);
    expect(JSON.parse(json.stdout.join('\n'))).toMatchObject({ status: 'needs-consent', statusReason: REFUSED, statusChangedAt: AT });
    const active = JSON.parse(activeJson.stdout.join('\n')) as Record<string, unknown>;
    expect(active['status']).toBe('active');
    expect(active).not.toHaveProperty('statusReason');
    expect(active).not.toHaveProperty('statusChangedAt');
  });

  it('resume renews each needs-consent or failed subscription once, then marks the connection active', async () => {
    // Prepare
    const h = await withConsentLost();

    // Act
    const result = await h.cli('connections', 'resume', 'contoso', 'conn-1');

    // Assess
    expect(result.code).toBe(0);
    expect(h.graph.calls).toEqual([`PATCH ${TENANT} sub-consent`, `PATCH ${TENANT} sub-failed`]);
    const renewed = await h.subscriptions.get('contoso', 'sub-consent');
    const wasFailed = await h.subscriptions.get('contoso', 'sub-failed');
    expect(result.stdout).toEqual([
      `renewed sub-consent (users:created); expires ${renewed?.expiresAt}`,
      `renewed sub-failed (groups:updated); expires ${wasFailed?.expiresAt}`,
      'connection "conn-1" of integration "contoso": 2 renewed, 0 recreated, 0 still failing; no longer needs consent: the reconciler creates its missing ' +
        'subscriptions on its next run (now: graph-relay reconcile --integration contoso --connection conn-1)',
    ]);
    expect(result.stderr).toEqual([]);
    expect([renewed?.status, wasFailed?.status]).toEqual(['active', 'active']);
    expect(await h.store.getConnection('contoso', 'conn-1')).toMatchObject({ status: 'active' });
    expect((await h.store.getConnection('contoso', 'conn-1'))?.statusReason).toBeUndefined();
    expect(h.published.map((e) => e.detailType)).toEqual(['Graph Subscription Renewed', 'Graph Subscription Renewed']);
  });

  it('resume keeps the connection needs-consent and exits 1 while Graph still refuses', async () => {
    // Prepare
    const h = await withConsentLost();
    h.graph.fail.renew = graphError('PATCH', 403, 'ExtensionError', 'Operation: Update; Exception: [Status Code: Forbidden; Reason: Forbidden]');

    // Act
    const result = await h.cli('connections', 'resume', 'contoso', 'conn-1', '--json');

    // Assess
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout.join('\n'))).toEqual({
      integrationId: 'contoso',
      connectionId: 'conn-1',
      tenantId: TENANT,
      status: 'needs-consent',
      cleared: false,
      subscriptions: [
        expect.objectContaining({ subscriptionId: 'sub-consent', outcome: 'failed', failure: expect.objectContaining({ reason: 'needs-consent', status: 403 }) }),
        expect.objectContaining({ subscriptionId: 'sub-failed', outcome: 'renewed', expiresAt: expect.any(String) }),
      ],
      resyncRequested: 0,
    });
    expect(result.stderr).toEqual(['graph-relay: resume of connection "conn-1" of integration "contoso": 1 of 2 subscriptions still fail']);
    expect(await h.store.getConnection('contoso', 'conn-1')).toMatchObject({ status: 'needs-consent', statusReason: expect.stringContaining('Reason: Forbidden') });
    expect((await h.subscriptions.get('contoso', 'sub-consent'))?.status).toBe('needs-consent');
  });

  it('resume prints a FAILED line and what to do when consent is still missing', async () => {
    // Prepare
    const h = await withConsentLost();
    h.graph.fail.renew = graphError('PATCH', 401, 'InvalidAuthenticationToken', 'Access token validation failure.');

    // Act
    const result = await h.cli('connections', 'resume', 'contoso', 'conn-1');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout[0]).toMatch(/^FAILED sub-consent \(users:created\): needs-consent, HTTP 401: .*Access token validation failure\.$/);
    expect(result.stdout.at(-1)).toBe(
      `connection "conn-1" of integration "contoso": 1 renewed, 0 recreated, 1 still failing; still needs consent: have the admin of tenant ${TENANT} grant the app consent, then run this again`,
    );
  });

  it('resume of a needs-consent connection without subscription records marks it active', async () => {
    // Prepare
    const h = harness({ webhookBaseUrl: BASE });
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:created'] });
    await h.store.markNeedsConsent('contoso', 'conn-1', REFUSED);

    // Act
    const result = await h.cli('connections', 'resume', 'contoso', 'conn-1');

    // Assess
    expect(result.code).toBe(0);
    expect(h.graph.calls).toEqual([]);
    expect(result.stdout).toEqual([expect.stringMatching(/^connection "conn-1" of integration "contoso": no needs-consent or failed subscriptions to renew; no longer needs consent/)]);
    expect((await h.store.getConnection('contoso', 'conn-1'))?.status).toBe('active');
  });

  it('resume refuses a connection that does not exist with one line and exit code 1', async () => {
    // Prepare
    const h = await withConsentLost();

    // Act
    const missing = await h.cli('connections', 'resume', 'contoso', 'conn-9');
    const malformed = await h.cli('connections', 'resume', 'contoso', 'conn/9');

    // Assess
    expect(missing).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: connection "conn-9" not found in integration "contoso"'] });
    expect(malformed.code).toBe(2);
    expect(h.graph.calls).toEqual([]);
  });

  it('subscriptions renew that succeeds marks its connection active again; one refused marks it needs-consent', async () => {
    // Prepare
    const h = await withConsentLost();
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT });
    await h.subscriptions.put({ integrationId: 'contoso', connectionId: 'conn-2', tenantId: TENANT, resource: 'users', changeTypes: ['created'], subscriptionId: 'sub-2', expiresAt: '2024-05-02T12:00:00.000Z', status: 'active' });

    // Act
    const renewed = await h.cli('subscriptions', 'renew', 'sub-consent');
    h.graph.fail.renew = graphError('PATCH', 403, 'ExtensionError', 'Operation: Update; Exception: [Status Code: Forbidden; Reason: Forbidden]');
    const refused = await h.cli('subscriptions', 'renew', 'sub-2');

    // Assess
    expect(renewed.code).toBe(0);
    expect(renewed.stdout[1]).toMatch(/^connection "conn-1" of integration "contoso" no longer needs consent: the reconciler creates its missing subscriptions/);
    expect((await h.store.getConnection('contoso', 'conn-1'))?.status).toBe('active');
    expect(refused.code).toBe(1);
    expect(refused.stderr.at(-1)).toMatch(/marked needs-consent: grant the app consent in the tenant, then run: graph-relay connections resume contoso conn-2$/);
    expect(await h.store.getConnection('contoso', 'conn-2')).toMatchObject({ status: 'needs-consent', statusReason: expect.stringContaining('Forbidden') });
  });

  it('reconcile --dry-run and reconcile print the creates skipped for a connection that needs consent, calling no Graph create', async () => {
    // Prepare
    const h = await withConsentLost();
    await h.store.setSubscriptions('contoso', 'conn-1', ['users:created', 'groups:updated', 'users:deleted', 'groups:created']);

    // Act
    const dryRun = await h.cli('reconcile', '--dry-run');
    const applied = await h.cli('reconcile');

    // Assess
    const skipLine = `create groups:created for contoso/conn-1 (tenant ${TENANT}): the connection needs consent since ${AT} (${REFUSED}); once the tenant's admin grants it again: graph-relay connections resume contoso conn-1`;
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain(`would skip ${skipLine}`);
    expect(dryRun.stdout.at(-1)).toMatch(/^dry run: would create 0, delete 0, would skip 1 \(connection needs consent\); 3 kept;/);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`skipped ${skipLine}`);
    expect(applied.stdout.at(-1)).toMatch(/^created 0, deleted 0, failed 0, deferred 0, skipped 1 \(connection needs consent\); 3 kept;/);
    expect(h.graph.calls).toEqual([]);
  });
});

/** The resync states in memory, with the table's lease rule: free, expired, or already the same owner's. */
class MemoryResyncStates implements ResyncStateStore {
  readonly states = new Map<string, ResyncState>();
  private id(key: ResyncKey): string {
    return `${key.integrationId}/${key.connectionId}/${key.declaration}`;
  }
  async get(key: ResyncKey) {
    return this.states.get(this.id(key));
  }
  async acquire(key: ResyncKey, seed: { subscriptionId: string; tenantId: string; resource: string }, lease: { owner: string; until: Date; now: Date }) {
    const existing = this.states.get(this.id(key));
    const held = existing?.leaseUntil !== undefined && existing.leaseOwner !== lease.owner && Date.parse(existing.leaseUntil) >= lease.now.getTime();
    if (held) return undefined;
    const state: ResyncState = { ...existing, ...key, ...seed, leaseOwner: lease.owner, leaseUntil: lease.until.toISOString(), updatedAt: AT };
    this.states.set(this.id(key), state);
    return state;
  }
  async save(key: ResyncKey, lease: { owner: string; until: Date }, changes: ResyncStateChanges) {
    const existing = this.states.get(this.id(key));
    if (existing === undefined || existing.leaseOwner !== lease.owner) throw new ResyncLeaseLostError('lost');
    const { run, ...rest } = changes;
    const next: ResyncState = { ...existing, ...rest, leaseUntil: lease.until.toISOString() };
    if (run === null) delete next.run;
    else if (run !== undefined) next.run = run;
    this.states.set(this.id(key), next);
  }
  async release(key: ResyncKey, owner: string) {
    const existing = this.states.get(this.id(key));
    if (existing?.leaseOwner !== owner) return;
    const { leaseOwner: _owner, leaseUntil: _until, ...rest } = existing;
    this.states.set(this.id(key), rest);
  }
  async list(integrationId: string) {
    return { states: [...this.states.values()].filter((s) => s.integrationId === integrationId), invalid: [] };
  }
  async delete(key: ResyncKey) {
    this.states.delete(this.id(key));
  }
}

/**
 * `/users/delta` in pages of two users: `next:<n>` links, then a `delta:1` link, which answers one change and one
 * removal. `fail` throws at a page once.
 */
class FakeDeltaGraph implements DeltaGraph {
  readonly paths: string[] = [];
  readonly fail = new Map<number, Error>();
  constructor(private readonly users: number) {}
  async request(input: GraphRequest): Promise<unknown> {
    this.paths.push(input.path);
    if (input.path.startsWith('delta:')) {
      // What changed since: the first two users, and the next delta link.
      return { value: [{ id: 'user-1', displayName: 'Renamed 1' }, { id: 'user-2', '@removed': { reason: 'deleted' } }], '@odata.deltaLink': `delta:${Number(input.path.slice(6)) + 1}` };
    }
    const page = input.path.startsWith('next:') ? Number(input.path.slice(5)) : 1;
    const error = this.fail.get(page);
    if (error !== undefined) {
      this.fail.delete(page);
      throw error;
    }
    const last = Math.max(1, Math.ceil(this.users / 2));
    const value = [2 * page - 1, 2 * page].filter((n) => n <= this.users).map((n) => ({ id: `user-${n}`, displayName: `User ${n}` }));
    return page < last ? { value, '@odata.nextLink': `next:${page + 1}` } : { value, '@odata.deltaLink': 'delta:1' };
  }
  stats() {
    return { requests: {}, tokenRequests: 0 };
  }
}

describe('subscriptions resync', () => {
  const DECLARED = 'users:updated,deleted;resync';

  /** conn-1 declaring users ;resync, its subscription sub-1 recorded, five users at Graph, a resync queue. */
  async function withResync(options: { declaration?: string; users?: number; queue?: boolean; eventBus?: boolean } = {}) {
    const states = new MemoryResyncStates();
    const delta = new FakeDeltaGraph(options.users ?? 5);
    const changes: EventEntry[] = [];
    const summaries: unknown[] = [];
    const queued: ResyncJob[] = [];
    const resync: ResyncAccess = {
      states,
      ...(options.queue === false ? { noQueue: 'stack GraphRelay-dev has no output ResyncQueueUrl (older deployment, or names given as flags): redeploy it' } : { requests: { request: async (jobs) => void queued.push(...jobs) } }),
      ...(options.eventBus === false
        ? {}
        : {
            run: {
              graphFor: async () => delta,
              publisher: { publish: async (events) => (changes.push(...events), { calls: 1, published: events.length }), sizeOf: (event) => JSON.stringify(event).length },
              summaries: { publish: async (events) => summaries.push(...events) },
              eventSource: 'graph-relay.test',
            },
          }),
    };
    const h = harness({ resync });
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: [options.declaration ?? DECLARED] });
    await h.subscriptions.put({
      integrationId: 'contoso',
      connectionId: 'conn-1',
      tenantId: TENANT,
      resource: 'users',
      changeTypes: ['updated', 'deleted'],
      subscriptionId: 'sub-1',
      expiresAt: '2099-01-01T00:00:00.000Z',
      status: 'active',
    });
    const key = { integrationId: 'contoso', connectionId: 'conn-1', declaration: 'users:updated,deleted' };
    return { h, states, delta, changes, summaries, queued, resync, key };
  }

  it('runs a full catch-up here: one progress line per page on stderr, one result line, every object published', async () => {
    // Prepare
    const w = await withResync();

    // Act
    const result = await w.h.cli('subscriptions', 'resync', 'sub-1', '--full');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([
      'graph-relay: resync sub-1: full, 1 page, 2 objects published',
      'graph-relay: resync sub-1: full, 2 pages, 4 objects published',
      'graph-relay: resync sub-1: full, 3 pages, 5 objects published',
    ]);
    expect(result.stdout).toEqual([
      expect.stringMatching(/^resynced subscription sub-1 \(users:updated,deleted of contoso\/conn-1\): full \(asked with --full\), 5 objects published \(5 changed, 0 deleted\), 3 pages in \d+\.\d s$/),
    ]);
    expect(w.changes.map((e) => e.detail.metadata.origin)).toEqual(['resync', 'resync', 'resync', 'resync', 'resync']);
    expect(w.summaries).toHaveLength(1);
    expect(await w.states.get(w.key)).toMatchObject({ deltaLink: 'delta:1', lastRun: { trigger: 'operator', mode: 'full', outcome: 'completed', objects: 5 } });
    expect((await w.states.get(w.key))?.leaseOwner).toBeUndefined();
  });

  it('prints the ResyncResult fields as JSON with --json; an incremental run goes on from the delta link', async () => {
    // Prepare
    const w = await withResync();
    await w.h.cli('subscriptions', 'resync', 'sub-1', '--integration', 'contoso');

    // Act
    const result = await w.h.cli('subscriptions', 'resync', 'sub-1', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.join('\n'))).toEqual({
      integrationId: 'contoso',
      subscriptionId: 'sub-1',
      outcome: 'completed',
      mode: 'incremental',
      pages: 1,
      changed: 1,
      deleted: 1,
      unpublishable: 0,
      throttled: 0,
      resumed: 0,
      durationMs: expect.any(Number),
      rounds: 1,
      elapsedMs: expect.any(Number),
    });
    expect(w.delta.paths.at(-1)).toBe('delta:1');
  });

  it('says the run is full without a baseline, and why', async () => {
    // Prepare
    const w = await withResync({ users: 1 });

    // Act
    const result = await w.h.cli('subscriptions', 'resync', 'sub-1');

    // Assess
    expect(result.stdout[0]).toMatch(/: full \(there was no baseline to go on from\), 1 object published \(1 changed, 0 deleted\), 1 page in /);
  });

  it('refuses while another run holds the declaration, saying since when and what to do, exit code 1', async () => {
    // Prepare
    const w = await withResync();
    const run = { mode: 'incremental' as const, trigger: 'missed' as const, next: 'next:2', startedAt: '2026-12-05T10:00:00.000Z', pages: 1, changed: 2, deleted: 0, throttled: 0, resumed: 0 };
    await w.states.acquire(w.key, { subscriptionId: 'sub-1', tenantId: TENANT, resource: 'users' }, { owner: 'function', until: new Date(Date.now() + 600_000), now: new Date() });
    await w.states.save(w.key, { owner: 'function', until: new Date(Date.now() + 600_000) }, { run });

    // Act
    const result = await w.h.cli('subscriptions', 'resync', 'sub-1');

    // Assess
    expect(result).toEqual({
      code: 1,
      stdout: [],
      stderr: ['graph-relay: another run of users:updated,deleted of contoso/conn-1 is in progress since 2026-12-05T10:00:00.000Z; try again later or use --queue'],
    });
    expect(w.delta.paths).toEqual([]);
  });

  it('skips a declaration without ;resync, naming the command that declares it', async () => {
    // Prepare
    const w = await withResync({ declaration: 'users:updated,deleted' });

    // Act
    const result = await w.h.cli('subscriptions', 'resync', 'sub-1');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([
      'graph-relay: resync of subscription sub-1 skipped: connection conn-1 does not declare "users:updated,deleted;resync"; declare it with: graph-relay connections subscribe contoso conn-1 users:updated,deleted --resync',
    ]);
  });

  it('fails with exit code 1 and Graph\'s error when the run fails', async () => {
    // Prepare
    const w = await withResync();
    w.delta.fail.set(2, new GraphRequestError({ method: 'GET', path: 'next:2', tenantId: TENANT, status: 403, code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.', requestId: 'r', clientRequestId: 'c' }));

    // Act
    const result = await w.h.cli('subscriptions', 'resync', 'sub-1');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr.at(-1)).toMatch(/^graph-relay: resync of subscription sub-1 failed after 1 page: .*Insufficient privileges to complete the operation\.$/);
    expect((await w.states.get(w.key))?.lastRun).toMatchObject({ outcome: 'failed' });
  });

  it('goes on past each round\'s deadline and after Graph\'s Retry-After until the run completed', async () => {
    // Prepare: a clock that moves 10 s at every reading, rounds of 100 s, and one 429 past the deadline
    const w = await withResync({ users: 12 });
    w.delta.fail.set(4, new GraphThrottledError({ method: 'GET', path: 'next:4', tenantId: TENANT, status: 429, code: 'TooManyRequests', message: 'Too many requests', requestId: 'r', clientRequestId: 'c' }, 7_000));
    let now = Date.parse('2026-12-05T12:00:00Z');
    const slept: number[] = [];
    const stdout: string[] = [];
    const stderr: string[] = [];
    const context = { target: { region: 'us-east-1', connectionsTable: 't', webhookSecretPrefix: PREFIX }, store: w.h.store, subscriptions: w.h.subscriptions, resync: w.resync } as unknown as CommandContext;

    // Act
    await resyncSubscription(context, { subscriptionId: 'sub-1', full: true, json: true }, { out: (l) => stdout.push(l), err: (l) => stderr.push(l) }, {
      clock: { now: () => (now += 10_000) },
      roundMs: 100_000,
      sleep: async (ms) => void slept.push(ms),
    });

    // Assess
    const printed = JSON.parse(stdout.join('\n')) as { outcome: string; changed: number; pages: number; rounds: number };
    expect(printed).toMatchObject({ outcome: 'completed', changed: 12, pages: 6 });
    expect(printed.rounds).toBeGreaterThan(2);
    expect(slept).toEqual([7_000]);
    expect(stderr).toContain('graph-relay: resync sub-1: Graph throttled it; going on from its checkpoint in 7.0 s');
    expect(new Set(w.changes.map((e) => e.detail.payload.value[0]?.resource)).size).toBe(12);
  });

  it('--queue asks the resync function instead, and refuses plainly without a queue', async () => {
    // Prepare
    const w = await withResync();
    const without = await withResync({ queue: false });

    // Act
    const queued = await w.h.cli('subscriptions', 'resync', 'sub-1', '--queue', '--full');
    const json = await w.h.cli('subscriptions', 'resync', 'sub-1', '--queue', '--json');
    const refused = await without.h.cli('subscriptions', 'resync', 'sub-1', '--queue');

    // Assess
    expect(queued).toEqual({
      code: 0,
      stdout: ['queued a full resync of subscription sub-1 (users:updated,deleted of contoso/conn-1): the resync function runs it; graph-relay doctor shows its outcome'],
      stderr: [],
    });
    expect(w.queued).toEqual([
      { integrationId: 'contoso', subscriptionId: 'sub-1', trigger: 'operator', full: true, requestedAt: expect.any(String) },
      { integrationId: 'contoso', subscriptionId: 'sub-1', trigger: 'operator', requestedAt: expect.any(String) },
    ]);
    expect(JSON.parse(json.stdout.join('\n'))).toMatchObject({ queued: true, subscriptionId: 'sub-1', trigger: 'operator' });
    expect(w.delta.paths).toEqual([]);
    expect(refused).toEqual({
      code: 1,
      stdout: [],
      stderr: ['graph-relay: stack GraphRelay-dev has no output ResyncQueueUrl (older deployment, or names given as flags): redeploy it; or run the resync here, without --queue'],
    });
  });

  it('refuses a malformed id (exit 2), an unknown one (exit 1), and a run here without the event bus', async () => {
    // Prepare
    const w = await withResync();
    const noBus = await withResync({ eventBus: false });

    // Act
    const malformed = await w.h.cli('subscriptions', 'resync', 'sub/1');
    const unknown = await w.h.cli('subscriptions', 'resync', 'sub-9');
    const unpublishable = await noBus.h.cli('subscriptions', 'resync', 'sub-1');

    // Assess
    expect(malformed.code).toBe(2);
    expect(malformed.stderr[0]).toMatch(/^graph-relay: invalid subscription id "sub\/1"/);
    expect(unknown).toEqual({ code: 1, stdout: [], stderr: ['graph-relay: no subscription sub-9 recorded in any integration (see graph-relay subscriptions list)'] });
    expect(unpublishable.code).toBe(1);
    expect(unpublishable.stderr[0]).toMatch(/event bus is unknown .* or ask the resync function with --queue$/);
  });

  it('--help explains incremental and full, and that a full resync re-sends objects', async () => {
    // Act
    const result = await harness().cli('subscriptions', 'resync', '--help');

    // Assess
    const help = result.stdout.join('\n');
    expect(result.code).toBe(0);
    expect(help).toContain('--full');
    expect(help).toContain('--queue');
    expect(help).toMatch(/Incremental \(the default\)/);
    expect(help).toMatch(/receive objects again that they may hold already/);
  });
});

describe('connections resume: catch-up of ;resync declarations', () => {
  async function resumable(requests: ResyncAccess['requests']) {
    const resync: ResyncAccess = { states: new MemoryResyncStates(), ...(requests === undefined ? { noQueue: 'the local stack runs without a resync queue' } : { requests }) };
    const h = harness({ webhookBaseUrl: 'https://relay.example.com/webhook/', resync });
    await h.store.putIntegration({ integrationId: 'contoso', provider: 'microsoft-oauth2-cc' });
    await h.store.addConnection({ integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, subscriptions: ['users:updated;resync', 'groups:updated;resync', 'users:deleted'] });
    await h.store.markNeedsConsent('contoso', 'conn-1', 'consent revoked');
    const base = { integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT, expiresAt: '2099-01-02T12:00:00.000Z' };
    await h.subscriptions.put({ ...base, resource: 'users', changeTypes: ['updated'], subscriptionId: 'sub-users', status: 'needs-consent', lastError: 'HTTP 403' });
    await h.subscriptions.put({ ...base, resource: 'groups', changeTypes: ['updated'], subscriptionId: 'sub-groups', status: 'active' });
    await h.subscriptions.put({ ...base, resource: 'users', changeTypes: ['deleted'], subscriptionId: 'sub-plain', status: 'active' });
    return h;
  }

  it("asks a 'resumed' catch-up for each active ;resync subscription, the recreated one under its new id", async () => {
    // Prepare
    const queued: ResyncJob[] = [];
    const h = await resumable({ request: async (jobs) => void queued.push(...jobs) });
    h.graph.fail.renew = graphError('PATCH', 404, 'ResourceNotFound', 'The object was not found.');

    // Act
    const result = await h.cli('connections', 'resume', 'contoso', 'conn-1', '--json');

    // Assess
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout.join('\n')) as { resyncRequested: number; subscriptions: { outcome: string; newSubscriptionId?: string }[] };
    expect(printed.subscriptions).toEqual([expect.objectContaining({ outcome: 'recreated', newSubscriptionId: 'sub-new-1' })]);
    expect(printed.resyncRequested).toBe(2);
    expect(queued.map((job) => [job.subscriptionId, job.trigger]).sort()).toEqual([
      ['sub-groups', 'resumed'],
      ['sub-new-1', 'resumed'],
    ]);
  });

  it('says so in the text output', async () => {
    // Prepare
    const h = await resumable({ request: async () => undefined });

    // Act
    const result = await h.cli('connections', 'resume', 'contoso', 'conn-1');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout.at(-1)).toBe('asked the resync function to catch up 2 subscriptions declared ;resync (graph-relay doctor shows the outcome)');
  });

  it('warns with the commands to run, and still succeeds, when the request fails or there is no queue', async () => {
    // Prepare
    const failing = await resumable({ request: async () => Promise.reject(new Error('AWS.SimpleQueueService.NonExistentQueue')) });
    const noQueue = await resumable(undefined);

    // Act
    const failed = await failing.cli('connections', 'resume', 'contoso', 'conn-1', '--json');
    const without = await noQueue.cli('connections', 'resume', 'contoso', 'conn-1');

    // Assess
    expect(failed.code).toBe(0);
    expect(JSON.parse(failed.stdout.join('\n'))).toMatchObject({ resyncRequested: 0, status: 'active' });
    expect(failed.stderr).toEqual([
      expect.stringMatching(
        /^graph-relay: warning: resync not requested \(AWS\.SimpleQueueService\.NonExistentQueue\): run graph-relay subscriptions resync sub-\S+ --integration contoso; graph-relay subscriptions resync sub-\S+ --integration contoso$/,
      ),
    ]);
    expect(without.code).toBe(0);
    expect(without.stderr).toEqual([expect.stringMatching(/^graph-relay: warning: the local stack runs without a resync queue: to catch up on changes missed while consent was missing, run: graph-relay subscriptions resync /)]);
  });
});
