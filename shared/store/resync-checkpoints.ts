/**
 * Where a `;resync` declaration's catch-up stands: one human-readable item per (connection, declaration) in the
 * connections table, `INTEGRATION#<id>` / `RESYNC#<connectionId>#<declaration>` (items.ts), holding
 * - the delta link of the last finished round and when it was taken (the baseline's age, shown by doctor);
 * - the run in progress, if any: its next request (a nextLink), so a timeout or a crash goes on from the last page
 *   whose events were published, and its counts so far;
 * - the last run's outcome;
 * - a lease (`leaseOwner`, `leaseUntil`): one run at a time, and every write of a run is conditional on still
 *   holding it (fencing: a run that lost its lease cannot move the checkpoint).
 * The table's stream filter passes only connection items, so these writes never wake the reconciler.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { RESYNC_TRIGGERS, type ResyncTrigger } from '../resync/resync-job';
import { StoreDataError } from './connections-store';
import { connectionIdSchema, integrationIdSchema, keys } from './items';
import type { PageKey } from './page-key';

/** Which declaration's state: the checkpoint outlives the subscriptions created for it. */
export interface ResyncKey {
  integrationId: string;
  connectionId: string;
  /** declarationKey() of the declaration. */
  declaration: string;
}

export const RESYNC_RUN_MODES = ['baseline', 'full', 'incremental'] as const;
export type ResyncRunMode = (typeof RESYNC_RUN_MODES)[number];
export const FULL_REASONS = ['requested', 'no-baseline', 'expired'] as const;
export type FullReason = (typeof FULL_REASONS)[number];

export interface ResyncRunState {
  /** `baseline`: pages are read, nothing is published; the others publish every object they read. */
  mode: ResyncRunMode;
  trigger: ResyncTrigger;
  fullReason?: FullReason;
  /** The request that comes next: the round's first request, or the nextLink of the last page done. */
  next: string;
  startedAt: string;
  pages: number;
  changed: number;
  deleted: number;
  throttled: number;
  /** Times it went on from this checkpoint. */
  resumed: number;
}

export interface ResyncLastRun {
  trigger: ResyncTrigger;
  mode: ResyncRunMode;
  outcome: 'completed' | 'failed';
  finishedAt: string;
  objects: number;
  pages: number;
  durationMs: number;
  /** One line: why it failed. */
  error?: string;
}

export interface ResyncState extends ResyncKey {
  /** The subscription the last run published for (the current one after a recreation). */
  subscriptionId: string;
  tenantId: string;
  resource: string;
  /** Graph's `@odata.deltaLink` of the last finished round: the next incremental run starts there. */
  deltaLink?: string;
  deltaLinkAt?: string;
  run?: ResyncRunState;
  lastRun?: ResyncLastRun;
  leaseOwner?: string;
  leaseUntil?: string;
  updatedAt: string;
}

export interface ResyncStateChanges {
  /** `null` removes the run (finished or abandoned). */
  run?: ResyncRunState | null;
  deltaLink?: string;
  deltaLinkAt?: string;
  lastRun?: ResyncLastRun;
}

/** The lease is held by another run, or was lost: this run must stop writing. */
export class ResyncLeaseLostError extends Error {
  override readonly name = 'ResyncLeaseLostError';
}

export interface ResyncStateStore {
  /** @throws StoreDataError when the item does not parse. */
  get(key: ResyncKey): Promise<ResyncState | undefined>;
  /**
   * Takes the lease (creating the item if there is none) when it is free, expired or already `owner`'s, and
   * records which subscription the run is for. Undefined: another run holds it.
   */
  acquire(key: ResyncKey, seed: { subscriptionId: string; tenantId: string; resource: string }, lease: { owner: string; until: Date; now: Date }): Promise<ResyncState | undefined>;
  /** Writes a run's progress and extends its lease. @throws ResyncLeaseLostError when `owner` no longer holds it. */
  save(key: ResyncKey, lease: { owner: string; until: Date }, changes: ResyncStateChanges): Promise<void>;
  /** Gives the lease up (a no-op when it is no longer `owner`'s). */
  release(key: ResyncKey, owner: string): Promise<void>;
  /** One page of an integration's resync states, for doctor. */
  list(integrationId: string, options?: { limit?: number; startKey?: PageKey }): Promise<{ states: ResyncState[]; invalid: { sk: string; reason: string }[]; lastKey?: PageKey }>;
  delete(key: ResyncKey): Promise<void>;
}

const timestamp = z.iso.datetime({ offset: true });
const count = z.number().int().min(0);

const runSchema = z.object({
  mode: z.enum(RESYNC_RUN_MODES),
  trigger: z.enum(RESYNC_TRIGGERS),
  fullReason: z.enum(FULL_REASONS).optional(),
  next: z.string().min(1),
  startedAt: timestamp,
  pages: count,
  changed: count,
  deleted: count,
  throttled: count,
  resumed: count,
});

const lastRunSchema = z.object({
  trigger: z.enum(RESYNC_TRIGGERS),
  mode: z.enum(RESYNC_RUN_MODES),
  outcome: z.enum(['completed', 'failed']),
  finishedAt: timestamp,
  objects: count,
  pages: count,
  durationMs: count,
  error: z.string().optional(),
});

const itemSchema = z.object({
  pk: z.string().startsWith('INTEGRATION#'),
  sk: z.string().startsWith(keys.resyncPrefix),
  type: z.literal('resync-state'),
  integrationId: integrationIdSchema,
  connectionId: connectionIdSchema,
  declaration: z.string().min(1),
  subscriptionId: z.string().min(1),
  tenantId: z.string().min(1),
  resource: z.string().min(1),
  deltaLink: z.string().min(1).optional(),
  deltaLinkAt: timestamp.optional(),
  run: runSchema.optional(),
  lastRun: lastRunSchema.optional(),
  leaseOwner: z.string().min(1).optional(),
  leaseUntil: timestamp.optional(),
  updatedAt: timestamp,
});

function toState(item: Record<string, unknown>): ResyncState {
  const parsed = itemSchema.safeParse(item);
  if (!parsed.success) throw new StoreDataError(`item ${String(item['pk'])} / ${String(item['sk'])} is invalid: ${describeIssues(parsed.error)}`);
  const { pk: _pk, sk: _sk, type: _type, ...state } = parsed.data;
  return state as ResyncState;
}

/** UpdateExpression parts with every name and value as a placeholder (DynamoDB reserves many plain words). */
class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private readonly sets: string[] = [];
  private readonly removes: string[] = [];
  private n = 0;

  name(attribute: string): string {
    const placeholder = `#a${Object.keys(this.names).length}`;
    this.names[placeholder] = attribute;
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.n++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  set(attribute: string, value: unknown): void {
    this.sets.push(`${this.name(attribute)} = ${this.value(value)}`);
  }

  remove(attribute: string): void {
    this.removes.push(this.name(attribute));
  }

  update(): string {
    return [this.sets.length > 0 ? `SET ${this.sets.join(', ')}` : '', this.removes.length > 0 ? `REMOVE ${this.removes.join(', ')}` : ''].filter(Boolean).join(' ');
  }
}

export class DynamoDbResyncStateStore implements ResyncStateStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(key: ResyncKey): Promise<ResyncState | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: this.keyOf(key), ConsistentRead: true }));
    return Item === undefined ? undefined : toState(Item);
  }

  async acquire(key: ResyncKey, seed: { subscriptionId: string; tenantId: string; resource: string }, lease: { owner: string; until: Date; now: Date }): Promise<ResyncState | undefined> {
    const e = new Expression();
    for (const [name, value] of Object.entries({ type: 'resync-state', ...key, ...seed, leaseOwner: lease.owner, leaseUntil: lease.until.toISOString(), updatedAt: this.now().toISOString() })) {
      e.set(name, value);
    }
    const owner = e.name('leaseOwner');
    const until = e.name('leaseUntil');
    const condition = `attribute_not_exists(${until}) OR ${until} < ${e.value(lease.now.toISOString())} OR ${owner} = ${e.value(lease.owner)}`;
    const updated = await this.updateIf(key, e, condition, true);
    return updated === undefined ? undefined : toState(updated);
  }

  async save(key: ResyncKey, lease: { owner: string; until: Date }, changes: ResyncStateChanges): Promise<void> {
    const e = new Expression();
    e.set('leaseUntil', lease.until.toISOString());
    e.set('updatedAt', this.now().toISOString());
    if (changes.run === null) e.remove('run');
    else if (changes.run !== undefined) e.set('run', withoutUndefined(changes.run));
    if (changes.deltaLink !== undefined) e.set('deltaLink', changes.deltaLink);
    if (changes.deltaLinkAt !== undefined) e.set('deltaLinkAt', changes.deltaLinkAt);
    if (changes.lastRun !== undefined) e.set('lastRun', withoutUndefined(changes.lastRun));
    const updated = await this.updateIf(key, e, `${e.name('leaseOwner')} = ${e.value(lease.owner)}`);
    if (updated === undefined) throw new ResyncLeaseLostError(`the resync of ${describeKey(key)} is no longer this run's: another run took it over`);
  }

  async release(key: ResyncKey, owner: string): Promise<void> {
    const e = new Expression();
    e.remove('leaseOwner');
    e.remove('leaseUntil');
    await this.updateIf(key, e, `${e.name('leaseOwner')} = ${e.value(owner)}`);
  }

  /** One conditional UpdateItem; undefined when the condition did not hold, else the item (all of it with `returnAll`). */
  private async updateIf(key: ResyncKey, e: Expression, condition: string, returnAll = false): Promise<Record<string, unknown> | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.keyOf(key),
          UpdateExpression: e.update(),
          ConditionExpression: condition,
          ExpressionAttributeNames: e.names,
          ExpressionAttributeValues: e.values,
          ...(returnAll ? { ReturnValues: 'ALL_NEW' as const } : {}),
        }),
      );
      return Attributes ?? {};
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async list(integrationId: string, options: { limit?: number; startKey?: PageKey } = {}): Promise<{ states: ResyncState[]; invalid: { sk: string; reason: string }[]; lastKey?: PageKey }> {
    const { Items, LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.integrationPartition(integrationId), ':prefix': keys.resyncPrefix },
        Limit: options.limit ?? 100,
        ...(options.startKey === undefined ? {} : { ExclusiveStartKey: options.startKey }),
      }),
    );
    const states: ResyncState[] = [];
    const invalid: { sk: string; reason: string }[] = [];
    for (const item of Items ?? []) {
      try {
        states.push(toState(item));
      } catch (error) {
        invalid.push({ sk: String(item['sk']), reason: error instanceof Error ? error.message : String(error) });
      }
    }
    return { states, invalid, ...(LastEvaluatedKey === undefined ? {} : { lastKey: LastEvaluatedKey as PageKey }) };
  }

  async delete(key: ResyncKey): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: this.keyOf(key) }));
  }

  private keyOf(key: ResyncKey): { pk: string; sk: string } {
    return keys.resync(key.integrationId, key.connectionId, key.declaration);
  }
}

export function describeKey(key: ResyncKey): string {
  return `${key.integrationId}/${key.connectionId} "${key.declaration}"`;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
