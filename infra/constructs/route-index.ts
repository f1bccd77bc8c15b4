import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ROUTE_INDEX_STREAM } from '../../shared/routing/route-index';
import { readConnectionChanges } from './connection-changes';
import { deadLetterAlarm } from './dead-letter-queue';
import { GraphRelayFunction, type RelayFunctionContext } from './house-function';

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

  constructor(scope: Construct, id: string, props: RelayFunctionContext) {
    super(scope, id);
    this.function = new GraphRelayFunction(this, 'RouteIndex', { ...props, name: 'route-index', memorySize: 256, timeout: Duration.seconds(60) });
    // Route items are updated (set ADD/DELETE), deleted when empty, and the integration's routes version bumped.
    props.connections.table.grant(this.function.function, 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');

    this.failures = readConnectionChanges(this, this.function, props.connections, {
      startingPosition: ROUTE_INDEX_STARTING_POSITION,
      ...ROUTE_INDEX_STREAM,
      failuresAcknowledgement:
        'This queue is itself the failure destination of the route index\'s stream event source mapping; a queue behind it would hold nothing new.',
    });
    this.failuresAlarm = deadLetterAlarm(
      this,
      'StreamFailuresAlarm',
      this.failures,
      'Connection changes the route index gave up on: their tenants may route stale. Run graph-relay migrate to rebuild the routes.',
    );
  }
}
