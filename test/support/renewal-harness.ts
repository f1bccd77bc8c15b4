/**
 * The renewal run's unit-test harness (shared/subscriptions/renew-due.ts): the store's renewal operations over a
 * map (every active record due), Graph's GET, PATCH and POST answered from a script, events and connection marks kept.
 */
import { randomUUID } from 'node:crypto';
import type { SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { GraphRequestError, GraphThrottledError, type GraphMethod } from '../../shared/graph/graph-client';
import { graphSubscriptionSchema, type CreateSubscriptionInput, type GraphSubscription, type RenewOptions } from '../../shared/graph/subscriptions-api';
import type { SubscriptionInput, SubscriptionRecord, SubscriptionsStore } from '../../shared/store/subscriptions-store';
import { renewDue, type RenewalGraph, type RenewalPorts, type RenewDueOptions } from '../../shared/subscriptions/renew-due';

export const NOW = new Date('2026-03-01T12:00:00.000Z');
export const MINUTE = 60_000;
export const TENANT_A = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
export const TENANT_B = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
export const PROVIDER = 'microsoft-oauth2-cc';
export const WEBHOOK_SECRET = 'webhook-secret-0123456789';
export const WEBHOOK_BASE = 'https://relay.example.com/webhook/';

export function record(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    integrationId: 'contoso',
    subscriptionId: randomUUID(),
    connectionId: 'conn-1',
    tenantId: TENANT_A,
    resource: 'users',
    changeTypes: ['created', 'updated'],
    expiresAt: '2026-03-02T00:00:00.000Z',
    status: 'active',
    createdAt: '2026-02-01T00:00:00.000Z',
    updatedAt: '2026-02-01T00:00:00.000Z',
    ...overrides,
  };
}

/** The store's renewal operations over a map; every active record is due. */
export class MemoryStore implements Pick<SubscriptionsStore, 'findDue' | 'recordRenewal' | 'markNeedsConsent' | 'markFailed' | 'put' | 'delete'> {
  readonly records = new Map<string, SubscriptionRecord>();
  constructor(records: readonly SubscriptionRecord[]) {
    for (const r of records) this.records.set(r.subscriptionId, r);
  }
  get(id: string): SubscriptionRecord | undefined {
    return this.records.get(id);
  }
  async findDue(_now: Date, options: { limit: number }) {
    return { due: [...this.records.values()].filter((r) => r.status === 'active').slice(0, options.limit), invalidItems: [] };
  }
  async recordRenewal(_integrationId: string, id: string, expiresAt: string, changes: { encryptionCertificateId?: string } = {}) {
    return this.update(id, { expiresAt, status: 'active', lastRenewedAt: NOW.toISOString(), ...changes });
  }
  async markNeedsConsent(_integrationId: string, id: string, error: string) {
    return this.update(id, { status: 'needs-consent', lastError: error });
  }
  async markFailed(_integrationId: string, id: string, error: string) {
    return this.update(id, { status: 'failed', lastError: error });
  }
  async put(input: SubscriptionInput) {
    const r: SubscriptionRecord = { ...input, createdAt: NOW.toISOString(), updatedAt: NOW.toISOString() };
    this.records.set(r.subscriptionId, r);
    return r;
  }
  async delete(_integrationId: string, id: string) {
    return this.records.delete(id);
  }
  private update(id: string, changes: Partial<SubscriptionRecord>) {
    const current = this.records.get(id);
    if (current === undefined) return undefined;
    const next = { ...current, ...changes };
    this.records.set(id, next);
    return next;
  }
}

export type Answer = GraphSubscription | Error;

export function graphSubscription(fields: { id: string; resource?: string; expirationDateTime: string }): GraphSubscription {
  return graphSubscriptionSchema.parse({
    resource: 'users',
    changeType: 'created,updated',
    notificationUrl: `${WEBHOOK_BASE}contoso`,
    ...fields,
  });
}

export function graphError(method: GraphMethod, status: number | undefined, code: string, message = 'Graph said no'): GraphRequestError {
  return new GraphRequestError({ method, path: '/subscriptions/x', tenantId: TENANT_A, status, code, message, requestId: 'req-1', clientRequestId: 'client-req-1' });
}

export function throttled(): GraphThrottledError {
  return new GraphThrottledError(
    { method: 'PATCH', path: '/subscriptions/x', tenantId: TENANT_A, status: 429, code: 'TooManyRequests', message: 'Please retry again later.', requestId: 'req-2', clientRequestId: 'client-req-2' },
    120_000,
  );
}

/** Answers each GET, PATCH and POST from a script (default: success) and records the calls. */
export class ScriptedGraph implements RenewalGraph {
  readonly gets: { tenantId: string; id: string }[] = [];
  /** Default (harness()): the subscription as its record has it, i.e. not renewed at Graph since. */
  getAnswer: (id: string) => Answer | undefined = () => undefined;
  readonly patches: {
    tenantId: string;
    id: string;
    expirationDateTime: string;
    deadline: number | undefined;
    encryptionCertificate?: string;
    encryptionCertificateId?: string;
  }[] = [];
  readonly creates: { tenantId: string; input: CreateSubscriptionInput }[] = [];
  patchAnswer: (id: string) => Answer | undefined = () => undefined;
  createAnswer: () => Answer | undefined = () => undefined;
  onCall: () => void = () => undefined;

  async getSubscription(tenantId: string, id: string) {
    this.gets.push({ tenantId, id });
    this.onCall();
    const answer = this.getAnswer(id) ?? graphError('GET', 404, 'ResourceNotFound', 'The object was not found.');
    if (answer instanceof Error) throw answer;
    return answer;
  }

  async renewSubscription(tenantId: string, id: string, expirationDateTime: Date | string, options: RenewOptions = {}) {
    const expiry = new Date(expirationDateTime).toISOString();
    const { encryptionCertificate, encryptionCertificateId } = options;
    const rotation = encryptionCertificateId === undefined ? {} : { encryptionCertificate, encryptionCertificateId };
    this.patches.push({ tenantId, id, expirationDateTime: expiry, deadline: options.deadline, ...rotation });
    this.onCall();
    const answer = this.patchAnswer(id) ?? graphSubscription({ id, expirationDateTime: expiry });
    if (answer instanceof Error) throw answer;
    return answer;
  }

  async createSubscription(tenantId: string, input: CreateSubscriptionInput) {
    this.creates.push({ tenantId, input });
    this.onCall();
    const answer = this.createAnswer() ?? graphSubscription({ id: `new-${randomUUID()}`, resource: input.resource, expirationDateTime: new Date(input.expirationDateTime).toISOString() });
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

export interface Harness {
  ports: RenewalPorts;
  store: MemoryStore;
  /** Connections marked needs-consent, in order. */
  connectionMarks: { integrationId: string; connectionId: string; reason: string }[];
  graph: ScriptedGraph;
  events: SubscriptionEventEntry[];
  graphForCalls: string[];
  clock: { now(): number; advance(ms: number): void };
}

export function harness(records: readonly SubscriptionRecord[], overrides: Partial<RenewalPorts> = {}): Harness {
  const store = new MemoryStore(records);
  const graph = new ScriptedGraph();
  graph.getAnswer = (id) => {
    const current = store.get(id);
    return current === undefined ? undefined : graphSubscription({ id, resource: current.resource, expirationDateTime: current.expiresAt });
  };
  const events: SubscriptionEventEntry[] = [];
  const graphForCalls: string[] = [];
  let time = NOW.getTime();
  const clock = { now: () => time, advance: (ms: number) => void (time += ms) };
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const connectionMarks: Harness['connectionMarks'] = [];
  const ports: RenewalPorts = {
    store,
    connections: {
      markNeedsConsent: async (integrationId, connectionId, reason) => {
        connectionMarks.push({ integrationId, connectionId, reason });
        return true;
      },
    },
    graphFor: async (integrationId) => {
      graphForCalls.push(integrationId);
      return graph;
    },
    providerOf: async () => PROVIDER,
    webhookSecretOf: async () => WEBHOOK_SECRET,
    notificationUrlFor: (integrationId) => `${WEBHOOK_BASE}${integrationId}`,
    publisher: {
      publish: async (entries) => {
        events.push(...entries);
        return { calls: 1, published: entries.length };
      },
    },
    eventSource: 'graph-relay.test',
    logger: quiet,
    clock,
    ...overrides,
  };
  return { ports, store, connectionMarks, graph, events, graphForCalls, clock };
}

export const run = (h: Harness, options: Partial<RenewDueOptions> = {}) =>
  renewDue(h.ports, { now: NOW, deadline: options.deadline ?? NOW.getTime() + 10 * MINUTE, limit: options.limit ?? 100, ...options });
