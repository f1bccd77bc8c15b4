import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Rule } from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { deadLetterAlarm, deadLetterQueue } from './dead-letter-queue';
import { GraphCaller, type EventPublishing, type GraphCallerContext } from './graph-caller';

export interface LifecycleHandlerProps extends GraphCallerContext {
  readonly publishes: EventPublishing;
  /** `<webhook API URL>webhook/`: notificationUrl of recreated subscriptions = this + integrationId. */
  readonly webhookBaseUrl: string;
  /**
   * Lambda keeps retrying throttled asynchronous events within maxEventAge, so a cap delays, never drops.
   * @default none: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
}

/** One reauthorize, PATCH or recreation (Graph validates the URLs before answering a create: up to 30 s). */
export const LIFECYCLE_TIMEOUT = Duration.minutes(1);

/** Lambda's asynchronous retries of a failed invocation before the event goes to the dead-letter queue. */
export const LIFECYCLE_RETRY_ATTEMPTS = 2;

/**
 * Acts on Graph's lifecycle notifications as they arrive on the bus: a function invoked by an EventBridge rule on
 * `Graph Lifecycle Notification` events from the relay. A failed invocation is retried twice by Lambda, then the
 * event (with the error) goes to an encrypted SQS dead-letter queue, which alarms as soon as it holds anything.
 * Events EventBridge itself could not deliver to the function go to the same queue.
 */
export class LifecycleHandler extends Construct {
  readonly function: GraphCaller;
  readonly rule: Rule;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: LifecycleHandlerProps) {
    super(scope, id);

    this.deadLetterQueue = deadLetterQueue(
      this,
      'DeadLetterQueue',
      'This queue is itself the dead-letter queue: the lifecycle function\'s on-failure destination and its rule target\'s DLQ (cdk-nag only recognises queue redrive policies).',
    );

    this.function = new GraphCaller(this, 'Lifecycle', {
      ...props,
      name: 'lifecycle',
      timeout: LIFECYCLE_TIMEOUT,
      retryAttempts: LIFECYCLE_RETRY_ATTEMPTS,
      // Reauthorization is urgent (Graph pauses delivery until then); an event older than this is better handled
      // by the operator from the queue than acted on late.
      maxEventAge: Duration.hours(1),
      onFailure: sendOnlyQueueDestination(this.deadLetterQueue),
      // Exactly its calls: the subscription record and the integration (GetItem), a renewal or a consent/failed
      // mark (UpdateItem), a recreation (PutItem new, DeleteItem old); subscription events; the app credentials.
      grantConnections: (fn) => props.connections.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'),
      secretsReader: 'Lifecycle handling reads the app credentials of whichever integration the event names',
    });
    const fn = this.function.function;

    this.rule = new Rule(this, 'LifecycleEvents', {
      description: 'Acts on Microsoft Graph lifecycle notifications: reauthorize, renew or recreate the subscription',
      eventBus: props.publishes.bus,
      eventPattern: { source: [props.publishes.eventSource], detailType: [DETAIL_TYPES.lifecycle] },
      targets: [new eventsTargets.LambdaFunction(fn, { deadLetterQueue: this.deadLetterQueue, maxEventAge: Duration.hours(1), retryAttempts: 8 })],
    });

    this.deadLetterAlarm = deadLetterAlarm(
      this,
      'DeadLetters',
      this.deadLetterQueue,
      'A Graph lifecycle notification could not be acted on after retries: a subscription may be paused or gone. Inspect the dead-letter queue.',
    );
  }
}

/**
 * An on-failure destination whose grant is `sqs:SendMessage` alone, the one call Lambda makes with the function's
 * role (SqsDestination grants GetQueueAttributes and GetQueueUrl as well).
 */
function sendOnlyQueueDestination(queue: sqs.IQueue): lambda.IDestination {
  return {
    bind(_scope, fn) {
      iam.Grant.addToPrincipal({ grantee: fn, actions: ['sqs:SendMessage'], resourceArns: [queue.queueArn] });
      return { destination: queue.queueArn };
    },
  };
}
