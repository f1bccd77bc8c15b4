/**
 * The workload of the load and faults phases: integrations, tenants and connections seeded in the stack, Graph-like
 * webhook bodies (mixed batches of change and lifecycle notifications, every one unique), the events each body must
 * put on the bus, and the exact count check of what the bus received against that.
 *
 * Expected events follow the product's contract (shared/events/contract.ts, shared/intake/route.ts): a notification
 * of a tenant with connections gives one event per connection of that tenant (no subscription is seeded, so routing
 * is by tenant), of detail-type Change or Lifecycle; a notification of a tenant without connections gives one
 * Unrouted event with `connectionId: null`. Every event carries the notification's idempotency key.
 */
import { randomUUID } from 'node:crypto';
import { DETAIL_TYPES, idempotencyKey } from '../../shared/events/contract';
import { parseNotificationBody } from '../../shared/graph/change-notification';

export interface WorkloadTenant {
  tenantId: string;
  integrationId: string;
  /** Connection ids of the tenant (empty: its notifications are Unrouted). */
  connectionIds: string[];
}

export interface WorkloadIntegration {
  integrationId: string;
  /** The webhook secret, sent as every notification's clientState. */
  clientState: string;
  tenants: WorkloadTenant[];
}

export interface Workload {
  integrations: WorkloadIntegration[];
  tenants: WorkloadTenant[];
}

/** One event the bus must receive exactly once. */
export interface ExpectedEvent {
  idempotencyKey: string;
  connectionId: string | null;
  detailType: string;
  /**
   * A `missed` lifecycle notification: the intake publishes every delivery of it, redeliveries included (Graph's has
   * no id and no time, so a new one cannot be told from a redelivery, and dropping it would drop its catch-up).
   */
  missed?: true;
}

/** A webhook POST: its path, its JSON body, and the events it must produce. */
export interface WebhookBody {
  path: string;
  body: string;
  integrationId: string;
  notifications: number;
  expected: ExpectedEvent[];
}

export interface WorkloadShape {
  /** Distinct integration ids start with this (unique per phase and run). */
  prefix: string;
  integrations: number;
  tenants: number;
  /** Every `doubleEvery`-th tenant has two connections. */
  doubleEvery: number;
  /** Tenants without any connection (their notifications are Unrouted). */
  unroutedTenants: number;
}

/** Integrations, tenants and connections (not yet stored): tenants spread round-robin over the integrations. */
export function planWorkload(shape: WorkloadShape, secretOf: (integrationId: string) => string = () => `reliability-secret-${randomUUID()}`): Workload {
  if (shape.integrations < 1 || shape.tenants < shape.integrations) throw new Error('a workload needs at least one integration and one tenant per integration');
  const integrations: WorkloadIntegration[] = Array.from({ length: shape.integrations }, (_, i) => {
    const integrationId = `${shape.prefix}-${i}`;
    return { integrationId, clientState: secretOf(integrationId), tenants: [] };
  });
  const tenants: WorkloadTenant[] = [];
  for (let t = 0; t < shape.tenants; t += 1) {
    const integration = integrations[t % integrations.length] as WorkloadIntegration;
    // The last tenants have no connection; the others one, or two for every doubleEvery-th.
    const count = t >= shape.tenants - shape.unroutedTenants ? 0 : shape.doubleEvery > 0 && t % shape.doubleEvery === 0 ? 2 : 1;
    const tenant: WorkloadTenant = {
      tenantId: randomUUID(),
      integrationId: integration.integrationId,
      connectionIds: Array.from({ length: count }, (_, c) => `conn-${t}-${c}`),
    };
    integration.tenants.push(tenant);
    tenants.push(tenant);
  }
  return { integrations, tenants };
}

/** A small deterministic PRNG (mulberry32), so a run's batch sizes and mix can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Batch sizes as Graph sends them: mostly small, sometimes full. Half the batches are 1-10 items, the rest spread
 * over 1-maxBatch, so the mean stays near a quarter of maxBatch while both ends are exercised.
 */
export function batchSize(random: () => number, maxBatch: number): number {
  const small = Math.min(10, maxBatch);
  const size = random() < 0.5 ? 1 + Math.floor(random() * small) : 1 + Math.floor(random() * maxBatch);
  return Math.min(Math.max(1, size), maxBatch);
}

const CHANGE_TYPES = ['created', 'updated', 'deleted'] as const;
const LIFECYCLE_EVENTS = ['reauthorizationRequired', 'subscriptionRemoved', 'missed'] as const;

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** One Graph notification for `tenant`: a change (~80 %) or a lifecycle notification, unique by its ids. */
export function graphNotification(random: () => number, tenant: WorkloadTenant, clientState: string): Record<string, unknown> {
  const base = {
    subscriptionId: randomUUID(),
    subscriptionExpirationDateTime: '2030-11-28T10:00:00.0000000Z',
    // Graph's tenant ids vary in case; routing and the published tenantId are lower-cased.
    tenantId: random() < 0.1 ? tenant.tenantId.toUpperCase() : tenant.tenantId,
    clientState,
  };
  if (random() < 0.2) return { ...base, lifecycleEvent: pick(random, LIFECYCLE_EVENTS) };
  const userId = randomUUID();
  return {
    ...base,
    changeType: pick(random, CHANGE_TYPES),
    resource: `Users/${userId}`,
    resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': `Users/${userId}`, id: userId },
  };
}

/** The events a body's notifications must produce (see the module comment), keyed as the intake keys them. */
export function expectedEventsOf(integrationId: string, body: string, tenants: ReadonlyMap<string, WorkloadTenant>): ExpectedEvent[] {
  const parsed = parseNotificationBody(body);
  if (parsed.refused.length > 0) throw new Error(`workload body has refused items: ${parsed.refused.map((r) => r.reason).join('; ')}`);
  return parsed.notifications.flatMap(({ notification }): ExpectedEvent[] => {
    const key = idempotencyKey(integrationId, notification);
    const tenant = tenants.get(notification.tenantId.toLowerCase());
    if (tenant === undefined || tenant.integrationId !== integrationId) throw new Error('workload notification for a tenant of another integration');
    const missed = notification.lifecycleEvent === 'missed' ? { missed: true as const } : {};
    if (tenant.connectionIds.length === 0) return [{ idempotencyKey: key, connectionId: null, detailType: DETAIL_TYPES.unrouted, ...missed }];
    const detailType = notification.lifecycleEvent === undefined ? DETAIL_TYPES.change : DETAIL_TYPES.lifecycle;
    return tenant.connectionIds.map((connectionId) => ({ idempotencyKey: key, connectionId, detailType, ...missed }));
  });
}

/** A body generator over a workload: each body goes to one integration, with 1-maxBatch notifications of its tenants. */
export function bodyGenerator(workload: Workload, options: { seed: number; maxBatch: number }): () => WebhookBody {
  const random = seededRandom(options.seed);
  const byTenant = new Map(workload.tenants.map((t) => [t.tenantId.toLowerCase(), t]));
  let next = 0;
  return () => {
    const integration = workload.integrations[next % workload.integrations.length] as WorkloadIntegration;
    next += 1;
    const size = batchSize(random, options.maxBatch);
    const value = Array.from({ length: size }, () => graphNotification(random, pick(random, integration.tenants), integration.clientState));
    const body = JSON.stringify({ value });
    return {
      path: `/webhook/${integration.integrationId}`,
      body,
      integrationId: integration.integrationId,
      notifications: size,
      expected: expectedEventsOf(integration.integrationId, body, byTenant),
    };
  };
}

/** What the count check needs of an event on the bus. */
export interface ObservedEvent {
  idempotencyKey: string;
  connectionId: string | null;
  detailType: string;
}

export interface CountCheck {
  /** Events expected (one per notification and matching connection, or one Unrouted). */
  expected: number;
  /** Events observed for the workload's integrations. */
  observed: number;
  /** Expected events not on the bus. */
  missing: number;
  /** Events on the bus that no sent notification should produce (wrong connection, wrong detail-type, unknown key). */
  extra: number;
  /** Surplus copies of expected events (each copy beyond the first). */
  duplicates: number;
  /** Notifications (by idempotency key) with at least one expected event missing. */
  lostNotifications: number;
  /** Notifications (by idempotency key) with at least one surplus copy. */
  duplicatedNotifications: Set<string>;
}

const tupleOf = (e: ObservedEvent | ExpectedEvent) => `${e.idempotencyKey}|${e.connectionId ?? ''}|${e.detailType}`;

/**
 * The exact count check: compares the multiset of (idempotencyKey, connectionId, detail-type) the bus received
 * with the expected one. Expected tuples must be distinct (every notification is unique); a tuple expected once and
 * seen n > 1 times counts n - 1 duplicates, a tuple seen but never expected counts as extra.
 */
export function countCheck(expected: Iterable<ExpectedEvent>, observed: Iterable<ObservedEvent>): CountCheck {
  const seen = new Map<string, number>();
  let expectedCount = 0;
  for (const event of expected) {
    const tuple = tupleOf(event);
    if (seen.has(tuple)) throw new Error(`expected event listed twice (notifications must be unique): ${tuple}`);
    seen.set(tuple, 0);
    expectedCount += 1;
  }
  let observedCount = 0;
  let extra = 0;
  for (const event of observed) {
    observedCount += 1;
    const tuple = tupleOf(event);
    const count = seen.get(tuple);
    if (count === undefined) extra += 1;
    else seen.set(tuple, count + 1);
  }
  let missing = 0;
  let duplicates = 0;
  const lost = new Set<string>();
  const duplicated = new Set<string>();
  for (const [tuple, count] of seen) {
    const key = tuple.slice(0, tuple.indexOf('|'));
    if (count === 0) {
      missing += 1;
      lost.add(key);
    } else if (count > 1) {
      duplicates += count - 1;
      duplicated.add(key);
    }
  }
  return { expected: expectedCount, observed: observedCount, missing, extra, duplicates, lostNotifications: lost.size, duplicatedNotifications: duplicated };
}

/** The count-check fields of a bus event (detail as the intake publishes it); undefined for an event of another shape. */
export function observedOf(event: { 'detail-type': string; detail: unknown }): (ObservedEvent & { integrationId: string }) | undefined {
  const detail = event.detail as { providerConfigKey?: unknown; connectionId?: unknown; metadata?: { idempotencyKey?: unknown } } | undefined;
  const key = detail?.metadata?.idempotencyKey;
  const integrationId = detail?.providerConfigKey;
  if (typeof key !== 'string' || typeof integrationId !== 'string') return undefined;
  const connectionId = typeof detail?.connectionId === 'string' ? detail.connectionId : null;
  return { idempotencyKey: key, connectionId, detailType: event['detail-type'], integrationId };
}
