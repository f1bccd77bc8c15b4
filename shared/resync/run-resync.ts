/**
 * One catch-up run for one subscription: reads the resource's Graph delta query page by page and publishes every
 * object it returns as an ordinary `Graph Change Notification` for the subscription's connection, so consumers that
 * only listen to the bus never miss a change ("Use delta query to track changes in Microsoft Graph data",
 * https://learn.microsoft.com/graph/delta-query-overview).
 *
 * What a run does is decided from the declaration's resync state (shared/store/resync-checkpoints.ts), not from
 * the trigger alone:
 * - a run in progress (a deadline or a crash stopped it) goes on from its next link: the page whose events were
 *   published last is never read again, and a page is checkpointed only after its events are on the bus, so a crash
 *   re-sends at most the one page it was publishing;
 * - `full` (asked for), or no delta link yet when changes are known to be missed: a full round from the first
 *   request, publishing every current object;
 * - a delta link: an incremental round from it, publishing what changed since;
 * - a subscription just created with no delta link: a baseline (`$deltatoken=latest` / `token=latest` where Graph
 *   has it, otherwise a full round read to its end), publishing nothing.
 * Every round ends with Graph's `@odata.deltaLink`, stored for the next run. A delta link Graph no longer honours
 * (410 Gone, `SyncStateNotFound`, `resyncRequired`, …) turns an incremental run into a full one.
 *
 * `@removed` entries are published with changeType `deleted`, everything else `updated`; `resourceData` is the
 * object as the delta query returned it; `metadata.origin` is `resync`. Idempotency keys follow the intake's rule
 * (contract.ts idempotencyKey), so the same object state read twice has the same key. A full run re-sends objects
 * consumers may already have. One `Graph Subscription Resynced` event summarises each run that published.
 *
 * Graph's 429s are met by the Graph client (Retry-After within the deadline); one that would pass the deadline ends
 * the run as `throttled` with its checkpoint saved, to go on after Retry-After.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { fitForBus } from '../events/bus-fit';
import { relayRegionOf } from '../config/relay-region';
import { buildEvents, idempotencyKey, type EventEntry } from '../events/contract';
import type { PayloadStore } from '../events/payload-store';
import type { EventPublisher } from '../events/publisher';
import { RESYNC_DETAIL_TYPE, subscriptionIdentity, type ResyncedEventEntry } from '../events/subscription-events';
import type { ChangeNotification } from '../graph/change-notification';
import { deltaRequestFor, type DeltaRequest } from '../graph/delta-queries';
import { GraphRequestError, GraphThrottledError, type GraphClientStats, type GraphRequest } from '../graph/graph-client';
import { GRAPH_DEFAULTS } from '../graph/graph-config';
import { TokenRequestError } from '../graph/token-client';
import { InvalidAppCredentialsError, MissingAppCredentialsError } from '../secrets/app-credentials';
import type { ConnectionsStore } from '../store/connections-store';
import {
  describeKey,
  ResyncLeaseLostError,
  type FullReason,
  type ResyncKey,
  type ResyncLastRun,
  type ResyncRunMode,
  type ResyncRunState,
  type ResyncState,
  type ResyncStateStore,
} from '../store/resync-checkpoints';
import type { SubscriptionRecord, SubscriptionsStore } from '../store/subscriptions-store';
import { declarationKey, parseDeclarations } from '../subscriptions/declarations';
import { errorMessage } from '../util/errors';
import type { ResyncJob } from './resync-job';

/** The Graph calls a run makes (GraphClient implements them). */
export interface DeltaGraph {
  request(input: GraphRequest): Promise<unknown>;
  stats(): GraphClientStats;
}

export interface ResyncLogger {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

/** After each page: what a CLI shows as progress. */
export interface ResyncProgress {
  mode: ResyncRunMode;
  pages: number;
  objects: number;
}

export interface ResyncPorts {
  subscriptions: Pick<SubscriptionsStore, 'get'>;
  connections: Pick<ConnectionsStore, 'getConnection' | 'getIntegration'>;
  states: ResyncStateStore;
  /** The integration's Graph client. @throws MissingAppCredentialsError / InvalidAppCredentialsError */
  graphFor(integrationId: string): Promise<DeltaGraph>;
  /** Change events (`Graph Change Notification`, origin resync). */
  publisher: EventPublisher<EventEntry>;
  /** The run's `Graph Subscription Resynced` event. */
  summaries: { publish(events: readonly ResyncedEventEntry[]): Promise<unknown> };
  /** Where events over 256 KB are stored (the event then carries payloadRef); without it they are not published. */
  payloads?: PayloadStore | undefined;
  eventSource: string;
  /**
   * This deployment's region, which every change event names (`metadata.region`, `payloadRef.region`). Default:
   * the environment's (RELAY_REGION, else AWS_REGION); left out of the events when neither is set.
   */
  region?: string | undefined;
  logger: ResyncLogger;
  /** Epoch ms; the same clock as `deadline`. */
  clock: { now(): number };
  onProgress?: (progress: ResyncProgress) => void;
}

export interface ResyncOptions {
  /** Epoch ms: no page is started that could not be read and published by then. */
  deadline: number;
  /** Time a page needs (Graph's answer and the publish). Default: the Graph client's timeout + 5 s. */
  pageBudgetMs?: number;
  /** Lease owner; default a random id. */
  owner?: string;
}

/** Why a job needs no run. */
export type ResyncSkipReason = 'baseline-exists' | 'subscription-gone' | 'subscription-inactive' | 'connection-gone' | 'not-declared' | 'no-delta-query' | 'integration-gone';

export interface ResyncCounts {
  mode: ResyncRunMode;
  fullReason?: FullReason;
  pages: number;
  changed: number;
  deleted: number;
  /** Objects that can never be published (too large and no payload bucket): logged, not counted in `changed`. */
  unpublishable: number;
  throttled: number;
  resumed: number;
  durationMs: number;
}

export type ResyncResult =
  | ({ outcome: 'completed' } & ResyncCounts)
  /** Stopped at the deadline with its checkpoint saved: ask again (trigger `continued`). */
  | ({ outcome: 'continued' } & ResyncCounts)
  /** Graph throttled past the deadline; checkpoint saved: ask again after `retryAfterMs`. */
  | ({ outcome: 'throttled'; retryAfterMs: number } & ResyncCounts)
  /** Another run holds this declaration's resync: ask again later (it may be over by then). */
  | { outcome: 'busy' }
  | { outcome: 'skipped'; reason: ResyncSkipReason; detail: string }
  /** `retry`: a transient failure (Graph 5xx, the bus, the table) worth another attempt from the checkpoint. */
  | ({ outcome: 'failed'; retry: boolean; error: string } & Partial<ResyncCounts>);

/** How much longer than its deadline a run's lease lasts: a crashed run's lease expires soon after. */
export const RESYNC_LEASE_GRACE_MS = 60_000;

/** A resync round restarted this many times in one run (expired links) is failed rather than looped. */
const MAX_RESTARTS = 3;

const pageSchema = z.looseObject({
  value: z.array(z.unknown()),
  '@odata.nextLink': z.string().min(1).optional(),
  '@odata.deltaLink': z.string().min(1).optional(),
});

/**
 * Graph's answers that mean "this delta link or next link is no longer valid: start over":
 * 410 Gone (directory objects: `resyncRequired` with a Location, https://learn.microsoft.com/graph/delta-query-overview;
 * drive items: `resyncRequired`, `resyncChangesApplyDifferences`, `resyncChangesUploadDifferences`,
 * https://learn.microsoft.com/graph/api/driveitem-delta), Outlook's `SyncStateNotFound` / `SyncStateInvalid`, and a
 * 400 `badRequest` naming an invalid or expired token (seen from list items and Teams).
 */
export function isExpiredDeltaState(error: unknown): boolean {
  if (!(error instanceof GraphRequestError)) return false;
  if (error.status === 410) return true;
  if (/^(syncStateNotFound|syncStateInvalid|resyncRequired|resyncChanges\w*|invalidDeltaToken|deltaTokenExpired)$/i.test(error.code)) return true;
  return error.status === 400 && /(delta|sync|skip)\s*token/i.test(error.message) && /(invalid|expired|not valid)/i.test(error.message);
}

export async function runResync(ports: ResyncPorts, job: ResyncJob, options: ResyncOptions): Promise<ResyncResult> {
  const record = await ports.subscriptions.get(job.integrationId, job.subscriptionId);
  if (record === undefined) return skipped('subscription-gone', `subscription ${job.subscriptionId} is not recorded (deleted or replaced since)`);
  if (record.status !== 'active') return skipped('subscription-inactive', `subscription ${job.subscriptionId} is ${record.status}${record.lastError === undefined ? '' : `: ${record.lastError}`}`);
  const connection = await ports.connections.getConnection(record.integrationId, record.connectionId);
  if (connection === undefined) return skipped('connection-gone', `connection ${record.connectionId} no longer exists`);
  const declaration = declarationOf(record);
  const declared = parseDeclarations(connection.subscriptions ?? []).declarations.find((d) => declarationKey(d) === declaration);
  if (declared?.resync !== true) {
    // Declared once and switched off since: its state is of no use any more.
    await ports.states.delete({ integrationId: record.integrationId, connectionId: record.connectionId, declaration }).catch((error: unknown) => {
      ports.logger.warn('resync state not removed', { integrationId: record.integrationId, connectionId: record.connectionId, declaration, error: errorMessage(error) });
    });
    return skipped('not-declared', `connection ${record.connectionId} does not declare "${declaration};resync"`);
  }
  const delta = deltaRequestFor(record.resource, new Date(ports.clock.now()));
  if (!delta.supported) return skipped('no-delta-query', delta.message);
  const integration = await ports.connections.getIntegration(record.integrationId);
  if (integration === undefined) return skipped('integration-gone', `integration ${record.integrationId} no longer exists`);

  const key: ResyncKey = { integrationId: record.integrationId, connectionId: record.connectionId, declaration };
  const owner = options.owner ?? randomUUID();
  const leaseUntil = () => new Date(Math.max(options.deadline, ports.clock.now()) + RESYNC_LEASE_GRACE_MS);
  const state = await ports.states.acquire(key, { subscriptionId: record.subscriptionId, tenantId: record.tenantId, resource: record.resource }, { owner, until: leaseUntil(), now: new Date(ports.clock.now()) });
  if (state === undefined) return { outcome: 'busy' };

  const region = ports.region ?? relayRegionOf(process.env);
  const run = new ResyncRun(ports, options, { job, record, delta, key, owner, provider: integration.provider, region, leaseUntil });
  try {
    return await run.execute(state);
  } catch (error) {
    // Another run took the lease over (this one outlived it): that run goes on from the checkpoint.
    if (error instanceof ResyncLeaseLostError) return { outcome: 'busy' };
    throw error;
  } finally {
    await ports.states.release(key, owner).catch((error: unknown) => {
      ports.logger.warn('resync lease not released; it expires by itself', { ...describe(key), error: errorMessage(error) });
    });
  }
}

function skipped(reason: ResyncSkipReason, detail: string): ResyncResult {
  return { outcome: 'skipped', reason, detail };
}

/** The declaration a record was created for: the key of its resource, change types and richness. */
export function declarationOf(record: Pick<SubscriptionRecord, 'resource' | 'changeTypes' | 'includeResourceData'>): string {
  return declarationKey(record);
}

interface RunContext {
  job: ResyncJob;
  record: SubscriptionRecord;
  delta: DeltaRequest;
  key: ResyncKey;
  owner: string;
  provider: string;
  /** What the events name as their region, when known. */
  region: string | undefined;
  leaseUntil: () => Date;
}

class ResyncRun {
  private readonly startedAt: number;
  private unpublishable = 0;
  private restarts = 0;
  private graph: DeltaGraph | undefined;
  private throttledAtStart = 0;

  constructor(
    private readonly ports: ResyncPorts,
    private readonly options: ResyncOptions,
    private readonly context: RunContext,
  ) {
    this.startedAt = ports.clock.now();
  }

  async execute(state: ResyncState): Promise<ResyncResult> {
    const { ports, context } = this;
    if (context.job.trigger === 'declared' && state.deltaLink !== undefined && state.run === undefined) {
      return { outcome: 'skipped', reason: 'baseline-exists', detail: `a baseline of ${state.deltaLinkAt ?? 'unknown age'} exists` };
    }
    let run = this.chooseRun(state);
    try {
      this.graph = await ports.graphFor(context.record.integrationId);
    } catch (error) {
      if (error instanceof MissingAppCredentialsError || error instanceof InvalidAppCredentialsError) return this.fail(run, error, false);
      throw error;
    }
    this.throttledAtStart = count429(this.graph);
    await this.save({ run });
    const pageBudgetMs = this.options.pageBudgetMs ?? GRAPH_DEFAULTS.requestTimeoutMs + 5_000;

    for (;;) {
      if (ports.clock.now() + pageBudgetMs > this.options.deadline) {
        ports.logger.info('resync stopped at its deadline; it goes on from its checkpoint', { ...this.fields(run) });
        return { outcome: 'continued', ...this.counts(run) };
      }
      let page: z.infer<typeof pageSchema>;
      try {
        const body = await this.graph.request({ method: 'GET', path: run.next, tenantId: context.record.tenantId, deadline: this.options.deadline });
        const parsed = pageSchema.safeParse(body);
        if (!parsed.success) return await this.fail(run, new Error(`Graph answered ${run.mode === 'incremental' ? 'the delta link' : 'a delta request'} with something that is not a delta page`), false);
        page = parsed.data;
      } catch (error) {
        if (isExpiredDeltaState(error)) {
          const restarted = this.restart(run, error);
          if (restarted === undefined) return await this.fail(run, error, false);
          run = restarted;
          await this.save({ run });
          continue;
        }
        if (error instanceof GraphThrottledError || (error instanceof TokenRequestError && error.kind === 'throttled')) {
          run = { ...run, throttled: run.throttled + this.newThrottles() };
          await this.save({ run });
          const retryAfterMs = error instanceof GraphThrottledError ? error.retryAfterMs : (error.retryAfterMs ?? 60_000);
          ports.logger.warn('resync throttled by Graph past its deadline; it goes on from its checkpoint', { ...this.fields(run), retryAfterMs });
          return { outcome: 'throttled', retryAfterMs, ...this.counts(run) };
        }
        if (error instanceof GraphRequestError) {
          // 401/403 (consent), 404 (the resource is gone) and other 4xx are refused the same way next time.
          const transient = error.status === undefined || error.status >= 500;
          return await this.fail(run, error, transient);
        }
        // The token endpoint unreachable is worth another try; consent or credentials need the operator.
        if (error instanceof TokenRequestError) return await this.fail(run, error, error.kind === 'unavailable');
        throw error;
      }

      const published = run.mode === 'baseline' ? { changed: 0, deleted: 0 } : await this.publishPage(page.value);
      const next = page['@odata.nextLink'];
      const deltaLink = page['@odata.deltaLink'];
      const done: ResyncRunState = {
        ...run,
        pages: run.pages + 1,
        changed: run.changed + published.changed,
        deleted: run.deleted + published.deleted,
        throttled: run.throttled + this.newThrottles(),
      };
      ports.onProgress?.({ mode: done.mode, pages: done.pages, objects: done.changed + done.deleted });
      if (deltaLink !== undefined) return await this.finish(done, deltaLink);
      if (next === undefined) return await this.fail(done, new Error('Graph answered a delta page with neither @odata.nextLink nor @odata.deltaLink'), false);
      run = { ...done, next };
      await this.save({ run });
    }
  }

  /** What this run does, from the stored state and the job. */
  private chooseRun(state: ResyncState): ResyncRunState {
    const { job, delta } = this.context;
    const now = new Date(this.ports.clock.now()).toISOString();
    const fresh = (mode: ResyncRunMode, next: string, fullReason?: FullReason): ResyncRunState => ({
      mode,
      trigger: job.trigger,
      ...(fullReason === undefined ? {} : { fullReason }),
      next,
      startedAt: now,
      pages: 0,
      changed: 0,
      deleted: 0,
      throttled: 0,
      resumed: 0,
    });
    const inProgress = state.run;
    if (inProgress !== undefined && !(job.full === true && inProgress.mode !== 'full')) {
      // A full request during a baseline or incremental run starts a full one; anything else goes on.
      return { ...inProgress, resumed: inProgress.resumed + 1 };
    }
    if (job.full === true) return fresh('full', delta.path, 'requested');
    if (state.deltaLink !== undefined) return fresh('incremental', state.deltaLink);
    // A new subscription with nothing to go on from: remember where Graph is now. Any other trigger means changes
    // were missed and there is no baseline to catch up from: every current object is sent.
    if (job.trigger === 'created' || job.trigger === 'declared') return fresh('baseline', delta.baselinePath ?? delta.path);
    return fresh('full', delta.path, 'no-baseline');
  }

  /** After an expired link: the round starts over (an incremental one as full). Undefined after too many restarts. */
  private restart(run: ResyncRunState, error: unknown): ResyncRunState | undefined {
    this.restarts += 1;
    if (this.restarts > MAX_RESTARTS) return undefined;
    const { delta } = this.context;
    this.ports.logger.warn('resync state expired at Graph: the round starts over', { ...this.fields(run), error: errorMessage(error) });
    if (run.mode === 'baseline') return { ...run, next: delta.baselinePath ?? delta.path };
    return { ...run, mode: 'full', fullReason: run.mode === 'incremental' ? 'expired' : (run.fullReason ?? 'expired'), next: delta.path };
  }

  /** Publishes one page's objects (payloads over 256 KB stored first); throws when the bus refused any. */
  private async publishPage(objects: readonly unknown[]): Promise<{ changed: number; deleted: number }> {
    const { ports, context } = this;
    const { record } = context;
    const receivedAt = new Date(ports.clock.now()).toISOString();
    const events: EventEntry[] = [];
    const stored: { key: string; body: string; sha256: string }[] = [];
    const seen = new Set<string>();
    let changed = 0;
    let deleted = 0;
    for (const object of objects) {
      if (typeof object !== 'object' || object === null || Array.isArray(object)) continue;
      const data = object as Record<string, unknown>;
      const id = data['id'];
      if (typeof id !== 'string' || id === '') {
        ports.logger.warn('delta object without an id skipped', { ...describe(context.key) });
        continue;
      }
      const removed = data['@removed'] !== undefined;
      const notification: ChangeNotification = {
        subscriptionId: record.subscriptionId,
        tenantId: record.tenantId,
        changeType: removed ? 'deleted' : 'updated',
        resource: context.delta.objectResource(id, data),
        resourceData: data,
      };
      const key = idempotencyKey(record.integrationId, notification);
      if (seen.has(key)) continue;
      seen.add(key);
      const built = buildEvents({
        source: ports.eventSource,
        provider: context.provider,
        integrationId: record.integrationId,
        notification,
        idempotencyKey: key,
        connectionIds: [record.connectionId],
        receivedAt,
        origin: 'resync',
        region: context.region,
      });
      const fit = fitForBus(built, {
        integrationId: record.integrationId,
        idempotencyKey: key,
        region: context.region,
        sizeOf: (event) => ports.publisher.sizeOf(event),
        payloads: ports.payloads,
      });
      if (!fit.fits) {
        this.unpublishable += 1;
        ports.logger.error(fit.reason === 'no-payload-store' ? 'resync object too large for EventBridge and no payload bucket configured' : 'resync object too large for EventBridge even reduced', {
          ...describe(context.key),
          objectId: id,
          bytes: fit.bytes,
        });
        continue;
      }
      events.push(...fit.events);
      stored.push(...fit.stored);
      if (removed) deleted += 1;
      else changed += 1;
    }
    // Full details are stored before their events go on the bus, so a consumer can always fetch them.
    const payloads = ports.payloads;
    if (payloads !== undefined) await Promise.all(stored.map((object) => payloads.put(object)));
    if (events.length > 0) await ports.publisher.publish(events);
    return { changed, deleted };
  }

  private async finish(run: ResyncRunState, deltaLink: string): Promise<ResyncResult> {
    const { ports } = this;
    const finishedAt = ports.clock.now();
    const counts = this.counts(run, finishedAt);
    const lastRun = lastRunOf(run, 'completed', finishedAt, counts);
    await this.save({ run: null, deltaLink, deltaLinkAt: new Date(finishedAt).toISOString(), lastRun });
    ports.logger.info(run.mode === 'baseline' ? 'resync baseline taken' : 'resync finished', { ...this.fields(run), durationMs: counts.durationMs, unpublishable: this.unpublishable });
    if (run.mode !== 'baseline') await this.publishSummary(run, counts, finishedAt);
    return { outcome: 'completed', ...counts };
  }

  private async publishSummary(run: ResyncRunState, counts: ResyncCounts, finishedAt: number): Promise<void> {
    const { ports, context } = this;
    const { record } = context;
    const detail = {
      ...subscriptionIdentity(context.provider, record),
      trigger: run.trigger,
      mode: run.mode === 'full' ? ('full' as const) : ('incremental' as const),
      ...(run.fullReason === undefined ? {} : { fullReason: run.fullReason }),
      objects: run.changed + run.deleted,
      changed: run.changed,
      deleted: run.deleted,
      pages: run.pages,
      throttled: run.throttled,
      resumed: run.resumed,
      startedAt: run.startedAt,
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: counts.durationMs,
      occurredAt: new Date(finishedAt).toISOString(),
    };
    try {
      await ports.summaries.publish([{ source: ports.eventSource, detailType: RESYNC_DETAIL_TYPE, detail }]);
    } catch (error) {
      ports.logger.error('Graph Subscription Resynced event not published', { ...this.fields(run), error: errorMessage(error) });
    }
  }

  private async fail(run: ResyncRunState, error: unknown, retry: boolean): Promise<ResyncResult> {
    const { ports } = this;
    const finishedAt = ports.clock.now();
    const counts = this.counts(run, finishedAt);
    const message = errorMessage(error);
    const lastRun: ResyncLastRun = { ...lastRunOf(run, 'failed', finishedAt, counts), error: message.slice(0, 500) };
    // A transient failure keeps the run, so the retry goes on from its checkpoint; a lasting one drops it.
    await this.save({ run: retry ? run : null, lastRun }).catch((saveError: unknown) => {
      ports.logger.warn('resync failure not recorded', { ...this.fields(run), error: errorMessage(saveError) });
    });
    ports.logger.error(retry ? 'resync failed; it is tried again from its checkpoint' : 'resync failed', { ...this.fields(run), error: message });
    return { outcome: 'failed', retry, error: message, ...counts };
  }

  private async save(changes: Parameters<ResyncStateStore['save']>[2]): Promise<void> {
    await this.ports.states.save(this.context.key, { owner: this.context.owner, until: this.context.leaseUntil() }, changes);
  }

  /** 429s the client met since the run (or its last count) began. */
  private newThrottles(): number {
    if (this.graph === undefined) return 0;
    const now = count429(this.graph);
    const fresh = Math.max(0, now - this.throttledAtStart);
    this.throttledAtStart = now;
    return fresh;
  }

  private counts(run: ResyncRunState, at = this.ports.clock.now()): ResyncCounts {
    return {
      mode: run.mode,
      ...(run.fullReason === undefined ? {} : { fullReason: run.fullReason }),
      pages: run.pages,
      changed: run.changed,
      deleted: run.deleted,
      unpublishable: this.unpublishable,
      throttled: run.throttled,
      resumed: run.resumed,
      durationMs: Math.max(0, Math.round(at - this.startedAt)),
    };
  }

  private fields(run: ResyncRunState): Record<string, unknown> {
    const { record, job } = this.context;
    return {
      ...describe(this.context.key),
      subscriptionId: record.subscriptionId,
      tenantId: record.tenantId,
      trigger: job.trigger,
      mode: run.mode,
      pages: run.pages,
      objects: run.changed + run.deleted,
    };
  }
}

function count429(graph: DeltaGraph): number {
  return graph.stats().requests['GET 429'] ?? 0;
}

/** What the state keeps of a finished run: the CLI shows it and the periodic sweep dates the last catch-up by it. */
function lastRunOf(run: ResyncRunState, outcome: ResyncLastRun['outcome'], finishedAt: number, counts: ResyncCounts): ResyncLastRun {
  return { trigger: run.trigger, mode: run.mode, outcome, finishedAt: new Date(finishedAt).toISOString(), objects: run.changed + run.deleted, pages: run.pages, durationMs: counts.durationMs };
}

function describe(key: ResyncKey): Record<string, unknown> {
  return { integrationId: key.integrationId, connectionId: key.connectionId, declaration: key.declaration, resync: describeKey(key) };
}

export { ResyncLeaseLostError };
