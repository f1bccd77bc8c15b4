import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export interface QueueWithDeadLetterQueue {
  /** The work queue, e.g. the resync queue. */
  queueName: string;
  deadLetterQueueName: string;
  /** Receives before SQS moves a message to the dead-letter queue. */
  maxReceiveCount: number;
  /** How long a received message stays hidden; Lambda's guide asks for at least 6 times the function's timeout. */
  visibilityTimeoutSeconds: number;
}

export interface EnsuredQueues {
  queueUrl: string;
  queueArn: string;
  deadLetterQueueUrl: string;
}

/**
 * Creates a queue and its dead-letter queue with a redrive policy, as the deployed stack would; a second call with
 * the same settings finds them (CreateQueue is idempotent for identical attributes).
 */
export async function ensureQueueWithDeadLetterQueue(sqs: SQSClient, settings: QueueWithDeadLetterQueue): Promise<EnsuredQueues> {
  const { QueueUrl: deadLetterQueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: settings.deadLetterQueueName }));
  const { Attributes: deadLetter } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] }));
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: settings.queueName,
      Attributes: {
        VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetter?.['QueueArn'], maxReceiveCount: settings.maxReceiveCount }),
      },
    }),
  );
  const { Attributes: queue } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  if (queueUrl === undefined || deadLetterQueueUrl === undefined || queue?.['QueueArn'] === undefined) {
    throw new Error(`queue ${settings.queueName} or ${settings.deadLetterQueueName} was created without a URL or ARN`);
  }
  return { queueUrl, queueArn: queue['QueueArn'], deadLetterQueueUrl };
}
