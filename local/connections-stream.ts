/**
 * The local stand-in for the reconciler's DynamoDB Streams event source (infra/constructs/reconciler.ts): polls the
 * connections table's stream on DynamoDB Local and hands batches of connection changes to the reconciler, shaped
 * as Lambda delivers them, one batch at a time.
 *
 * As deployed: starts at LATEST, batches of at most 10 records, only connection items (the event source's filter),
 * records the function reports in `batchItemFailures` handed over again from the first of them, up to 3 times
 * (after 1, 2 and 4 s). Unlike Lambda, records given up on are logged and skipped rather than sent to a failure
 * queue; the scheduled reconcile retries their connections either way. Lambda's 1-hour maximum record age is not
 * applied: a local stream is never that far behind. A shard that had records is read again at once; an idle one
 * after 250 ms, backing off to once a second.
 *
 * DynamoDB Local's stream (version 3.x) differs from DynamoDB's in ways this poller works around:
 * - sequence numbers come from one counter for every stream of the instance, so a shard's first record often has a
 *   higher number than the shard's StartingSequenceNumber; an iterator taken while the shard was empty (LATEST or
 *   TRIM_HORIZON) then fails with TrimmedDataAccessException once a record arrives. The poller takes a fresh
 *   iterator (after its last record, else TRIM_HORIZON: the shard was empty when it looked) and skips records it
 *   has already handed over.
 * - ApproximateCreationDateTime is truncated to the minute; awsRegion and the stream ARN say "ddblocal".
 */
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type _Record,
  type AttributeValue as StreamAttributeValue,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import { DescribeTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { connectionChangesOf } from '../shared/subscriptions/connection-changes';
import { keys } from '../shared/store/items';
import { describeError, errorMessage } from '../shared/util/errors';
import { pollerControl, type LocalEventSource } from './poller';

/** The deployed event source's settings (infra/constructs/reconciler.ts, RECONCILE_STREAM). */
export const LOCAL_STREAM_DEFAULTS = {
  batchSize: 10,
  retryAttempts: 3,
  /** Lambda polls a shard about 4 times a second; an idle stream is polled less often, down to once a second. */
  pollIntervalMs: 250,
  maxIdleIntervalMs: 1_000,
  /** Backoff before retrying failed records: 1 s, 2 s, 4 s. */
  retryBaseDelayMs: 1_000,
  /** New shards appear when one closes; also looked for now and then, in case a parent was never seen. */
  shardRefreshMs: 30_000,
} as const;

export interface ConnectionsStreamOptions {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  tableName: string;
  /** The reconciler's stream entry; called one batch at a time. */
  invoke(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse>;
  /** One line per batch. */
  log(line: string): void;
  logError(line: string): void;
  batchSize?: number;
  retryAttempts?: number;
  pollIntervalMs?: number;
  maxIdleIntervalMs?: number;
  retryBaseDelayMs?: number;
}

export interface ConnectionsStreamStats {
  /** Invocations of the reconciler, retries included. */
  batches: number;
  /** Records handed over, each counted once. */
  records: number;
  /** Records reported as failed and handed over again. */
  retriedRecords: number;
  /** Records given up on after the last retry. */
  skippedRecords: number;
}

/** `idle` resolves once a poll of every shard that started after the call found nothing new (or on stop). */
export interface ConnectionsStream extends LocalEventSource<ConnectionsStreamStats> {
  streamArn: string;
}

export class StreamNotEnabledError extends Error {
  override readonly name = 'StreamNotEnabledError';
  constructor(tableName: string) {
    super(`table ${tableName} has no stream: the local stack enables it at start (local/tables.ts)`);
  }
}

interface ShardCursor {
  shardId: string;
  iterator: string | undefined;
  /** The last record handed over (or seen at start); later iterators start after it. */
  checkpoint: string | undefined;
}

/**
 * Takes the stream's current end as the starting position (Lambda's LATEST) and polls from there until stopped.
 * Resolves once the position is taken: changes written after that are handed to the reconciler.
 */
export async function startConnectionsStream(options: ConnectionsStreamOptions): Promise<ConnectionsStream> {
  const settings = {
    batchSize: options.batchSize ?? LOCAL_STREAM_DEFAULTS.batchSize,
    retryAttempts: options.retryAttempts ?? LOCAL_STREAM_DEFAULTS.retryAttempts,
    pollIntervalMs: options.pollIntervalMs ?? LOCAL_STREAM_DEFAULTS.pollIntervalMs,
    maxIdleIntervalMs: options.maxIdleIntervalMs ?? LOCAL_STREAM_DEFAULTS.maxIdleIntervalMs,
    retryBaseDelayMs: options.retryBaseDelayMs ?? LOCAL_STREAM_DEFAULTS.retryBaseDelayMs,
    shardRefreshMs: LOCAL_STREAM_DEFAULTS.shardRefreshMs,
  };
  const clientConfig = { region: options.region, credentials: options.credentials, endpoint: options.endpoint };
  const streams = new DynamoDBStreamsClient(clientConfig);
  const { abort, sleep, reportError, recovered } = pollerControl('reconcile (stream)', options.logError);
  const stats: ConnectionsStreamStats = { batches: 0, records: 0, retriedRecords: 0, skippedRecords: 0 };
  const idleWaiters: { after: number; resolve: () => void }[] = [];
  let passes = 0;

  let streamArn: string;
  const cursors = new Map<string, ShardCursor>();
  const finished = new Set<string>();
  try {
    streamArn = await latestStreamArn(clientConfig, options.tableName);
    for (const shard of await describeShards(streams, streamArn, abort.signal)) {
      const shardId = shard.ShardId;
      if (shardId === undefined) continue;
      // A closed shard's records are all older than the start.
      if (shard.SequenceNumberRange?.EndingSequenceNumber !== undefined) finished.add(shardId);
      else cursors.set(shardId, await positionAtEnd(streams, streamArn, shardId, abort.signal));
    }
  } catch (error) {
    streams.destroy();
    throw error;
  }

  const iteratorFor = async (cursor: ShardCursor): Promise<string | undefined> => {
    const take = async (type: ShardIteratorType, sequenceNumber?: string) =>
      (
        await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: cursor.shardId, ShardIteratorType: type, SequenceNumber: sequenceNumber }), {
          abortSignal: abort.signal,
        })
      ).ShardIterator;
    if (cursor.checkpoint === undefined) return take('TRIM_HORIZON');
    try {
      return await take('AFTER_SEQUENCE_NUMBER', cursor.checkpoint);
    } catch (error) {
      // The checkpoint's record is past the stream's 24-hour retention: every record left is newer than it.
      if (error instanceof TrimmedDataAccessException) return take('TRIM_HORIZON');
      throw error;
    }
  };

  const refreshShards = async () => {
    for (const shard of await describeShards(streams, streamArn, abort.signal)) {
      const shardId = shard.ShardId;
      if (shardId === undefined || cursors.has(shardId) || finished.has(shardId)) continue;
      // A child of a shard being read waits for its parent to close, as Lambda keeps a key's changes in order.
      if (shard.ParentShardId !== undefined && cursors.has(shard.ParentShardId)) continue;
      cursors.set(shardId, { shardId, iterator: undefined, checkpoint: undefined });
    }
  };

  /** Hands records to the reconciler, retrying reported failures; resolves when they are done with. */
  const deliver = async (records: DynamoDBRecord[]) => {
    let pending = records;
    for (let attempt = 0; ; attempt += 1) {
      stats.batches += 1;
      let failed: Set<string>;
      try {
        const response = await options.invoke({ Records: pending });
        failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
      } catch (error) {
        // The handler never throws; if it did, Lambda would retry the whole batch.
        reportError(`reconciler failed: ${errorMessage(error)}`);
        failed = new Set(pending.map((record) => record.dynamodb?.SequenceNumber ?? ''));
      }
      const firstFailed = pending.findIndex((record) => failed.has(record.dynamodb?.SequenceNumber ?? ''));
      options.log(batchLine(pending, failed, firstFailed < 0 ? undefined : { attempt, of: settings.retryAttempts }));
      if (firstFailed < 0) return;
      // Lambda checkpoints before the first failed record and hands over everything from there again.
      const retry = pending.slice(firstFailed);
      if (attempt < settings.retryAttempts) await sleep(settings.retryBaseDelayMs * 2 ** attempt);
      if (attempt >= settings.retryAttempts || abort.signal.aborted) {
        stats.skippedRecords += retry.length;
        const sequence = (record: DynamoDBRecord | undefined) => record?.dynamodb?.SequenceNumber ?? '?';
        options.logError(
          `reconcile (stream): gave up on ${retry.length} record(s) (sequence ${sequence(retry[0])}…${sequence(retry.at(-1))})` +
            `${abort.signal.aborted ? ' at stop' : ` after ${settings.retryAttempts} retries`}; the scheduled reconcile retries their connections`,
        );
        return;
      }
      stats.retriedRecords += retry.length;
      pending = retry;
    }
  };

  /** One GetRecords of a shard; false when it is known to have nothing more for now. */
  const pollShard = async (cursor: ShardCursor): Promise<boolean> => {
    const reused = cursor.iterator !== undefined;
    cursor.iterator ??= await iteratorFor(cursor);
    let response;
    try {
      response = await streams.send(new GetRecordsCommand({ ShardIterator: cursor.iterator, Limit: settings.batchSize }), { abortSignal: abort.signal });
    } catch (error) {
      // A stale iterator (see the file comment) is replaced and the shard read again at once; a fresh one failing
      // too is an error like any other.
      if (!(reused && (error instanceof TrimmedDataAccessException || error instanceof ExpiredIteratorException))) throw error;
      cursor.iterator = undefined;
      return true;
    }
    const fresh = (response.Records ?? []).filter((record) => isAfter(record.dynamodb?.SequenceNumber, cursor.checkpoint));
    const last = fresh.at(-1)?.dynamodb?.SequenceNumber;
    if (last !== undefined) {
      // The event source's filter: subscription records are the reconciler's own writes.
      const batch = fresh.map((record) => toLambdaStreamRecord(record, streamArn)).filter(isConnectionRecord);
      if (batch.length > 0) {
        stats.records += batch.length;
        await deliver(batch);
      }
      cursor.checkpoint = last;
    }
    cursor.iterator = response.NextShardIterator;
    if (cursor.iterator === undefined) {
      cursors.delete(cursor.shardId);
      finished.add(cursor.shardId);
      await refreshShards();
    }
    return fresh.length > 0;
  };

  const loop = async () => {
    let idleWait = settings.pollIntervalMs;
    let refreshedAt = Date.now();
    while (!abort.signal.aborted) {
      passes += 1;
      const pass = passes;
      let found = false;
      try {
        if (Date.now() - refreshedAt > settings.shardRefreshMs) {
          refreshedAt = Date.now();
          await refreshShards();
        }
        for (const cursor of [...cursors.values()]) {
          if (abort.signal.aborted) break;
          if (await pollShard(cursor)) found = true;
        }
        recovered();
        if (!found) {
          for (const waiter of idleWaiters.filter((w) => w.after < pass)) {
            idleWaiters.splice(idleWaiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
      } catch (error) {
        if (abort.signal.aborted) break;
        reportError(`polling the stream failed, trying again: ${describeError(error)}`);
        found = false;
        idleWait = settings.maxIdleIntervalMs;
      }
      if (found) {
        // As Lambda does: a shard that had records is read again at once.
        idleWait = settings.pollIntervalMs;
        continue;
      }
      await sleep(idleWait);
      idleWait = Math.min(idleWait * 2, settings.maxIdleIntervalMs);
    }
  };

  const running = loop();
  return {
    streamArn,
    stats: () => ({ ...stats }),
    idle: () =>
      abort.signal.aborted
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            idleWaiters.push({ after: passes, resolve });
          }),
    async stop() {
      abort.abort();
      await running;
      for (const waiter of idleWaiters.splice(0)) waiter.resolve();
      streams.destroy();
    },
  };
}

/** A record of the Streams API as Lambda hands it to a function: epoch seconds, binary values in base64. */
export function toLambdaStreamRecord(record: _Record, eventSourceARN: string): DynamoDBRecord {
  const image = record.dynamodb;
  const identity = record.userIdentity;
  return definedOnly({
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion,
    eventSource: record.eventSource,
    awsRegion: record.awsRegion,
    dynamodb:
      image === undefined
        ? undefined
        : definedOnly({
            ApproximateCreationDateTime: image.ApproximateCreationDateTime === undefined ? undefined : image.ApproximateCreationDateTime.getTime() / 1000,
            Keys: toLambdaImage(image.Keys),
            NewImage: toLambdaImage(image.NewImage),
            OldImage: toLambdaImage(image.OldImage),
            SequenceNumber: image.SequenceNumber,
            SizeBytes: image.SizeBytes,
            StreamViewType: image.StreamViewType,
          }),
    eventSourceARN,
    // Only on deletions by TTL: { type: 'Service', principalId: 'dynamodb.amazonaws.com' }.
    userIdentity: identity === undefined ? undefined : { type: identity.Type, principalId: identity.PrincipalId },
  });
}

function toLambdaImage(image: Record<string, StreamAttributeValue> | undefined): Record<string, AttributeValue> | undefined {
  if (image === undefined) return undefined;
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaValue(value)]));
}

function toLambdaValue(value: StreamAttributeValue): AttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BS !== undefined) return { BS: value.BS.map((item) => Buffer.from(item).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaValue) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) ?? {} };
  throw new TypeError(`unsupported attribute value type: ${Object.keys(value).join(', ')}`);
}

function isConnectionRecord(record: DynamoDBRecord): boolean {
  return record.dynamodb?.Keys?.['sk']?.S?.startsWith(keys.connectionPrefix) === true;
}

/** Sequence numbers are decimal strings of up to 40 digits, increasing within a shard. */
function isAfter(sequenceNumber: string | undefined, checkpoint: string | undefined): boolean {
  if (sequenceNumber === undefined || checkpoint === undefined) return true;
  return BigInt(sequenceNumber) > BigInt(checkpoint);
}

function batchLine(records: DynamoDBRecord[], failed: ReadonlySet<string>, retry: { attempt: number; of: number } | undefined): string {
  const { targets } = connectionChangesOf(records);
  const reconciled = targets.filter((target) => !target.sequenceNumbers.some((sequenceNumber) => failed.has(sequenceNumber))).length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const retryPart =
    retry === undefined ? '' : `, ${plural(failed.size, 'record')} failed (${retry.attempt < retry.of ? `retry ${retry.attempt + 1} of ${retry.of} follows` : 'no retries left'})`;
  return `reconcile (stream): ${plural(records.length, 'record')}, ${plural(reconciled, 'connection')} reconciled${retryPart}`;
}

async function latestStreamArn(clientConfig: DynamoDBClientConfig, tableName: string): Promise<string> {
  const dynamodb = new DynamoDBClient(clientConfig);
  try {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.StreamSpecification?.StreamEnabled !== true || Table.LatestStreamArn === undefined) throw new StreamNotEnabledError(tableName);
    return Table.LatestStreamArn;
  } finally {
    dynamodb.destroy();
  }
}

async function describeShards(streams: DynamoDBStreamsClient, streamArn: string, abortSignal: AbortSignal): Promise<Shard[]> {
  const shards: Shard[] = [];
  let exclusiveStartShardId: string | undefined;
  do {
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: exclusiveStartShardId }), { abortSignal });
    shards.push(...(StreamDescription?.Shards ?? []));
    exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
  } while (exclusiveStartShardId !== undefined);
  return shards;
}

/**
 * Lambda's LATEST, made robust: the shard is read to its end and the last record remembered, so a fresh iterator
 * can always be taken after it (a LATEST iterator cannot be recreated, and goes stale on DynamoDB Local).
 */
async function positionAtEnd(streams: DynamoDBStreamsClient, streamArn: string, shardId: string, abortSignal: AbortSignal): Promise<ShardCursor> {
  const cursor: ShardCursor = { shardId, iterator: undefined, checkpoint: undefined };
  let { ShardIterator: iterator } = await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }), { abortSignal });
  while (iterator !== undefined) {
    let response;
    try {
      response = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }), { abortSignal });
    } catch (error) {
      // Written to while empty (see the file comment): what is there now is newer than the start.
      if (error instanceof TrimmedDataAccessException) return cursor;
      throw error;
    }
    const records = response.Records ?? [];
    cursor.checkpoint = records.at(-1)?.dynamodb?.SequenceNumber ?? cursor.checkpoint;
    cursor.iterator = response.NextShardIterator;
    if (records.length === 0) break;
    iterator = response.NextShardIterator;
  }
  return cursor;
}

/** Drops undefined properties, so a record has exactly the keys Lambda would send. */
function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
