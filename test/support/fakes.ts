/**
 * In-memory stand-ins for the intake's ports (shared/intake/process-notifications.ts) and small builders used by
 * the unit tests. They record every call so tests can assert on what crossed each boundary.
 */
import type { ChangeNotification, ParsedCollection } from '../../shared/graph/change-notification';
import type { EventEntry } from '../../shared/events/contract';
import { entrySize, type EventPublisher, type PublishResult } from '../../shared/events/publisher';
import type { IntakeLogger, IntakePorts } from '../../shared/intake/process-notifications';
import type { RoutingSnapshot } from '../../shared/store/connections-store';
import type { DeliveriesStore } from '../../shared/store/deliveries-store';

export const INTEGRATION_ID = 'contoso';
export const PROVIDER = 'microsoft-oauth2-cc';
export const EVENT_SOURCE = 'graph-relay.test';
export const RECEIVED_AT = new Date('2024-05-01T12:00:00.000Z');

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

/** A parsed collection as parseNotificationBody would give it for these (already valid) items. */
export function collectionOf(...notifications: ChangeNotification[]): ParsedCollection {
  return { notifications: notifications.map((notification, index) => ({ index, notification })), refused: [], validationTokens: [] };
}

export interface SnapshotInput {
  provider?: string;
  connections?: { connectionId: string; tenantId: string }[];
  subscriptions?: { subscriptionId: string; connectionId: string; tenantId: string }[];
  invalidItems?: { sk: string; reason: string }[];
}

/** Built by hand the way DynamoDbConnectionsStore.loadRouting builds it: tenant ids lower-cased. */
export function routingSnapshot(input: SnapshotInput = {}): RoutingSnapshot {
  const connectionsByTenant = new Map<string, string[]>();
  for (const { connectionId, tenantId } of input.connections ?? []) {
    const key = tenantId.toLowerCase();
    connectionsByTenant.set(key, [...(connectionsByTenant.get(key) ?? []), connectionId]);
  }
  const subscriptions = new Map<string, { connectionId: string; tenantId: string }>();
  for (const s of input.subscriptions ?? []) {
    subscriptions.set(s.subscriptionId, { connectionId: s.connectionId, tenantId: s.tenantId.toLowerCase() });
  }
  return {
    integration: {
      integrationId: INTEGRATION_ID,
      provider: input.provider ?? PROVIDER,
      createdAt: '2024-01-01T00:00:00.000Z',
      updatedAt: '2024-01-01T00:00:00.000Z',
    },
    connectionsByTenant,
    subscriptions,
    invalidItems: input.invalidItems ?? [],
  };
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
 * A secrets port with a cache and a store: `accepted` answers from the cache; `refreshAfterMismatch` re-reads the
 * store into the cache (unless `rateLimited`), like WebhookSecrets does.
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

  constructor(cached: readonly string[] | undefined, stored: readonly string[] | undefined = cached) {
    this.cached = cached;
    this.stored = stored;
  }

  async accepted(_integrationId: string): Promise<readonly string[] | undefined> {
    this.acceptedCalls += 1;
    if (this.acceptedError !== undefined) throw this.acceptedError;
    return this.cached;
  }

  async refreshAfterMismatch(_integrationId: string): Promise<readonly string[] | undefined | 'not-refreshed'> {
    this.refreshCalls += 1;
    if (this.refreshError !== undefined) throw this.refreshError;
    if (this.rateLimited) return 'not-refreshed';
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
  publisher: RecordingPublisher;
  logger: RecordingLogger;
  routingCalls: string[];
}

export function fakePorts(input: { secrets?: FakeSecrets; snapshot?: RoutingSnapshot | undefined; deliveries?: InMemoryDeliveriesStore } = {}): FakePorts {
  const routingCalls: string[] = [];
  const snapshot = 'snapshot' in input ? input.snapshot : routingSnapshot();
  return {
    secrets: input.secrets ?? new FakeSecrets([SECRET_CURRENT]),
    routing: {
      get: async (integrationId: string) => {
        routingCalls.push(integrationId);
        return snapshot;
      },
    },
    routingCalls,
    deliveries: input.deliveries ?? new InMemoryDeliveriesStore(),
    publisher: new RecordingPublisher(),
    source: EVENT_SOURCE,
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
