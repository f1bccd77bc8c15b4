import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { relayAlarm } from './relay-metrics';

/**
 * A queue holding what the relay gave up on (failed events, undelivered invocations, stream batches): encrypted,
 * TLS only, and kept for the longest SQS allows, time for an operator to look, then redrive or discard.
 * `acknowledgement` is the reason cdk-nag's "no dead-letter queue" finding does not apply: such a queue is itself
 * the end of the line (cdk-nag recognises only queue redrive policies).
 */
export function deadLetterQueue(scope: Construct, id: string, acknowledgement?: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  if (acknowledgement !== undefined) Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: acknowledgement });
  return queue;
}

/** An alarm as soon as the queue holds a message: each one is something the relay gave up on. */
export function deadLetterAlarm(scope: Construct, id: string, queue: sqs.IQueue, description: string): cloudwatch.Alarm {
  const metric = queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM });
  return relayAlarm(scope, id, metric, { atLeast: 1 }, description);
}
