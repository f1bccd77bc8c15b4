import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface IntakeAlarmsProps {
  readonly intake: lambda.IFunction;
  readonly webhookStage: apigwv2.IHttpStage;
}

/**
 * Alarms on what makes Graph retry or give up on notifications: failed or throttled intake invocations and
 * 5xx answers. No actions are attached; an operator subscribes them to their own paging.
 */
export class IntakeAlarms extends Construct {
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: IntakeAlarmsProps) {
    super(scope, id);

    const period = Duration.minutes(5);
    const anyOf = (alarmId: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm =>
      new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });

    this.alarms = [
      anyOf('IntakeErrors', props.intake.metricErrors({ period }), 'The intake function failed; Graph will redeliver.'),
      anyOf(
        'IntakeThrottles',
        props.intake.metricThrottles({ period }),
        'The intake function was throttled (concurrency); Graph will redeliver and may slow down the subscription.',
      ),
      anyOf(
        'WebhookServerErrors',
        props.webhookStage.metricServerError({ period }),
        'The webhook API answered 5xx to Graph.',
      ),
    ];
  }
}
