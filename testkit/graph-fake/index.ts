/**
 * A local Microsoft Graph + identity platform for tests and benchmarks of subscription management:
 * client-credentials tokens (secret or certificate assertion), /v1.0/subscriptions with the real validation
 * handshake, lifetimes, duplicates, quota, rate limits and Graph's error shapes, plus notification pushes, and
 * delta queries over per-tenant users, groups and folder messages.
 * See README.md beside this file for the behaviours, their sources and the time-scaling rules.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from './clock';
import { DeltaApi } from './delta';
import { DeltaStore, type DeltaCollection, type DeltaObjects } from './delta-store';
import { validateEndpoint, type ValidationRecord } from './handshake';
import { OutboundClient } from './http-client';
import { IdentityPlatform, type ConsentRevocationMode } from './identity';
import { resolveOptions, type GraphFakeOptions, type RegisteredApp } from './options';
import { startFakeJwks, type FakeJwks } from '../jwks';
import { NotificationPusher, type ChangeInput, type LifecycleEvent, type PushItem, type PushOptions, type PushResult, type RichPushOptions } from './push';
import { SlidingWindowLimiter } from './rate-limiter';
import { GraphFakeHttp, type FakeRoute, type FakeStats, type FaultOptions } from './server';
import { SubscriptionStore, type FakeSubscription } from './store';
import { SubscriptionsApi } from './subscriptions-api';

export { FakeClock } from './clock';
export type { FakeClockOptions } from './clock';
export type { GraphFakeOptions, RateLimitOptions, RegisteredApp, RetryAfterFormat } from './options';
export type { ConsentRevocationMode } from './identity';
export type { ChangeInput, ChangeType, LifecycleEvent, PushItem, PushOptions, PushResult, RichPushOptions } from './push';
export type { FakeRoute, FakeStats, FaultOptions } from './server';
export type { FakeSubscription, SubscriptionState } from './store';
export type { ValidationRecord } from './handshake';
export { messagesIn } from './delta-store';
export type { DeltaCollection, DeltaObjectInput, DeltaObjects, RemoveOptions } from './delta-store';

export interface GraphFake {
  /** Base URL, e.g. http://127.0.0.1:41234; Graph lives under `${url}/v1.0`. */
  readonly url: string;
  /** `${url}/v1.0`, the value for a configurable Graph base URL. */
  readonly graphUrl: string;
  /** The login base URL (the same server): tokens at `${loginUrl}/{tenantId}/oauth2/v2.0/token`. */
  readonly loginUrl: string;
  tokenUrl(tenantId: string): string;
  /**
   * The JWKS that signs the validationTokens of rich notifications, standing in for Microsoft's
   * (`https://login.microsoftonline.com/common/discovery/v2.0/keys`): point the intake's GRAPH_JWKS_URL here.
   */
  readonly jwksUrl: string;
  /** That JWKS, for rotating its keys or making it fail. */
  readonly jwks: FakeJwks;
  readonly clock: FakeClock;
  close(): Promise<void>;

  addApp(app: RegisteredApp): void;
  /** An access token for the app in the tenant without going through the token endpoint. */
  issueToken(tenantId: string, clientId: string): string;
  /** Mode 'token' (default): the token endpoint refuses (AADSTS700016); 'graph': Graph answers 403; 'both'. Without clientId: every app. */
  revokeConsent(tenantId: string, options?: { clientId?: string; mode?: ConsentRevocationMode }): void;
  restoreConsent(tenantId: string, clientId?: string): void;

  /** true: token endpoint and Graph answer 503; or choose either, optionally with a Retry-After. */
  setDown(down: boolean | { token?: boolean; graph?: boolean; retryAfterSeconds?: number }): void;
  /** The next `times` calls of `route` fail with `status` (or have their connection dropped: 'network'). */
  failNext(route: FakeRoute, status: number | 'network', times?: number, options?: FaultOptions): void;
  clearFaults(): void;
  /** Forgets every rate-limit window. */
  resetRateLimits(): void;

  stats(): FakeStats;
  resetStats(): void;
  /** Active subscriptions (all tenants, or one); includeEnded adds expired, deleted and removed ones. */
  subscriptions(tenantId?: string, options?: { includeEnded?: boolean }): FakeSubscription[];
  subscription(id: string): FakeSubscription | undefined;
  /** Graph-side removal without any notification (like an admin or Graph dropping it); false if not active. */
  deleteSubscription(id: string): boolean;
  validationRequests(): ValidationRecord[];
  deliveries(): PushResult[];
  /** Exceptions the fake caught (each answered 500); a healthy run has none. */
  internalErrors(): Error[];

  /** For a subscription with includeResourceData the notification is rich: encryptedContent and validationTokens. */
  pushChange(subscriptionId: string, change: ChangeInput, options?: PushOptions): Promise<PushResult>;
  pushLifecycle(subscriptionId: string, event: LifecycleEvent): Promise<PushResult>;
  pushBatch(items: readonly PushItem[], options?: { rich?: RichPushOptions }): Promise<PushResult>;

  /** A tenant's users, groups and folder messages, as the delta endpoints serve them (`/users/delta`, …). */
  objects(tenantId: string): DeltaObjects;
  /**
   * Every next and delta link issued so far in the tenant (or one collection) answers 410 from now on, as when
   * Graph drops a sync state. Directory links also expire by themselves after seven days on the fake's clock.
   */
  expireDeltaTokens(tenantId: string, collection?: DeltaCollection): void;
}

export async function startGraphFake(options: GraphFakeOptions = {}): Promise<GraphFake> {
  const resolved = resolveOptions(options);
  const clock = options.clock instanceof FakeClock ? options.clock : new FakeClock(options.clock);
  const now = () => clock.now();
  const identity = new IdentityPlatform(resolved, clock, options.apps ?? [], options.tenants);
  const store = new SubscriptionStore(now);
  const outbound = new OutboundClient();
  const validations: ValidationRecord[] = [];
  let baseUrl = '';
  const api = new SubscriptionsApi({
    store,
    options: resolved,
    now,
    graphRoot: () => `${baseUrl}/v1.0`,
    validate: async (url, purpose) => {
      const record = await validateEndpoint(outbound, url, purpose, { timeoutMs: resolved.validationTimeoutMs, encoding: resolved.validationTokenEncoding, now });
      validations.push(record);
      return record;
    },
  });
  const deltaStore = new DeltaStore();
  const delta = new DeltaApi(deltaStore, clock, () => `${baseUrl}/v1.0`);
  const limiter = new SlidingWindowLimiter(resolved.rateLimits.windowSeconds * 1000 * resolved.timeScale, resolved.rateLimits.throttledRequestsCount);
  const http = new GraphFakeHttp({ options: resolved, clock, identity, api, delta, limiter, baseUrl: () => baseUrl });
  const jwks = await startFakeJwks(options.signingKey);
  const pusher = new NotificationPusher(store, outbound, now, resolved.deliveryTimeoutMs, jwks);

  const server = createServer((req, res) => http.handle(req, res));
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    graphUrl: `${baseUrl}/v1.0`,
    loginUrl: baseUrl,
    tokenUrl: (tenantId) => `${baseUrl}/${tenantId}/oauth2/v2.0/token`,
    jwksUrl: jwks.url,
    jwks,
    clock,
    close: async () => {
      outbound.close();
      await jwks.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    addApp: (app) => identity.addApp(app),
    issueToken: (tenantId, clientId) => identity.issueToken(tenantId, clientId).accessToken,
    revokeConsent: (tenantId, revokeOptions) => identity.revokeConsent(tenantId, revokeOptions),
    restoreConsent: (tenantId, clientId) => identity.restoreConsent(tenantId, clientId),
    setDown: (down) => http.setDown(down),
    failNext: (route, status, times = 1, faultOptions = {}) => http.failNext(route, status, times, faultOptions),
    clearFaults: () => http.clearFaults(),
    resetRateLimits: () => limiter.reset(),
    stats: () => http.stats(),
    resetStats: () => http.resetStats(),
    subscriptions: (tenantId, listOptions = {}) =>
      store
        .all()
        .filter((s) => tenantId === undefined || s.tenantId === tenantId.toLowerCase())
        .map((s) => store.view(s))
        .filter((s) => listOptions.includeEnded === true || s.state === 'active'),
    subscription: (id) => {
      const s = store.get(id);
      return s === undefined ? undefined : store.view(s);
    },
    deleteSubscription: (id) => {
      const s = store.get(id);
      if (s === undefined || store.stateOf(s) !== 'active') return false;
      store.end(s, 'deleted');
      return true;
    },
    validationRequests: () => [...validations],
    deliveries: () => pusher.deliveries(),
    internalErrors: () => http.internalErrors(),
    pushChange: (subscriptionId, change, pushOptions) => pusher.pushChange(subscriptionId, change, pushOptions),
    pushLifecycle: (subscriptionId, event) => pusher.pushLifecycle(subscriptionId, event),
    pushBatch: (items, pushOptions) => pusher.pushBatch(items, pushOptions),
    objects: (tenantId) => deltaStore.objects(tenantId),
    expireDeltaTokens: (tenantId, collection) => delta.expireTokens(tenantId, collection),
  };
}
