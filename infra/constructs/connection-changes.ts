import { Validations, type Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { keys } from '../../shared/store/items';
import type { ConnectionsTable } from './connections-table';
import { deadLetterQueue } from './dead-letter-queue';
import type { GraphRelayFunction } from './house-function';

export interface ConnectionChangesOptions {
  readonly startingPosition: lambda.StartingPosition;
  readonly batchSize: number;
  /** Retries of a failing batch (halved each time) before its records go to the failure queue. */
  readonly retryAttempts: number;
  /** @default the stream's 24 hours */
  readonly maxRecordAge?: Duration;
  /** Why the failure queue needs no dead-letter queue of its own (cdk-nag acknowledgement). */
  readonly failuresAcknowledgement: string;
}

/**
 * Feeds changes of connection items from the connections table's stream to `fn`; changes of other items
 * (subscriptions, routes, integrations) never invoke it. A failing batch is halved and retried, and once given up on
 * its stream coordinates go to the failure queue `StreamFailures` made in `scope`, which is returned.
 */
export function readConnectionChanges(scope: Construct, fn: GraphRelayFunction, connections: ConnectionsTable, options: ConnectionChangesOptions): sqs.Queue {
  const failures = deadLetterQueue(scope, 'StreamFailures', options.failuresAcknowledgement);
  fn.function.addEventSource(
    new DynamoEventSource(connections.table, {
      startingPosition: options.startingPosition,
      batchSize: options.batchSize,
      bisectBatchOnError: true,
      retryAttempts: options.retryAttempts,
      ...(options.maxRecordAge === undefined ? {} : { maxRecordAge: options.maxRecordAge }),
      reportBatchItemFailures: true,
      onFailure: new SqsDlq(failures),
      filters: [lambda.FilterCriteria.filter({ dynamodb: { Keys: { sk: { S: lambda.FilterRule.beginsWith(keys.connectionPrefix) } } } })],
    }),
  );
  // A regional table's stream grant puts ListStreams on `*`; a global table's (TableV2) scopes it to the stream ARN.
  if (connections.table instanceof dynamodb.Table) {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams, granted by the stream event source: Lambda needs it to poll the connections table\'s stream, and the action supports no resource-level restriction. Every other stream action is scoped to the table\'s stream ARN.',
    });
  }
  return failures;
}
