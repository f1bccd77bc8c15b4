import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config/env-names';
import { ROUTE_INDEX_STREAM } from '../../shared/routing/route-index';
import { keys } from '../../shared/store/items';
import type { ConnectionsTable } from './connections-table';
import { GraphRelayFunction } from './house-function';

export interface RouteIndexProps {
  readonly connections: ConnectionsTable;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/**
 * From the oldest record the stream keeps (24 hours): on the first deploy of the index this covers recent changes;
 * `graph-relay migrate` covers older items. Replaying a record is harmless (set ADD/DELETE).
 */
export const ROUTE_INDEX_STARTING_POSITION = lambda.StartingPosition.TRIM_HORIZON;

/**
 * Derives each tenant's route item from the connection items, from the connections table's stream, so a
 * connection written by hand in the console routes with no second item to keep in step
 * (shared/routing/route-index.ts). A second reader of the stream, beside the reconciler: DynamoDB Streams serves
 * two readers per shard.
 */
export class RouteIndex extends Construct {
  readonly function: GraphRelayFunction;
  readonly failures: sqs.Queue;
  readonly failuresAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RouteIndexProps) {
    super(scope, id);
    this.function = new GraphRelayFunction(this, 'RouteIndex', {
      name: 'route-index',
      memorySize: 256,
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
      logRemovalPolicy: props.logRemovalPolicy,
      environment: { [ENV.connectionsTable]: props.connections.table.tableName },
    });
    const fn = this.function.function;
    // Route items are updated (set ADD/DELETE), deleted when empty, and the integration's routes version bumped.
    props.connections.table.grant(fn, 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');

    this.failures = new sqs.Queue(this, 'StreamFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    fn.addEventSource(
      new DynamoEventSource(props.connections.table, {
        startingPosition: ROUTE_INDEX_STARTING_POSITION,
        batchSize: ROUTE_INDEX_STREAM.batchSize,
        bisectBatchOnError: true,
        retryAttempts: ROUTE_INDEX_STREAM.retryAttempts,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.failures),
        filters: [lambda.FilterCriteria.filter({ dynamodb: { Keys: { sk: { S: lambda.FilterRule.beginsWith(keys.connectionPrefix) } } } })],
      }),
    );
    this.failuresAlarm = new cloudwatch.Alarm(this, 'StreamFailuresAlarm', {
      metric: this.failures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'Connection changes the route index gave up on: their tenants may route stale. Run graph-relay migrate to rebuild the routes.',
    });
  }
}
