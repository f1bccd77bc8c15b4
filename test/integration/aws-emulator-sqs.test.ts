/**
 * The emulator's SQS against the unmodified SDK client (AWS JSON 1.0): the behaviour the resync queue and its event
 * source rely on (visibility, receive counts, long polling, redrive) and the errors AWS documents, thrown as the
 * SDK's named exceptions.
 */
import { createHash } from 'node:crypto';
import {
  BatchEntryIdsNotDistinct,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  EmptyBatchRequest,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  InvalidAttributeName,
  MessageNotInflight,
  PurgeQueueCommand,
  PurgeQueueInProgress,
  QueueDoesNotExist,
  QueueNameExists,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  SQSServiceException,
  TooManyEntriesInBatchRequest,
} from '@aws-sdk/client-sqs';
import { startAwsEmulator, type AwsEmulator } from '../../local/aws-emulator';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const ACCOUNT = '000000000000';

async function rejectionOf(promise: Promise<unknown>): Promise<SQSServiceException> {
  try {
    await promise;
  } catch (error) {
    return error as SQSServiceException;
  }
  throw new Error('expected the call to fail');
}

/** Waits until `done` holds; the deadline only bounds a hang, it is not what is tested. */
async function eventually(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A body of exactly `bytes` UTF-8 bytes, partly two-byte characters so bytes (not characters) are counted. */
function bodyOfBytes(bytes: number): string {
  const twoByte = Math.floor(bytes / 4);
  const body = 'é'.repeat(twoByte) + 'x'.repeat(bytes - twoByte * 2);
  expect(Buffer.byteLength(body)).toBe(bytes);
  return body;
}

describe('AWS emulator: SQS', () => {
  let emulator: AwsEmulator;
  let client: SQSClient;

  beforeEach(async () => {
    emulator = await startAwsEmulator();
    client = new SQSClient({ endpoint: emulator.url, region: 'us-east-1', credentials, maxAttempts: 1 });
  });

  afterEach(async () => {
    client.destroy();
    await emulator.close();
  });

  const createQueue = async (name: string, attributes: Record<string, string> = {}): Promise<string> =>
    (await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl ?? '';

  const attributesOf = async (queueUrl: string): Promise<Record<string, string>> =>
    (await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes ?? {};

  const receive = (queueUrl: string, options: { max?: number; visibility?: number; wait?: number } = {}) =>
    client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: options.max,
        VisibilityTimeout: options.visibility,
        WaitTimeSeconds: options.wait ?? 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );

  describe('queues', () => {
    it('creates a queue with its attributes, finds it by name, and answers CreateQueue again only with the same attributes', async () => {
      // Prepare
      const dlqUrl = await createQueue('resync-dlq');
      const dlqArn = `arn:aws:sqs:us-east-1:${ACCOUNT}:resync-dlq`;
      const redrivePolicy = JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 });

      // Act
      const queueUrl = await createQueue('resync', { VisibilityTimeout: '120', RedrivePolicy: redrivePolicy });
      const again = await createQueue('resync', { VisibilityTimeout: '120' });
      const conflict = await rejectionOf(createQueue('resync', { VisibilityTimeout: '60' }));
      const found = await client.send(new GetQueueUrlCommand({ QueueName: 'resync' }));
      const attributes = await attributesOf(queueUrl);

      // Assess
      expect(queueUrl).toBe(`${emulator.url}/${ACCOUNT}/resync`);
      expect(dlqUrl).toBe(`${emulator.url}/${ACCOUNT}/resync-dlq`);
      expect(again).toBe(queueUrl);
      expect(found.QueueUrl).toBe(queueUrl);
      expect(conflict).toBeInstanceOf(QueueNameExists);
      expect(attributes).toMatchObject({
        QueueArn: `arn:aws:sqs:us-east-1:${ACCOUNT}:resync`,
        VisibilityTimeout: '120',
        MaximumMessageSize: '1048576',
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
      });
      expect(JSON.parse(attributes['RedrivePolicy'] ?? '')).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 });
    });

    it('refuses a redrive policy whose dead-letter queue does not exist or whose maxReceiveCount is out of range', async () => {
      // Prepare
      await createQueue('dlq');
      const policy = (arn: string, maxReceiveCount: number) => JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount });

      // Act
      const missing = await rejectionOf(createQueue('work', { RedrivePolicy: policy(`arn:aws:sqs:us-east-1:${ACCOUNT}:nope`, 3) }));
      const zero = await rejectionOf(createQueue('work', { RedrivePolicy: policy(`arn:aws:sqs:us-east-1:${ACCOUNT}:dlq`, 0) }));
      const badAttribute = await rejectionOf(createQueue('work', { Colour: 'blue' }));

      // Assess
      expect(missing.name).toBe('InvalidParameterValue');
      expect(missing.message).toMatch(/Dead letter target does not exist/);
      expect(zero.name).toBe('InvalidParameterValue');
      expect(badAttribute).toBeInstanceOf(InvalidAttributeName);
    });

    it('throws QueueDoesNotExist, with the query error code AWS sends, for a queue that does not exist', async () => {
      // Act
      const byName = await rejectionOf(client.send(new GetQueueUrlCommand({ QueueName: 'missing' })));
      const byUrl = await rejectionOf(client.send(new SendMessageCommand({ QueueUrl: `${emulator.url}/${ACCOUNT}/missing`, MessageBody: 'x' })));
      const raw = await fetch(`${emulator.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.GetQueueUrl' },
        body: JSON.stringify({ QueueName: 'missing' }),
      });

      // Assess
      for (const error of [byName, byUrl]) {
        expect(error).toBeInstanceOf(QueueDoesNotExist);
        expect(error.message).toBe('The specified queue does not exist.');
        expect(error.$metadata.httpStatusCode).toBe(400);
        expect((error as SQSServiceException & { Code?: string }).Code).toBe('AWS.SimpleQueueService.NonExistentQueue');
      }
      expect(raw.headers.get('content-type')).toBe('application/x-amz-json-1.0');
      expect(raw.headers.get('x-amzn-query-error')).toBe('AWS.SimpleQueueService.NonExistentQueue;Sender');
      expect(await raw.json()).toEqual({ __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: 'The specified queue does not exist.' });
    });
  });

  describe('sending', () => {
    it("answers SendMessage with the body's MD5 and delivers the body with its system attributes", async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      const body = JSON.stringify({ subscriptionId: 'sub-1', trigger: 'missed', note: 'ünïcode' });

      // Act
      const sent = await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
      const { Messages } = await receive(queueUrl, { visibility: 30 });

      // Assess
      expect(sent.MD5OfMessageBody).toBe(createHash('md5').update(body).digest('hex'));
      expect(Messages).toHaveLength(1);
      const [message] = Messages ?? [];
      expect(message).toMatchObject({ MessageId: sent.MessageId, Body: body, MD5OfBody: sent.MD5OfMessageBody });
      expect(message?.Attributes).toMatchObject({ ApproximateReceiveCount: '1', SenderId: ACCOUNT });
      const sentAt = Number(message?.Attributes?.['SentTimestamp']);
      expect(Number(message?.Attributes?.['ApproximateFirstReceiveTimestamp'])).toBeGreaterThanOrEqual(sentAt);
      expect(await attributesOf(queueUrl)).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '1' });
    });

    it("accepts a message of exactly the queue's MaximumMessageSize and refuses one byte more", async () => {
      // Prepare
      const defaultUrl = await createQueue('default-size');
      const smallUrl = await createQueue('small', { MaximumMessageSize: String(256 * 1024) });

      // Act
      const atLimit = await client.send(new SendMessageCommand({ QueueUrl: smallUrl, MessageBody: bodyOfBytes(256 * 1024) }));
      const overSmall = await rejectionOf(client.send(new SendMessageCommand({ QueueUrl: smallUrl, MessageBody: bodyOfBytes(256 * 1024 + 1) })));
      const atDefault = await client.send(new SendMessageCommand({ QueueUrl: defaultUrl, MessageBody: bodyOfBytes(1024 * 1024) }));
      const overDefault = await rejectionOf(client.send(new SendMessageCommand({ QueueUrl: defaultUrl, MessageBody: bodyOfBytes(1024 * 1024 + 1) })));

      // Assess
      expect(atLimit.MessageId).toEqual(expect.any(String));
      expect(atDefault.MessageId).toEqual(expect.any(String));
      expect(overSmall.name).toBe('InvalidParameterValue');
      expect(overSmall.message).toBe('One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.');
      expect(overDefault.name).toBe('InvalidParameterValue');
      expect(overDefault.message).toMatch(/shorter than 1048576 bytes/);
    });

    it('sends a batch of up to 10, reports invalid entries one by one, and refuses empty, oversized or ambiguous batches', async () => {
      // Prepare
      const queueUrl = await createQueue('work', { MaximumMessageSize: '1024' });
      const entries = (count: number) => Array.from({ length: count }, (_, index) => ({ Id: `m${index}`, MessageBody: `body ${index}` }));

      // Act
      const mixed = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [...entries(8), { Id: 'big', MessageBody: 'x'.repeat(1025) }, { Id: 'late', MessageBody: 'ok', DelaySeconds: 901 }],
        }),
      );
      const eleven = await rejectionOf(client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries(11) })));
      const empty = await rejectionOf(client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [] })));
      const repeated = await rejectionOf(client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [...entries(2), { Id: 'm0', MessageBody: 'again' }] })));

      // Assess
      expect(mixed.Successful?.map((entry) => entry.Id)).toEqual(entries(8).map((entry) => entry.Id));
      expect(mixed.Failed).toEqual([
        expect.objectContaining({ Id: 'big', Code: 'InvalidParameterValue', SenderFault: true }),
        expect.objectContaining({ Id: 'late', Code: 'InvalidParameterValue', SenderFault: true }),
      ]);
      expect(eleven).toBeInstanceOf(TooManyEntriesInBatchRequest);
      expect(empty).toBeInstanceOf(EmptyBatchRequest);
      expect(repeated).toBeInstanceOf(BatchEntryIdsNotDistinct);
      expect(await attributesOf(queueUrl)).toMatchObject({ ApproximateNumberOfMessages: '8' });
    });

    it('holds a delayed message back: counted as delayed, not received, then delivered to a long poll', async () => {
      // Prepare
      const queueUrl = await createQueue('work');

      // Act
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'later', DelaySeconds: 900 }));
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'soon', DelaySeconds: 1 }));
      const counts = await attributesOf(queueUrl);
      const delivered = await receive(queueUrl, { wait: 20 });

      // Assess
      expect(counts['ApproximateNumberOfMessagesDelayed']).toBe('2');
      expect(delivered.Messages?.map((message) => message.Body)).toEqual(['soon']);
    });
  });

  describe('receiving', () => {
    it('receives at most MaxNumberOfMessages, and refuses more than 10', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      for (let index = 0; index < 15; index += 1) await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `m${index}` }));

      // Act
      const first = await receive(queueUrl, { max: 10, visibility: 30 });
      const rest = await receive(queueUrl, { max: 10, visibility: 30 });
      const tooMany = await rejectionOf(receive(queueUrl, { max: 11 }));

      // Assess
      expect(first.Messages).toHaveLength(10);
      expect(rest.Messages).toHaveLength(5);
      expect(tooMany.name).toBe('InvalidParameterValue');
      expect(await attributesOf(queueUrl)).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '15' });
    });

    it('hides a received message for its visibility timeout, then hands it out again with a higher receive count', async () => {
      // Prepare
      const queueUrl = await createQueue('work', { VisibilityTimeout: '1' });
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'again' }));
      const first = await receive(queueUrl);

      // Act
      const second = await receive(queueUrl, { wait: 20 });

      // Assess
      expect(first.Messages?.[0]?.Attributes?.['ApproximateReceiveCount']).toBe('1');
      expect(second.Messages?.[0]).toMatchObject({ MessageId: first.Messages?.[0]?.MessageId, Body: 'again' });
      expect(second.Messages?.[0]?.Attributes?.['ApproximateReceiveCount']).toBe('2');
      expect(second.Messages?.[0]?.ReceiptHandle).not.toBe(first.Messages?.[0]?.ReceiptHandle);
      expect(second.Messages?.[0]?.Attributes?.['ApproximateFirstReceiveTimestamp']).toBe(first.Messages?.[0]?.Attributes?.['ApproximateFirstReceiveTimestamp']);
    });

    it('answers a long poll as soon as a message arrives, and an empty one with no Messages', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      const empty = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));

      // Act
      const waiting = receive(queueUrl, { wait: 20 });
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'arrived' }));
      const answered = await waiting;

      // Assess
      expect(empty.Messages).toBeUndefined();
      expect(answered.Messages?.map((message) => message.Body)).toEqual(['arrived']);
    });

    it('lets ChangeMessageVisibility show a message at once, and refuses it for a message not in flight', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'm' }));
      const first = await receive(queueUrl, { visibility: 300 });
      const handle = first.Messages?.[0]?.ReceiptHandle ?? '';

      // Act
      const hidden = await receive(queueUrl);
      await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: handle, VisibilityTimeout: 0 }));
      const notInFlight = await rejectionOf(client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: handle, VisibilityTimeout: 10 })));
      const shown = await receive(queueUrl, { visibility: 300 });
      const newHandle = shown.Messages?.[0]?.ReceiptHandle ?? '';
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: newHandle }));
      const gone = await rejectionOf(client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: newHandle, VisibilityTimeout: 10 })));

      // Assess
      expect(hidden.Messages).toBeUndefined();
      expect(notInFlight).toBeInstanceOf(MessageNotInflight);
      expect(shown.Messages?.[0]?.Body).toBe('m');
      expect(gone.name).toBe('InvalidParameterValue');
    });
  });

  describe('deleting', () => {
    it('deletes with the latest receipt handle only, and refuses a handle it never issued', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'm' }));
      const stale = (await receive(queueUrl, { visibility: 0 })).Messages?.[0]?.ReceiptHandle ?? '';
      const latest = (await receive(queueUrl, { visibility: 300 })).Messages?.[0]?.ReceiptHandle ?? '';

      // Act
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: stale }));
      const afterStale = await attributesOf(queueUrl);
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: latest }));
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: latest }));
      const invalid = await rejectionOf(client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: 'not-a-handle' })));

      // Assess
      expect(afterStale['ApproximateNumberOfMessagesNotVisible']).toBe('1');
      expect(await attributesOf(queueUrl)).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
      expect(invalid).toBeInstanceOf(ReceiptHandleIsInvalid);
    });

    it('deletes a batch, reporting an invalid receipt handle as a failed entry', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] }));
      const { Messages = [] } = await receive(queueUrl, { max: 10, visibility: 300 });

      // Act
      const result = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [...Messages.map((message, index) => ({ Id: `d${index}`, ReceiptHandle: message.ReceiptHandle ?? '' })), { Id: 'bad', ReceiptHandle: 'garbage' }],
        }),
      );

      // Assess
      expect(Messages).toHaveLength(2);
      expect(result.Successful?.map((entry) => entry.Id)).toEqual(['d0', 'd1']);
      expect(result.Failed).toEqual([expect.objectContaining({ Id: 'bad', Code: 'ReceiptHandleIsInvalid', SenderFault: true })]);
      expect(await attributesOf(queueUrl)).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    });

    it('purges a queue, and refuses a second purge within 60 seconds', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'm' }));

      // Act
      await client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
      const again = await rejectionOf(client.send(new PurgeQueueCommand({ QueueUrl: queueUrl })));

      // Assess
      expect(await attributesOf(queueUrl)).toMatchObject({ ApproximateNumberOfMessages: '0' });
      expect(again).toBeInstanceOf(PurgeQueueInProgress);
    });
  });

  describe('dead-letter queue', () => {
    it('moves a message received maxReceiveCount times to the dead-letter queue, keeping its id, body and count', async () => {
      // Prepare
      const dlqUrl = await createQueue('work-dlq');
      const queueUrl = await createQueue('work', {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `arn:aws:sqs:us-east-1:${ACCOUNT}:work-dlq`, maxReceiveCount: 2 }),
      });
      const sent = await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));

      // Act
      const receives = [await receive(queueUrl, { visibility: 0 }), await receive(queueUrl, { visibility: 0 }), await receive(queueUrl, { visibility: 0 })];
      const dead = await receive(dlqUrl, { visibility: 300 });

      // Assess
      expect(receives.map((response) => response.Messages?.[0]?.Attributes?.['ApproximateReceiveCount'])).toEqual(['1', '2', undefined]);
      expect(dead.Messages?.[0]).toMatchObject({ MessageId: sent.MessageId, Body: 'poison' });
      expect(dead.Messages?.[0]?.Attributes).toMatchObject({
        ApproximateReceiveCount: '3',
        DeadLetterQueueSourceArn: `arn:aws:sqs:us-east-1:${ACCOUNT}:work`,
      });
      expect(await attributesOf(queueUrl)).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    });
  });

  describe('endpoint and faults', () => {
    const saved = process.env['AWS_ENDPOINT_URL_SQS'];
    afterEach(() => {
      if (saved === undefined) delete process.env['AWS_ENDPOINT_URL_SQS'];
      else process.env['AWS_ENDPOINT_URL_SQS'] = saved;
    });

    it('is reachable through AWS_ENDPOINT_URL_SQS alone', async () => {
      // Prepare
      process.env['AWS_ENDPOINT_URL_SQS'] = emulator.url;
      const fromEnv = new SQSClient({ region: 'us-east-1', credentials });

      // Act
      const { QueueUrl } = await fromEnv.send(new CreateQueueCommand({ QueueName: 'env' }));
      await fromEnv.send(new SendMessageCommand({ QueueUrl, MessageBody: 'm' }));
      fromEnv.destroy();

      // Assess
      expect(QueueUrl).toBe(`${emulator.url}/${ACCOUNT}/env`);
      expect(emulator.stats()).toEqual({ CreateQueue: 1, SendMessage: 1 });
    });

    it('can be failed by an injected fault like any other operation', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      emulator.faults.inject({ operation: 'ReceiveMessage', mode: 'error', errorCode: 'ServiceUnavailable', times: 1 });

      // Act
      const failed = await rejectionOf(receive(queueUrl));
      const next = await receive(queueUrl);

      // Assess
      expect(failed.name).toBe('ServiceUnavailable');
      expect(failed.$metadata.httpStatusCode).toBe(503);
      expect(next.Messages).toBeUndefined();
    });

    it('answers a pending long poll when the emulator closes, instead of holding the close', async () => {
      // Prepare
      const queueUrl = await createQueue('work');
      const waiting = receive(queueUrl, { wait: 20 }).then(
        () => 'answered',
        () => 'connection closed',
      );
      await eventually(() => emulator.stats()['ReceiveMessage'] === 1);

      // Act
      await emulator.close();
      emulator = await startAwsEmulator();

      // Assess
      expect(['answered', 'connection closed']).toContain(await waiting);
    });
  });
});
