import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, type IEventBus } from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, GRAPH_ENV } from '../../shared/config/env-names';
import { DETAIL_TYPES } from '../../shared/events/contract';
import { GRAPH_DEFAULTS } from '../../shared/graph/graph-config';
import type { ConnectionsTable } from './connections-table';
import { GraphRelayFunction } from './house-function';

export interface LifecycleHandlerProps {
  readonly connections: ConnectionsTable;
  readonly bus: IEventBus;
  readonly eventSource: string;
  readonly webhookSecretPrefix: string;
  /** ARN pattern covering every integration secret of the stage. */
  readonly integrationSecretsArn: string;
  /** `<webhook API URL>webhook/`: notificationUrl of recreated subscriptions = this + integrationId. */
  readonly webhookBaseUrl: string;
  /** @default none: the function shares the account's unreserved concurrency */
  readonly reservedConcurrentExecutions?: number;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
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
  readonly function: GraphRelayFunction;
  readonly rule: Rule;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: LifecycleHandlerProps) {
    super(scope, id);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS keeps a message: time for an operator to look, then redrive or discard.
      retentionPeriod: Duration.days(14),
    });

    this.function = new GraphRelayFunction(this, 'Lifecycle', {
      name: 'lifecycle',
      memorySize: 512,
      timeout: LIFECYCLE_TIMEOUT,
      retryAttempts: LIFECYCLE_RETRY_ATTEMPTS,
      // Reauthorization is urgent (Graph pauses delivery until then); an event older than this is better handled
      // by the operator from the queue than acted on late.
      maxEventAge: Duration.hours(1),
      onFailure: sendOnlyQueueDestination(this.deadLetterQueue),
      // Lambda keeps retrying throttled asynchronous events within maxEventAge, so a cap delays, never drops.
      ...(props.reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
      environment: {
        [ENV.connectionsTable]: props.connections.table.tableName,
        [ENV.eventBus]: props.bus.eventBusName,
        [ENV.eventSource]: props.eventSource,
        [ENV.webhookSecretPrefix]: props.webhookSecretPrefix,
        [ENV.webhookBaseUrl]: props.webhookBaseUrl,
        [GRAPH_ENV.apiUrl]: GRAPH_DEFAULTS.apiUrl,
        [GRAPH_ENV.loginUrl]: GRAPH_DEFAULTS.loginUrl,
      },
    });
    const fn = this.function.function;

    // Exactly its calls: the subscription record and the integration (GetItem), a renewal or a consent/failed
    // mark (UpdateItem), a recreation (PutItem new, DeleteItem old); subscription events; the app credentials.
    props.connections.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    props.bus.grantPutEventsTo(fn);
    iam.Grant.addToPrincipal({ grantee: fn, actions: ['secretsmanager:GetSecretValue'], resourceArns: [props.integrationSecretsArn] });

    this.rule = new Rule(this, 'LifecycleEvents', {
      description: 'Acts on Microsoft Graph lifecycle notifications: reauthorize, renew or recreate the subscription',
      eventBus: props.bus,
      eventPattern: { source: [props.eventSource], detailType: [DETAIL_TYPES.lifecycle] },
      targets: [new eventsTargets.LambdaFunction(fn, { deadLetterQueue: this.deadLetterQueue, maxEventAge: Duration.hours(1), retryAttempts: 8 })],
    });

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetters', {
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'A Graph lifecycle notification could not be acted on after retries: a subscription may be paused or gone. Inspect the dead-letter queue.',
    });
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
