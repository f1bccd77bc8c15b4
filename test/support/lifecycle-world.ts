/**
 * The lifecycle handler's unit-test world (shared/subscriptions/lifecycle.ts): one map of subscription records
 * behind stub ports, Graph's answers scripted per operation, and the bus event the intake publishes.
 */
import { DETAIL_TYPES } from '../../shared/events/contract';
import type { SubscriptionEventEntry } from '../../shared/events/subscription-events';
import { GraphRequestError, type GraphMethod } from '../../shared/graph/graph-client';
import { graphSubscriptionSchema, type CreateSubscriptionInput, type GraphSubscription } from '../../shared/graph/subscriptions-api';
import type { SubscriptionInput, SubscriptionRecord } from '../../shared/store/subscriptions-store';
import type { LifecycleGraph, LifecyclePorts } from '../../shared/subscriptions/lifecycle';

export const NOW = new Date('2026-03-01T12:00:00.000Z');
export const MINUTE = 60_000;
export const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
export const SUBSCRIPTION_ID = '7f105c7d-2dc5-4530-97cd-4e7ae6534c07';
export const PROVIDER = 'microsoft-oauth2-cc';
export const WEBHOOK_SECRET = 'webhook-secret-0123456789';
export const WEBHOOK_BASE = 'https://relay.example.com/webhook/';

/** Created yesterday for three days: renewal is not due yet. */
export function record(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    integrationId: 'contoso',
    subscriptionId: SUBSCRIPTION_ID,
    connectionId: 'conn-1',
    tenantId: TENANT,
    resource: 'users',
    changeTypes: ['created', 'updated'],
    expiresAt: '2026-03-03T12:00:00.000Z',
    status: 'active',
    createdAt: '2026-02-28T12:00:00.000Z',
    updatedAt: '2026-02-28T12:00:00.000Z',
    ...overrides,
  };
}

/** A `Graph Lifecycle Notification` event exactly as the intake publishes it and the rule delivers it. */
export function busEvent(lifecycleEvent: string, overrides: { subscriptionId?: string; connectionId?: string | null } = {}) {
  const subscriptionId = overrides.subscriptionId ?? SUBSCRIPTION_ID;
  return {
    version: '0',
    id: 'b5e0c3a4-0000-4000-8000-000000000001',
    'detail-type': DETAIL_TYPES.lifecycle,
    source: 'graph-relay',
    account: '123456789012',
    time: NOW.toISOString(),
    region: 'eu-west-1',
    resources: [],
    detail: {
      from: PROVIDER,
      providerConfigKey: 'contoso',
      type: 'forward',
      connectionId: overrides.connectionId === undefined ? 'conn-1' : overrides.connectionId,
      payload: { value: [{ lifecycleEvent, subscriptionId, subscriptionExpirationDateTime: '2026-03-03T12:00:00.0000000Z', tenantId: TENANT }] },
      metadata: { idempotencyKey: 'k', tenantId: TENANT, subscriptionId, receivedAt: NOW.toISOString() },
    },
  };
}

export function graphError(method: GraphMethod, status: number, code: string, message = 'Graph said no'): GraphRequestError {
  return new GraphRequestError({ method, path: `/subscriptions/${SUBSCRIPTION_ID}`, tenantId: TENANT, status, code, message, requestId: 'req-1', clientRequestId: 'client-req-1' });
}

export function graphSubscription(fields: { id: string; expirationDateTime: string }): GraphSubscription {
  return graphSubscriptionSchema.parse({ resource: 'users', changeType: 'created,updated', notificationUrl: `${WEBHOOK_BASE}contoso`, ...fields });
}

/** Fake ports over one map of records; Graph answers are scripted per operation. */
export function world(options: { records?: SubscriptionRecord[]; reauthorize?: Error; renew?: Error; create?: Error; publishFails?: boolean; putFails?: boolean; markConnectionFails?: boolean } = {}) {
  const records = new Map((options.records ?? [record()]).map((r) => [r.subscriptionId, r]));
  const connectionMarks: { integrationId: string; connectionId: string; reason: string }[] = [];
  const calls: { op: string; id?: string; input?: CreateSubscriptionInput; expiry?: string; encryptionCertificateId?: string }[] = [];
  const published: SubscriptionEventEntry[] = [];
  const graph: LifecycleGraph = {
    async getSubscription() {
      throw new Error('lifecycle handling does not read subscriptions from Graph');
    },
    async reauthorizeSubscription(_tenantId, id) {
      calls.push({ op: 'reauthorize', id });
      if (options.reauthorize !== undefined) throw options.reauthorize;
    },
    async renewSubscription(_tenantId, id, expirationDateTime, renewOptions = {}) {
      const expiry = new Date(expirationDateTime).toISOString();
      const rotation = renewOptions.encryptionCertificateId === undefined ? {} : { encryptionCertificateId: renewOptions.encryptionCertificateId };
      calls.push({ op: 'renew', id, expiry, ...rotation });
      if (options.renew !== undefined) throw options.renew;
      return graphSubscription({ id, expirationDateTime: expiry });
    },
    async createSubscription(_tenantId, input) {
      calls.push({ op: 'create', input });
      if (options.create !== undefined) throw options.create;
      return graphSubscription({ id: 'new-subscription-id', expirationDateTime: new Date(input.expirationDateTime).toISOString() });
    },
  };
  const update = (id: string, changes: Partial<SubscriptionRecord>) => {
    const current = records.get(id);
    if (current === undefined) return undefined;
    const next = { ...current, ...changes };
    records.set(id, next);
    return next;
  };
  const logger = { info: jest.fn(), warn: jest.fn(), error: jest.fn() };
  const ports: LifecyclePorts = {
    store: {
      get: async (_integrationId, id) => records.get(id),
      recordRenewal: async (_integrationId, id, expiresAt, changes = {}) => update(id, { expiresAt, lastRenewedAt: NOW.toISOString(), ...changes }),
      markNeedsConsent: async (_integrationId, id, error) => update(id, { status: 'needs-consent', lastError: error }),
      markFailed: async (_integrationId, id, error) => update(id, { status: 'failed', lastError: error }),
      put: async (input: SubscriptionInput) => {
        if (options.putFails) throw new Error('DynamoDB is down');
        const r: SubscriptionRecord = { ...input, createdAt: NOW.toISOString(), updatedAt: NOW.toISOString() };
        records.set(r.subscriptionId, r);
        return r;
      },
      delete: async (_integrationId, id) => records.delete(id),
    },
    connections: {
      markNeedsConsent: async (integrationId, connectionId, reason) => {
        if (options.markConnectionFails) throw new Error('DynamoDB is down');
        connectionMarks.push({ integrationId, connectionId, reason });
        return true;
      },
    },
    graphFor: async () => graph,
    providerOf: async (id) => (id === 'contoso' ? PROVIDER : undefined),
    webhookSecretOf: async () => WEBHOOK_SECRET,
    notificationUrlFor: (id) => `${WEBHOOK_BASE}${id}`,
    publisher: {
      publish: async (events) => {
        if (options.publishFails) throw new Error('bus unavailable');
        published.push(...events);
      },
    },
    eventSource: 'graph-relay',
    logger,
    clock: { now: () => NOW.getTime() },
  };
  return { ports, records, calls, published, logger, connectionMarks };
}
