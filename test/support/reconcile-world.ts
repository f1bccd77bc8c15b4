/**
 * The reconciler's unit-test world (shared/subscriptions/reconcile.ts): connections and subscription records in
 * memory (paged as DynamoDB pages them), the checkpoint item, and a Graph that records each call and answers from
 * a queue per method.
 */
import { randomUUID } from 'node:crypto';
import { GraphRequestError, type GraphMethod } from '../../shared/graph/graph-client';
import { graphSubscriptionSchema, type CreateSubscriptionInput, type DeleteOutcome, type GraphSubscription } from '../../shared/graph/subscriptions-api';
import { keys, type Connection, type Integration } from '../../shared/store/items';
import type { PageKey } from '../../shared/store/page-key';
import type { ReconcileCheckpoint, ReconcileCheckpointStore } from '../../shared/store/reconcile-checkpoint';
import type { SubscriptionInput, SubscriptionRecord } from '../../shared/store/subscriptions-store';
import type { ReconcileGraph, ReconcilePorts } from '../../shared/subscriptions/reconcile';

export const NOW = new Date('2026-03-01T12:00:00.000Z');
export const MINUTE = 60_000;
export const TENANT_A = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
export const TENANT_B = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
export const WEBHOOK_SECRET = 'webhook-secret-0123456789';
export const WEBHOOK_BASE = 'https://relay.example.com/webhook/';

export function connection(overrides: Partial<Connection> = {}): Connection {
  return { integrationId: 'contoso', connectionId: 'conn-1', tenantId: TENANT_A, subscriptions: [], status: 'active', createdAt: NOW.toISOString(), updatedAt: NOW.toISOString(), ...overrides };
}

export function record(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    integrationId: 'contoso',
    subscriptionId: randomUUID(),
    connectionId: 'conn-1',
    tenantId: TENANT_A,
    resource: 'users',
    changeTypes: ['created', 'updated'],
    expiresAt: '2026-03-20T00:00:00.000Z',
    status: 'active',
    createdAt: '2026-02-01T00:00:00.000Z',
    updatedAt: '2026-02-01T00:00:00.000Z',
    ...overrides,
  };
}

export class MemoryStore {
  readonly records = new Map<string, SubscriptionRecord>();
  /** Records the ByConnection index does not list yet (written before it existed). */
  readonly unindexed = new Set<string>();
  readonly reads = { byConnection: 0, integrationPages: 0 };
  failPut = false;
  constructor(records: readonly SubscriptionRecord[] = []) {
    for (const r of records) this.records.set(r.subscriptionId, r);
  }
  async listByConnection(integrationId: string, connectionId: string) {
    this.reads.byConnection += 1;
    const subscriptions = this.sorted().filter((r) => r.integrationId === integrationId && r.connectionId === connectionId && !this.unindexed.has(r.subscriptionId));
    return { subscriptions, invalidItems: [] };
  }
  async listByIntegrationPage(integrationId: string, options: { limit: number; startKey?: PageKey }) {
    this.reads.integrationPages += 1;
    const all = this.sorted().filter((r) => r.integrationId === integrationId);
    const page = pageOf(all, options, (r) => keys.subscription(r.integrationId, r.subscriptionId));
    const unindexed = page.items.filter((r) => this.unindexed.has(r.subscriptionId)).map(({ subscriptionId, connectionId }) => ({ subscriptionId, connectionId }));
    return { subscriptions: page.items, invalidItems: [], unindexed, ...(page.nextKey === undefined ? {} : { nextKey: page.nextKey }) };
  }
  async setConnectionKey(_integrationId: string, subscriptionId: string) {
    return this.unindexed.delete(subscriptionId);
  }
  async put(input: SubscriptionInput) {
    if (this.failPut) throw new Error('ProvisionedThroughputExceededException');
    const r: SubscriptionRecord = { ...input, createdAt: NOW.toISOString(), updatedAt: NOW.toISOString() };
    this.records.set(r.subscriptionId, r);
    return r;
  }
  async delete(_integrationId: string, id: string) {
    return this.records.delete(id);
  }
  private sorted() {
    return [...this.records.values()].sort((a, b) => a.subscriptionId.localeCompare(b.subscriptionId));
  }
}

/** A page of `items` (in key order) after `startKey`, as DynamoDB pages a Query with a Limit. */
export function pageOf<T>(items: readonly T[], options: { limit: number; startKey?: PageKey }, keyOf: (item: T) => PageKey): { items: T[]; nextKey?: PageKey } {
  const start = options.startKey === undefined ? 0 : items.findIndex((item) => keyOf(item).sk > options.startKey!.sk);
  const rest = start === -1 ? [] : items.slice(start);
  const page = rest.slice(0, options.limit);
  const last = page.at(-1);
  return rest.length > options.limit && last !== undefined ? { items: page, nextKey: keyOf(last) } : { items: page };
}

/** The checkpoint item, in memory. */
export class MemoryCheckpoint implements ReconcileCheckpointStore {
  saved: ReconcileCheckpoint | undefined;
  readonly writes: string[] = [];
  async get() {
    return this.saved;
  }
  async put(checkpoint: Omit<ReconcileCheckpoint, 'updatedAt'>) {
    this.writes.push('put');
    this.saved = { ...checkpoint, updatedAt: NOW.toISOString() };
  }
  async clear() {
    this.writes.push('clear');
    this.saved = undefined;
  }
}

export type Answer = GraphSubscription | DeleteOutcome | Error;

/** Records each call; answers from a queue per method, else success. */
export class FakeGraph implements ReconcileGraph {
  readonly calls: { method: 'create' | 'delete'; tenantId: string; input?: CreateSubscriptionInput; id?: string }[] = [];
  readonly answers: { create: Answer[]; delete: Answer[] } = { create: [], delete: [] };
  async createSubscription(tenantId: string, input: CreateSubscriptionInput): Promise<GraphSubscription> {
    this.calls.push({ method: 'create', tenantId, input });
    const answer = this.answers.create.shift();
    if (answer instanceof Error) throw answer;
    if (answer !== undefined && typeof answer !== 'string') return answer;
    return graphSubscriptionSchema.parse({
      id: `sub-${this.calls.length}`,
      resource: input.resource,
      changeType: input.changeType,
      notificationUrl: input.notificationUrl,
      expirationDateTime: new Date(input.expirationDateTime).toISOString(),
    });
  }
  async deleteSubscription(tenantId: string, id: string): Promise<DeleteOutcome> {
    this.calls.push({ method: 'delete', tenantId, id });
    const answer = this.answers.delete.shift();
    if (answer instanceof Error) throw answer;
    return typeof answer === 'string' ? answer : 'deleted';
  }
}

export function graphError(method: GraphMethod, status: number, message = `HTTP ${status}`): GraphRequestError {
  return new GraphRequestError({ method, path: '/subscriptions', tenantId: TENANT_A, status, code: 'ExtensionError', message, requestId: 'req-1', clientRequestId: 'c-1' });
}

export function world(input: {
  connections?: Connection[];
  records?: SubscriptionRecord[];
  integrations?: string[];
  graphFor?: ReconcilePorts['graphFor'];
  markNeedsConsent?: ReconcilePorts['connections']['markNeedsConsent'];
}) {
  const store = new MemoryStore(input.records);
  const connections = [...(input.connections ?? [])];
  const marks: { integrationId: string; connectionId: string; reason: string }[] = [];
  const logs: { level: 'info' | 'warn' | 'error'; message: string; fields: Record<string, unknown> }[] = [];
  const reads = { getConnection: 0, connectionPages: 0 };
  const graph = new FakeGraph();
  let now = NOW.getTime();
  const integrations: Integration[] = (input.integrations ?? ['contoso']).map((integrationId) => ({
    integrationId,
    provider: 'microsoft-oauth2-cc',
    configVersion: 0,
    routesVersion: 0,
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
  }));
  const sortedConnections = (integrationId: string) =>
    connections.filter((c) => c.integrationId === integrationId).sort((a, b) => a.connectionId.localeCompare(b.connectionId));
  const ports: ReconcilePorts = {
    connections: {
      listIntegrations: async () => ({ integrations, invalidItems: [] }),
      getConnection: async (integrationId, connectionId) => {
        reads.getConnection += 1;
        return connections.find((c) => c.integrationId === integrationId && c.connectionId === connectionId);
      },
      listConnectionsPage: async (integrationId, options) => {
        reads.connectionPages += 1;
        const page = pageOf(sortedConnections(integrationId), options, (c) => keys.connection(c.integrationId, c.connectionId));
        return { connections: page.items, invalidItems: [], ...(page.nextKey === undefined ? {} : { nextKey: page.nextKey }) };
      },
      existingConnectionIds: async (integrationId, ids) => new Set(ids.filter((id) => connections.some((c) => c.integrationId === integrationId && c.connectionId === id))),
      markNeedsConsent:
        input.markNeedsConsent ??
        (async (integrationId, connectionId, reason) => {
          marks.push({ integrationId, connectionId, reason });
          return true;
        }),
    },
    store,
    graphFor: input.graphFor ?? (async () => graph),
    webhookSecretOf: async () => WEBHOOK_SECRET,
    notificationUrlFor: (id) => `${WEBHOOK_BASE}${id}`,
    logger: {
      info: (message, fields) => logs.push({ level: 'info', message, fields }),
      warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
      error: (message, fields) => logs.push({ level: 'error', message, fields }),
    },
    clock: { now: () => now },
  };
  return { store, connections, graph, ports, marks, logs, reads, advance: (ms: number) => (now += ms), deadline: NOW.getTime() + 10 * MINUTE };
}
