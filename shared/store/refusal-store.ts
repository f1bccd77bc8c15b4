import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RefusalReason, RefusalReport } from '../intake/refusal-tally';
import { batchGetRound } from './batch-get';

/**
 * Refused webhook requests per bucket (integration id, or `(unknown)`) and UTC day, in the deliveries table beside
 * the redelivery markers (whose keys are 64 hex digits, so `refusals#…` never meets one). Written at most once per
 * tally window per intake instance; read by `graph-relay doctor`. Kept for a week.
 */
export interface RefusalDay {
  bucket: string;
  day: string;
  requests: number;
  items: number;
  reasons: Partial<Record<RefusalReason, number>>;
  sampleIds: string[];
  lastAt: string;
}

export interface RefusalStore {
  record(report: RefusalReport): Promise<void>;
}

const KEEP_DAYS = 7;
const REASONS: readonly RefusalReason[] = ['unknown-integration', 'clientstate-mismatch', 'clientstate-unconfirmed', 'no-webhook-secret'];

export function refusalKey(bucket: string, day: string): string {
  return `refusals#${day}#${bucket}`;
}

export class DynamoDbRefusalStore implements RefusalStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async record(report: RefusalReport): Promise<void> {
    const day = report.lastAt.slice(0, 10);
    const reasons = REASONS.filter((reason) => (report.reasons[reason] ?? 0) > 0);
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {
      ':requests': report.requests,
      ':items': report.items,
      ':bucket': report.bucket,
      ':day': day,
      ':lastAt': report.lastAt,
      ':expiresAt': Math.floor(Date.parse(`${day}T00:00:00Z`) / 1000) + (KEEP_DAYS + 1) * 86_400,
    };
    // Every attribute through a placeholder: several of these words are DynamoDB reserved words (bucket, day, items).
    const adds = ['#requests :requests', '#items :items'];
    Object.assign(names, { '#requests': 'requests', '#items': 'items', '#bucket': 'bucket', '#day': 'day', '#lastAt': 'lastAt', '#expiresAt': 'expiresAt', '#sampleIds': 'sampleIds' });
    reasons.forEach((reason, i) => {
      names[`#r${i}`] = reasonAttribute(reason);
      values[`:r${i}`] = report.reasons[reason];
      adds.push(`#r${i} :r${i}`);
    });
    const sets = ['#bucket = :bucket', '#day = :day', '#lastAt = :lastAt', '#expiresAt = :expiresAt'];
    if (report.sampleIds.length > 0) {
      sets.push('#sampleIds = :sampleIds');
      values[':sampleIds'] = report.sampleIds;
    } else {
      delete names['#sampleIds'];
    }
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { idempotencyKey: refusalKey(report.bucket, day) },
        UpdateExpression: `SET ${sets.join(', ')} ADD ${adds.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** The days recorded for `buckets` over the last `days` days (today included), in one read round. */
  async recent(buckets: readonly string[], days: number, now: Date = new Date()): Promise<RefusalDay[]> {
    const dayList = Array.from({ length: days }, (_, i) => new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10));
    const keys = buckets.flatMap((bucket) => dayList.map((day) => ({ idempotencyKey: refusalKey(bucket, day) })));
    if (keys.length === 0) return [];
    const { items } = await batchGetRound(this.client, [{ tableName: this.tableName, keys }], (unprocessed) => new Error(`DynamoDB left ${unprocessed} refusal lookups unprocessed`));
    return (items.get(this.tableName) ?? []).flatMap((item) => {
      const day = parseRefusalDay(item);
      return day === undefined ? [] : [day];
    });
  }
}

function reasonAttribute(reason: RefusalReason): string {
  return `reason_${reason.replaceAll('-', '_')}`;
}

function parseRefusalDay(item: Record<string, unknown>): RefusalDay | undefined {
  const { bucket, day, requests, items, lastAt, sampleIds } = item;
  if (typeof bucket !== 'string' || typeof day !== 'string' || typeof requests !== 'number' || typeof lastAt !== 'string') return undefined;
  const reasons: Partial<Record<RefusalReason, number>> = {};
  for (const reason of REASONS) {
    const count = item[reasonAttribute(reason)];
    if (typeof count === 'number') reasons[reason] = count;
  }
  return {
    bucket,
    day,
    requests,
    items: typeof items === 'number' ? items : 0,
    reasons,
    sampleIds: Array.isArray(sampleIds) ? sampleIds.filter((id): id is string => typeof id === 'string') : [],
    lastAt,
  };
}
