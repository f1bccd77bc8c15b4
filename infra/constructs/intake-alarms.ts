import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { relayAlarm, relayMetric } from './relay-metrics';

export interface IntakeAlarmsProps {
  readonly intake: lambda.IFunction;
  readonly webhookStage: apigwv2.IHttpStage;
}

/** Thresholds of the intake alarms, in one place; exported for the tests and the README. */
export const INTAKE_ALARM_THRESHOLDS = {
  /** Percent of webhook requests answered 5xx over 5 minutes… */
  serverErrorRatePercent: 1,
  /** …counted only from this many requests in those 5 minutes, so one failure of three is not a page. */
  serverErrorRateMinimumRequests: 20,
  /** p99 of the intake's duration, milliseconds: far below the 10 s Graph waits, so a slowdown shows early. */
  p99DurationMs: 1000,
  /**
   * Webhook answers 4xx in 5 minutes (one a second): Graph itself earns a 4xx only when an integration is gone or a
   * secret is wrong, a few per subscription; a flood is someone probing notificationUrls or the throttle refusing.
   */
  clientErrorsPer5Minutes: 300,
} as const;

/**
 * Alarms on what makes Graph retry, slow down or give up on notifications (failed or throttled intake invocations,
 * a 5xx rate, slow answers), on notifications whose clientState did not match (forged, or a leaked secret), and on a
 * flood of 4xx answers (unknown integrations, refused requests, the throttle's 429s).
 */
export class IntakeAlarms extends Construct {
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: IntakeAlarmsProps) {
    super(scope, id);

    const period = Duration.minutes(5);
    const anyOf = (alarmId: string, metric: cloudwatch.IMetric, description: string) => relayAlarm(this, alarmId, metric, { atLeast: 1 }, description);

    const { serverErrorRatePercent, serverErrorRateMinimumRequests, p99DurationMs, clientErrorsPer5Minutes } = INTAKE_ALARM_THRESHOLDS;
    this.alarms = [
      anyOf('IntakeErrors', props.intake.metricErrors({ period }), 'The intake function failed; Graph will redeliver.'),
      anyOf(
        'IntakeThrottles',
        props.intake.metricThrottles({ period }),
        'The intake function was throttled (concurrency); Graph will redeliver and may slow down the subscription.',
      ),
      relayAlarm(
        this,
        'WebhookServerErrorRate',
        new cloudwatch.MathExpression({
          label: 'Webhook 5xx (%)',
          expression: `IF(requests >= ${serverErrorRateMinimumRequests}, 100 * FILL(serverErrors, 0) / requests, 0)`,
          usingMetrics: {
            serverErrors: props.webhookStage.metricServerError({ period }),
            requests: props.webhookStage.metricCount({ period }),
          },
          period,
        }),
        { above: serverErrorRatePercent },
        `More than ${serverErrorRatePercent}% of webhook requests answered 5xx over 5 minutes (from ${serverErrorRateMinimumRequests} requests): Graph retries, then drops notifications and may disable the subscription.`,
      ),
      new cloudwatch.Alarm(this, 'IntakeDurationP99', {
        metric: props.intake.metricDuration({ period, statistic: cloudwatch.Stats.percentile(99) }),
        threshold: p99DurationMs,
        // Two slow periods of three: one cold-start-heavy period after a quiet night is not a page.
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `The intake's p99 duration exceeded ${p99DurationMs} ms: Graph delays, then drops, notifications to endpoints that answer slowly.`,
      }),
      relayAlarm(
        this,
        'NotificationsForged',
        relayMetric('intake', 'NotificationsForged', { period }),
        { above: 0 },
        'Notifications arrived whose clientState did not match the integration\'s webhook secret: someone knows a notificationUrl, or a secret rotation went wrong.',
      ),
      // API Gateway's own count covers every 4xx: the intake's refusals (404 unknown integration, 403, 400, 413) and
      // the 429s of the throttle, which never reach the intake's metrics.
      relayAlarm(
        this,
        'WebhookClientErrors',
        props.webhookStage.metricClientError({ period, statistic: cloudwatch.Stats.SUM }),
        { atLeast: clientErrorsPer5Minutes },
        `At least ${clientErrorsPer5Minutes} webhook requests answered 4xx in 5 minutes: someone is probing notificationUrls, an integration Graph still delivers to is gone, or the throttle is refusing deliveries (429). The access log query by status tells which.`,
      ),
    ];
  }
}
