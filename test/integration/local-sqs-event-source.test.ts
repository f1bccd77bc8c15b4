/**
 * The local SQS event source against the emulator's SQS and the real SDK client: batches shaped as Lambda delivers
 * them, successes deleted, reported failures and thrown errors handed over again after the visibility timeout, and
 * redrive to the dead-letter queue after maxReceiveCount.
 */
import { GetQueueAttributesCommand, QueueDoesNotExist, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { startAwsEmulator, type AwsEmulator } from '../../local/aws-emulator';
import { LOCAL_CREDENTIALS } from '../../local/descriptor';
import { ensureQueueWithDeadLetterQueue } from '../../local/queues';
import { startSqsEventSource, type SqsBatchHandler, type SqsEventSource, type SqsEventSourceOptions } from '../../local/sqs-event-source';

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';

describe('local SQS event source', () => {
  let emulator: AwsEmulator;
  let sqs: SQSClient;
  const running: SqsEventSource[] = [];

  beforeEach(async () => {
    emulator = await startAwsEmulator({ region: REGION });
    sqs = new SQSClient({ endpoint: emulator.url, region: REGION, credentials: LOCAL_CREDENTIALS });
  });

  afterEach(async () => {
    for (const source of running.splice(0)) await source.stop();
    sqs.destroy();
    await emulator.close();
  });

  /** A work queue (visibility 1 s, so failures come back quickly) and its dead-letter queue, as the local stack makes them. */
  async function createQueues(maxReceiveCount = 3): Promise<{ queueUrl: string; dlqUrl: string }> {
    const { queueUrl, deadLetterQueueUrl } = await ensureQueueWithDeadLetterQueue(sqs, {
      queueName: 'work',
      deadLetterQueueName: 'work-dlq',
      maxReceiveCount,
      visibilityTimeoutSeconds: 1,
    });
    return { queueUrl, dlqUrl: deadLetterQueueUrl };
  }

  async function startSource(queueUrl: string, handler: SqsBatchHandler, options: Partial<SqsEventSourceOptions> = {}) {
    const events: SQSEvent[] = [];
    const lines: string[] = [];
    const errors: string[] = [];
    const source = await startSqsEventSource({
      endpoint: emulator.url,
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      queueUrl,
      label: 'resync',
      waitTimeSeconds: 20,
      log: (line) => lines.push(line),
      logError: (line) => errors.push(line),
      handler: async (event, context) => {
        events.push(event);
        return handler(event, context);
      },
      ...options,
    });
    running.push(source);
    return { source, events, lines, errors };
  }

  const send = async (queueUrl: string, ...bodies: string[]) => {
    for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  };

  const counts = async (queueUrl: string) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] })))
      .Attributes;

  const bodiesOf = (events: SQSEvent[]) => events.map((event) => event.Records.map((record) => record.body));

  it('hands over messages one at a time by default, shaped as Lambda delivers them, and deletes those that succeeded', async () => {
    // Prepare
    const { queueUrl } = await createQueues();
    let remaining = -1;
    const { source, events, lines, errors } = await startSource(
      queueUrl,
      async (_event, context) => {
        remaining = context.getRemainingTimeInMillis();
      },
      { timeoutMs: 60_000 },
    );

    // Act
    await send(queueUrl, '{"job":1}', '{"job":2}');
    await source.idle();

    // Assess
    expect(bodiesOf(events)).toEqual([['{"job":1}'], ['{"job":2}']]);
    expect(events[0]?.Records[0]).toEqual({
      messageId: expect.any(String),
      receiptHandle: expect.any(String),
      body: '{"job":1}',
      attributes: expect.objectContaining({
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d+$/),
        SenderId: ACCOUNT,
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d+$/),
      }),
      messageAttributes: {},
      md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:work`,
      awsRegion: REGION,
    });
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(60_000);
    expect(source.stats()).toEqual({ batches: 2, messages: 2, deleted: 2, failed: 0 });
    expect(await counts(queueUrl)).toEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    expect(lines).toEqual(['resync (queue): 1 message, 1 done', 'resync (queue): 1 message, 1 done']);
    expect(errors).toEqual([]);
  });

  it('deletes the successes of a batch and hands the reported failures over again after the visibility timeout', async () => {
    // Prepare
    const { queueUrl } = await createQueues();
    await send(queueUrl, 'a', 'b', 'c');
    const { source, events, lines } = await startSource(
      queueUrl,
      async (event): Promise<SQSBatchResponse> => ({
        // b fails on its first receive only.
        batchItemFailures: event.Records.filter((record) => record.body === 'b' && record.attributes.ApproximateReceiveCount === '1').map((record) => ({
          itemIdentifier: record.messageId,
        })),
      }),
      { batchSize: 10 },
    );

    // Act
    await source.idle();

    // Assess
    expect(bodiesOf(events)).toEqual([['a', 'b', 'c'], ['b']]);
    expect(events[1]?.Records[0]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(source.stats()).toEqual({ batches: 2, messages: 4, deleted: 3, failed: 1 });
    expect(lines).toEqual(['resync (queue): 3 messages, 2 done, 1 reported failed (left for redelivery)', 'resync (queue): 1 message (receive 2), 1 done']);
  });

  it('hands the whole batch over again when the handler throws or names a message not in the batch', async () => {
    // Prepare
    const { queueUrl } = await createQueues();
    await send(queueUrl, 'x', 'y');
    let calls = 0;
    const { source, events, lines } = await startSource(
      queueUrl,
      async () => {
        calls += 1;
        if (calls === 1) throw new Error('Graph unavailable');
        if (calls === 2) return { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] };
        return { batchItemFailures: [] };
      },
      { batchSize: 10 },
    );

    // Act
    await source.idle();

    // Assess
    expect(bodiesOf(events).map((bodies) => [...bodies].sort())).toEqual([
      ['x', 'y'],
      ['x', 'y'],
      ['x', 'y'],
    ]);
    expect(events[2]?.Records.map((record) => record.attributes.ApproximateReceiveCount)).toEqual(['3', '3']);
    expect(lines[0]).toBe('resync (queue): 2 messages, 0 done, 2 failed, the handler threw Error: Graph unavailable (left for redelivery)');
    expect(lines[1]).toBe('resync (queue): 2 messages (receive 2), 0 done, 2 failed by an invalid batchItemFailures answer (left for redelivery)');
    expect(source.stats()).toMatchObject({ deleted: 2, failed: 4 });
  });

  it('lets the redrive policy move a message that keeps failing to the dead-letter queue after maxReceiveCount receives', async () => {
    // Prepare
    const { queueUrl, dlqUrl } = await createQueues(2);
    await send(queueUrl, 'poison', 'fine');
    const { source, events } = await startSource(queueUrl, async (event) => ({
      batchItemFailures: event.Records.filter((record) => record.body === 'poison').map((record) => ({ itemIdentifier: record.messageId })),
    }));

    // Act
    await source.idle();
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MessageSystemAttributeNames: ['All'], WaitTimeSeconds: 0 }));

    // Assess
    expect(bodiesOf(events).flat().filter((body) => body === 'poison')).toHaveLength(2);
    expect(bodiesOf(events).flat().filter((body) => body === 'fine')).toHaveLength(1);
    expect(dead.Messages?.map((message) => message.Body)).toEqual(['poison']);
    expect(dead.Messages?.[0]?.Attributes?.['DeadLetterQueueSourceArn']).toBe(`arn:aws:sqs:${REGION}:${ACCOUNT}:work`);
    expect(await counts(queueUrl)).toEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });

  it('on stop, waits for the batch in progress and deletes it if it succeeded', async () => {
    // Prepare
    const { queueUrl } = await createQueues();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const handling = new Promise<void>((resolve) => (started = resolve));
    const order: string[] = [];
    const { source } = await startSource(queueUrl, async () => {
      started();
      await released;
      order.push('handler done');
    });
    await send(queueUrl, 'long job');
    await handling;

    // Act
    const stopping = source.stop().then(() => order.push('stopped'));
    release();
    await stopping;

    // Assess
    expect(order).toEqual(['handler done', 'stopped']);
    expect(source.stats()).toMatchObject({ batches: 1, deleted: 1 });
    expect(await counts(queueUrl)).toEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });

  it('resolves idle at once for an empty queue while it long-polls, and stops without waiting for the poll', async () => {
    // Prepare
    const { queueUrl } = await createQueues();
    const { source, events } = await startSource(queueUrl, async () => undefined);

    // Act
    await source.idle();
    await source.stop();

    // Assess
    expect(events).toEqual([]);
  });

  it('creates the queue and its dead-letter queue with a redrive policy, and finds them on a second call', async () => {
    // Act
    const first = await createQueues(5);
    const second = await createQueues(5);
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: first.queueUrl, AttributeNames: ['RedrivePolicy', 'VisibilityTimeout'] }));

    // Assess
    expect(second).toEqual(first);
    expect(Attributes?.['VisibilityTimeout']).toBe('1');
    expect(JSON.parse(Attributes?.['RedrivePolicy'] ?? '')).toEqual({ deadLetterTargetArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:work-dlq`, maxReceiveCount: 5 });
  });

  it('refuses to start on a queue that does not exist', async () => {
    // Act
    const start = startSqsEventSource({
      endpoint: emulator.url,
      region: REGION,
      credentials: LOCAL_CREDENTIALS,
      queueUrl: `${emulator.url}/${ACCOUNT}/missing`,
      label: 'resync',
      handler: async () => undefined,
      log: () => undefined,
      logError: () => undefined,
    });

    // Assess
    await expect(start).rejects.toBeInstanceOf(QueueDoesNotExist);
  });
});
