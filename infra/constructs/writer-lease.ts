import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config/env-names';
import { HANDOFF_PARTITION } from '../../shared/leadership/handoffs';
import { WRITER_LEASE_KEY } from '../../shared/leadership/writer-lease';
import { GraphRelayFunction, type RelayFunctionContext } from './house-function';
import { failedRunsAlarm, scheduledRunSettings, ScheduledInvocation } from './scheduled-invocation';

/** The environment that turns the writer lease on in a function of a multi-region stage. */
export function writerLeaseEnvironment(region: string, leaseTable: dynamodb.ITableV2): Record<string, string> {
  return { [ENV.writerLease]: 'on', [ENV.relayRegion]: region, [ENV.writerLeaseTable]: leaseTable.tableName };
}

/** What a function gated on the lease may do with its table: read the item, consistently. */
export function grantReadWriterLease(leaseTable: dynamodb.ITableV2, fn: lambda.IFunction): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [leaseTable.tableArn] }));
}

export interface WriterLeaseProps extends RelayFunctionContext {
  /** This stack's region, as the lease records its holder. */
  readonly region: string;
  /** The lease's own strongly consistent table (writer-lease-table.ts). */
  readonly leaseTable: dynamodb.ITableV2;
  /** Invoked (asynchronously) once when this region takes the lease over, so nothing waits for their schedules. */
  readonly renewal: lambda.IFunction;
  readonly reconcile: lambda.IFunction;
  /** The writer hands it the lifecycle events another region recorded. */
  readonly lifecycle: lambda.IFunction;
  /** The writer sends it the resync jobs another region recorded. */
  readonly resyncQueue: sqs.IQueue;
}

/** The heartbeat's rate: the holder renews every minute a lease of 3 (shared/leadership/writer-lease.ts). */
export const WRITER_LEASE_INTERVAL_MINUTES = 1;

/**
 * The Graph writer lease's heartbeat in one region of a multi-region stage (shared/leadership/): a function invoked
 * every minute by EventBridge Scheduler that renews the lease it holds or takes one that expired past the grace, on
 * takeover invokes renewal and the reconciler once, and, while the writer, delivers the hand-offs other regions
 * recorded (lifecycle events to the lifecycle function, resync jobs to the resync queue) and deletes them.
 */
export class WriterLease extends Construct {
  readonly function: GraphRelayFunction;
  readonly scheduled: ScheduledInvocation;
  readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WriterLeaseProps) {
    super(scope, id);

    this.function = new GraphRelayFunction(this, 'Heartbeat', {
      ...props,
      name: 'writer-lease',
      memorySize: 256,
      timeout: Duration.seconds(30),
      // One heartbeat at a time; a missed one is no loss, the next comes a minute later.
      ...scheduledRunSettings('writer lease', WRITER_LEASE_INTERVAL_MINUTES),
      environment: {
        ...writerLeaseEnvironment(props.region, props.leaseTable),
        [ENV.renewalFunctionName]: props.renewal.functionName,
        [ENV.reconcileFunctionName]: props.reconcile.functionName,
        [ENV.lifecycleFunctionName]: props.lifecycle.functionName,
        [ENV.resyncQueueUrl]: props.resyncQueue.queueUrl,
      },
    });
    const fn = this.function.function;

    // Exactly its items: the lease in its own table (a consistent read, conditional writes) and the hand-offs in the
    // connections table (listed, then deleted once delivered). `dynamodb:LeadingKeys` holds each grant to its partition.
    const partition = (pk: string) => ({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [pk] } });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [props.leaseTable.tableArn],
        conditions: partition(WRITER_LEASE_KEY.pk),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query', 'dynamodb:DeleteItem'],
        resources: [props.connections.table.tableArn],
        conditions: partition(HANDOFF_PARTITION),
      }),
    );
    // The exact functions (no `:*`: it invokes no version or alias), and the queue's one send call.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.renewal.functionArn, props.reconcile.functionArn, props.lifecycle.functionArn],
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.resyncQueue.queueArn] }));

    this.scheduled = new ScheduledInvocation(this, 'Schedule', {
      function: fn,
      intervalMinutes: WRITER_LEASE_INTERVAL_MINUTES,
      description: 'Renews or takes over the Graph writer lease of this region, and delivers hand-offs while the writer',
      deadLetterOf: 'the writer lease heartbeat\'s schedule target',
    });
    this.errorsAlarm = failedRunsAlarm(
      this,
      'HeartbeatErrors',
      fn,
      WRITER_LEASE_INTERVAL_MINUTES,
      'Writer lease heartbeats failed in two 5-minute periods in a row: this region can neither hold nor take the Graph writer lease. See the writer-lease logs.',
    );
  }
}
