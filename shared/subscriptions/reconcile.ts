/**
 * The reconciler: makes Graph match the connections' declared subscriptions. It plans
 * (reconcile-plan.ts), then, unless it is a dry run, creates the missing subscriptions (through Graph's validation
 * handshake against the integration's webhook) and records them, and deletes the ones no longer wanted at Graph and
 * then in the store.
 *
 * Everything is read by key or by page, so the cost of a run does not grow with the size of an integration beyond
 * what it covers:
 * - one connection (a DynamoDB Streams change): its item by key and its records through the ByConnection index;
 * - a full run, per integration, two passes of `pageSize` items each, planned and applied page by page:
 *   1. the `SUBSCRIPTION#` range: counts the inventory, files records that lack their ByConnection index key, and
 *      deletes the records whose connection item is gone (one consistent BatchGetItem per page);
 *   2. the `CONNECTION#` range: each connection's records by key, planned against its declarations.
 *   An integration whose pass 1 had records to file gets no pass 2 in that run: the index may not list them yet,
 *   and a plan without them would create their subscriptions again.
 *   A run that runs out of time records where it got to (ports.checkpoint), and the next one goes on from there.
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
import { newSubscriptionClientState } from '../graph/client-state';
import { askForResyncs, resyncJob, type ResyncRequests } from '../resync/resync-job';
import type { ResyncStateStore } from '../store/resync-checkpoints';
import { declarationKey } from './declarations';
import { RECONCILE_DEFAULTS } from '../config/reconcile-config';
import { GraphRequestError, GraphThrottledError } from '../graph/graph-client';
import { GRAPH_DEFAULTS, RequestNotSentError } from '../graph/graph-config';
import type { CallOptions, CreateSubscriptionInput, DeleteOutcome, GraphSubscription } from '../graph/subscriptions-api';
import { TokenRequestError } from '../graph/token-client';
import { InvalidAppCredentialsError, MissingAppCredentialsError } from '../secrets/app-credentials';
import { StoreDataError, type ConnectionsStore } from '../store/connections-store';
import { keys, type Connection } from '../store/items';
import type { PageKey } from '../store/page-key';
import { RECONCILE_PHASES, type ReconcileCheckpoint, type ReconcileCheckpointStore, type ReconcilePhase } from '../store/reconcile-checkpoint';
import type { SubscriptionRecord, SubscriptionStatus, SubscriptionsStore } from '../store/subscriptions-store';
import {
  planReconcile,
  type InvalidDeclaration,
  type PlanInput,
  type PlannedChange,
  type PlannedCreate,
  type PlannedDelete,
  type PlannedKeep,
  type PlannedSkip,
  type ReconcilePlan,
} from './reconcile-plan';
import { MissingEncryptionCertificateError } from './integration-graphs';
import { ConnectionConsent, type RenewalLogger } from './renew-due';
import {
  currentEncryptionCertificate,
  isQuotaExceeded,
  newSubscriptionRequest,
  type EncryptionCertificatePort,
} from './subscription-requests';
import { groupByTenant } from './tenant-groups';
import { mapConcurrent } from '../util/batching';
import { describeError } from '../util/errors';
import { optional } from '../util/optional';

export { describeChange, planReconcile } from './reconcile-plan';
export type { InvalidDeclaration, PlannedChange, PlannedCreate, PlannedDelete, PlannedKeep, PlannedSkip, ReconcilePlan, SkipReason } from './reconcile-plan';

/** The Graph calls the reconciler makes (SubscriptionsApi implements them). */
export interface ReconcileGraph {
  createSubscription(tenantId: string, input: CreateSubscriptionInput, options?: CallOptions): Promise<GraphSubscription>;
  deleteSubscription(tenantId: string, id: string, options?: CallOptions): Promise<DeleteOutcome>;
}

export interface ReconcilePorts extends EncryptionCertificatePort {
  connections: Pick<ConnectionsStore, 'listIntegrations' | 'getConnection' | 'listConnectionsPage' | 'existingConnectionIds' | 'markNeedsConsent'>;
  store: Pick<SubscriptionsStore, 'listByConnection' | 'listByIntegrationPage' | 'setConnectionKey' | 'put' | 'delete'>;
  /**
   * Where a full run of every integration resumes, and records how far it got when it runs out of time: the
   * scheduled runs pass it. Without it a run starts at the beginning and records nothing.
   */
  checkpoint?: ReconcileCheckpointStore;
  /** The integration's app; throws MissingAppCredentialsError / InvalidAppCredentialsError without calling Graph. */
  graphFor(integrationId: string): Promise<ReconcileGraph>;
  /** The integration's current webhook secret: new subscriptions carry its per-tenant clientState (tenantClientState). */
  webhookSecretOf(integrationId: string): Promise<string>;
  /** `<webhook base URL><integrationId>`: notificationUrl and lifecycleNotificationUrl of new subscriptions. */
  notificationUrlFor(integrationId: string): string;
  logger: RenewalLogger;
  /**
   * Where catch-ups are asked for (the resync queue): a baseline for each subscription created for a `;resync`
   * declaration, and, when one connection is reconciled, for its kept `;resync` subscriptions (resync just declared
   * on an existing subscription; the run takes a baseline only when there is none). Absent: none asked.
   */
  resync?: ResyncRequests;
  /**
   * The `;resync` states: a deleted subscription's is removed with it (its delta link is of a declaration, a
   * connection or a tenant that no longer applies). Absent: left for the resync function to find.
   */
  resyncStates?: Pick<ResyncStateStore, 'delete'>;
  /** Epoch ms; the same clock as `deadline`, and the base of new expiries. */
  clock: { now(): number };
  /**
   * Where each declaration whose create failed keeps its last error (the connection item), for `doctor`; cleared
   * once created. Absent: not recorded.
   */
  createFailures?: Pick<ConnectionsStore, 'recordCreateFailure' | 'clearCreateFailure'>;
}

export interface ReconcileOptions {
  /** One integration; default every integration. */
  integrationId?: string;
  /** One connection of `integrationId` (e.g. the one a DynamoDB Streams record is about). */
  connectionId?: string;
  /** Plan only: no Graph call, no store write. */
  dryRun: boolean;
  /** Epoch ms (ports.clock): no change is started that could not finish by then, and no page is read after it. */
  deadline: number;
  /** (integration, tenant) groups worked on at once; within a group changes go one at a time. Default 4. */
  tenantConcurrency?: number;
  /** Items per page of a full run; default RECONCILE_DEFAULTS.pageSize. */
  pageSize?: number;
  /**
   * Default true. False: the report's lists stay empty and only `counts` is kept, so the memory of a full run does
   * not grow with the number of connections (the scheduled run; each failure, invalid declaration and invalid item
   * is logged anyway).
   */
  details?: boolean;
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
 * The subscription records the run listed (parsed ones only), by expiry and status: a full run counts every record
 * of the integrations it covered, one connection's run that connection's. A run resumed from a checkpoint counts
 * only what it covered, not what the run before it did. The renewal keeps active ones far from expiry, so a
 * non-zero `expiringWithin6h` means it is falling behind or failing.
 */
export interface SubscriptionInventory {
  total: number;
  /** Any status, expiresAt within 24 h of the run's start or already past. */
  expiringWithin24h: number;
  /** Any status, expiresAt within 6 h of the run's start or already past. */
  expiringWithin6h: number;
  byStatus: Record<SubscriptionStatus, number>;
}

/** The report's lists by name, and what each holds. */
interface ReportLists {
  create: PlannedCreate;
  delete: PlannedDelete;
  skipped: PlannedSkip;
  keep: PlannedKeep;
  created: PlannedCreate & { subscriptionId: string; expiresAt: string };
  deleted: PlannedDelete & { atGraph: DeleteOutcome };
  failed: FailedChange;
  deferred: PlannedChange;
  invalidDeclarations: InvalidDeclaration;
  invalidItems: { integrationId: string; sk: string; reason: string };
}

/** The length of each of the report's lists, kept whether or not the lists are (`details`). */
export type ReconcileCounts = { [K in keyof ReportLists]: number };

export interface ReconcileReport {
  dryRun: boolean;
  inventory: SubscriptionInventory;
  counts: ReconcileCounts;
  /** `skipped`: creates not attempted because the connection needs consent (shown in a dry run too). */
  planned: { create: PlannedCreate[]; delete: PlannedDelete[]; skipped: PlannedSkip[]; keep: PlannedKeep[] };
  created: ReportLists['created'][];
  deleted: ReportLists['deleted'][];
  failed: FailedChange[];
  /** Not started (deadline near) or throttled past the deadline: the next run plans them again. */
  deferred: PlannedChange[];
  invalidDeclarations: InvalidDeclaration[];
  /** Connection and subscription items that do not parse: reported, never touched. */
  invalidItems: ReportLists['invalidItems'][];
  /**
   * Records found without their ByConnection index key (written before the index existed, or edited by hand): filed
   * under their connection by this run unless it is a dry run. Their integration's connections are planned by a
   * later run, once the index lists them.
   */
  unindexed: number;
  /** Graph operations started (the client's own retries not counted). */
  graphCalls: number;
  /** Changes deferred, or pages left unread for lack of time (a full run records where it got to). */
  stoppedEarly: boolean;
}

/** A run's outcome in counts only: what the run logs, a scheduled run answers and the metrics are made of. */
export interface ReconcileSummary extends ReconcileCounts {
  /** Records filed under their connection (ByConnection index) by this run. */
  unindexed: number;
  graphCalls: number;
  stoppedEarly: boolean;
  /** Subscription records listed, any status. */
  subscriptions: number;
  expiringWithin24h: number;
  expiringWithin6h: number;
  /** Records by status: needs-consent and failed (no longer renewed). */
  needsConsent: number;
  failedStatus: number;
}

export function summarizeReconcile(report: ReconcileReport): ReconcileSummary {
  return {
    ...report.counts,
    unindexed: report.unindexed,
    graphCalls: report.graphCalls,
    stoppedEarly: report.stoppedEarly,
    subscriptions: report.inventory.total,
    expiringWithin24h: report.inventory.expiringWithin24h,
    expiringWithin6h: report.inventory.expiringWithin6h,
    needsConsent: report.inventory.byStatus['needs-consent'],
    failedStatus: report.inventory.byStatus.failed,
  };
}

export class ReconcileScopeError extends Error {
  override readonly name = 'ReconcileScopeError';
}

export async function reconcile(ports: ReconcilePorts, options: ReconcileOptions): Promise<ReconcileReport> {
  if (options.connectionId !== undefined && options.integrationId === undefined) {
    throw new ReconcileScopeError('reconcile: a connection is named by its integration: give integrationId with connectionId');
  }
  const reconciliation = new Reconciliation(ports, options);
  const report = await reconciliation.run();
  ports.logger.info('reconcile finished', { dryRun: report.dryRun, ...summarizeReconcile(report) });
  return report;
}

/** A position in a full run: the integration, its pass, and the last key of the last page done in that pass. */
type Position = Omit<ReconcileCheckpoint, 'updatedAt'>;

/** Adds to the report: always to its counts, to its lists only when the run keeps details. */
class ReportWriter {
  readonly report: ReconcileReport;

  constructor(dryRun: boolean, private readonly details: boolean) {
    const empty = { create: 0, delete: 0, skipped: 0, keep: 0, created: 0, deleted: 0, failed: 0, deferred: 0, invalidDeclarations: 0, invalidItems: 0 };
    this.report = {
      dryRun,
      inventory: { total: 0, expiringWithin24h: 0, expiringWithin6h: 0, byStatus: { active: 0, 'needs-consent': 0, failed: 0 } },
      counts: empty,
      planned: { create: [], delete: [], skipped: [], keep: [] },
      created: [],
      deleted: [],
      failed: [],
      deferred: [],
      invalidDeclarations: [],
      invalidItems: [],
      unindexed: 0,
      graphCalls: 0,
      stoppedEarly: false,
    };
  }

  add<K extends keyof ReportLists>(list: K, ...entries: ReportLists[K][]): void {
    this.report.counts[list] += entries.length;
    if (this.details) this.listOf(list).push(...entries);
  }

  private listOf<K extends keyof ReportLists>(list: K): ReportLists[K][] {
    const { planned, created, deleted, failed, deferred, invalidDeclarations, invalidItems } = this.report;
    const lists: { [P in keyof ReportLists]: ReportLists[P][] } = { ...planned, created, deleted, failed, deferred, invalidDeclarations, invalidItems };
    return lists[list];
  }
}

class Reconciliation {
  private readonly out: ReportWriter;
  private readonly changes: ReconcileRun;
  private readonly pageSize: number;
  /** The base of the inventory's expiry windows. */
  private readonly startedAt: number;
  /** Integrations whose pass 1 found records to file in this run: their pass 2 waits for a later run. */
  private readonly filing = new Set<string>();

  constructor(
    private readonly ports: ReconcilePorts,
    private readonly options: ReconcileOptions,
  ) {
    this.out = new ReportWriter(options.dryRun, options.details ?? true);
    this.changes = new ReconcileRun(ports, options, this.out);
    this.pageSize = options.pageSize ?? RECONCILE_DEFAULTS.pageSize;
    this.startedAt = ports.clock.now();
  }

  async run(): Promise<ReconcileReport> {
    const { integrationId, connectionId } = this.options;
    let stopped = false;
    if (integrationId !== undefined && connectionId !== undefined) await this.reconcileConnection(integrationId, connectionId);
    else stopped = await this.reconcileAll();
    const { report } = this.out;
    report.stoppedEarly = stopped || report.counts.deferred > 0;
    return report;
  }

  /** One connection, by key: its item (GetItem) and its records (ByConnection index); nothing else is read. */
  private async reconcileConnection(integrationId: string, connectionId: string): Promise<void> {
    const [read, listed] = await Promise.all([this.readConnection(integrationId, connectionId), this.ports.store.listByConnection(integrationId, connectionId)]);
    this.reportInvalidItems(integrationId, [...(read.invalid === undefined ? [] : [read.invalid]), ...listed.invalidItems]);
    countInventory(this.out.report.inventory, listed.subscriptions, this.startedAt);
    await this.planAndApply({
      integrationId,
      // A removed connection (no item) plans the deletes of every record the index still lists for it.
      connections: read.connection === undefined ? [] : [read.connection],
      unreadableConnectionIds: read.invalid === undefined ? [] : [connectionId],
      subscriptions: listed.subscriptions,
      connectionId,
    });
  }

  private async readConnection(integrationId: string, connectionId: string): Promise<{ connection?: Connection; invalid?: { sk: string; reason: string } }> {
    try {
      const connection = await this.ports.connections.getConnection(integrationId, connectionId);
      return connection === undefined ? {} : { connection };
    } catch (error) {
      if (!(error instanceof StoreDataError)) throw error;
      return { invalid: { sk: keys.connection(integrationId, connectionId).sk, reason: error.message } };
    }
  }

  /** Every integration in scope, page by page, from the checkpoint if any. True if it stopped for lack of time. */
  private async reconcileAll(): Promise<boolean> {
    // Only a run over every integration that may write goes on from (and records) the scheduled runs' position.
    const checkpoint = this.options.integrationId === undefined && !this.options.dryRun ? this.ports.checkpoint : undefined;
    const resume = checkpoint === undefined ? { found: false } : await this.readCheckpoint(checkpoint);
    const integrationIds = this.options.integrationId !== undefined ? [this.options.integrationId] : await this.listIntegrationIds();
    const stoppedAt = await this.reconcilePages(integrationIds, resume.from);
    if (checkpoint !== undefined) {
      try {
        if (stoppedAt !== undefined) await checkpoint.put(stoppedAt);
        else if (resume.found) await checkpoint.clear();
      } catch (error) {
        // The changes are made; the next run starts from the old position (or the beginning) instead.
        this.ports.logger.error('reconcile checkpoint could not be written', { ...(stoppedAt ?? {}), error: describeError(error) });
      }
    }
    if (stoppedAt !== undefined) this.ports.logger.warn('reconcile stopped for lack of time: the next run goes on from here', { ...describePosition(stoppedAt) });
    return stoppedAt !== undefined;
  }

  private async readCheckpoint(checkpoint: ReconcileCheckpointStore): Promise<{ found: boolean; from?: ReconcileCheckpoint }> {
    try {
      const from = await checkpoint.get();
      return from === undefined ? { found: false } : { found: true, from };
    } catch (error) {
      if (!(error instanceof StoreDataError)) throw error;
      this.ports.logger.warn('reconcile checkpoint unreadable: starting from the first integration', { error: error.message });
      return { found: true };
    }
  }

  /** Where the run stopped for lack of time, or undefined if it got to the end. */
  private async reconcilePages(integrationIds: readonly string[], from: ReconcileCheckpoint | undefined): Promise<Position | undefined> {
    const steps = integrationIds.flatMap((integrationId) => RECONCILE_PHASES.map((phase) => ({ integrationId, phase })));
    const first = from === undefined ? 0 : resumeIndex(steps, from);
    for (const [index, { integrationId, phase }] of steps.entries()) {
      if (index < first || (phase === 'connections' && this.filing.has(integrationId))) continue;
      let after = index === first ? from?.after : undefined;
      do {
        const here: Position = { integrationId, phase, ...(after === undefined ? {} : { after }) };
        if (this.ports.clock.now() >= this.options.deadline) return here;
        const deferredBefore = this.out.report.counts.deferred;
        const next = phase === 'subscriptions' ? await this.subscriptionsPage(integrationId, after) : await this.connectionsPage(integrationId, after);
        // Changes of this page deferred for the deadline: the next run starts with this page again.
        if (this.out.report.counts.deferred > deferredBefore && this.outOfTime()) return here;
        after = next;
      } while (after !== undefined);
    }
    return undefined;
  }

  private outOfTime(): boolean {
    return this.ports.clock.now() + GRAPH_DEFAULTS.createSubscriptionTimeoutMs > this.options.deadline;
  }

  /** Pass 1: the inventory, records to file under their connection, and records whose connection is gone. */
  private async subscriptionsPage(integrationId: string, startKey: PageKey | undefined): Promise<PageKey | undefined> {
    const page = await this.ports.store.listByIntegrationPage(integrationId, { limit: this.pageSize, ...(startKey === undefined ? {} : { startKey }) });
    this.reportInvalidItems(integrationId, page.invalidItems);
    countInventory(this.out.report.inventory, page.subscriptions, this.startedAt);
    this.out.report.unindexed += page.unindexed.length;
    if (page.unindexed.length > 0) this.filing.add(integrationId);
    if (!this.options.dryRun) await this.fileUnindexed(integrationId, page.unindexed);
    const existing = await this.ports.connections.existingConnectionIds(integrationId, page.subscriptions.map((record) => record.connectionId));
    // The records of connections that exist are planned by pass 2, with their connection.
    const orphans = page.subscriptions.filter((record) => !existing.has(record.connectionId));
    if (orphans.length > 0) await this.planAndApply({ integrationId, connections: [], unreadableConnectionIds: [], subscriptions: orphans });
    return page.nextKey;
  }

  private async fileUnindexed(integrationId: string, unindexed: readonly { subscriptionId: string; connectionId: string }[]): Promise<void> {
    await mapConcurrent(unindexed, RECONCILE_DEFAULTS.pageReadConcurrency, async ({ subscriptionId, connectionId }) => {
      try {
        await this.ports.store.setConnectionKey(integrationId, subscriptionId, connectionId);
      } catch (error) {
        // The next full run finds it unindexed again.
        this.ports.logger.warn('subscription record could not be filed under its connection', { integrationId, connectionId, subscriptionId, error: describeError(error) });
      }
    });
    if (unindexed.length > 0) this.ports.logger.info('subscription records filed under their connection', { integrationId, count: unindexed.length });
  }

  /** Pass 2: a page of connections, each with its records found by key. */
  private async connectionsPage(integrationId: string, startKey: PageKey | undefined): Promise<PageKey | undefined> {
    const page = await this.ports.connections.listConnectionsPage(integrationId, { limit: this.pageSize, ...(startKey === undefined ? {} : { startKey }) });
    this.reportInvalidItems(integrationId, page.invalidItems);
    const unreadableConnectionIds = page.invalidItems.map((item) => item.sk.slice(keys.connectionPrefix.length));
    const listed = await mapConcurrent([...page.connections.map((c) => c.connectionId), ...unreadableConnectionIds], RECONCILE_DEFAULTS.pageReadConcurrency, (connectionId) =>
      this.ports.store.listByConnection(integrationId, connectionId),
    );
    // Their invalid items are not reported again: pass 1 reads every record of the integration.
    await this.planAndApply({ integrationId, connections: page.connections, unreadableConnectionIds, subscriptions: listed.flatMap((l) => l.subscriptions) });
    return page.nextKey;
  }

  private async planAndApply(input: PlanInput): Promise<void> {
    const plan = planReconcile(input);
    this.out.add('create', ...plan.create);
    this.out.add('delete', ...plan.delete);
    this.out.add('skipped', ...plan.skipped);
    this.out.add('keep', ...plan.keep);
    this.out.add('invalidDeclarations', ...plan.invalidDeclarations);
    for (const invalid of plan.invalidDeclarations) this.ports.logger.warn('invalid subscription declaration ignored', { ...invalid });
    if (this.options.dryRun) return;
    await this.changes.apply(plan);
    if (input.connectionId !== undefined) {
      // A connection change may have just declared `;resync` on a subscription that exists: it needs a baseline.
      const now = new Date(this.ports.clock.now());
      const declared = plan.keep.filter((kept) => kept.resync === true && kept.status === 'active');
      await askForResyncs(this.ports.resync, declared.map((kept) => resyncJob(kept.integrationId, kept.subscriptionId, 'declared', now)), this.ports.logger);
    }
  }

  private reportInvalidItems(integrationId: string, items: readonly { sk: string; reason: string }[]): void {
    for (const { sk, reason } of items) {
      this.ports.logger.warn('item skipped: it does not parse', { integrationId, sk, reason });
      this.out.add('invalidItems', { integrationId, sk, reason });
    }
  }

  private async listIntegrationIds(): Promise<string[]> {
    const { integrations, invalidItems } = await this.ports.connections.listIntegrations();
    this.reportInvalidItems('', invalidItems);
    return integrations.map((integration) => integration.integrationId);
  }
}

/**
 * The step to resume at: the checkpoint's own, or, if its integration is gone, the next integration's first (ids
 * are ASCII, so JavaScript orders them as DynamoDB orders their keys), or the very first after the last one.
 */
function resumeIndex(steps: readonly { integrationId: string; phase: ReconcilePhase }[], from: ReconcileCheckpoint): number {
  const exact = steps.findIndex((step) => step.integrationId === from.integrationId && step.phase === from.phase);
  if (exact !== -1) return exact;
  const next = steps.findIndex((step) => step.integrationId > from.integrationId);
  return next === -1 ? 0 : next;
}

function describePosition(position: Position): Record<string, string> {
  return { integrationId: position.integrationId, phase: position.phase, ...(position.after === undefined ? {} : { after: position.after.sk }) };
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

type Failure = Omit<FailedChange, 'change'>;

/** A failure that the rest of the tenant's (or the integration's) changes share, without a call of their own. */
type SharedOutcome = { kind: 'failed'; failure: Failure } | { kind: 'deferred' };

/** Applies planned changes; failures of a whole integration (no credentials) are remembered across pages. */
class ReconcileRun {
  private readonly integrationFailures = new Map<string, Failure>();
  private consent: ConnectionConsent;
  /** Writes of create failures (and their clearing) started by this run: awaited with the consent marks. */
  private readonly failureWrites: Promise<void>[] = [];

  constructor(
    private readonly ports: ReconcilePorts,
    private readonly options: ReconcileOptions,
    private readonly out: ReportWriter,
  ) {
    this.consent = new ConnectionConsent(ports);
  }

  private get report(): ReconcileReport {
    return this.out.report;
  }

  async apply(plan: ReconcilePlan): Promise<void> {
    // Creates first: a declaration edited from one form to another briefly has both, rather than neither.
    const changes: PlannedChange[] = [...plan.create, ...plan.delete];
    if (changes.length === 0) return;
    this.consent = new ConnectionConsent(this.ports);
    await mapConcurrent(groupByTenant(changes), this.options.tenantConcurrency ?? 4, (group) => this.applyGroup(group));
    await Promise.all([this.consent.settled(), ...this.failureWrites]);
  }

  private async applyGroup(group: readonly PlannedChange[]): Promise<void> {
    let shared: SharedOutcome | undefined;
    for (const change of group) {
      const integrationFailure = this.integrationFailures.get(change.integrationId);
      const outcome: SharedOutcome | undefined = integrationFailure !== undefined ? { kind: 'failed', failure: integrationFailure } : shared;
      if (outcome?.kind === 'failed') this.fail(change, outcome.failure);
      else if (outcome?.kind === 'deferred') this.out.add('deferred', change);
      else shared = await this.applyOne(change);
    }
  }

  /** Applies one change; returns an outcome the rest of the group shares, if the failure was tenant-wide. */
  private async applyOne(change: PlannedChange): Promise<SharedOutcome | undefined> {
    const budget = change.action === 'create' ? GRAPH_DEFAULTS.createSubscriptionTimeoutMs : GRAPH_DEFAULTS.requestTimeoutMs;
    if (this.ports.clock.now() + budget > this.options.deadline) {
      this.out.add('deferred', change);
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
    let clientStateKey: string;
    try {
      ({ clientState, clientStateKey } = newSubscriptionClientState(await this.ports.webhookSecretOf(change.integrationId), change.integrationId, change.tenantId));
    } catch (error) {
      const failure: Failure = { reason: 'missing-credentials', message: describeError(error) };
      this.integrationFailures.set(change.integrationId, failure);
      this.fail(change, failure);
      return;
    }
    let encryption;
    if (change.includeResourceData === true) {
      try {
        encryption = await currentEncryptionCertificate(this.ports, change.integrationId, { now: new Date(this.ports.clock.now()) });
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
      await this.ports.store.put({ integrationId, connectionId, tenantId, resource, changeTypes, ...rich, clientStateKey, subscriptionId: created.id, expiresAt, status: 'active' });
    } catch (error) {
      await this.undoCreate(change, graph, created.id);
      this.fail(change, { reason: 'store-error', message: `subscription ${created.id} was created but could not be recorded (deleted again): ${describeError(error)}` });
      return;
    }
    this.ports.logger.info('subscription created', { ...ids(change), subscriptionId: created.id, expiresAt });
    if (change.lastFailure !== undefined) this.writeFailure(change, (store, declaration) => store.clearCreateFailure(change.integrationId, change.connectionId, declaration));
    if (change.resync === true) {
      // A baseline, or, when the declaration had a subscription before (a recreation), a catch-up from its delta link.
      await askForResyncs(this.ports.resync, [resyncJob(change.integrationId, created.id, 'created', now)], this.ports.logger);
    }
    this.out.add('created', { ...change, subscriptionId: created.id, expiresAt });
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
    const declaration = declarationKey(change);
    await this.ports.resyncStates?.delete({ integrationId: change.integrationId, connectionId: change.connectionId, declaration }).catch((error: unknown) => {
      this.ports.logger.warn('resync state of a deleted subscription not removed', { ...ids(change), declaration, error: describeError(error) });
    });
    this.out.add('deleted', { ...change, atGraph });
  }

  private afterError(change: PlannedChange, error: unknown): SharedOutcome | undefined {
    if (error instanceof RequestNotSentError) {
      // This region lost the Graph writer lease (shared/leadership/): nothing was sent, the writer does the change.
      this.ports.logger.warn('reconcile change not sent: left for the Graph writer', { ...ids(change), error: error.message });
      this.out.add('deferred', change);
      return { kind: 'deferred' };
    }
    if (error instanceof GraphThrottledError || (error instanceof TokenRequestError && error.kind === 'throttled')) {
      this.ports.logger.warn('reconcile throttled past the deadline: left for the next run', { ...ids(change) });
      this.out.add('deferred', change);
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
    // The logger drops a field named `message` (a key it reserves): Graph's message goes in `error`, as renewal logs it.
    const { message, ...rest } = failure;
    this.ports.logger.warn(`reconcile ${change.action} failed`, { ...ids(change), ...rest, error: message });
    this.out.add('failed', { change, ...failure });
    // Awaited once the run's changes are done (reconcile), so a slow write holds up no other change.
    if (change.action === 'create' && failure.reason === 'needs-consent') void this.consent.markNeedsConsent(change, failure.message);
    if (change.action === 'create') {
      this.writeFailure(change, (store, declaration) => store.recordCreateFailure(change.integrationId, change.connectionId, declaration, failure.message));
    }
  }

  /** Records or clears a declaration's create failure; never fails the run (a failed write is logged). */
  private writeFailure(change: PlannedCreate, write: (store: NonNullable<ReconcilePorts['createFailures']>, declaration: string) => Promise<boolean>): void {
    const store = this.ports.createFailures;
    if (store === undefined) return;
    const declaration = declarationKey(change);
    this.failureWrites.push(
      write(store, declaration).then(
        () => undefined,
        (error: unknown) => this.ports.logger.warn('create failure of a declaration not recorded on its connection', { ...ids(change), declaration, error: describeError(error) }),
      ),
    );
  }
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
