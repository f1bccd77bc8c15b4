import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { relayMetric } from './relay-metrics';

export interface OperationsDashboardProps {
  readonly intake: lambda.IFunction;
  readonly webhookStage: apigwv2.IHttpStage;
  /** Every dead-letter (and failure) queue of the stack, by the name shown on the graph. */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  /** Minutes between the runs writing the renewal and reconcile figures: one point per run. */
  readonly renewalIntervalMinutes: number;
  readonly reconcileIntervalMinutes: number;
  /** The resync function and the queue of jobs it takes. */
  readonly resync: { readonly function: lambda.IFunction; readonly queue: sqs.IQueue };
}

/**
 * One page with the relay's figures: intake traffic and health, refusals, renewals, expiring subscriptions, resyncs,
 * queues.
 */
export class OperationsDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);

    const period = Duration.minutes(5);
    const renewalPeriod = Duration.minutes(Math.max(5, props.renewalIntervalMinutes));
    const reconcilePeriod = Duration.minutes(Math.max(5, props.reconcileIntervalMinutes));
    const intake = (name: string, label: string) => relayMetric('intake', name, { period, label });
    const renewal = (name: string, label: string) => relayMetric('renewal', name, { period: renewalPeriod, label });
    const reconcile = (name: string, label: string, statistic: string = cloudwatch.Stats.SUM) =>
      relayMetric('reconcile', name, { period: reconcilePeriod, label, statistic });
    const resync = (name: string, label: string) => relayMetric('resync', name, { period, label });
    const { function: resyncFn, queue: resyncQueue } = props.resync;
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 12, height: 6 });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
      widgets: [
        [
          graph('Notifications', [
            intake('NotificationsReceived', 'received'),
            intake('NotificationsPublished', 'published'),
            intake('NotificationsUnrouted', 'unrouted'),
            intake('NotificationsDuplicate', 'duplicates'),
            intake('NotificationsForged', 'forged'),
          ]),
          graph(
            'Intake duration (ms) and webhook 5xx',
            [
              props.intake.metricDuration({ period, statistic: cloudwatch.Stats.percentile(50), label: 'p50' }),
              props.intake.metricDuration({ period, statistic: cloudwatch.Stats.percentile(99), label: 'p99' }),
            ],
            [props.webhookStage.metricServerError({ period, label: '5xx' })],
          ),
        ],
        [
          // What the 4xx alarm counts, next to the intake's own refusals; the difference is the throttle's 429s and
          // requests refused before the notification logic (method, body, origin).
          graph('Webhook 4xx and refused requests', [
            props.webhookStage.metricClientError({ period, statistic: cloudwatch.Stats.SUM, label: '4xx (API Gateway)' }),
            intake('Outcome_unknown-integration', 'unknown integration'),
            intake('Outcome_rejected', 'rejected'),
          ]),
        ],
        [
          graph('Renewals', [
            renewal('SubscriptionsRenewed', 'renewed'),
            renewal('SubscriptionsRecreated', 'recreated'),
            renewal('SubscriptionsFailed', 'failed'),
            renewal('SubscriptionsNeedsConsent', 'needs consent'),
            renewal('SubscriptionsDeferred', 'deferred'),
          ]),
          graph('Subscriptions expiring', [
            reconcile('SubscriptionsExpiringWithin24h', 'within 24 h', cloudwatch.Stats.MAXIMUM),
            reconcile('SubscriptionsExpiringWithin6h', 'within 6 h', cloudwatch.Stats.MAXIMUM),
          ]),
        ],
        [
          graph('Resyncs', [
            resync('ResyncRuns', 'runs'),
            resync('ResyncObjectsPublished', 'objects published'),
            resync('ResyncContinued', 'continued after the deadline'),
            resync('ResyncBusy', 'waited for a run in progress'),
            resync('ResyncThrottled', 'throttled by Graph'),
            resync('ResyncFailed', 'failed'),
          ]),
          graph(
            'Resync jobs: waiting and running (left), oldest waiting in s (right)',
            [
              resyncQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM, label: 'waiting' }),
              resyncQueue.metricApproximateNumberOfMessagesNotVisible({ period, statistic: cloudwatch.Stats.MAXIMUM, label: 'running' }),
            ],
            [resyncQueue.metricApproximateAgeOfOldestMessage({ period, statistic: cloudwatch.Stats.MAXIMUM, label: 'oldest job' })],
          ),
        ],
        [
          graph(
            'Resync function: errors (left), duration in ms (right)',
            [resyncFn.metricErrors({ period, label: 'errors' })],
            [
              resyncFn.metricDuration({ period, statistic: cloudwatch.Stats.percentile(50), label: 'p50' }),
              resyncFn.metricDuration({ period, statistic: cloudwatch.Stats.MAXIMUM, label: 'max' }),
            ],
          ),
        ],
        [
          graph('Reconcile', [
            reconcile('ReconcileCreated', 'created'),
            reconcile('ReconcileDeleted', 'deleted'),
            reconcile('ReconcileFailed', 'failed'),
          ]),
          graph(
            'Dead-letter queues (messages)',
            Object.entries(props.deadLetterQueues).map(([label, queue]) =>
              queue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM, label }),
            ),
          ),
        ],
      ],
    });
  }
}
