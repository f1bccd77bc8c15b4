/**
 * Amazon SQS standard queues as the AWS JSON 1.0 protocol serves them (`X-Amz-Target: AmazonSQS.<Operation>`), with
 * the behaviour a consumer depends on: visibility timeouts, delays, long polling, receive counts and redrive to a
 * dead-letter queue. Errors carry the namespaced `__type` and the `x-amzn-query-error` header SQS sends, so SDK
 * clients throw the same named exceptions (QueueDoesNotExist, ReceiptHandleIsInvalid, …) as against AWS.
 *
 * Limits follow the API reference of the SDK in use (3.1175): messages up to the queue's MaximumMessageSize (default
 * and maximum 1 MiB since 2025; 256 KiB before), batches of at most 10 entries and 1 MiB.
 *
 * Not emulated: FIFO queues, message attributes, tags, policies and KMS, the 60-second wait before a deleted queue's
 * name can be reused. Queues and their messages live in memory only: a restarted emulator starts empty.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  AwsServiceError,
  isJsonObject,
  optionalNumber,
  optionalObjectArray,
  optionalString,
  optionalStringArray,
  type AwsService,
  type CallContext,
  type JsonObject,
  type OperationHandler,
} from './protocol';

const CONTENT_TYPE = 'application/x-amz-json-1.0';
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 1_048_576;
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 43_200;
const MAX_DELAY_SECONDS = 900;
const PURGE_SECONDS = 60;
const MAX_RECEIVE_COUNT = 1000;
const QUEUE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ID_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;
/** The characters a message may hold (SendMessage, MessageBody): #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. */
const INVALID_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Settable numeric attributes, with AWS's documented ranges and defaults (CreateQueue, Attributes). */
const NUMERIC_ATTRIBUTES = {
  DelaySeconds: { min: 0, max: MAX_DELAY_SECONDS, default: 0 },
  MaximumMessageSize: { min: 1024, max: 1_048_576, default: 1_048_576 },
  MessageRetentionPeriod: { min: 60, max: 1_209_600, default: 345_600 },
  ReceiveMessageWaitTimeSeconds: { min: 0, max: MAX_WAIT_SECONDS, default: 0 },
  VisibilityTimeout: { min: 0, max: MAX_VISIBILITY_SECONDS, default: 30 },
} as const;

type NumericAttribute = keyof typeof NUMERIC_ATTRIBUTES;

/** Accepted and returned as given, but without effect locally. */
const OPAQUE_ATTRIBUTES = new Set(['Policy', 'RedriveAllowPolicy', 'SqsManagedSseEnabled', 'KmsMasterKeyId', 'KmsDataKeyReusePeriodSeconds']);

/** What GetQueueAttributes may ask for. */
const QUEUE_ATTRIBUTE_NAMES = new Set([
  'All',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
  'RedrivePolicy',
  ...Object.keys(NUMERIC_ATTRIBUTES),
  ...OPAQUE_ATTRIBUTES,
]);

const MESSAGE_SYSTEM_ATTRIBUTES = new Set([
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'SequenceNumber',
  'MessageDeduplicationId',
  'MessageGroupId',
  'AWSTraceHeader',
  'DeadLetterQueueSourceArn',
]);

interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

interface Message {
  messageId: string;
  body: string;
  md5: string;
  /** Epoch ms. Kept when the message moves to a dead-letter queue: retention counts from the first enqueue. */
  sentAt: number;
  /** Epoch ms before which no receive returns the message (its delay or its visibility timeout). */
  visibleAt: number;
  /** Across every queue the message has been in, as ApproximateReceiveCount is. */
  receiveCount: number;
  firstReceivedAt?: number;
  /** The handle of the latest receive; only it deletes the message or changes its visibility. */
  receiptHandle?: string;
  /** The queue it was moved from, on a dead-letter queue. */
  sourceArn?: string;
}

interface Queue {
  name: string;
  arn: string;
  /** Settable attributes as strings, as the API carries them. */
  attributes: Map<string, string>;
  redrive?: RedrivePolicy;
  createdAt: number;
  modifiedAt: number;
  messages: Message[];
  purgedAt?: number;
  /** Long polls waiting on this queue. */
  wakers: Set<() => void>;
}

export interface SqsConfig {
  region: string;
  accountId: string;
}

/**
 * An SQS error as SQS sends it in JSON: `modelled` is the SDK's exception name (`__type` com.amazonaws.sqs#<name>),
 * `queryCode` the code in `x-amzn-query-error`, which the SDK reads first.
 */
function sqsError(queryCode: string, message: string, modelled = queryCode, status = 400): AwsServiceError {
  return new AwsServiceError(modelled, message, status, {
    type: `com.amazonaws.sqs#${modelled}`,
    queryError: `${queryCode};Sender`,
    contentType: CONTENT_TYPE,
  });
}

const nonExistentQueue = (): AwsServiceError => sqsError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.', 'QueueDoesNotExist');

function invalidParameter(message: string): AwsServiceError {
  return sqsError('InvalidParameterValue', message);
}

function invalidValue(parameter: string, value: unknown, reason: string): AwsServiceError {
  return invalidParameter(`Value ${String(value)} for parameter ${parameter} is invalid. Reason: ${reason}`);
}

function missingParameter(name: string): AwsServiceError {
  return sqsError('MissingParameter', `The request must contain the parameter ${name}.`);
}

function requiredParameter(input: JsonObject, key: string): string {
  const value = optionalString(input, key);
  if (value === undefined) throw missingParameter(key);
  return value;
}

function integerIn(parameter: string, value: number | undefined, min: number, max: number, reason: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) throw invalidValue(parameter, value, reason);
  return value;
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** Why a message body is refused, or undefined when it may be sent. */
function bodyProblem(body: string, maximumSize: number): AwsServiceError | undefined {
  if (body.length === 0) return missingParameter('MessageBody');
  if (Buffer.byteLength(body, 'utf8') > maximumSize) {
    return invalidParameter(`One or more parameters are invalid. Reason: Message must be shorter than ${maximumSize} bytes.`);
  }
  if (INVALID_CHARACTER.test(body)) {
    return sqsError('InvalidMessageContents', 'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF');
  }
  return undefined;
}

/** A receipt handle names its queue, its message and one receive; anything else is not a handle SQS issued. */
function receiptHandleOf(queue: Queue, message: Message): string {
  return Buffer.from(JSON.stringify([queue.name, message.messageId, randomUUID()])).toString('base64url');
}

function parseReceiptHandle(handle: string): { queueName: string; messageId: string } | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(handle, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 3 && value.every((part) => typeof part === 'string')) {
      return { queueName: value[0] as string, messageId: value[1] as string };
    }
  } catch {
    // Falls through: not a handle this emulator issued.
  }
  return undefined;
}

function invalidReceiptHandle(handle: string): AwsServiceError {
  return sqsError('ReceiptHandleIsInvalid', `The input receipt handle "${handle}" is not a valid receipt handle.`, 'ReceiptHandleIsInvalid', 404);
}

function attributesOf(input: JsonObject): Record<string, string> {
  const value = input['Attributes'];
  if (value === undefined || value === null) return {};
  if (!isJsonObject(value) || !Object.values(value).every((item) => typeof item === 'string')) {
    throw new AwsServiceError('SerializationException', 'Expected Attributes to be a map of strings.');
  }
  return value as Record<string, string>;
}

/** Batch entries: 1 to 10, with distinct well-formed ids, checked in the order SQS checks them. */
function batchEntries(input: JsonObject): JsonObject[] {
  const entries = optionalObjectArray(input, 'Entries');
  if (entries === undefined || entries.length === 0) {
    throw sqsError('AWS.SimpleQueueService.EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.', 'EmptyBatchRequest');
  }
  if (entries.length > MAX_BATCH_ENTRIES) {
    throw sqsError(
      'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${entries.length}.`,
      'TooManyEntriesInBatchRequest',
    );
  }
  const ids = entries.map((entry) => requiredParameter(entry, 'Id'));
  const badId = ids.find((id) => !BATCH_ID_PATTERN.test(id));
  if (badId !== undefined) {
    throw sqsError(
      'AWS.SimpleQueueService.InvalidBatchEntryId',
      'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
      'InvalidBatchEntryId',
    );
  }
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated !== undefined) {
    throw sqsError('AWS.SimpleQueueService.BatchEntryIdsNotDistinct', `Id ${repeated} repeated.`, 'BatchEntryIdsNotDistinct');
  }
  return entries;
}

function failedEntry(id: string, error: AwsServiceError): JsonObject {
  const code = error.queryCompatible?.queryError.split(';')[0] ?? error.code;
  return { Id: id, SenderFault: true, Code: code, Message: error.message };
}

/** Standard queues, their messages and long polls, in memory. */
export class SqsService implements AwsService {
  readonly targetPrefix = 'AmazonSQS';
  readonly contentType = CONTENT_TYPE;
  /** A 1 MiB message can take several times its size once escaped in JSON. */
  readonly maxRequestBytes = 8 * 1024 * 1024;
  readonly operations: ReadonlyMap<string, OperationHandler>;
  readonly #queues = new Map<string, Queue>();
  #closed = false;

  constructor(private readonly config: SqsConfig) {
    this.operations = new Map<string, OperationHandler>([
      ['CreateQueue', (input, call) => this.#createQueue(input, call)],
      ['GetQueueUrl', (input, call) => this.#getQueueUrl(input, call)],
      ['ListQueues', (input, call) => this.#listQueues(input, call)],
      ['DeleteQueue', (input) => this.#deleteQueue(input)],
      ['GetQueueAttributes', (input) => this.#getQueueAttributes(input)],
      ['SetQueueAttributes', (input) => this.#setQueueAttributes(input)],
      ['SendMessage', (input) => this.#sendMessage(input)],
      ['SendMessageBatch', (input) => this.#sendMessageBatch(input)],
      ['ReceiveMessage', (input, call) => this.#receiveMessage(input, call)],
      ['DeleteMessage', (input) => this.#deleteMessage(input)],
      ['DeleteMessageBatch', (input) => this.#deleteMessageBatch(input)],
      ['ChangeMessageVisibility', (input) => this.#changeMessageVisibility(input)],
      ['PurgeQueue', (input) => this.#purgeQueue(input)],
    ]);
  }

  /** Ends every long poll now, answering it with what it has (nothing). */
  close(): void {
    this.#closed = true;
    for (const queue of this.#queues.values()) this.#wake(queue);
  }

  #queueUrl(queue: Queue, call: CallContext): string {
    return `${call.endpoint}/${this.config.accountId}/${queue.name}`;
  }

  /** A queue URL names the account and the queue in its path; its host is whatever endpoint the client used. */
  #require(input: JsonObject): Queue {
    const queueUrl = requiredParameter(input, 'QueueUrl');
    let segments: string[];
    try {
      segments = new URL(queueUrl).pathname.split('/').filter((segment) => segment !== '');
    } catch {
      throw nonExistentQueue();
    }
    const [account, name, ...rest] = segments;
    const queue = account === this.config.accountId && rest.length === 0 && name !== undefined ? this.#queues.get(name) : undefined;
    if (queue === undefined) throw nonExistentQueue();
    return queue;
  }

  #byArn(arn: string): Queue | undefined {
    return [...this.#queues.values()].find((queue) => queue.arn === arn);
  }

  #wake(queue: Queue): void {
    for (const wake of [...queue.wakers]) wake();
  }

  /** Checks `attributes` and returns them as they are stored, with the parsed redrive policy. */
  #checkAttributes(attributes: Record<string, string>, self: string): { values: Map<string, string>; redrive?: RedrivePolicy | null } {
    const values = new Map<string, string>();
    let redrive: RedrivePolicy | null | undefined;
    for (const [name, raw] of Object.entries(attributes)) {
      if (name in NUMERIC_ATTRIBUTES) {
        const range = NUMERIC_ATTRIBUTES[name as NumericAttribute];
        const value = Number(raw);
        if (!/^\d+$/.test(raw) || value < range.min || value > range.max) {
          throw sqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}.`);
        }
        values.set(name, String(value));
      } else if (name === 'RedrivePolicy') {
        redrive = raw === '' ? null : this.#parseRedrivePolicy(raw, self);
        values.set(name, raw === '' ? '' : JSON.stringify(redrive));
      } else if (name === 'FifoQueue' || name === 'ContentBasedDeduplication' || name === 'DeduplicationScope' || name === 'FifoThroughputLimit') {
        throw sqsError('AWS.SimpleQueueService.UnsupportedOperation', 'FIFO queues are not emulated.', 'UnsupportedOperation');
      } else if (OPAQUE_ATTRIBUTES.has(name)) {
        values.set(name, raw);
      } else {
        throw sqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
      }
    }
    return { values, redrive };
  }

  #parseRedrivePolicy(raw: string, self: string): RedrivePolicy {
    const refuse = (reason: string): AwsServiceError => invalidValue('RedrivePolicy', raw, reason);
    let policy: unknown;
    try {
      policy = JSON.parse(raw);
    } catch {
      throw refuse('Redrive policy is not a valid JSON map.');
    }
    if (!isJsonObject(policy)) throw refuse('Redrive policy is not a valid JSON map.');
    const { deadLetterTargetArn, maxReceiveCount } = policy;
    if (typeof deadLetterTargetArn !== 'string') throw refuse('Redrive policy does not contain mandatory attribute: deadLetterTargetArn.');
    if (maxReceiveCount === undefined) throw refuse('Redrive policy does not contain mandatory attribute: maxReceiveCount.');
    const count = Number(maxReceiveCount);
    if (!Number.isInteger(count) || count < 1 || count > MAX_RECEIVE_COUNT) {
      throw refuse(`Invalid value for maxReceiveCount: ${String(maxReceiveCount)}, valid values are from 1 to ${MAX_RECEIVE_COUNT} both inclusive.`);
    }
    const target = this.#byArn(deadLetterTargetArn);
    if (target === undefined || target.name === self) throw refuse('Dead letter target does not exist.');
    return { deadLetterTargetArn, maxReceiveCount: count };
  }

  #numeric(queue: Queue, name: NumericAttribute): number {
    return Number(queue.attributes.get(name) ?? NUMERIC_ATTRIBUTES[name].default);
  }

  #createQueue(input: JsonObject, call: CallContext): JsonObject {
    const name = requiredParameter(input, 'QueueName');
    if (name.endsWith('.fifo')) throw sqsError('AWS.SimpleQueueService.UnsupportedOperation', 'FIFO queues are not emulated.', 'UnsupportedOperation');
    if (!QUEUE_NAME_PATTERN.test(name)) {
      throw invalidParameter('Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
    }
    const { values, redrive } = this.#checkAttributes(attributesOf(input), name);
    const existing = this.#queues.get(name);
    if (existing !== undefined) {
      // Same name and the same value for every attribute given: the existing queue, as AWS documents.
      for (const [attribute, value] of values) {
        const current = existing.attributes.get(attribute) ?? (attribute in NUMERIC_ATTRIBUTES ? String(NUMERIC_ATTRIBUTES[attribute as NumericAttribute].default) : '');
        if (current !== value) {
          throw sqsError('QueueAlreadyExists', `A queue already exists with the same name and a different value for attribute ${attribute}`, 'QueueNameExists');
        }
      }
      return { QueueUrl: this.#queueUrl(existing, call) };
    }
    const now = Date.now();
    const queue: Queue = {
      name,
      arn: `arn:aws:sqs:${this.config.region}:${this.config.accountId}:${name}`,
      attributes: values,
      redrive: redrive ?? undefined,
      createdAt: now,
      modifiedAt: now,
      messages: [],
      wakers: new Set(),
    };
    this.#queues.set(name, queue);
    return { QueueUrl: this.#queueUrl(queue, call) };
  }

  #getQueueUrl(input: JsonObject, call: CallContext): JsonObject {
    const name = requiredParameter(input, 'QueueName');
    const owner = optionalString(input, 'QueueOwnerAWSAccountId') ?? this.config.accountId;
    const queue = owner === this.config.accountId ? this.#queues.get(name) : undefined;
    if (queue === undefined) throw nonExistentQueue();
    return { QueueUrl: this.#queueUrl(queue, call) };
  }

  #listQueues(input: JsonObject, call: CallContext): JsonObject {
    const prefix = optionalString(input, 'QueueNamePrefix') ?? '';
    const urls = [...this.#queues.values()].filter((queue) => queue.name.startsWith(prefix)).map((queue) => this.#queueUrl(queue, call));
    return urls.length === 0 ? {} : { QueueUrls: urls };
  }

  #deleteQueue(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    this.#queues.delete(queue.name);
    this.#wake(queue);
    return {};
  }

  /** Drops messages past the retention period, counted from their first enqueue. */
  #expire(queue: Queue, now: number): void {
    const retentionMs = this.#numeric(queue, 'MessageRetentionPeriod') * 1000;
    queue.messages = queue.messages.filter((message) => message.sentAt + retentionMs > now);
  }

  #getQueueAttributes(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    const now = Date.now();
    this.#expire(queue, now);
    const requested = optionalStringArray(input, 'AttributeNames') ?? [];
    const all = requested.includes('All');
    const inFlight = queue.messages.filter((message) => message.visibleAt > now && message.receiptHandle !== undefined).length;
    const delayed = queue.messages.filter((message) => message.visibleAt > now && message.receiptHandle === undefined).length;
    const values: Record<string, string> = {
      ApproximateNumberOfMessages: String(queue.messages.length - inFlight - delayed),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
      ApproximateNumberOfMessagesDelayed: String(delayed),
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.modifiedAt / 1000)),
      QueueArn: queue.arn,
      SqsManagedSseEnabled: 'true',
      ...Object.fromEntries(Object.entries(NUMERIC_ATTRIBUTES).map(([name, range]) => [name, String(range.default)])),
      ...Object.fromEntries([...queue.attributes].filter(([, value]) => value !== '')),
    };
    const unknown = requested.find((name) => !QUEUE_ATTRIBUTE_NAMES.has(name));
    if (unknown !== undefined) throw sqsError('InvalidAttributeName', `Unknown Attribute ${unknown}.`);
    const chosen = Object.entries(values).filter(([name]) => all || requested.includes(name));
    return chosen.length === 0 ? {} : { Attributes: Object.fromEntries(chosen) };
  }

  #setQueueAttributes(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    const { values, redrive } = this.#checkAttributes(attributesOf(input), queue.name);
    for (const [name, value] of values) queue.attributes.set(name, value);
    if (redrive !== undefined) queue.redrive = redrive ?? undefined;
    queue.modifiedAt = Date.now();
    this.#wake(queue);
    return {};
  }

  /** Checks and enqueues one message, returning its id and MD5, or throws the error SQS answers it with. */
  #enqueue(queue: Queue, entry: JsonObject): JsonObject {
    if (entry['MessageAttributes'] !== undefined || entry['MessageSystemAttributes'] !== undefined) {
      throw sqsError('AWS.SimpleQueueService.UnsupportedOperation', 'Message attributes are not emulated.', 'UnsupportedOperation');
    }
    const body = requiredParameter(entry, 'MessageBody');
    const problem = bodyProblem(body, this.#numeric(queue, 'MaximumMessageSize'));
    if (problem !== undefined) throw problem;
    const delay =
      integerIn('DelaySeconds', optionalNumber(entry, 'DelaySeconds'), 0, MAX_DELAY_SECONDS, `Must be >= 0 and <= ${MAX_DELAY_SECONDS}, if provided.`) ??
      this.#numeric(queue, 'DelaySeconds');
    const now = Date.now();
    const message: Message = { messageId: randomUUID(), body, md5: md5(body), sentAt: now, visibleAt: now + delay * 1000, receiveCount: 0 };
    queue.messages.push(message);
    this.#wake(queue);
    return { MessageId: message.messageId, MD5OfMessageBody: message.md5 };
  }

  #sendMessage(input: JsonObject): JsonObject {
    return this.#enqueue(this.#require(input), input);
  }

  #sendMessageBatch(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    const entries = batchEntries(input);
    const total = entries.reduce((sum, entry) => sum + Buffer.byteLength(optionalString(entry, 'MessageBody') ?? '', 'utf8'), 0);
    if (total > MAX_BATCH_BYTES) {
      throw sqsError(
        'AWS.SimpleQueueService.BatchRequestTooLong',
        `Batch requests cannot be longer than ${MAX_BATCH_BYTES} bytes. You have sent ${total} bytes.`,
        'BatchRequestTooLong',
      );
    }
    const successful: JsonObject[] = [];
    const failed: JsonObject[] = [];
    for (const entry of entries) {
      const id = requiredParameter(entry, 'Id');
      try {
        successful.push({ Id: id, ...this.#enqueue(queue, entry) });
      } catch (error) {
        if (!(error instanceof AwsServiceError) || error.code === 'UnsupportedOperation') throw error;
        failed.push(failedEntry(id, error));
      }
    }
    return { Successful: successful, Failed: failed };
  }

  /**
   * Takes up to `max` visible messages, oldest first, making them invisible for `visibilitySeconds`. A message
   * received maxReceiveCount times already moves to the dead-letter queue instead of being received again.
   */
  #take(queue: Queue, max: number, visibilitySeconds: number, now: number): Message[] {
    this.#expire(queue, now);
    const target = queue.redrive === undefined ? undefined : this.#byArn(queue.redrive.deadLetterTargetArn);
    const taken: Message[] = [];
    for (const message of [...queue.messages]) {
      if (taken.length >= max) break;
      if (message.visibleAt > now) continue;
      if (queue.redrive !== undefined && target !== undefined && message.receiveCount >= queue.redrive.maxReceiveCount) {
        queue.messages.splice(queue.messages.indexOf(message), 1);
        target.messages.push({ ...message, visibleAt: now, receiptHandle: undefined, sourceArn: queue.arn });
        this.#wake(target);
        continue;
      }
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
      message.receiptHandle = receiptHandleOf(queue, message);
      message.visibleAt = now + visibilitySeconds * 1000;
      taken.push(message);
    }
    return taken;
  }

  /** Resolves when the queue changes, at `until`, when the caller goes away or the emulator closes. */
  #waitForChange(queue: Queue, until: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        queue.wakers.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      queue.wakers.add(done);
      signal.addEventListener('abort', done);
    });
  }

  async #receiveMessage(input: JsonObject, call: CallContext): Promise<JsonObject> {
    const queue = this.#require(input);
    const max = integerIn('MaxNumberOfMessages', optionalNumber(input, 'MaxNumberOfMessages'), 1, MAX_BATCH_ENTRIES, 'Must be between 1 and 10, if provided.') ?? 1;
    const visibility =
      integerIn('VisibilityTimeout', optionalNumber(input, 'VisibilityTimeout'), 0, MAX_VISIBILITY_SECONDS, `Must be >= 0 and <= ${MAX_VISIBILITY_SECONDS}, if provided.`) ??
      this.#numeric(queue, 'VisibilityTimeout');
    const wait =
      integerIn('WaitTimeSeconds', optionalNumber(input, 'WaitTimeSeconds'), 0, MAX_WAIT_SECONDS, `Must be >= 0 and <= ${MAX_WAIT_SECONDS}, if provided.`) ??
      this.#numeric(queue, 'ReceiveMessageWaitTimeSeconds');
    const names = [...(optionalStringArray(input, 'AttributeNames') ?? []), ...(optionalStringArray(input, 'MessageSystemAttributeNames') ?? [])];
    const unknown = names.find((name) => name !== 'All' && !MESSAGE_SYSTEM_ATTRIBUTES.has(name));
    if (unknown !== undefined) throw sqsError('InvalidAttributeName', `Unknown Attribute ${unknown}.`);
    const deadline = Date.now() + wait * 1000;
    for (;;) {
      const now = Date.now();
      const taken = this.#take(queue, max, visibility, now);
      if (taken.length > 0) return { Messages: taken.map((message) => this.#received(message, names)) };
      if (now >= deadline || call.signal.aborted || this.#closed || this.#queues.get(queue.name) !== queue) return {};
      // Woken by a send, a visibility change or a purge; otherwise when the next hidden message shows, or at the end.
      const nextVisible = Math.min(...queue.messages.map((message) => message.visibleAt));
      await this.#waitForChange(queue, Math.min(deadline, nextVisible), call.signal);
    }
  }

  #received(message: Message, names: readonly string[]): JsonObject {
    const all = names.includes('All');
    const values: Record<string, string | undefined> = {
      SenderId: this.config.accountId,
      SentTimestamp: String(message.sentAt),
      ApproximateReceiveCount: String(message.receiveCount),
      ApproximateFirstReceiveTimestamp: message.firstReceivedAt === undefined ? undefined : String(message.firstReceivedAt),
      DeadLetterQueueSourceArn: message.sourceArn,
    };
    const attributes = Object.entries(values).filter(([name, value]) => value !== undefined && (all || names.includes(name)));
    return {
      MessageId: message.messageId,
      ReceiptHandle: message.receiptHandle,
      MD5OfBody: message.md5,
      Body: message.body,
      ...(attributes.length === 0 ? {} : { Attributes: Object.fromEntries(attributes) }),
    };
  }

  /** The message a receipt handle of this queue names, undefined when it is gone or the handle is not its latest. */
  #byHandle(queue: Queue, handle: string): Message | undefined {
    const parsed = parseReceiptHandle(handle);
    if (parsed === undefined || parsed.queueName !== queue.name) throw invalidReceiptHandle(handle);
    const message = queue.messages.find((candidate) => candidate.messageId === parsed.messageId);
    return message?.receiptHandle === handle ? message : undefined;
  }

  /** A stale handle or an already deleted message succeeds without effect, as the DeleteMessage reference says. */
  #delete(queue: Queue, handle: string): void {
    const message = this.#byHandle(queue, handle);
    if (message !== undefined) queue.messages.splice(queue.messages.indexOf(message), 1);
  }

  #deleteMessage(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    this.#delete(queue, requiredParameter(input, 'ReceiptHandle'));
    return {};
  }

  #deleteMessageBatch(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    const successful: JsonObject[] = [];
    const failed: JsonObject[] = [];
    for (const entry of batchEntries(input)) {
      const id = requiredParameter(entry, 'Id');
      try {
        this.#delete(queue, requiredParameter(entry, 'ReceiptHandle'));
        successful.push({ Id: id });
      } catch (error) {
        if (!(error instanceof AwsServiceError)) throw error;
        failed.push(failedEntry(id, error));
      }
    }
    return { Successful: successful, Failed: failed };
  }

  #changeMessageVisibility(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    const handle = requiredParameter(input, 'ReceiptHandle');
    const raw = optionalNumber(input, 'VisibilityTimeout');
    if (raw === undefined) throw missingParameter('VisibilityTimeout');
    const seconds = integerIn('VisibilityTimeout', raw, 0, MAX_VISIBILITY_SECONDS, `Must be >= 0 and <= ${MAX_VISIBILITY_SECONDS}, if provided.`) ?? 0;
    const message = this.#byHandle(queue, handle);
    if (message === undefined) {
      throw invalidValue('ReceiptHandle', handle, 'Message does not exist or is not available for visibility timeout change.');
    }
    const now = Date.now();
    if (message.visibleAt <= now) {
      throw sqsError('AWS.SimpleQueueService.MessageNotInflight', 'The message referred to is not in flight.', 'MessageNotInflight');
    }
    // The new timeout counts from now, not from the receive.
    message.visibleAt = now + seconds * 1000;
    this.#wake(queue);
    return {};
  }

  #purgeQueue(input: JsonObject): JsonObject {
    const queue = this.#require(input);
    const now = Date.now();
    if (queue.purgedAt !== undefined && now - queue.purgedAt < PURGE_SECONDS * 1000) {
      throw sqsError(
        'AWS.SimpleQueueService.PurgeQueueInProgress',
        `Only one PurgeQueue operation on ${queue.name} is allowed every ${PURGE_SECONDS} seconds.`,
        'PurgeQueueInProgress',
        403,
      );
    }
    queue.purgedAt = now;
    queue.messages = [];
    return {};
  }
}
