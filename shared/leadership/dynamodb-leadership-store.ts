/**
 * The leadership items of the connections table: the writer lease (`LEASE` / `GRAPH_WRITER`) and the hand-offs
 * (`HANDOFF` / `<kind>#<id>`), lifecycle events and resync jobs that reached a region not holding the lease, kept
 * for the writer's heartbeat to deliver. Hand-offs carry a `ttl` attribute (epoch seconds, 7 days on): one nobody
 * delivered goes away by itself once the table's TTL is enabled on `ttl`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { describeIssues } from '../graph/change-notification';
import { StoreDataError } from '../store/store-data-error';
import { HANDOFF_KINDS, HANDOFF_PARTITION, HANDOFF_TTL_SECONDS, type Handoff, type HandoffStore } from './handoffs';
import { WRITER_LEASE_KEY, type WriterLeaseRecord, type WriterLeaseStore } from './writer-lease';

/** The TTL attribute of hand-off items (epoch seconds). */
export const HANDOFF_TTL_ATTRIBUTE = 'ttl';

const leaseItemSchema = z.object({
  pk: z.literal(WRITER_LEASE_KEY.pk),
  sk: z.literal(WRITER_LEASE_KEY.sk),
  holder: z.string().min(1),
  epoch: z.number().int().min(1),
  acquiredAt: z.iso.datetime({ offset: true }),
  renewedAt: z.iso.datetime({ offset: true }),
  expiresAt: z.iso.datetime({ offset: true }),
  expiresAtMs: z.number().int().nonnegative(),
});

export class DynamoDbWriterLeaseStore implements WriterLeaseStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(): Promise<WriterLeaseRecord | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: WRITER_LEASE_KEY, ConsistentRead: true }));
    if (Item === undefined) return undefined;
    const parsed = leaseItemSchema.safeParse(Item);
    if (!parsed.success) throw new StoreDataError(`writer lease item ${WRITER_LEASE_KEY.pk} / ${WRITER_LEASE_KEY.sk} is invalid: ${describeIssues(parsed.error)}`);
    const { holder, epoch, acquiredAt, renewedAt, expiresAt, expiresAtMs } = parsed.data;
    return { holder, epoch, acquiredAt, renewedAt, expiresAt, expiresAtMs };
  }

  async write(next: WriterLeaseRecord, expected: WriterLeaseRecord | undefined): Promise<boolean> {
    const { holder, epoch, acquiredAt, renewedAt, expiresAt, expiresAtMs } = next;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...WRITER_LEASE_KEY, type: 'writer-lease', holder, epoch, acquiredAt, renewedAt, expiresAt, expiresAtMs },
          ...(expected === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#holder = :holder AND #epoch = :epoch',
                ExpressionAttributeNames: { '#holder': 'holder', '#epoch': 'epoch' },
                ExpressionAttributeValues: { ':holder': expected.holder, ':epoch': expected.epoch },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as { name?: unknown }).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }
}

const handoffItemSchema = z.object({
  pk: z.literal(HANDOFF_PARTITION),
  sk: z.string(),
  kind: z.enum(HANDOFF_KINDS),
  handoffId: z.string().min(1),
  payload: z.string(),
  createdAt: z.string(),
  fromRegion: z.string(),
});

export class DynamoDbHandoffStore implements HandoffStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = () => Date.now(),
  ) {}

  async put(handoff: Omit<Handoff, 'createdAt'>): Promise<void> {
    const now = this.now();
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: HANDOFF_PARTITION,
          sk: `${handoff.kind}#${handoff.id}`,
          type: 'handoff',
          kind: handoff.kind,
          handoffId: handoff.id,
          payload: handoff.payload,
          createdAt: new Date(now).toISOString(),
          fromRegion: handoff.fromRegion,
          [HANDOFF_TTL_ATTRIBUTE]: Math.floor(now / 1000) + HANDOFF_TTL_SECONDS,
        },
      }),
    );
  }

  async list(limit: number): Promise<{ handoffs: Handoff[]; invalid: string[] }> {
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': HANDOFF_PARTITION },
        ConsistentRead: true,
        Limit: limit,
      }),
    );
    const handoffs: Handoff[] = [];
    const invalid: string[] = [];
    for (const item of Items) {
      const parsed = handoffItemSchema.safeParse(item);
      if (!parsed.success) {
        invalid.push(`${String(item['sk'])}: ${describeIssues(parsed.error)}`);
        continue;
      }
      const { kind, handoffId, payload, createdAt, fromRegion } = parsed.data;
      handoffs.push({ kind, id: handoffId, payload, createdAt, fromRegion });
    }
    return { handoffs, invalid };
  }

  async delete(handoff: Pick<Handoff, 'kind' | 'id' | 'createdAt'>): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: HANDOFF_PARTITION, sk: `${handoff.kind}#${handoff.id}` },
          ConditionExpression: 'createdAt = :createdAt',
          ExpressionAttributeValues: { ':createdAt': handoff.createdAt },
        }),
      );
    } catch (error) {
      // Handed off again since it was listed (or already gone): the newer item stays.
      if (error instanceof ConditionalCheckFailedException || (error as { name?: unknown }).name === 'ConditionalCheckFailedException') return;
      throw error;
    }
  }
}
