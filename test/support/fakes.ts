/**
 * In-memory stand-ins for the intake's ports (shared/intake/process-notifications.ts) and small builders used by
 * the unit tests. They record every call so tests can assert on what crossed each boundary.
 */
import type { ChangeNotification, NotificationEnvelope } from '../../shared/graph/change-notification';
import type { EventEntry } from '../../shared/events/contract';
import { entrySize, type EventPublisher, type PublishResult } from '../../shared/events/publisher';
import type { IntakePorts } from '../../shared/intake/process-notifications';
import type { IntakeLogger } from '../../shared/intake/request-log';
import type { RegisteredIntegration } from '../../shared/routing/integration-registry';
import { RouteCache } from '../../shared/routing/route-cache';
import { routeItemId } from '../../shared/routing/route-plan';
import type { FreshSecrets } from '../../shared/secrets/integration-secret-cache';
import type { DeliveriesStore } from '../../shared/store/deliveries-store';
import type { IntakeReadInput, IntakeReadResult, IntakeReads } from '../../shared/store/intake-reads';
import { keys } from '../../shared/store/items';

export const INTEGRATION_ID = 'contoso';
export const PROVIDER = 'microsoft-oauth2-cc';
export const EVENT_SOURCE = 'graph-relay.test';
export const RECEIVED_AT = new Date('2024-05-01T12:00:00.000Z');
/** The region the fake intake runs in: its events name it. */
export const RELAY_REGION = 'eu-west-1';

/** Secrets are ≥ 16 printable characters, like the real schema requires. */
export const SECRET_CURRENT = 'current-secret-0123456789';
export const SECRET_PREVIOUS = 'previous-secret-9876543210';
export const SECRET_ROTATED = 'rotated-secret-abcdefghijk';
export const FORGED_CLIENT_STATE = 'forged-client-state-zyxwvu';

export const TENANT_A = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
export const TENANT_B = '0f2d8f49-862a-493b-9ca8-82a10637e17d';
export const TENANT_C = '7ed9bdab-9c7d-4c10-a25d-3f4ff0e34577';

let sequence = 0;

/** A valid change notification of `TENANT_A` signed with `SECRET_CURRENT`; each call gives a distinct resource. */
export function changeNotification(overrides: Partial<ChangeNotification> & Record<string, unknown> = {}): ChangeNotification {
  sequence += 1;
  return {
    subscriptionId: `9f9d1ed0-c9cc-42e7-8d80-${String(sequence).padStart(12, '0')}`,
    subscriptionExpirationDateTime: '2024-05-03T11:00:00.0000000Z',
    tenantId: TENANT_A,
    clientState: SECRET_CURRENT,
    changeType: 'created',
    resource: `users/u1/messages/m${sequence}`,
    resourceData: { '@odata.type': '#Microsoft.Graph.Message', id: `m${sequence}` },
    ...overrides,
  };
}

export function lifecycleNotification(overrides: Partial<ChangeNotification> = {}): ChangeNotification {
  sequence += 1;
  return {
    subscriptionId: `e3898f08-5cd0-4a6a-80fc-${String(sequence).padStart(12, '0')}`,
    subscriptionExpirationDateTime: '2024-05-03T11:00:00.0000000Z',
    tenantId: TENANT_A,
    clientState: SECRET_CURRENT,
    lifecycleEvent: 'reauthorizationRequired',
    ...overrides,
  };
}

/** A webhook body's envelope holding these items, as parseNotificationEnvelope gives it. */
export function collectionOf(...notifications: unknown[]): NotificationEnvelope {
  return { items: notifications, validationTokens: [] };
}

export interface SnapshotInput {
  provider?: string;
  connections?: { connectionId: string; tenantId: string }[];
  subscriptions?: { subscriptionId: string; connectionId: string; tenantId: string }[];
  /** Items stored as they are (edited by hand, say), by their keys. */
  rawItems?: Record<string, unknown>[];
}

/** An integration's routing items as the connections table holds them: tenant route and subscription items. */
export interface RoutingFixture {
  integration: RegisteredIntegration;
  items: Map<string, Record<string, unknown>>;
}

/** Built by hand the way the CLI and the route index write them: tenant ids lower-cased. */
export function routingSnapshot(input: SnapshotInput = {}): RoutingFixture {
  const items = new Map<string, Record<string, unknown>>();
  const byTenant = new Map<string, Set<string>>();
  for (const { connectionId, tenantId } of input.connections ?? []) {
    const key = tenantId.toLowerCase();
    byTenant.set(key, (byTenant.get(key) ?? new Set()).add(connectionId));
  }
  for (const [tenantId, connectionIds] of byTenant) {
    const key = keys.tenantRoute(INTEGRATION_ID, tenantId);
    items.set(routeItemId(key), { ...key, type: 'tenant-route', integrationId: INTEGRATION_ID, tenantId, connectionIds });
  }
  for (const s of input.subscriptions ?? []) {
    const key = keys.subscription(INTEGRATION_ID, s.subscriptionId);
    items.set(routeItemId(key), { ...key, type: 'subscription', subscriptionId: s.subscriptionId, connectionId: s.connectionId, tenantId: s.tenantId.toLowerCase() });
  }
  for (const raw of input.rawItems ?? []) items.set(routeItemId({ pk: String(raw['pk']), sk: String(raw['sk']) }), raw);
  return { integration: { integrationId: INTEGRATION_ID, provider: input.provider ?? PROVIDER, configVersion: 0, routesVersion: 0 }, items };
}

/** The intake's read round over a fixture and an in-memory deliveries store; records each round. */
export class FakeIntakeReads implements IntakeReads {
  readonly calls: IntakeReadInput[] = [];
  error: Error | undefined;

  constructor(
    private readonly fixture: RoutingFixture | undefined,
    private readonly deliveries: InMemoryDeliveriesStore,
  ) {}

  async read(input: IntakeReadInput): Promise<IntakeReadResult> {
    this.calls.push({ routeKeys: [...input.routeKeys], idempotencyKeys: [...input.idempotencyKeys] });
    if (this.error !== undefined) throw this.error;
    const routeItems = new Map<string, Record<string, unknown>>();
    for (const key of input.routeKeys) {
      const item = this.fixture?.items.get(routeItemId(key));
      if (item !== undefined) routeItems.set(routeItemId(key), item);
    }
    const published = input.idempotencyKeys.length === 0 ? new Set<string>() : await this.deliveries.findPublished(input.idempotencyKeys);
    return { routeItems, published, readUnits: 0 };
  }
}

export class InMemoryDeliveriesStore implements DeliveriesStore {
  readonly marked = new Set<string>();
  readonly findCalls: string[][] = [];
  readonly markCalls: string[][] = [];
  findError: Error | undefined;
  markError: Error | undefined;

  constructor(alreadyPublished: Iterable<string> = []) {
    for (const key of alreadyPublished) this.marked.add(key);
  }

  async findPublished(idempotencyKeys: readonly string[]): Promise<Set<string>> {
    this.findCalls.push([...idempotencyKeys]);
    if (this.findError !== undefined) throw this.findError;
    return new Set(idempotencyKeys.filter((key) => this.marked.has(key)));
  }

  async markPublished(idempotencyKeys: readonly string[]): Promise<void> {
    this.markCalls.push([...idempotencyKeys]);
    if (this.markError !== undefined) throw this.markError;
    for (const key of idempotencyKeys) this.marked.add(key);
  }
}

/** Records what is published; `fail` decides per call what to throw instead. */
export class RecordingPublisher implements EventPublisher {
  readonly calls: EventEntry[][] = [];
  readonly published: EventEntry[] = [];
  fail: ((events: readonly EventEntry[]) => Error | undefined) | undefined;

  async publish(events: readonly EventEntry[]): Promise<PublishResult> {
    this.calls.push([...events]);
    const error = this.fail?.(events);
    if (error !== undefined) throw error;
    this.published.push(...events);
    return { calls: events.length === 0 ? 0 : 1, published: events.length };
  }

  sizeOf(event: EventEntry): number {
    return entrySize({ Source: event.source, DetailType: event.detailType, Detail: JSON.stringify(event.detail) });
  }
}

/**
 * A secrets port with a cache and a store: `accepted` answers from the cache; `acceptedSince` re-reads the store
 * into the cache (unless `rateLimited` and not vouched for: then the mismatch stays unconfirmed), like IntegrationSecretCache does.
 */
type SecretsPort = IntakePorts['secrets'];

export class FakeSecrets implements SecretsPort {
  cached: readonly string[] | undefined;
  stored: readonly string[] | undefined;
  rateLimited = false;
  acceptedError: Error | undefined;
  refreshError: Error | undefined;
  acceptedCalls = 0;
  refreshCalls = 0;
  /** Re-reads asked for with items that verified: never rate-limited. */
  vouchedCalls = 0;

  constructor(cached: readonly string[] | undefined, stored: readonly string[] | undefined = cached) {
    this.cached = cached;
    this.stored = stored;
  }

  async accepted(_integrationId: string): Promise<readonly string[] | undefined> {
    this.acceptedCalls += 1;
    if (this.acceptedError !== undefined) throw this.acceptedError;
    return this.cached;
  }

  async acceptedSince(_integrationId: string, _since: number, options: { vouched?: boolean } = {}): Promise<FreshSecrets> {
    this.refreshCalls += 1;
    if (options.vouched === true) this.vouchedCalls += 1;
    if (this.refreshError !== undefined) throw this.refreshError;
    if (this.rateLimited && options.vouched !== true) return 'unconfirmed';
    this.cached = this.stored;
    return this.stored;
  }
}

export interface LogRecord {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

export class RecordingLogger implements IntakeLogger {
  readonly records: LogRecord[] = [];
  info(message: string, fields: Record<string, unknown>): void {
    this.records.push({ level: 'info', message, fields });
  }
  warn(message: string, fields: Record<string, unknown>): void {
    this.records.push({ level: 'warn', message, fields });
  }
  error(message: string, fields: Record<string, unknown>): void {
    this.records.push({ level: 'error', message, fields });
  }
}

export interface FakePorts extends IntakePorts {
  secrets: FakeSecrets;
  deliveries: InMemoryDeliveriesStore;
  reads: FakeIntakeReads;
  publisher: RecordingPublisher;
  logger: RecordingLogger;
  /** The integration id of each registry lookup. */
  registryCalls: string[];
}

/** `snapshot: undefined`: the integration does not exist. */
export function fakePorts(input: { secrets?: FakeSecrets; snapshot?: RoutingFixture | undefined; deliveries?: InMemoryDeliveriesStore } = {}): FakePorts {
  const registryCalls: string[] = [];
  const snapshot = 'snapshot' in input ? input.snapshot : routingSnapshot();
  const deliveries = input.deliveries ?? new InMemoryDeliveriesStore();
  return {
    registry: {
      lookup: async (integrationId: string) => {
        registryCalls.push(integrationId);
        return integrationId === snapshot?.integration.integrationId ? snapshot.integration : undefined;
      },
    },
    registryCalls,
    secrets: input.secrets ?? new FakeSecrets([SECRET_CURRENT]),
    routes: new RouteCache({ maxEntries: 1000, maxAgeSeconds: 300, negativeMaxAgeSeconds: 30 }),
    reads: new FakeIntakeReads(snapshot, deliveries),
    deliveries,
    publisher: new RecordingPublisher(),
    source: EVENT_SOURCE,
    region: RELAY_REGION,
    now: () => RECEIVED_AT,
    logger: new RecordingLogger(),
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (several macrotask turns), without relying on wall-clock time. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
