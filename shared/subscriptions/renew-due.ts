/**
 * One renewal run (a Graph subscription lapses at its expiry unless renewed): every subscription whose renewal is
 * due gets exactly one `PATCH /subscriptions/{id}` to a new maximum expiry; a subscription Graph no longer has (404)
 * is recreated.
 *
 * Failure handling, decided per error (a subscription "left due" stays in the renewal index and is tried again
 * next run; "taken out" means markNeedsConsent / markFailed, after which only an operator or the reconciler
 * brings it back):
 * - 401/403 from Graph, or a token refused for consent: needs-consent, taken out, event. When the token was
 *   refused, the rest of that tenant's subscriptions get the same outcome without a call.
 * - 429 whose Retry-After would pass the deadline (GraphThrottledError), or a throttled token request: deferred,
 *   left due, no event; the rest of that tenant's subscriptions are deferred without a call.
 * - 5xx, timeouts and network errors (after the client's own retries), token endpoint unavailable: failed
 *   (graph-error), left due (transient), event on every run while it lasts.
 * - 4xx other than the above on PATCH (the request was refused as invalid): failed, taken out (markFailed),
 *   because the identical request would be refused again on every run.
 * - Recreation refused (POST 4xx: handshake failed, 409, quota): failed, left due, event: our endpoint may
 *   recover; each run tries once (PATCH 404 + one POST, never retried within the run: POST is not idempotent).
 * - Missing or invalid app credentials, or app secret refused by the token endpoint: failed
 *   (missing-credentials), left due, no Graph call for the rest of that integration's subscriptions this run.
 * - Unsupported resource (not in the lifetime table): failed (unsupported-resource), taken out, no Graph call.
 * - A subscription with resource data whose integration has no usable current encryption certificate: failed
 *   (missing-credentials, the message naming `graph-relay certificates create`), left due, no Graph call; the
 *   integration's plain subscriptions are renewed as usual.
 *
 * Through a handover of the Graph writer lease (shared/leadership/): the previous writer's PATCH may have reached Graph
 * with its answer lost (its process killed, or its fence aborting the request at the lease's expiry), so Graph has
 * the subscription renewed and the table still has it due. For a while after this region took the lease over (the
 * takeover window, `options.takeover`), every due subscription is first read from Graph (`GET /subscriptions/{id}`,
 * through the same fenced client): one whose expiry at Graph is later than the recorded one by more than a minute
 * is adopted (Graph's expiry recorded, no PATCH, counted `adopted`, published as Renewed: the previous writer's run
 * never published it, since it publishes only what it recorded); any other is PATCHed as usual; a 404 is recreated
 * at once. A GET that fails is sorted like a PATCH that fails, except that a refused GET takes nothing out of
 * renewal. Outside the window, single-region, or without a lease view (the CLI, tests): no GET.
 *
 * Rich subscriptions (includeResourceData) are renewed to their kind's shorter maximum, and when the integration's
 * current encryption certificate is not the one the subscription has, the PATCH carries the new one (rotation;
 * the record then names it). The intake keeps decrypting with either while the secret holds both.
 *
 * A subscription ending needs-consent also marks its connection needs-consent (once per connection per run), so
 * the reconciler stops asking Graph for it until an operator resumes it (`graph-relay connections resume`). That
 * write failing is logged and changes no outcome: the subscription itself is already out of renewal.
 */
import { newSubscriptionClientState } from '../graph/client-state';
import { askForResyncs, resyncJob, type ResyncRequests } from '../resync/resync-job';
import type { RenewalFailure, SubscriptionEventDetail, SubscriptionEventEntry, RenewalFailureReason } from '../events/subscription-events';
import { SUBSCRIPTION_DETAIL_TYPES, subscriptionEvent } from '../events/subscription-events';
import { GraphRequestError, GraphThrottledError } from '../graph/graph-client';
import { GRAPH_DEFAULTS, RequestNotSentError } from '../graph/graph-config';
import { UnsupportedResourceError } from '../graph/subscription-lifetimes';
import type { CallOptions, CreateSubscriptionInput, GraphSubscription, RenewOptions } from '../graph/subscriptions-api';
import { TokenRequestError } from '../graph/token-client';
import { InvalidAppCredentialsError, MissingAppCredentialsError } from '../secrets/app-credentials';
import type { ConnectionsStore } from '../store/connections-store';
import type { SubscriptionRecord, SubscriptionsStore } from '../store/subscriptions-store';
import type { CurrentEncryptionCertificate } from '../secrets/encryption-keys';
import { MissingEncryptionCertificateError } from './integration-graphs';
import {
  currentEncryptionCertificate,
  isQuotaExceeded,
  newSubscriptionRequest,
  renewalRequest,
  type EncryptionCertificatePort,
} from './subscription-requests';
import { groupByTenant } from './tenant-groups';
import { mapConcurrent } from '../util/batching';
import { describeError } from '../util/errors';

export { EXPIRY_SAFETY_MARGIN_MINUTES } from './subscription-requests';

export interface RenewalRunSettings {
  tenantConcurrency: number;
  perTenantConcurrency: number;
  renewBudgetMs: number;
  recreateBudgetMs: number;
}

export const RENEWAL_RUN_DEFAULTS: Readonly<RenewalRunSettings> = {
  /** (integration, tenant) groups renewed at once. */
  tenantConcurrency: 8,
  /**
   * Calls in flight per (integration, tenant): Graph allows 500 writes / 20 s per app per tenant, which a few
   * concurrent calls of ~100 ms each cannot exceed; more would only trade a faster run for 429s.
   */
  perTenantConcurrency: 2,
  /** A PATCH is not started unless it could finish before the deadline: the Graph client's timeout. */
  renewBudgetMs: GRAPH_DEFAULTS.requestTimeoutMs,
  /** Likewise a recreation (Graph validates the notification URLs before it answers). */
  recreateBudgetMs: GRAPH_DEFAULTS.createSubscriptionTimeoutMs,
};

/** The Graph calls a run needs (SubscriptionsApi implements them). */
export interface RenewalGraph {
  getSubscription(tenantId: string, id: string, options?: CallOptions): Promise<GraphSubscription>;
  renewSubscription(tenantId: string, id: string, expirationDateTime: Date | string, options?: RenewOptions): Promise<GraphSubscription>;
  createSubscription(tenantId: string, input: CreateSubscriptionInput, options?: CallOptions): Promise<GraphSubscription>;
}

export interface RenewalLogger {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

export interface RenewalPorts extends EncryptionCertificatePort {
  store: Pick<SubscriptionsStore, 'findDue' | 'recordRenewal' | 'markNeedsConsent' | 'markFailed' | 'put' | 'delete'>;
  /** Marks the connection of a subscription that ended needs-consent. */
  connections: Pick<ConnectionsStore, 'markNeedsConsent'>;
  /** The integration's app; throws MissingAppCredentialsError / InvalidAppCredentialsError without calling Graph. */
  graphFor(integrationId: string): Promise<RenewalGraph>;
  /** The integration's provider (events' `from`); undefined when the integration no longer exists. */
  providerOf(integrationId: string): Promise<string | undefined>;
  /** The integration's current webhook secret: a recreated subscription carries its per-tenant clientState. */
  webhookSecretOf(integrationId: string): Promise<string>;
  /** `<webhook base URL><integrationId>`: notificationUrl and lifecycleNotificationUrl of a recreated subscription. */
  notificationUrlFor(integrationId: string): string;
  publisher: { publish(events: readonly SubscriptionEventEntry[]): Promise<unknown> };
  /** EventBridge `source` of the events. */
  eventSource: string;
  logger: RenewalLogger;
  /**
   * Where catch-ups are asked for (the resync queue): after a recreation, for `;resync` declarations. Absent: none
   * asked (resync not deployed).
   */
  resync?: ResyncRequests;
  /** Epoch ms; the same clock as `deadline`. */
  clock: { now(): number };
}

/** When this region took the Graph writer lease, and how long after that renewal checks Graph first. */
export interface TakeoverWindow {
  /** Epoch ms (WriterView.acquiredAtMs); undefined: no lease view, no window. */
  acquiredAtMs: number | undefined;
  /** shared/leadership/writer-lease.ts takeoverWindowMs. */
  windowMs: number;
}

/** Graph's expiry must pass the recorded one by more than this for the renewal to be taken as the previous writer's. */
export const ADOPTION_MIN_LEAD_MS = 60_000;

/** Whether a run at `now` falls in the takeover window (decided once per run, at its start). */
export function inTakeoverWindow(takeover: TakeoverWindow | undefined, now: Date): boolean {
  if (takeover?.acquiredAtMs === undefined) return false;
  return now.getTime() - takeover.acquiredAtMs < takeover.windowMs;
}

export interface RenewDueOptions extends Partial<RenewalRunSettings> {
  /** The run's time: what is due, and the base of new expiries. */
  now: Date;
  /**
   * The writer lease as this run found it: a run starting within its window reads each due subscription from Graph
   * before renewing it. Absent: never.
   */
  takeover?: TakeoverWindow;
  /** Epoch ms (ports.clock): no call is started that could not finish by then. */
  deadline: number;
  /** At most this many due subscriptions per run. */
  limit: number;
}

export interface RenewalReport {
  /** Due subscriptions found; always renewed + adopted + recreated + needsConsent + failed + deferred. */
  due: number;
  renewed: number;
  /**
   * Found already renewed at Graph in the takeover window (by the previous writer, its answer lost) and recorded
   * without a PATCH; published as Renewed like `renewed`.
   */
  adopted: number;
  recreated: number;
  needsConsent: number;
  failed: number;
  /** Left for the next run: throttled past the deadline, or not started because of the deadline. */
  deferred: number;
  /** Renewal index items that did not parse (skipped, logged). */
  invalidItems: number;
  /**
   * Graph operations started (PATCH and POST, and the GETs of the takeover window; the client's own retries not
   * counted). One whose token was refused counts too, although nothing reached Graph: the token is fetched inside
   * the operation.
   */
  graphCalls: number;
  /** Events that could not be put on the bus (logged as errors). */
  unpublishedEvents: number;
  durationMs: number;
  /** Some due subscriptions were not started because the deadline was near. */
  stoppedEarly: boolean;
}

type Outcome =
  | { kind: 'renewed' | 'adopted' | 'recreated'; event: SubscriptionEventEntry }
  | { kind: 'needsConsent' | 'failed'; event?: SubscriptionEventEntry }
  | { kind: 'deferred'; notStarted?: boolean };

/** Why the rest of a tenant's or an integration's subscriptions get the same outcome without a call. */
interface SharedFailure {
  kind: 'needsConsent' | 'failed' | 'deferred';
  failure?: RenewalFailure;
}

interface IntegrationContext {
  provider: string;
  graph?: RenewalGraph;
  /** Set when no call can be made for this integration this run. */
  failure?: RenewalFailure;
}

export async function renewDue(ports: RenewalPorts, options: RenewDueOptions): Promise<RenewalReport> {
  const startedAt = ports.clock.now();
  const settings: RenewalRunSettings = {
    tenantConcurrency: options.tenantConcurrency ?? RENEWAL_RUN_DEFAULTS.tenantConcurrency,
    perTenantConcurrency: options.perTenantConcurrency ?? RENEWAL_RUN_DEFAULTS.perTenantConcurrency,
    renewBudgetMs: options.renewBudgetMs ?? RENEWAL_RUN_DEFAULTS.renewBudgetMs,
    recreateBudgetMs: options.recreateBudgetMs ?? RENEWAL_RUN_DEFAULTS.recreateBudgetMs,
  };
  const { due, invalidItems } = await ports.store.findDue(options.now, { limit: options.limit });
  for (const item of invalidItems) ports.logger.warn('renewal index item skipped', { ...item });

  const checkGraphFirst = inTakeoverWindow(options.takeover, options.now);
  if (checkGraphFirst && due.length > 0) {
    ports.logger.info('renewal checks Graph first: this region took the Graph writer lease over recently', {
      acquiredAt: new Date(options.takeover?.acquiredAtMs ?? 0).toISOString(),
      takeoverWindowMs: options.takeover?.windowMs,
    });
  }
  const run = new RenewalRun(ports, options, settings, checkGraphFirst);
  const groups = groupByTenant(due);
  const outcomes = (await mapConcurrent(groups, settings.tenantConcurrency, (group) => run.renewGroup(group))).flat();

  const events = outcomes.flatMap((outcome) => ('event' in outcome && outcome.event !== undefined ? [outcome.event] : []));
  let unpublishedEvents = 0;
  if (events.length > 0) {
    try {
      await ports.publisher.publish(events);
    } catch (error) {
      unpublishedEvents = countUnpublished(error, events.length);
      ports.logger.error('subscription events could not be published', { unpublished: unpublishedEvents, error: describeError(error) });
    }
  }

  // Changes made while a subscription was gone are caught up for `;resync` declarations (the resync function
  // checks the declaration, so every recreation asks).
  const recreations = outcomes.flatMap((outcome) => (outcome.kind === 'recreated' ? [outcome.event.detail] : []));
  await askForResyncs(
    ports.resync,
    recreations.map((detail) => resyncJob(detail.providerConfigKey, detail.subscriptionId, 'recreated', options.now)),
    ports.logger,
  );

  const count = (kind: Outcome['kind']) => outcomes.filter((outcome) => outcome.kind === kind).length;
  const report: RenewalReport = {
    due: due.length,
    renewed: count('renewed'),
    adopted: count('adopted'),
    recreated: count('recreated'),
    needsConsent: count('needsConsent'),
    failed: count('failed'),
    deferred: count('deferred'),
    invalidItems: invalidItems.length,
    graphCalls: run.graphCalls,
    unpublishedEvents,
    durationMs: ports.clock.now() - startedAt,
    stoppedEarly: outcomes.some((outcome) => outcome.kind === 'deferred' && outcome.notStarted === true),
  };
  ports.logger.info('renewal run finished', { ...report });
  return report;
}

class RenewalRun {
  graphCalls = 0;
  private readonly integrations = new Map<string, Promise<IntegrationContext | undefined>>();
  private readonly consent: ConnectionConsent;

  constructor(
    private readonly ports: RenewalPorts,
    private readonly options: RenewDueOptions,
    private readonly settings: RenewalRunSettings,
    /** In the takeover window: each due subscription read from Graph before it is PATCHed. */
    private readonly checkGraphFirst = false,
  ) {
    this.consent = new ConnectionConsent(ports);
  }

  /** One (integration, tenant)'s due subscriptions, a few at a time; a tenant-wide failure stops its calls. */
  async renewGroup(group: readonly SubscriptionRecord[]): Promise<Outcome[]> {
    let shared: SharedFailure | undefined;
    return mapConcurrent(group, this.settings.perTenantConcurrency, async (record) => {
      if (shared !== undefined) return this.apply(record, shared);
      const result = await this.renewOne(record).catch((error: unknown): { outcome: Outcome } => {
        // A store or publisher fault: this subscription stays as it was (due) and the run goes on.
        this.ports.logger.error('renewal failed unexpectedly', { ...ids(record), error: describeError(error) });
        return { outcome: { kind: 'failed' } };
      });
      if ('shared' in result && result.shared !== undefined) shared ??= result.shared;
      return result.outcome;
    });
  }

  private async renewOne(record: SubscriptionRecord): Promise<{ outcome: Outcome; shared?: SharedFailure }> {
    if (!this.hasTimeFor(this.settings.renewBudgetMs)) return { outcome: { kind: 'deferred', notStarted: true } };
    const integration = await this.integration(record.integrationId);
    if (integration === undefined) {
      // The integration is gone: the reconciler deletes its subscriptions; nothing to name in an event.
      this.ports.logger.warn('subscription of a missing integration left as it is', ids(record));
      return { outcome: { kind: 'failed' } };
    }
    if (integration.failure !== undefined || integration.graph === undefined) {
      return { outcome: await this.fail(record, integration, integration.failure ?? missingCredentials('no Graph client'), 'leave') };
    }

    const certificate = await this.certificateFor(record, record.encryptionCertificateId);
    if (certificate instanceof MissingEncryptionCertificateError) {
      return { outcome: await this.fail(record, integration, missingCredentials(certificate.message), 'leave') };
    }
    let request: ReturnType<typeof renewalRequest>;
    try {
      request = renewalRequest(record, this.options.now, certificate);
    } catch (error) {
      if (!(error instanceof UnsupportedResourceError)) throw error;
      return { outcome: await this.fail(record, integration, { reason: 'unsupported-resource', message: error.message }, 'take-out') };
    }

    if (this.checkGraphFirst) {
      const checked = await this.checkAtGraph(record, integration, integration.graph);
      if (checked !== undefined) return checked;
      // The GET took some of the budget: the PATCH starts only if it can still finish in time.
      if (!this.hasTimeFor(this.settings.renewBudgetMs)) return { outcome: { kind: 'deferred', notStarted: true } };
    }

    try {
      this.graphCalls += 1;
      const { expirationDateTime, ...rotation } = request;
      const renewed = await integration.graph.renewSubscription(record.tenantId, record.subscriptionId, expirationDateTime, { ...this.callOptions(), ...rotation });
      const expiresAt = isoOf(renewed.expirationDateTime);
      await this.ports.store.recordRenewal(
        record.integrationId,
        record.subscriptionId,
        expiresAt,
        ...(rotation.encryptionCertificateId === undefined ? [] : [{ encryptionCertificateId: rotation.encryptionCertificateId }]),
      );
      if (rotation.encryptionCertificateId !== undefined) {
        this.ports.logger.info('subscription moved to the current encryption certificate', {
          ...ids(record),
          previousEncryptionCertificateId: record.encryptionCertificateId,
          encryptionCertificateId: rotation.encryptionCertificateId,
        });
      }
      return { outcome: { kind: 'renewed', event: this.event(SUBSCRIPTION_DETAIL_TYPES.renewed, record, integration, { expirationDateTime: expiresAt }) } };
    } catch (error) {
      if (error instanceof GraphRequestError && error.status === 404) return { outcome: await this.recreate(record, integration) };
      return this.afterError(record, integration, error, 'PATCH');
    }
  }

  /**
   * The takeover window's check: the subscription as Graph has it. Renewed there already (the previous writer's
   * PATCH, its answer lost): adopted, Graph's expiry (and certificate) recorded. Gone: recreated. A failed GET:
   * sorted as a failed call. Otherwise undefined: PATCH as usual.
   */
  private async checkAtGraph(record: SubscriptionRecord, integration: IntegrationContext, graph: RenewalGraph): Promise<{ outcome: Outcome; shared?: SharedFailure } | undefined> {
    let current: GraphSubscription;
    try {
      this.graphCalls += 1;
      current = await graph.getSubscription(record.tenantId, record.subscriptionId, this.callOptions());
    } catch (error) {
      if (error instanceof GraphRequestError && error.status === 404) return { outcome: await this.recreate(record, integration) };
      return this.afterError(record, integration, error, 'GET');
    }
    const atGraph = Date.parse(current.expirationDateTime);
    if (!(atGraph - Date.parse(record.expiresAt) > ADOPTION_MIN_LEAD_MS)) return undefined;
    const expiresAt = isoOf(current.expirationDateTime);
    // A rotation the previous writer's PATCH carried is recorded too, so the next renewal knows Graph's certificate.
    const certificateId = current.encryptionCertificateId;
    const rotated = record.includeResourceData === true && certificateId !== undefined && certificateId !== record.encryptionCertificateId;
    await this.ports.store.recordRenewal(record.integrationId, record.subscriptionId, expiresAt, ...(rotated ? [{ encryptionCertificateId: certificateId }] : []));
    this.ports.logger.info('renewal adopted: already renewed at Graph by the previous Graph writer, not PATCHed again', {
      ...ids(record),
      recordedExpiresAt: record.expiresAt,
      expiresAt,
      ...(rotated ? { encryptionCertificateId: certificateId } : {}),
    });
    return { outcome: { kind: 'adopted', event: this.event(SUBSCRIPTION_DETAIL_TYPES.renewed, record, integration, { expirationDateTime: expiresAt }) } };
  }

  /** Graph no longer has the subscription: create it again and record the new id in place of the old. */
  private async recreate(record: SubscriptionRecord, integration: IntegrationContext): Promise<Outcome> {
    // The PATCH already learned it is gone; the next run learns it again if there is no time to recreate now.
    if (!this.hasTimeFor(this.settings.recreateBudgetMs) || integration.graph === undefined) return { kind: 'deferred', notStarted: true };
    let clientState: string;
    let clientStateKey: string;
    try {
      ({ clientState, clientStateKey } = newSubscriptionClientState(await this.ports.webhookSecretOf(record.integrationId), record.integrationId, record.tenantId));
    } catch (error) {
      return this.fail(record, integration, missingCredentials(describeError(error)), 'leave');
    }
    const encryption = await this.certificateFor(record);
    if (encryption instanceof MissingEncryptionCertificateError) return this.fail(record, integration, missingCredentials(encryption.message), 'leave');
    const url = this.ports.notificationUrlFor(record.integrationId);
    try {
      this.graphCalls += 1;
      const created = await integration.graph.createSubscription(
        record.tenantId,
        newSubscriptionRequest({
          resource: record.resource,
          changeTypes: record.changeTypes,
          notificationUrl: url,
          clientState,
          now: this.options.now,
          ...(encryption === undefined ? {} : { encryption }),
        }),
        { ...this.callOptions(), timeoutMs: GRAPH_DEFAULTS.createSubscriptionTimeoutMs },
      );
      const expiresAt = isoOf(created.expirationDateTime);
      const { integrationId, connectionId, tenantId, resource, changeTypes } = record;
      const rich = encryption === undefined ? {} : { includeResourceData: true, encryptionCertificateId: encryption.id };
      await this.ports.store.put({ integrationId, connectionId, tenantId, resource, changeTypes, ...rich, clientStateKey, subscriptionId: created.id, expiresAt, status: 'active' });
      await this.ports.store.delete(integrationId, record.subscriptionId);
      this.ports.logger.info('subscription recreated', { ...ids(record), newSubscriptionId: created.id });
      const recreated = { ...record, subscriptionId: created.id };
      return {
        kind: 'recreated',
        event: this.event(SUBSCRIPTION_DETAIL_TYPES.recreated, recreated, integration, { expirationDateTime: expiresAt, previousSubscriptionId: record.subscriptionId }),
      };
    } catch (error) {
      const { outcome } = await this.afterError(record, integration, error, 'POST');
      return outcome;
    }
  }

  /** Sorts a failed call into the outcomes described at the top of this file. */
  private async afterError(
    record: SubscriptionRecord,
    integration: IntegrationContext,
    error: unknown,
    method: 'GET' | 'PATCH' | 'POST',
  ): Promise<{ outcome: Outcome; shared?: SharedFailure }> {
    if (error instanceof RequestNotSentError) {
      // This region lost the Graph writer lease (shared/leadership/): nothing was sent; the subscription stays due.
      this.ports.logger.warn('renewal not sent: left for the Graph writer', { ...ids(record), error: error.message });
      return { outcome: { kind: 'deferred' }, shared: { kind: 'deferred' } };
    }
    if (error instanceof GraphThrottledError) {
      this.ports.logger.warn('renewal throttled past the deadline: left for the next run', { ...ids(record), retryAfterMs: error.retryAfterMs });
      return { outcome: { kind: 'deferred' }, shared: { kind: 'deferred' } };
    }
    if (error instanceof TokenRequestError) {
      if (error.kind === 'throttled') return { outcome: { kind: 'deferred' }, shared: { kind: 'deferred' } };
      if (error.needsConsent) {
        const failure: RenewalFailure = { reason: 'needs-consent', ...(error.status === undefined ? {} : { status: error.status }), ...(error.error === undefined ? {} : { code: error.error }), message: error.message };
        return { outcome: await this.fail(record, integration, failure, 'needs-consent'), shared: { kind: 'needsConsent', failure } };
      }
      const reason: RenewalFailureReason = error.kind === 'credentials' ? 'missing-credentials' : 'graph-error';
      const failure: RenewalFailure = { reason, ...(error.status === undefined ? {} : { status: error.status }), ...(error.error === undefined ? {} : { code: error.error }), message: error.message };
      if (reason === 'missing-credentials') this.failIntegration(record.integrationId, failure);
      return { outcome: await this.fail(record, integration, failure, 'leave'), shared: { kind: 'failed', failure } };
    }
    if (error instanceof MissingAppCredentialsError || error instanceof InvalidAppCredentialsError) {
      const failure = missingCredentials(error.message);
      this.failIntegration(record.integrationId, failure);
      return { outcome: await this.fail(record, integration, failure, 'leave') };
    }
    if (error instanceof GraphRequestError) {
      const failure: RenewalFailure = {
        reason: error.status === 401 || error.status === 403 ? 'needs-consent' : 'graph-error',
        ...(error.status === undefined ? {} : { status: error.status }),
        code: error.code,
        message: error.message,
        ...(error.requestId === undefined ? {} : { requestId: error.requestId }),
      };
      if (failure.reason === 'needs-consent' && !isQuotaExceeded(error)) return { outcome: await this.fail(record, integration, failure, 'needs-consent') };
      if (failure.reason === 'needs-consent') failure.reason = 'graph-error';
      const refusedPatch = method === 'PATCH' && error.status !== undefined && error.status >= 400 && error.status < 500;
      return { outcome: await this.fail(record, integration, failure, refusedPatch ? 'take-out' : 'leave') };
    }
    throw error;
  }

  /** The outcome of a tenant-wide failure for a subscription that was not called for. */
  private async apply(record: SubscriptionRecord, shared: SharedFailure): Promise<Outcome> {
    if (shared.kind === 'deferred' || shared.failure === undefined) return { kind: 'deferred' };
    const integration = await this.integration(record.integrationId);
    if (integration === undefined) return { kind: 'failed' };
    return this.fail(record, integration, shared.failure, shared.kind === 'needsConsent' ? 'needs-consent' : 'leave');
  }

  private async fail(record: SubscriptionRecord, integration: IntegrationContext, failure: RenewalFailure, action: 'leave' | 'take-out' | 'needs-consent'): Promise<Outcome> {
    const error = failure.message;
    if (action === 'needs-consent') {
      await this.ports.store.markNeedsConsent(record.integrationId, record.subscriptionId, error);
      await this.consent.markNeedsConsent(record, error);
    }
    if (action === 'take-out') await this.ports.store.markFailed(record.integrationId, record.subscriptionId, error);
    this.ports.logger.warn('renewal failed', { ...ids(record), reason: failure.reason, status: failure.status, code: failure.code, requestId: failure.requestId, action, error });
    return {
      kind: action === 'needs-consent' ? 'needsConsent' : 'failed',
      event: this.event(SUBSCRIPTION_DETAIL_TYPES.renewalFailed, record, integration, { failure }),
    };
  }

  /** Provider and Graph client of an integration, looked up once per run. */
  private integration(integrationId: string): Promise<IntegrationContext | undefined> {
    let context = this.integrations.get(integrationId);
    if (context === undefined) {
      context = this.lookUp(integrationId);
      this.integrations.set(integrationId, context);
    }
    return context;
  }

  private async lookUp(integrationId: string): Promise<IntegrationContext | undefined> {
    const provider = await this.ports.providerOf(integrationId);
    if (provider === undefined) return undefined;
    try {
      return { provider, graph: await this.ports.graphFor(integrationId) };
    } catch (error) {
      if (error instanceof MissingAppCredentialsError || error instanceof InvalidAppCredentialsError) {
        return { provider, failure: missingCredentials(error.message) };
      }
      throw error;
    }
  }

  /** The app's secret was refused: no more calls for this integration in this run. */
  private failIntegration(integrationId: string, failure: RenewalFailure): void {
    const current = this.integrations.get(integrationId);
    if (current === undefined) return;
    this.integrations.set(
      integrationId,
      current.then((context) => (context === undefined ? undefined : { provider: context.provider, failure })),
    );
  }

  /**
   * The current encryption certificate for a rich subscription (undefined for a plain one), or the reason there is
   * none, returned rather than thrown so the caller fails only this subscription. `keeps`: see
   * currentEncryptionCertificate.
   */
  private async certificateFor(record: SubscriptionRecord, keeps?: string): Promise<CurrentEncryptionCertificate | MissingEncryptionCertificateError | undefined> {
    if (record.includeResourceData !== true) return undefined;
    try {
      return await currentEncryptionCertificate(this.ports, record.integrationId, { now: this.options.now, keeps });
    } catch (error) {
      if (error instanceof MissingEncryptionCertificateError) return error;
      throw error;
    }
  }

  private hasTimeFor(budgetMs: number): boolean {
    return this.ports.clock.now() + budgetMs <= this.options.deadline;
  }

  private callOptions(): CallOptions {
    return { deadline: this.options.deadline };
  }

  private event(
    detailType: SubscriptionEventEntry['detailType'],
    record: SubscriptionRecord,
    integration: IntegrationContext,
    extra: Pick<SubscriptionEventDetail, 'expirationDateTime' | 'previousSubscriptionId' | 'failure'>,
  ): SubscriptionEventEntry {
    return subscriptionEvent(this.ports.eventSource, detailType, integration.provider, record, extra, new Date(this.ports.clock.now()));
  }
}

/**
 * Marks connections needs-consent, each at most once however many of its subscriptions lost consent (the
 * subscriptions of one tenant often share their connections). Never throws: a failed write is logged as an error.
 */
export class ConnectionConsent {
  private readonly marked = new Map<string, Promise<void>>();

  constructor(private readonly ports: { connections: Pick<ConnectionsStore, 'markNeedsConsent'>; logger: RenewalLogger }) {}

  markNeedsConsent(connection: { integrationId: string; connectionId: string; tenantId: string }, reason: string): Promise<void> {
    const key = `${connection.integrationId}\n${connection.connectionId}`;
    let marking = this.marked.get(key);
    if (marking === undefined) {
      marking = this.mark(connection, reason);
      this.marked.set(key, marking);
    }
    return marking;
  }

  /** Every marking started so far, finished. */
  async settled(): Promise<void> {
    await Promise.all(this.marked.values());
  }

  private async mark(connection: { integrationId: string; connectionId: string; tenantId: string }, reason: string): Promise<void> {
    const { connections, logger } = this.ports;
    const fields = { integrationId: connection.integrationId, connectionId: connection.connectionId, tenantId: connection.tenantId };
    try {
      if (await connections.markNeedsConsent(connection.integrationId, connection.connectionId, reason)) {
        logger.warn('connection marked needs-consent', { ...fields, reason });
      } else {
        logger.warn('connection of a needs-consent subscription no longer exists: not marked', fields);
      }
    } catch (error) {
      logger.error('connection could not be marked needs-consent', { ...fields, error: describeError(error) });
    }
  }
}

function missingCredentials(message: string): RenewalFailure {
  return { reason: 'missing-credentials', message };
}

function isoOf(dateTime: string): string {
  return new Date(dateTime).toISOString();
}

function ids(record: SubscriptionRecord): Record<string, string> {
  return { integrationId: record.integrationId, connectionId: record.connectionId, tenantId: record.tenantId, subscriptionId: record.subscriptionId };
}

function countUnpublished(error: unknown, total: number): number {
  const failed = (error as { failedIndexes?: ReadonlySet<number> }).failedIndexes;
  return failed instanceof Set ? failed.size : total;
}
