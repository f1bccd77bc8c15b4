/**
 * The reconciler (issue 3, item 2): makes Graph match the connections' declared subscriptions. It plans
 * (reconcile-plan.ts), then, unless it is a dry run, creates the missing subscriptions (through Graph's validation
 * handshake against the integration's webhook) and records them, and deletes the ones no longer wanted at Graph and
 * then in the store.
 *
 * Every change stands alone: a failure is reported with its reason and the run goes on. A change that would not
 * finish before the deadline is not started (deferred); the next run plans it again. A Graph delete that fails
 * leaves the record, so the next run tries again; a Graph create whose record cannot be written is deleted again,
 * so no subscription lives at Graph that nothing renews.
 *
 * Consent: a connection marked needs-consent gets no create (planned as skipped); a create refused for consent marks
 * its connection needs-consent (a refused delete does not: it is about the record's tenant, which may no longer be
 * the connection's).
 */
import { GraphRequestError, GraphThrottledError } from '../graph/graph-client';
import { GRAPH_DEFAULTS } from '../graph/graph-config';
import type { CallOptions, CreateSubscriptionInput, DeleteOutcome, GraphSubscription } from '../graph/subscriptions-api';
import { TokenRequestError } from '../graph/token-client';
import { InvalidAppCredentialsError, MissingAppCredentialsError } from '../secrets/app-credentials';
import type { ConnectionsStore } from '../store/connections-store';
import { keys } from '../store/items';
import type { SubscriptionRecord, SubscriptionStatus, SubscriptionsStore } from '../store/subscriptions-store';
import { planReconcile, type InvalidDeclaration, type PlannedChange, type PlannedCreate, type PlannedDelete, type PlannedKeep, type PlannedSkip } from './reconcile-plan';
import { MissingEncryptionCertificateError } from './integration-graphs';
import { ConnectionConsent, type RenewalLogger } from './renew-due';
import {
  currentEncryptionCertificate,
  isQuotaExceeded,
  mapConcurrent,
  newSubscriptionRequest,
  type EncryptionCertificatePort,
} from './subscription-requests';

export { describeChange, planReconcile } from './reconcile-plan';
export type { InvalidDeclaration, PlannedChange, PlannedCreate, PlannedDelete, PlannedKeep, PlannedSkip, ReconcilePlan, SkipReason } from './reconcile-plan';

/** The Graph calls the reconciler makes (SubscriptionsApi implements them). */
export interface ReconcileGraph {
  createSubscription(tenantId: string, input: CreateSubscriptionInput, options?: CallOptions): Promise<GraphSubscription>;
  deleteSubscription(tenantId: string, id: string, options?: CallOptions): Promise<DeleteOutcome>;
}

export interface ReconcilePorts extends EncryptionCertificatePort {
  connections: Pick<ConnectionsStore, 'listIntegrations' | 'listConnections' | 'markNeedsConsent'>;
  store: Pick<SubscriptionsStore, 'listByIntegration' | 'put' | 'delete'>;
  /** The integration's app; throws MissingAppCredentialsError / InvalidAppCredentialsError without calling Graph. */
  graphFor(integrationId: string): Promise<ReconcileGraph>;
  /** clientState of new subscriptions: the integration's current webhook secret. */
  webhookSecretOf(integrationId: string): Promise<string>;
  /** `<webhook base URL><integrationId>`: notificationUrl and lifecycleNotificationUrl of new subscriptions. */
  notificationUrlFor(integrationId: string): string;
  logger: RenewalLogger;
  /** Epoch ms; the same clock as `deadline`, and the base of new expiries. */
  clock: { now(): number };
}

export interface ReconcileOptions {
  /** One integration; default every integration. */
  integrationId?: string;
  /** One connection of `integrationId` (e.g. the one a DynamoDB Streams record is about). */
  connectionId?: string;
  /** Plan only: no Graph call, no store write. */
  dryRun: boolean;
  /** Epoch ms (ports.clock): no change is started that could not finish by then. */
  deadline: number;
  /** (integration, tenant) groups worked on at once; within a group changes go one at a time. Default 4. */
  tenantConcurrency?: number;
}

export type ReconcileFailureReason = 'needs-consent' | 'graph-error' | 'missing-credentials' | 'store-error';

export interface FailedChange {
  change: PlannedChange;
  reason: ReconcileFailureReason;
  status?: number;
  code?: string;
  message: string;
  requestId?: string;
}

/** How close to expiry a record counts as "expiring" in the inventory: the alarms' thresholds. */
export const EXPIRY_WINDOWS_MS = { within24h: 24 * 60 * 60 * 1000, within6h: 6 * 60 * 60 * 1000 } as const;

/**
 * The subscription records the run listed (every record of the integrations in scope, parsed ones only), by
 * expiry and status. The renewal keeps active ones far from expiry, so a non-zero `expiringWithin6h` means it is
 * falling behind or failing.
 */
export interface SubscriptionInventory {
  total: number;
  /** Any status, expiresAt within 24 h of the run's start or already past. */
  expiringWithin24h: number;
  /** Any status, expiresAt within 6 h of the run's start or already past. */
  expiringWithin6h: number;
  byStatus: Record<SubscriptionStatus, number>;
}

export interface ReconcileReport {
  dryRun: boolean;
  inventory: SubscriptionInventory;
  /** `skipped`: creates not attempted because the connection needs consent (shown in a dry run too). */
  planned: { create: PlannedCreate[]; delete: PlannedDelete[]; skipped: PlannedSkip[]; keep: PlannedKeep[] };
  created: (PlannedCreate & { subscriptionId: string; expiresAt: string })[];
  deleted: (PlannedDelete & { atGraph: DeleteOutcome })[];
  failed: FailedChange[];
  /** Not started (deadline near) or throttled past the deadline: the next run plans them again. */
  deferred: PlannedChange[];
  invalidDeclarations: InvalidDeclaration[];
  /** Connection and subscription items that do not parse: reported, never touched. */
  invalidItems: { integrationId: string; sk: string; reason: string }[];
  /** Graph operations started (the client's own retries not counted). */
  graphCalls: number;
  stoppedEarly: boolean;
}

export class ReconcileScopeError extends Error {
  override readonly name = 'ReconcileScopeError';
}

export async function reconcile(ports: ReconcilePorts, options: ReconcileOptions): Promise<ReconcileReport> {
  if (options.connectionId !== undefined && options.integrationId === undefined) {
    throw new ReconcileScopeError('reconcile: a connection is named by its integration: give integrationId with connectionId');
  }
  const report: ReconcileReport = {
    dryRun: options.dryRun,
    inventory: { total: 0, expiringWithin24h: 0, expiringWithin6h: 0, byStatus: { active: 0, 'needs-consent': 0, failed: 0 } },
    planned: { create: [], delete: [], skipped: [], keep: [] },
    created: [],
    deleted: [],
    failed: [],
    deferred: [],
    invalidDeclarations: [],
    invalidItems: [],
    graphCalls: 0,
    stoppedEarly: false,
  };

  const integrationIds = options.integrationId !== undefined ? [options.integrationId] : await listIntegrationIds(ports, report);
  const startedAt = ports.clock.now();
  for (const integrationId of integrationIds) {
    const [{ connections, invalidItems: badConnections }, { subscriptions, invalidItems: badSubscriptions }] = await Promise.all([
      ports.connections.listConnections(integrationId),
      ports.store.listByIntegration(integrationId, options.connectionId === undefined ? {} : { connectionId: options.connectionId }),
    ]);
    for (const item of [...badConnections, ...badSubscriptions]) report.invalidItems.push({ integrationId, sk: item.sk, reason: item.reason });
    countInventory(report.inventory, subscriptions, startedAt);
    const plan = planReconcile({
      integrationId,
      connections,
      unreadableConnectionIds: badConnections.filter((item) => item.sk.startsWith(keys.connectionPrefix)).map((item) => item.sk.slice(keys.connectionPrefix.length)),
      subscriptions,
      ...(options.connectionId === undefined ? {} : { connectionId: options.connectionId }),
    });
    report.planned.create.push(...plan.create);
    report.planned.delete.push(...plan.delete);
    report.planned.skipped.push(...plan.skipped);
    report.planned.keep.push(...plan.keep);
    report.invalidDeclarations.push(...plan.invalidDeclarations);
  }
  for (const invalid of report.invalidDeclarations) ports.logger.warn('invalid subscription declaration ignored', { ...invalid });

  if (!options.dryRun) {
    // Creates first: a declaration edited from one form to another briefly has both, rather than neither.
    const changes: PlannedChange[] = [...report.planned.create, ...report.planned.delete];
    const run = new ReconcileRun(ports, options, report);
    await mapConcurrent(groupByTenant(changes), options.tenantConcurrency ?? 4, (group) => run.applyGroup(group));
    await run.consent.settled();
    report.stoppedEarly = report.deferred.length > 0;
  }
  ports.logger.info('reconcile finished', {
    dryRun: report.dryRun,
    create: report.planned.create.length,
    delete: report.planned.delete.length,
    skipped: report.planned.skipped.length,
    keep: report.planned.keep.length,
    created: report.created.length,
    deleted: report.deleted.length,
    failed: report.failed.length,
    deferred: report.deferred.length,
    invalidDeclarations: report.invalidDeclarations.length,
    invalidItems: report.invalidItems.length,
    graphCalls: report.graphCalls,
    subscriptions: report.inventory.total,
    expiringWithin24h: report.inventory.expiringWithin24h,
    expiringWithin6h: report.inventory.expiringWithin6h,
    needsConsent: report.inventory.byStatus['needs-consent'],
    failedStatus: report.inventory.byStatus.failed,
  });
  return report;
}

function countInventory(inventory: SubscriptionInventory, records: readonly Pick<SubscriptionRecord, 'expiresAt' | 'status'>[], now: number): void {
  for (const record of records) {
    const left = Date.parse(record.expiresAt) - now;
    inventory.total += 1;
    inventory.byStatus[record.status] += 1;
    if (left <= EXPIRY_WINDOWS_MS.within24h) inventory.expiringWithin24h += 1;
    if (left <= EXPIRY_WINDOWS_MS.within6h) inventory.expiringWithin6h += 1;
  }
}

async function listIntegrationIds(ports: ReconcilePorts, report: ReconcileReport): Promise<string[]> {
  const { integrations, invalidItems } = await ports.connections.listIntegrations();
  for (const item of invalidItems) report.invalidItems.push({ integrationId: '', sk: item.sk, reason: item.reason });
  return integrations.map((integration) => integration.integrationId);
}

type Failure = Omit<FailedChange, 'change'>;

/** A failure that the rest of the tenant's (or the integration's) changes share, without a call of their own. */
type SharedOutcome = { kind: 'failed'; failure: Failure } | { kind: 'deferred' };

class ReconcileRun {
  private readonly integrationFailures = new Map<string, Failure>();
  readonly consent: ConnectionConsent;

  constructor(
    private readonly ports: ReconcilePorts,
    private readonly options: ReconcileOptions,
    private readonly report: ReconcileReport,
  ) {
    this.consent = new ConnectionConsent(ports);
  }

  async applyGroup(group: readonly PlannedChange[]): Promise<void> {
    let shared: SharedOutcome | undefined;
    for (const change of group) {
      const integrationFailure = this.integrationFailures.get(change.integrationId);
      const outcome: SharedOutcome | undefined = integrationFailure !== undefined ? { kind: 'failed', failure: integrationFailure } : shared;
      if (outcome?.kind === 'failed') this.fail(change, outcome.failure);
      else if (outcome?.kind === 'deferred') this.report.deferred.push(change);
      else shared = await this.applyOne(change);
    }
  }

  /** Applies one change; returns an outcome the rest of the group shares, if the failure was tenant-wide. */
  private async applyOne(change: PlannedChange): Promise<SharedOutcome | undefined> {
    const budget = change.action === 'create' ? GRAPH_DEFAULTS.createSubscriptionTimeoutMs : GRAPH_DEFAULTS.requestTimeoutMs;
    if (this.ports.clock.now() + budget > this.options.deadline) {
      this.report.deferred.push(change);
      return { kind: 'deferred' };
    }
    try {
      if (change.action === 'create') await this.create(change);
      else await this.delete(change);
      return undefined;
    } catch (error) {
      return this.afterError(change, error);
    }
  }

  private async create(change: PlannedCreate): Promise<void> {
    const graph = await this.ports.graphFor(change.integrationId);
    let clientState: string;
    try {
      clientState = await this.ports.webhookSecretOf(change.integrationId);
    } catch (error) {
      const failure: Failure = { reason: 'missing-credentials', message: describeError(error) };
      this.integrationFailures.set(change.integrationId, failure);
      this.fail(change, failure);
      return;
    }
    let encryption;
    if (change.includeResourceData === true) {
      try {
        encryption = await currentEncryptionCertificate(this.ports, change.integrationId);
      } catch (error) {
        // Only this integration's rich creates need it: its plain ones go ahead.
        if (!(error instanceof MissingEncryptionCertificateError)) throw error;
        this.fail(change, { reason: 'missing-credentials', message: error.message });
        return;
      }
    }
    const now = new Date(this.ports.clock.now());
    const notificationUrl = this.ports.notificationUrlFor(change.integrationId);
    this.report.graphCalls += 1;
    const created = await graph.createSubscription(
      change.tenantId,
      newSubscriptionRequest({ resource: change.resource, changeTypes: change.changeTypes, notificationUrl, clientState, now, ...(encryption === undefined ? {} : { encryption }) }),
      { deadline: this.options.deadline, timeoutMs: GRAPH_DEFAULTS.createSubscriptionTimeoutMs },
    );
    const expiresAt = new Date(created.expirationDateTime).toISOString();
    const { integrationId, connectionId, tenantId, resource, changeTypes } = change;
    const rich = encryption === undefined ? {} : { includeResourceData: true, encryptionCertificateId: encryption.id };
    try {
      await this.ports.store.put({ integrationId, connectionId, tenantId, resource, changeTypes, ...rich, subscriptionId: created.id, expiresAt, status: 'active' });
    } catch (error) {
      await this.undoCreate(change, graph, created.id);
      this.fail(change, { reason: 'store-error', message: `subscription ${created.id} was created but could not be recorded (deleted again): ${describeError(error)}` });
      return;
    }
    this.ports.logger.info('subscription created', { ...ids(change), subscriptionId: created.id, expiresAt });
    this.report.created.push({ ...change, subscriptionId: created.id, expiresAt });
  }

  /** Best effort: a subscription nothing records would never be renewed nor deleted by us. */
  private async undoCreate(change: PlannedCreate, graph: ReconcileGraph, subscriptionId: string): Promise<void> {
    try {
      this.report.graphCalls += 1;
      await graph.deleteSubscription(change.tenantId, subscriptionId, { deadline: this.options.deadline });
    } catch (error) {
      this.ports.logger.error('unrecorded subscription could not be deleted at Graph', { ...ids(change), subscriptionId, error: describeError(error) });
    }
  }

  private async delete(change: PlannedDelete): Promise<void> {
    const graph = await this.ports.graphFor(change.integrationId);
    this.report.graphCalls += 1;
    const atGraph = await graph.deleteSubscription(change.tenantId, change.subscriptionId, { deadline: this.options.deadline });
    try {
      await this.ports.store.delete(change.integrationId, change.subscriptionId);
    } catch (error) {
      // Gone at Graph: the next run plans the delete again and Graph answers 404, which is fine.
      this.fail(change, { reason: 'store-error', message: `deleted at Graph (${atGraph}) but the record could not be deleted: ${describeError(error)}` });
      return;
    }
    this.ports.logger.info('subscription deleted', { ...ids(change), subscriptionId: change.subscriptionId, atGraph, reason: change.reason });
    this.report.deleted.push({ ...change, atGraph });
  }

  private afterError(change: PlannedChange, error: unknown): SharedOutcome | undefined {
    if (error instanceof GraphThrottledError || (error instanceof TokenRequestError && error.kind === 'throttled')) {
      this.ports.logger.warn('reconcile throttled past the deadline: left for the next run', { ...ids(change) });
      this.report.deferred.push(change);
      return { kind: 'deferred' };
    }
    if (error instanceof MissingAppCredentialsError || error instanceof InvalidAppCredentialsError) {
      const failure: Failure = { reason: 'missing-credentials', message: error.message };
      this.integrationFailures.set(change.integrationId, failure);
      this.fail(change, failure);
      return undefined;
    }
    if (error instanceof TokenRequestError) {
      const reason: ReconcileFailureReason = error.needsConsent ? 'needs-consent' : error.kind === 'credentials' ? 'missing-credentials' : 'graph-error';
      const failure: Failure = { reason, ...optional('status', error.status), ...optional('code', error.error), message: error.message };
      if (reason === 'missing-credentials') this.integrationFailures.set(change.integrationId, failure);
      this.fail(change, failure);
      // No token for this tenant: its other changes would only ask again.
      return { kind: 'failed', failure };
    }
    if (error instanceof GraphRequestError) {
      const consent = (error.status === 401 || error.status === 403) && !isQuotaExceeded(error);
      this.fail(change, {
        reason: consent ? 'needs-consent' : 'graph-error',
        ...optional('status', error.status),
        code: error.code,
        message: error.message,
        ...optional('requestId', error.requestId),
      });
      return undefined;
    }
    // A store fault or a bug: this change is reported, the others go on.
    this.fail(change, { reason: 'store-error', message: describeError(error) });
    return undefined;
  }

  private fail(change: PlannedChange, failure: Failure): void {
    this.ports.logger.warn(`reconcile ${change.action} failed`, { ...ids(change), ...failure });
    this.report.failed.push({ change, ...failure });
    // Awaited once the run's changes are done (reconcile), so a slow write holds up no other change.
    if (change.action === 'create' && failure.reason === 'needs-consent') void this.consent.markNeedsConsent(change, failure.message);
  }
}

/** By (integration, tenant): Graph's write limits and the token cache are per app per tenant. */
function groupByTenant(changes: readonly PlannedChange[]): PlannedChange[][] {
  const groups = new Map<string, PlannedChange[]>();
  for (const change of changes) {
    const key = `${change.integrationId}\n${change.tenantId.toLowerCase()}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [change]);
    else group.push(change);
  }
  return [...groups.values()];
}

function ids(change: PlannedChange): Record<string, string> {
  return {
    integrationId: change.integrationId,
    connectionId: change.connectionId,
    tenantId: change.tenantId,
    resource: change.resource,
    changeTypes: change.changeTypes.join(','),
    ...(change.includeResourceData === true ? { includeResourceData: 'true' } : {}),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
