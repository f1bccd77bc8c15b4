import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { readConnectionChanges } from './connection-changes';
import { deadLetterAlarm } from './dead-letter-queue';
import { GraphCaller, type GraphCallerContext } from './graph-caller';
import { relayAlarm, relayMetric } from './relay-metrics';
import { failedRunsAlarm, scheduledRunSettings, ScheduledInvocation } from './scheduled-invocation';

export interface ReconcilerProps extends GraphCallerContext {
  /** `<webhook API URL>webhook/`: notificationUrl of new subscriptions = this + integrationId. */
  readonly webhookBaseUrl: string;
  /** Minutes between full reconciles. */
  readonly intervalMinutes: number;
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
  readonly function: GraphCaller;
  readonly scheduled: ScheduledInvocation;
  readonly failures: sqs.Queue;
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly failuresAlarm: cloudwatch.Alarm;
  readonly expiringAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);

    this.function = new GraphCaller(this, 'Reconcile', {
      ...props,
      name: 'reconcile',
      timeout: RECONCILE_TIMEOUT,
      // Scheduled (asynchronous) runs are not retried: the next one plans everything again.
      ...scheduledRunSettings('reconcile', props.intervalMinutes),
      // Exactly the calls of a reconcile: a changed connection is read by key (GetItem) and its records through the
      // connection index; a full run queries the integrations and pages through each integration's records and
      // connections (Query), checks which connections still exist (BatchGetItem) and files records that lack their
      // index key (UpdateItem); a create puts the subscription record, a delete deletes it; a create refused for
      // consent marks the connection needs-consent (UpdateItem); the checkpoint is read, put and deleted. The event
      // source adds the stream read.
      grantConnections: (fn) => {
        props.connections.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
        props.connections.grantQueryConnectionIndex(fn);
      },
      secretsReader: 'The reconciler creates subscriptions for every integration and reads its app credentials and webhook secret',
    });
    const fn = this.function.function;

    // Batches given up on leave their stream coordinates (shard, sequence numbers) in the failure queue; the records
    // themselves stay in the stream for 24 hours, and the scheduled reconcile retries the connections anyway.
    this.failures = readConnectionChanges(this, this.function, props.connections, {
      startingPosition: lambda.StartingPosition.LATEST,
      ...RECONCILE_STREAM,
      failuresAcknowledgement: 'This queue is itself the failure destination of the stream event source mapping; a queue behind it would hold nothing new.',
    });

    this.scheduled = new ScheduledInvocation(this, 'Schedule', {
      function: fn,
      intervalMinutes: props.intervalMinutes,
      description: `Reconciles every connection's Microsoft Graph subscriptions every ${props.intervalMinutes} minutes`,
      deadLetterOf: 'the reconcile schedule\'s target',
    });

    this.errorsAlarm = failedRunsAlarm(this, 'ReconcileErrors', fn, props.intervalMinutes, 'Reconcile invocations failed twice in a row; declared subscriptions may be missing at Graph.');
    this.failuresAlarm = deadLetterAlarm(
      this,
      'StreamFailuresAlarm',
      this.failures,
      'Connection changes the reconciler gave up on after retries; the scheduled reconcile retries them.',
    );
    // Written by the scheduled run only: one period per run keeps the alarm on while the condition lasts.
    this.expiringAlarm = relayAlarm(
      this,
      'SubscriptionsExpiringSoon',
      relayMetric('reconcile', 'SubscriptionsExpiringWithin6h', { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(props.intervalMinutes) }),
      { above: 0 },
      'Subscriptions expire within 6 hours: renewal is not keeping up or keeps failing for them. Graph stops delivering at expiry.',
    );
  }
}
