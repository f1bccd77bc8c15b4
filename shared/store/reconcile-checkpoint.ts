import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { StoreDataError } from './connections-store';
import { integrationIdSchema, keys } from './items';
import { pageKeySchema, type PageKey } from './page-key';

/**
 * Where a full reconcile that ran out of time got to, so the next scheduled run goes on from there rather than
 * starting over (and never reaching the integrations at the end). One human-readable item in the connections table,
 * `RECONCILE` / `CHECKPOINT`; a run that gets to the end removes it.
 */
export const CHECKPOINT_KEY = { pk: 'RECONCILE', sk: 'CHECKPOINT' } as const;

/** The passes of a full reconcile over one integration, in the order they run. */
export const RECONCILE_PHASES = ['subscriptions', 'connections'] as const;
export type ReconcilePhase = (typeof RECONCILE_PHASES)[number];

/** The range of the integration's partition each phase pages through. */
export const PHASE_PREFIXES: Record<ReconcilePhase, string> = { subscriptions: keys.subscriptionPrefix, connections: keys.connectionPrefix };

export interface ReconcileCheckpoint {
  integrationId: string;
  phase: ReconcilePhase;
  /** The last key of the last page done (LastEvaluatedKey); absent: the phase starts at its beginning. */
  after?: PageKey;
  updatedAt: string;
}

export interface ReconcileCheckpointStore {
  /** @throws StoreDataError when the item does not parse (edited by hand, say). */
  get(): Promise<ReconcileCheckpoint | undefined>;
  put(checkpoint: Omit<ReconcileCheckpoint, 'updatedAt'>): Promise<void>;
  clear(): Promise<void>;
}

const checkpointItemSchema = z
  .object({
    pk: z.literal(CHECKPOINT_KEY.pk),
    sk: z.literal(CHECKPOINT_KEY.sk),
    type: z.literal('reconcile-checkpoint'),
    integrationId: integrationIdSchema,
    phase: z.enum(RECONCILE_PHASES),
    /** JSON of the LastEvaluatedKey, e.g. `{"pk":"INTEGRATION#contoso","sk":"CONNECTION#conn-0100"}`. */
    lastEvaluatedKey: z
      .string()
      .transform((text, context) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          context.addIssue({ code: 'custom', message: 'not JSON' });
          return z.NEVER;
        }
      })
      .pipe(pageKeySchema)
      .optional(),
    updatedAt: z.iso.datetime({ offset: true }),
  })
  .refine(
    // A key from another partition or range would make DynamoDB refuse the Query, every run.
    (item) => item.lastEvaluatedKey === undefined || (item.lastEvaluatedKey.pk === keys.integrationPartition(item.integrationId) && item.lastEvaluatedKey.sk.startsWith(PHASE_PREFIXES[item.phase])),
    { message: 'lastEvaluatedKey is not a key of the integration\'s range for that phase', path: ['lastEvaluatedKey'] },
  );

export class DynamoDbReconcileCheckpointStore implements ReconcileCheckpointStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(): Promise<ReconcileCheckpoint | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: CHECKPOINT_KEY, ConsistentRead: true }));
    if (Item === undefined) return undefined;
    const parsed = checkpointItemSchema.safeParse(Item);
    if (!parsed.success) throw new StoreDataError(`item ${CHECKPOINT_KEY.pk} / ${CHECKPOINT_KEY.sk} is invalid: ${describeIssues(parsed.error)}`);
    const { integrationId, phase, lastEvaluatedKey, updatedAt } = parsed.data;
    return { integrationId, phase, ...(lastEvaluatedKey === undefined ? {} : { after: lastEvaluatedKey }), updatedAt };
  }

  async put(checkpoint: Omit<ReconcileCheckpoint, 'updatedAt'>): Promise<void> {
    const { integrationId, phase, after } = checkpoint;
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...CHECKPOINT_KEY,
          type: 'reconcile-checkpoint',
          integrationId,
          phase,
          ...(after === undefined ? {} : { lastEvaluatedKey: JSON.stringify({ pk: after.pk, sk: after.sk }) }),
          updatedAt: this.now().toISOString(),
        },
      }),
    );
  }

  async clear(): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: CHECKPOINT_KEY }));
  }
}
