import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV, GRAPH_ENV } from '../../shared/config/env-names';
import { GRAPH_DEFAULTS } from '../../shared/graph/graph-config';
import type { ConnectionsTable } from './connections-table';
import { GraphRelayFunction } from './house-function';
import { relayMetric } from './relay-metrics';
import { ScheduledInvocation } from './scheduled-invocation';

export interface RenewalScheduleProps {
  readonly connections: ConnectionsTable;
  readonly bus: events.IEventBus;
  readonly eventSource: string;
  /** Secrets Manager name prefix of the integration secrets. */
  readonly webhookSecretPrefix: string;
  /** ARN pattern covering every integration secret of the stage. */
  readonly integrationSecretsArn: string;
  /** `<webhook API URL>webhook/`: notificationUrl of recreated subscriptions = this + integrationId. */
  readonly webhookBaseUrl: string;
  readonly intervalMinutes: number;
  readonly logRetention: logs.RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** Long enough for thousands of renewals per run; the run stops starting calls shortly before it. */
export const RENEWAL_TIMEOUT = Duration.minutes(5);

/**
 * Keeps Graph subscriptions alive: a function that renews every due subscription, invoked by an EventBridge
 * Scheduler schedule every few minutes. One run at a time (reserved concurrency 1): the renewal index is eventually consistent, so
 * two overlapping runs could both see a subscription as due and PATCH it twice.
 */
export class RenewalSchedule extends Construct {
  readonly function: GraphRelayFunction;
  readonly scheduled: ScheduledInvocation;
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly failuresAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RenewalScheduleProps) {
    super(scope, id);
    if (!Number.isInteger(props.intervalMinutes) || props.intervalMinutes < 1) {
      throw new RangeError(`renewal interval must be a whole number of minutes ≥ 1, got ${props.intervalMinutes}`);
    }
    const interval = Duration.minutes(props.intervalMinutes);

    this.function = new GraphRelayFunction(this, 'Renewal', {
      name: 'renewal',
      memorySize: 512,
      timeout: RENEWAL_TIMEOUT,
      reservedConcurrentExecutions: 1,
      // A failed or throttled run is not retried: the next scheduled run takes everything still due. A queued
      // invocation older than one interval would only overlap with its successor.
      retryAttempts: 0,
      maxEventAge: interval,
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

    // Exactly the calls of a run: findDue queries the index; getIntegration reads (GetItem); recordRenewal,
    // markNeedsConsent and markFailed update; a recreation puts the new record and deletes the old one.
    props.connections.grantQueryRenewalIndex(fn);
    props.connections.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    props.bus.grantPutEventsTo(fn);
    iam.Grant.addToPrincipal({ grantee: fn, actions: ['secretsmanager:GetSecretValue'], resourceArns: [props.integrationSecretsArn] });

    this.scheduled = new ScheduledInvocation(this, 'Schedule', {
      function: fn,
      intervalMinutes: props.intervalMinutes,
      description: `Renews due Microsoft Graph subscriptions every ${props.intervalMinutes} minutes`,
    });

    // One period per run, so a condition every run reports keeps the alarm on instead of flapping between runs.
    const runPeriod = Duration.minutes(Math.max(5, props.intervalMinutes));
    this.errorsAlarm = new cloudwatch.Alarm(this, 'RenewalErrors', {
      metric: fn.metricErrors({ period: runPeriod }),
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'Renewal runs failed twice in a row; subscriptions are not being renewed.',
    });
    this.failuresAlarm = new cloudwatch.Alarm(this, 'RenewalFailures', {
      metric: new cloudwatch.MathExpression({
        label: 'Renewals failed or needing consent',
        expression: 'FILL(failed, 0) + FILL(needsConsent, 0)',
        usingMetrics: {
          failed: relayMetric('renewal', 'SubscriptionsFailed', { period: runPeriod }),
          needsConsent: relayMetric('renewal', 'SubscriptionsNeedsConsent', { period: runPeriod }),
        },
        period: runPeriod,
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'A renewal run could not renew a subscription (failed, or the tenant\'s consent is gone): it will lapse at its expiry. See the renewal logs.',
    });
  }
}
