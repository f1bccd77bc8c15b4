/**
 * Acting on Graph's lifecycle notifications (learn.microsoft.com/graph/change-notifications-lifecycle-events), one
 * `Graph Lifecycle Notification` bus event at a time:
 * - `reauthorizationRequired`: `POST /subscriptions/{id}/reauthorize`; when renewal is due anyway (renewal policy),
 *   one `PATCH` to the maximum expiry instead, which also reauthorizes (recorded, `Graph Subscription Renewed`).
 * - `subscriptionRemoved`: recreated as renewal recreates (new record, old one deleted, `Graph Subscription Recreated`).
 * - `missed`: nothing to fix at Graph; the notification already reached consumers, who resync.
 * A reauthorize or PATCH answered 404 means the subscription is gone: it is recreated the same way.
 *
 * The intake publishes one copy of a notification per connection of its tenant, so only the copy addressed to the
 * subscription's own connection is acted on; the others are skipped (a second recreation would be refused 409).
 * A subscription not recorded here (another app's, or already replaced) is logged and ignored.
 *
 * Failures: consent lost (401/403 other than quota, or a token refused for consent) → needs-consent, taken out of
 * renewal, its connection marked needs-consent too (a failure of that write only logged), `Graph Subscription
 * Renewal Failed`, not retried. An unsupported resource → failed, taken out, event.
 * Rich subscriptions (includeResourceData) are renewed and recreated as renewal does them: shorter lifetime, the
 * integration's current encryption certificate (a missing one is a missing-credentials failure, before any call).
 * Other Graph, token or credential failures (5xx, timeouts, throttling, missing credentials, a refused recreation)
 * → the event is published and the error rethrown, so Lambda retries the invocation and then puts it on its
 * dead-letter queue; consumers may therefore see one Renewal Failed per attempt. Faults of our own side (store, bus)
 * are logged and rethrown without an event: consumers can do nothing about them; the DLQ alarm tells the operator.
 */
import { askForResyncs, resyncJob } from '../resync/resync-job';
import { newSubscriptionClientState } from '../graph/client-state';
import * as z from 'zod';
import { DETAIL_TYPES } from '../events/contract';
import type { RenewalFailure, RenewalFailureReason, SubscriptionEventDetail, SubscriptionEventEntry } from '../events/subscription-events';
import { SUBSCRIPTION_DETAIL_TYPES, subscriptionEvent } from '../events/subscription-events';
import { describeIssues } from '../graph/change-notification';
import { GraphRequestError } from '../graph/graph-client';
import { GRAPH_DEFAULTS } from '../graph/graph-config';
import { UnsupportedResourceError } from '../graph/subscription-lifetimes';
import type { CallOptions } from '../graph/subscriptions-api';
import { TokenRequestError } from '../graph/token-client';
import { InvalidAppCredentialsError, MissingAppCredentialsError } from '../secrets/app-credentials';
import type { SubscriptionRecord, SubscriptionsStore } from '../store/subscriptions-store';
import { ConnectionConsent, type RenewalGraph, type RenewalPorts } from './renew-due';
import { MissingEncryptionCertificateError, MissingWebhookSecretError } from './integration-graphs';
import { renewalDueAt } from './renewal-policy';
import { currentEncryptionCertificate, isQuotaExceeded, newSubscriptionRequest, renewalRequest } from './subscription-requests';
import { errorStack } from '../util/errors';

export const LIFECYCLE_EVENTS = ['reauthorizationRequired', 'subscriptionRemoved', 'missed'] as const;

/** The event did not have the shape the intake publishes: retrying it would fail the same way. */
export class InvalidLifecycleEventError extends Error {
  override readonly name = 'InvalidLifecycleEventError';
}

/** What the handler needs of the bus event the intake published (shared/events/contract.ts). */
const lifecycleBusEventSchema = z.object({
  id: z.string().optional(),
  'detail-type': z.literal(DETAIL_TYPES.lifecycle),
  detail: z.object({
    providerConfigKey: z.string().min(1),
    connectionId: z.string().min(1).nullable(),
    payload: z.object({
      value: z
        .array(z.object({ lifecycleEvent: z.string().min(1), subscriptionId: z.string().min(1), tenantId: z.string().min(1) }))
        .length(1),
    }),
    metadata: z.object({ subscriptionId: z.string().min(1), tenantId: z.string().min(1) }),
  }),
});

export interface LifecycleNotice {
  /** Graph's `lifecycleEvent`; values Graph may add later are ignored, not refused. */
  lifecycleEvent: string;
  integrationId: string;
  connectionId: string | null;
  subscriptionId: string;
  tenantId: string;
  eventId?: string;
}

/** @throws InvalidLifecycleEventError naming what is wrong. */
export function parseLifecycleEvent(event: unknown): LifecycleNotice {
  const parsed = lifecycleBusEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidLifecycleEventError(`not a ${DETAIL_TYPES.lifecycle} event as the intake publishes it: ${describeIssues(parsed.error)}`);
  }
  const { detail, id } = parsed.data;
  const [notification] = detail.payload.value;
  return {
    lifecycleEvent: notification?.lifecycleEvent ?? '',
    integrationId: detail.providerConfigKey,
    connectionId: detail.connectionId,
    subscriptionId: detail.metadata.subscriptionId,
    tenantId: detail.metadata.tenantId,
    ...(id === undefined ? {} : { eventId: id }),
  };
}

/** The Graph calls lifecycle handling needs (SubscriptionsApi implements them). */
export interface LifecycleGraph extends RenewalGraph {
  reauthorizeSubscription(tenantId: string, id: string, options?: CallOptions): Promise<void>;
}

export interface LifecyclePorts extends Omit<RenewalPorts, 'store' | 'graphFor'> {
  store: Pick<SubscriptionsStore, 'get' | 'recordRenewal' | 'markNeedsConsent' | 'markFailed' | 'put' | 'delete'>;
  graphFor(integrationId: string): Promise<LifecycleGraph>;
}

export interface LifecycleOptions {
  /** Epoch ms (ports.clock): Graph calls give up (and 429 waits stop) by then. */
  deadline?: number;
}

export type LifecycleOutcome =
  | 'reauthorized'
  | 'renewed'
  | 'recreated'
  | 'missed'
  /** Not ours, not this copy's to act on, or a lifecycle event Graph added since. */
  | 'ignored'
  | 'needs-consent'
  /** Taken out of renewal (unsupported resource). */
  | 'failed';

export interface LifecycleResult {
  outcome: LifecycleOutcome;
  lifecycleEvent: string;
  integrationId: string;
  subscriptionId: string;
  newSubscriptionId?: string;
  /** A subscription event could not be put on the bus (logged; the Graph side is done, so not retried). */
  unpublishedEvents: number;
}

/**
 * Parses the bus event and acts on it.
 * @throws InvalidLifecycleEventError for an event of the wrong shape (not worth retrying); any other error after
 * publishing `Graph Subscription Renewal Failed`, for Lambda to retry.
 */
export async function handleLifecycleEvent(ports: LifecyclePorts, event: unknown, options: LifecycleOptions = {}): Promise<LifecycleResult> {
  const notice = parseLifecycleEvent(event);
  const base = { lifecycleEvent: notice.lifecycleEvent, integrationId: notice.integrationId, subscriptionId: notice.subscriptionId, unpublishedEvents: 0 };
  const fields = { ...notice };

  if (!(LIFECYCLE_EVENTS as readonly string[]).includes(notice.lifecycleEvent)) {
    ports.logger.warn('lifecycle event of an unknown kind ignored', fields);
    return { ...base, outcome: 'ignored' };
  }
  if (notice.lifecycleEvent === 'missed' && ports.resync === undefined) {
    // Graph has nothing to repair; consumers got this very notification.
    ports.logger.info('missed notifications reported: no resync queue configured, consumers catch up themselves', fields);
    return { ...base, outcome: 'missed' };
  }
  const record = await ports.store.get(notice.integrationId, notice.subscriptionId);
  if (notice.lifecycleEvent === 'missed') {
    // Graph has nothing to repair. A `;resync` declaration is caught up by graph-relay (the resync function checks
    // the declaration); one copy per subscription asks, not one per connection of the tenant.
    if (record !== undefined && (notice.connectionId === null || notice.connectionId === record.connectionId)) {
      await askForResyncs(ports.resync, [resyncJob(record.integrationId, record.subscriptionId, 'missed', new Date(ports.clock.now()))], ports.logger);
    }
    ports.logger.info('missed notifications reported', { ...fields, resyncRequested: record !== undefined });
    return { ...base, outcome: 'missed' };
  }
  if (record === undefined) {
    ports.logger.warn('lifecycle event for a subscription not recorded here ignored', fields);
    return { ...base, outcome: 'ignored' };
  }
  if (notice.connectionId !== null && notice.connectionId !== record.connectionId) {
    ports.logger.info('lifecycle event copy for another connection of the tenant skipped', { ...fields, recordConnectionId: record.connectionId });
    return { ...base, outcome: 'ignored' };
  }
  const provider = await ports.providerOf(record.integrationId);
  if (provider === undefined) {
    ports.logger.warn('lifecycle event for a subscription of a missing integration ignored', fields);
    return { ...base, outcome: 'ignored' };
  }
  return new LifecycleAction(ports, options, record, provider, base).run(notice.lifecycleEvent as 'reauthorizationRequired' | 'subscriptionRemoved');
}

class LifecycleAction {
  private unpublishedEvents = 0;

  constructor(
    private readonly ports: LifecyclePorts,
    private readonly options: LifecycleOptions,
    private readonly record: SubscriptionRecord,
    private readonly provider: string,
    private readonly base: Omit<LifecycleResult, 'outcome'>,
  ) {}

  async run(lifecycleEvent: 'reauthorizationRequired' | 'subscriptionRemoved'): Promise<LifecycleResult> {
    const { record } = this;
    let graph: LifecycleGraph;
    try {
      graph = await this.ports.graphFor(record.integrationId);
      if (lifecycleEvent === 'subscriptionRemoved') return await this.recreate(graph);
      if (!this.renewalDue()) {
        await graph.reauthorizeSubscription(record.tenantId, record.subscriptionId, this.callOptions());
        this.ports.logger.info('subscription reauthorized', this.ids());
        return this.result('reauthorized');
      }
      const { expirationDateTime, ...rotation } = renewalRequest(record, this.now(), await this.certificate(record.encryptionCertificateId));
      const renewed = await graph.renewSubscription(record.tenantId, record.subscriptionId, expirationDateTime, { ...this.callOptions(), ...rotation });
      const expiresAt = new Date(renewed.expirationDateTime).toISOString();
      await this.ports.store.recordRenewal(
        record.integrationId,
        record.subscriptionId,
        expiresAt,
        ...(rotation.encryptionCertificateId === undefined ? [] : [{ encryptionCertificateId: rotation.encryptionCertificateId }]),
      );
      this.ports.logger.info('subscription renewed on reauthorizationRequired', { ...this.ids(), expiresAt });
      await this.publish(this.event(SUBSCRIPTION_DETAIL_TYPES.renewed, record, { expirationDateTime: expiresAt }));
      return this.result('renewed');
    } catch (error) {
      if (error instanceof GraphRequestError && error.status === 404 && lifecycleEvent === 'reauthorizationRequired') {
        // Gone at Graph meanwhile: the same repair as a removal. Errors of the recreation are handled below.
        try {
          return await this.recreate(await this.ports.graphFor(record.integrationId));
        } catch (recreateError) {
          return this.afterError(recreateError);
        }
      }
      return this.afterError(error);
    }
  }

  /** Renewal policy: due when half the granted lifetime has passed or the expiry is near. */
  private renewalDue(): boolean {
    const dueAt = renewalDueAt({ grantedAt: this.record.lastRenewedAt ?? this.record.createdAt, expiresAt: this.record.expiresAt });
    return Date.parse(dueAt) <= this.ports.clock.now();
  }

  private async recreate(graph: LifecycleGraph): Promise<LifecycleResult> {
    const { record } = this;
    const { clientState, clientStateKey } = newSubscriptionClientState(await this.ports.webhookSecretOf(record.integrationId), record.integrationId, record.tenantId);
    const encryption = await this.certificate();
    const created = await graph.createSubscription(
      record.tenantId,
      newSubscriptionRequest({
        resource: record.resource,
        changeTypes: record.changeTypes,
        notificationUrl: this.ports.notificationUrlFor(record.integrationId),
        clientState,
        now: this.now(),
        ...(encryption === undefined ? {} : { encryption }),
      }),
      { ...this.callOptions(), timeoutMs: GRAPH_DEFAULTS.createSubscriptionTimeoutMs },
    );
    const expiresAt = new Date(created.expirationDateTime).toISOString();
    const { integrationId, connectionId, tenantId, resource, changeTypes } = record;
    const rich = encryption === undefined ? {} : { includeResourceData: true, encryptionCertificateId: encryption.id };
    await this.ports.store.put({ integrationId, connectionId, tenantId, resource, changeTypes, ...rich, clientStateKey, subscriptionId: created.id, expiresAt, status: 'active' });
    await this.ports.store.delete(integrationId, record.subscriptionId);
    this.ports.logger.info('subscription recreated', { ...this.ids(), newSubscriptionId: created.id });
    // Changes between the removal and the new subscription are caught up for `;resync` declarations.
    await askForResyncs(this.ports.resync, [resyncJob(integrationId, created.id, 'removed', this.now())], this.ports.logger);
    await this.publish(
      this.event(SUBSCRIPTION_DETAIL_TYPES.recreated, { ...record, subscriptionId: created.id }, { expirationDateTime: expiresAt, previousSubscriptionId: record.subscriptionId }),
    );
    return { ...this.result('recreated'), newSubscriptionId: created.id };
  }

  /** The integration's current encryption certificate for a rich subscription; undefined for a plain one. `keeps`: see currentEncryptionCertificate. */
  private async certificate(keeps?: string) {
    return this.record.includeResourceData === true ? currentEncryptionCertificate(this.ports, this.record.integrationId, { now: this.now(), keeps }) : undefined;
  }

  /** Consent and unsupported resources end here; everything else is published and rethrown for a retry. */
  private async afterError(error: unknown): Promise<LifecycleResult> {
    const { record } = this;
    const failure = failureOf(error);
    if (failure === undefined) {
      // Our own side (store, bus, a bug): nothing for consumers to act on; the retries and the DLQ alarm tell us.
      this.ports.logger.error('lifecycle action failed unexpectedly', { ...this.ids(), lifecycleEvent: this.base.lifecycleEvent, error: errorStack(error) });
      throw error;
    }
    if (failure.reason === 'needs-consent') {
      await this.ports.store.markNeedsConsent(record.integrationId, record.subscriptionId, failure.message);
      await new ConnectionConsent(this.ports).markNeedsConsent(record, failure.message);
      await this.reportFailure(failure, 'needs-consent');
      return this.result('needs-consent');
    }
    if (failure.reason === 'unsupported-resource') {
      await this.ports.store.markFailed(record.integrationId, record.subscriptionId, failure.message);
      await this.reportFailure(failure, 'take-out');
      return this.result('failed');
    }
    await this.reportFailure(failure, 'retry');
    throw error;
  }

  private async reportFailure(failure: RenewalFailure, action: 'needs-consent' | 'take-out' | 'retry'): Promise<void> {
    // The logger drops a field named `message` (a key it reserves): Graph's message goes in `error`, as renewal logs it.
    const { message, ...rest } = failure;
    this.ports.logger.warn('lifecycle action failed', { ...this.ids(), lifecycleEvent: this.base.lifecycleEvent, action, ...rest, error: message });
    await this.publish(this.event(SUBSCRIPTION_DETAIL_TYPES.renewalFailed, this.record, { failure }));
  }

  private async publish(entry: SubscriptionEventEntry): Promise<void> {
    try {
      await this.ports.publisher.publish([entry]);
    } catch (error) {
      this.unpublishedEvents += 1;
      this.ports.logger.error('subscription event could not be published', { ...this.ids(), detailType: entry.detailType, error: String(error) });
    }
  }

  private event(
    detailType: SubscriptionEventEntry['detailType'],
    record: SubscriptionRecord,
    extra: Pick<SubscriptionEventDetail, 'expirationDateTime' | 'previousSubscriptionId' | 'failure'>,
  ): SubscriptionEventEntry {
    return subscriptionEvent(this.ports.eventSource, detailType, this.provider, record, extra, this.now());
  }

  private result(outcome: LifecycleOutcome): LifecycleResult {
    return { ...this.base, outcome, unpublishedEvents: this.unpublishedEvents };
  }

  private now(): Date {
    return new Date(this.ports.clock.now());
  }

  private callOptions(): CallOptions {
    return this.options.deadline === undefined ? {} : { deadline: this.options.deadline };
  }

  private ids(): Record<string, string> {
    const { integrationId, connectionId, tenantId, subscriptionId } = this.record;
    return { integrationId, connectionId, tenantId, subscriptionId };
  }
}

/** The failures that name a reason; undefined for faults of our own side (store, bus, bugs). */
function failureOf(error: unknown): RenewalFailure | undefined {
  if (error instanceof UnsupportedResourceError) return { reason: 'unsupported-resource', message: error.message };
  if (
    error instanceof MissingAppCredentialsError ||
    error instanceof InvalidAppCredentialsError ||
    error instanceof MissingWebhookSecretError ||
    error instanceof MissingEncryptionCertificateError
  ) {
    return { reason: 'missing-credentials', message: error.message };
  }
  if (error instanceof TokenRequestError) {
    const reason: RenewalFailureReason = error.needsConsent ? 'needs-consent' : error.kind === 'credentials' ? 'missing-credentials' : 'graph-error';
    return { reason, ...(error.status === undefined ? {} : { status: error.status }), ...(error.error === undefined ? {} : { code: error.error }), message: error.message };
  }
  if (error instanceof GraphRequestError) {
    const consent = (error.status === 401 || error.status === 403) && !isQuotaExceeded(error);
    return {
      reason: consent ? 'needs-consent' : 'graph-error',
      ...(error.status === undefined ? {} : { status: error.status }),
      code: error.code,
      message: error.message,
      ...(error.requestId === undefined ? {} : { requestId: error.requestId }),
    };
  }
  return undefined;
}
