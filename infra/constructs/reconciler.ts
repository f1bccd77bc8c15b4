import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, GRAPH_ENV } from '../../shared/config/env-names';
import { GRAPH_DEFAULTS } from '../../shared/graph/graph-config';
import { keys } from '../../shared/store/items';
import type { ConnectionsTable } from './connections-table';
import { GraphRelayFunction } from './house-function';
import { relayMetric } from './relay-metrics';
import { ScheduledInvocation } from './scheduled-invocation';

export interface ReconcilerProps {
  readonly connections: ConnectionsTable;
  /** Secrets Manager name prefix of the integration secrets. */
  readonly webhookSecretPrefix: string;
  /** ARN pattern covering every integration secret of the stage. */
  readonly integrationSecretsArn: string;
  /** `<webhook API URL>webhook/`: notificationUrl of new subscriptions = this + integrationId. */
  readonly webhookBaseUrl: string;
  /** Minutes between full reconciles. */
  readonly intervalMinutes: number;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** Long enough for a full reconcile of thousands of connections; the run stops starting changes shortly before. */
export const RECONCILE_TIMEOUT = Duration.minutes(5);

/** How the connections table's stream feeds the reconciler; exported for the tests. */
export const RECONCILE_STREAM = {
  /** Small batches: each changed connection may take a few Graph creates, each with a validation handshake. */
  batchSize: 10,
  /** Retries of a failing batch (halved each time) before its records go to the failure queue. */
  retryAttempts: 3,
  /** A change older than this is left to the scheduled reconcile rather than retried from the stream. */
  maxRecordAge: Duration.hours(1),
} as const;

/**
 * Makes Graph match the connections' declared subscriptions: a function invoked by the connections table's stream
 * (each changed connection reconciled at once) and by an EventBridge Scheduler schedule (everything, catching what the
 * stream missed). One invocation at a time (reserved concurrency 1): a stream batch and a scheduled run reading
 * the same connection concurrently would both create its missing subscriptions.
 */
export class Reconciler extends Construct {
  readonly function: GraphRelayFunction;
  readonly scheduled: ScheduledInvocation;
  readonly failures: sqs.Queue;
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly failuresAlarm: cloudwatch.Alarm;
  readonly expiringAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    if (!Number.isInteger(props.intervalMinutes) || props.intervalMinutes < 1) {
      throw new RangeError(`reconcile interval must be a whole number of minutes ≥ 1, got ${props.intervalMinutes}`);
    }
    const interval = Duration.minutes(props.intervalMinutes);

    this.function = new GraphRelayFunction(this, 'Reconcile', {
      name: 'reconcile',
      memorySize: 512,
      timeout: RECONCILE_TIMEOUT,
      reservedConcurrentExecutions: 1,
      // Scheduled (asynchronous) runs are not retried: the next one plans everything again.
      retryAttempts: 0,
      maxEventAge: interval,
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
      environment: {
        [ENV.connectionsTable]: props.connections.table.tableName,
        [ENV.webhookSecretPrefix]: props.webhookSecretPrefix,
        [ENV.webhookBaseUrl]: props.webhookBaseUrl,
        [GRAPH_ENV.apiUrl]: GRAPH_DEFAULTS.apiUrl,
        [GRAPH_ENV.loginUrl]: GRAPH_DEFAULTS.loginUrl,
      },
    });
    const fn = this.function.function;

    // Exactly the calls of a reconcile: a changed connection is read by key (GetItem) and its records through the
    // connection index; a full run queries the integrations and pages through each integration's records and
    // connections (Query), checks which connections still exist (BatchGetItem) and files records that lack their
    // index key (UpdateItem); a create puts the subscription record, a delete deletes it; a create refused for
    // consent marks the connection needs-consent (UpdateItem); the checkpoint is read, put and deleted. The event
    // source adds the stream read.
    props.connections.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    props.connections.grantQueryConnectionIndex(fn);
    iam.Grant.addToPrincipal({ grantee: fn, actions: ['secretsmanager:GetSecretValue'], resourceArns: [props.integrationSecretsArn] });

    // Holds the stream coordinates (shard, sequence numbers) of batches given up on; the records themselves stay in
    // the stream for 24 hours, and the scheduled reconcile retries the connections anyway.
    this.failures = new sqs.Queue(this, 'StreamFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    fn.addEventSource(
      new DynamoEventSource(props.connections.table, {
        startingPosition: lambda.StartingPosition.LATEST,
        batchSize: RECONCILE_STREAM.batchSize,
        bisectBatchOnError: true,
        retryAttempts: RECONCILE_STREAM.retryAttempts,
        maxRecordAge: RECONCILE_STREAM.maxRecordAge,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.failures),
        // Subscription records are written by the reconciler itself: they never invoke it (the handler checks too).
        filters: [lambda.FilterCriteria.filter({ dynamodb: { Keys: { sk: { S: lambda.FilterRule.beginsWith(keys.connectionPrefix) } } } })],
      }),
    );

    this.scheduled = new ScheduledInvocation(this, 'Schedule', {
      function: fn,
      intervalMinutes: props.intervalMinutes,
      description: `Reconciles every connection's Microsoft Graph subscriptions every ${props.intervalMinutes} minutes`,
    });

    this.errorsAlarm = new cloudwatch.Alarm(this, 'ReconcileErrors', {
      metric: fn.metricErrors({ period: Duration.minutes(Math.max(5, props.intervalMinutes)) }),
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'Reconcile invocations failed twice in a row; declared subscriptions may be missing at Graph.',
    });
    this.failuresAlarm = new cloudwatch.Alarm(this, 'StreamFailuresAlarm', {
      metric: this.failures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'Connection changes the reconciler gave up on after retries; the scheduled reconcile retries them.',
    });
    // Written by the scheduled run only: one period per run keeps the alarm on while the condition lasts.
    this.expiringAlarm = new cloudwatch.Alarm(this, 'SubscriptionsExpiringSoon', {
      metric: relayMetric('reconcile', 'SubscriptionsExpiringWithin6h', { statistic: cloudwatch.Stats.MAXIMUM, period: interval }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'Subscriptions expire within 6 hours: renewal is not keeping up or keeps failing for them. Graph stops delivering at expiry.',
    });
  }
}
