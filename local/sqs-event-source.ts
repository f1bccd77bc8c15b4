/**
 * The local stand-in for a Lambda SQS event source mapping with ReportBatchItemFailures: long-polls a queue on the
 * AWS emulator and hands batches to a handler, shaped as Lambda delivers them, one batch at a time.
 *
 * As Lambda does (Lambda developer guide, "Using Lambda with Amazon SQS" and "Handling errors for an SQS event
 * source"): messages of a batch that succeeded are deleted; those named in `batchItemFailures`, or the whole batch
 * when the handler throws or answers with an identifier that is empty or not in the batch, are left alone and show
 * again after the queue's visibility timeout, so the queue's redrive policy moves them to the dead-letter queue once
 * they have been received maxReceiveCount times. An empty or missing `batchItemFailures` is a complete success.
 *
 * Unlike Lambda: one poller, so one batch at a time (the deployed function's concurrency does not apply); the
 * handler's time budget is reported through `getRemainingTimeInMillis` but not enforced (a batch that runs over is
 * logged, not killed); no batching window.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { describeError } from '../shared/util/errors';
import { pollerControl, type LocalEventSource } from './poller';

/** The event source's settings when the caller gives none. */
export const LOCAL_SQS_EVENT_SOURCE_DEFAULTS = {
  /** One message per invocation: a job that fails or runs long never holds up another. */
  batchSize: 1,
  /** Lambda long-polls for the longest time SQS allows. */
  waitTimeSeconds: 20,
  /** The handler's budget as `getRemainingTimeInMillis` reports it: Lambda's maximum function timeout. */
  timeoutMs: 900_000,
  /** Before polling again after a failed receive or delete (the queue missing, the emulator gone). */
  errorBackoffMs: 1_000,
} as const;

/**
 * How often `idle` looks at the queue's counts: the poller cannot see everything that empties a queue (a message
 * redriven to the dead-letter queue in the middle of a long poll ends no poll).
 */
const IDLE_CHECK_MS = 100;

export interface SqsHandlerContext {
  getRemainingTimeInMillis(): number;
}

export type SqsBatchHandler = (event: SQSEvent, context: SqsHandlerContext) => Promise<SQSBatchResponse | void>;

export interface SqsEventSourceOptions {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  queueUrl: string;
  /** The function's handler, called one batch at a time. */
  handler: SqsBatchHandler;
  /** Prefix of every log line, e.g. `resync`. */
  label: string;
  /** One line per batch. */
  log(line: string): void;
  logError(line: string): void;
  /** 1 to 10. Default 1. */
  batchSize?: number;
  /** 0 to 20. Default 20. */
  waitTimeSeconds?: number;
  timeoutMs?: number;
  errorBackoffMs?: number;
}

export interface SqsEventSourceStats {
  /** Invocations of the handler. */
  batches: number;
  /** Messages handed over, counting each receive. */
  messages: number;
  deleted: number;
  /** Messages left for redelivery: reported as failed, or in a batch whose handler threw. */
  failed: number;
}

/**
 * `idle` resolves once no batch is in progress and the queue holds no message (visible, in flight or delayed),
 * checked after the call; or on stop. Messages left for redelivery keep it waiting until they succeed or are
 * redriven. `stop` waits for the batch in progress and its deletes.
 */
export interface SqsEventSource extends LocalEventSource<SqsEventSourceStats> {
  queueArn: string;
}

export class InvalidEventSourceOptionError extends Error {
  override readonly name = 'InvalidEventSourceOptionError';
}

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidEventSourceOptionError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

/**
 * Looks the queue up (its ARN names the event source in every record) and polls it until stopped.
 * @throws QueueDoesNotExist when the queue is missing: the local stack creates it before starting its event source.
 */
export async function startSqsEventSource(options: SqsEventSourceOptions): Promise<SqsEventSource> {
  const settings = {
    batchSize: integerIn('batchSize', options.batchSize ?? LOCAL_SQS_EVENT_SOURCE_DEFAULTS.batchSize, 1, 10),
    waitTimeSeconds: integerIn('waitTimeSeconds', options.waitTimeSeconds ?? LOCAL_SQS_EVENT_SOURCE_DEFAULTS.waitTimeSeconds, 0, 20),
    timeoutMs: options.timeoutMs ?? LOCAL_SQS_EVENT_SOURCE_DEFAULTS.timeoutMs,
    errorBackoffMs: options.errorBackoffMs ?? LOCAL_SQS_EVENT_SOURCE_DEFAULTS.errorBackoffMs,
  };
  const { label, queueUrl } = options;
  const sqs = new SQSClient({ endpoint: options.endpoint, region: options.region, credentials: options.credentials });
  let queueArn: string;
  try {
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    queueArn = Attributes?.['QueueArn'] ?? '';
  } catch (error) {
    sqs.destroy();
    throw error;
  }

  const { abort, sleep, reportError, recovered } = pollerControl(`${label} (queue)`, options.logError);
  const stats: SqsEventSourceStats = { batches: 0, messages: 0, deleted: 0, failed: 0 };
  let batchInProgress: Promise<void> | undefined;

  const drained = async (): Promise<boolean> => {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return Object.values(Attributes).every((count) => count === '0');
  };

  /** Invokes the handler and deletes what succeeded; what failed is left to show again. */
  const handle = async (messages: Message[]) => {
    const records = messages.map((message) => toLambdaSqsRecord(message, queueArn, options.region));
    const startedAt = Date.now();
    stats.batches += 1;
    stats.messages += records.length;
    let failed: ReadonlySet<string>;
    let reason: string;
    const all = new Set(records.map((record) => record.messageId));
    try {
      const response = await options.handler({ Records: records }, { getRemainingTimeInMillis: () => Math.max(0, startedAt + settings.timeoutMs - Date.now()) });
      const wellFormed = isWellFormed(response, records);
      failed = wellFormed ? new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier)) : all;
      reason = wellFormed ? 'reported failed' : 'failed by an invalid batchItemFailures answer';
    } catch (error) {
      failed = all;
      reason = `failed, the handler threw ${describeError(error)}`;
    }
    const elapsedMs = Date.now() - startedAt;
    if (elapsedMs > settings.timeoutMs) options.logError(`${label} (queue): a batch ran ${elapsedMs} ms, past the function's ${settings.timeoutMs} ms timeout`);
    const succeeded = records.filter((record) => !failed.has(record.messageId));
    // A message left undeleted is handed over again once visible: the handler must be idempotent, as on AWS.
    if (succeeded.length > 0) await deleteMessages(succeeded).catch((error: unknown) => reportError(`deleting ${succeeded.length} handled message(s) failed: ${describeError(error)}`));
    stats.failed += failed.size;
    options.log(batchLine(label, records, failed, reason));
  };

  const deleteMessages = async (records: SQSRecord[]) => {
    const { Failed = [] } = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: records.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
      }),
    );
    stats.deleted += records.length - Failed.length;
    for (const failure of Failed) reportError(`could not delete message ${records[Number(failure.Id)]?.messageId ?? '?'}: ${failure.Code ?? ''} ${failure.Message ?? ''}`);
  };

  const loop = async () => {
    while (!abort.signal.aborted) {
      try {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: settings.batchSize,
            WaitTimeSeconds: settings.waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        );
        recovered();
        if (Messages.length > 0) {
          // Not aborted once received: the batch runs to the end, so stop never leaves a half-handled batch.
          batchInProgress = handle(Messages);
          try {
            await batchInProgress;
          } finally {
            batchInProgress = undefined;
          }
        }
      } catch (error) {
        if (abort.signal.aborted) break;
        reportError(`polling failed, trying again: ${describeError(error)}`);
        await sleep(settings.errorBackoffMs);
      }
    }
  };

  const running = loop();
  return {
    queueArn,
    stats: () => ({ ...stats }),
    idle: async () => {
      while (!abort.signal.aborted) {
        // A batch in progress holds its messages in flight, so the counts alone tell whether anything is left.
        if (batchInProgress === undefined && (await drained().catch(() => false))) return;
        await sleep(IDLE_CHECK_MS);
      }
    },
    async stop() {
      abort.abort();
      await running;
      sqs.destroy();
    },
  };
}

/** A received message as Lambda hands it to a function. */
export function toLambdaSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ...attributes,
      ApproximateReceiveCount: attributes['ApproximateReceiveCount'] ?? '',
      SentTimestamp: attributes['SentTimestamp'] ?? '',
      SenderId: attributes['SenderId'] ?? '',
      ApproximateFirstReceiveTimestamp: attributes['ApproximateFirstReceiveTimestamp'] ?? '',
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/** Every identifier names a message of the batch; otherwise Lambda fails the whole batch. */
function isWellFormed(response: SQSBatchResponse | void, records: readonly SQSRecord[]): boolean {
  const failures: unknown = (response as { batchItemFailures?: unknown } | undefined | null)?.batchItemFailures;
  if (failures === undefined || failures === null) return true;
  if (!Array.isArray(failures)) return false;
  const ids = new Set(records.map((record) => record.messageId));
  return failures.every((failure: unknown) => {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    return typeof id === 'string' && ids.has(id);
  });
}

function batchLine(label: string, records: readonly SQSRecord[], failed: ReadonlySet<string>, reason: string): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const receives = records.map((record) => Number(record.attributes.ApproximateReceiveCount) || 1);
  const receivePart = Math.max(...receives) > 1 ? ` (receive ${Math.max(...receives)})` : '';
  const failedPart = failed.size === 0 ? '' : `, ${failed.size} ${reason} (left for redelivery)`;
  return `${label} (queue): ${plural(records.length, 'message')}${receivePart}, ${records.length - failed.size} done${failedPart}`;
}
