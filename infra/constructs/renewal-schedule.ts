import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { GraphCaller, type EventPublishing, type GraphCallerContext } from './graph-caller';
import { relayAlarm, relayMetric } from './relay-metrics';
import { failedRunsAlarm, runPeriod, scheduledRunSettings, ScheduledInvocation } from './scheduled-invocation';

export interface RenewalScheduleProps extends GraphCallerContext {
  readonly publishes: EventPublishing;
  /** `<webhook API URL>webhook/`: notificationUrl of recreated subscriptions = this + integrationId. */
  readonly webhookBaseUrl: string;
  readonly intervalMinutes: number;
}

/** Long enough for thousands of renewals per run; the run stops starting calls shortly before it. */
export const RENEWAL_TIMEOUT = Duration.minutes(5);

/**
 * Keeps Graph subscriptions alive: a function that renews every due subscription, invoked by an EventBridge
 * Scheduler schedule every few minutes. One run at a time (reserved concurrency 1): the renewal index is eventually consistent, so
 * two overlapping runs could both see a subscription as due and PATCH it twice.
 */
export class RenewalSchedule extends Construct {
  readonly function: GraphCaller;
  readonly scheduled: ScheduledInvocation;
  readonly errorsAlarm: cloudwatch.Alarm;
  readonly failuresAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RenewalScheduleProps) {
    super(scope, id);

    this.function = new GraphCaller(this, 'Renewal', {
      ...props,
      name: 'renewal',
      timeout: RENEWAL_TIMEOUT,
      // The next scheduled run takes everything still due.
      ...scheduledRunSettings('renewal', props.intervalMinutes),
      // Exactly the calls of a run: findDue queries the index; getIntegration reads (GetItem); recordRenewal,
      // markNeedsConsent and markFailed update; a recreation puts the new record and deletes the old one.
      grantConnections: (fn) => {
        props.connections.grantQueryRenewalIndex(fn);
        props.connections.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
      },
      secretsReader: 'Renewal reads the app credentials of every integration',
    });
    const fn = this.function.function;

    this.scheduled = new ScheduledInvocation(this, 'Schedule', {
      function: fn,
      intervalMinutes: props.intervalMinutes,
      description: `Renews due Microsoft Graph subscriptions every ${props.intervalMinutes} minutes`,
      deadLetterOf: 'the renewal schedule\'s target',
    });

    this.errorsAlarm = failedRunsAlarm(this, 'RenewalErrors', fn, props.intervalMinutes, 'Renewal runs failed twice in a row; subscriptions are not being renewed.');
    const period = runPeriod(props.intervalMinutes);
    this.failuresAlarm = relayAlarm(
      this,
      'RenewalFailures',
      new cloudwatch.MathExpression({
        label: 'Renewals failed or needing consent',
        expression: 'FILL(failed, 0) + FILL(needsConsent, 0)',
        usingMetrics: {
          failed: relayMetric('renewal', 'SubscriptionsFailed', { period }),
          needsConsent: relayMetric('renewal', 'SubscriptionsNeedsConsent', { period }),
        },
        period,
      }),
      { above: 0 },
      'A renewal run could not renew a subscription (failed, or the tenant\'s consent is gone): it will lapse at its expiry. See the renewal logs.',
    );
  }
}
