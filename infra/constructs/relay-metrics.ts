import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';

/** Namespace of the relay's own metrics, as every function's Powertools `Metrics` writes them. */
export const RELAY_NAMESPACE = 'GraphRelay';

/**
 * The `service` dimension Powertools adds to every metric: the `serviceName` each runtime gives its `Metrics`
 * (functions/<name>/runtime.ts), not the logger's `graph-relay-<name>`.
 */
export type RelayService = 'intake' | 'renewal' | 'reconcile' | 'lifecycle' | 'resync';

/** A count the relay emits (summed unless told otherwise), e.g. `relayMetric('intake', 'NotificationsForged')`. */
export function relayMetric(service: RelayService, metricName: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: RELAY_NAMESPACE,
    metricName,
    dimensionsMap: { service },
    statistic: cloudwatch.Stats.SUM,
    period: Duration.minutes(5),
    ...options,
  });
}

/** When an alarm fires: the metric reaches a value, or goes past it. */
export type AlarmCondition = { readonly atLeast: number } | { readonly above: number };

/**
 * An alarm of the relay. Missing data never breaches: no runs, no requests or an empty queue report nothing, and
 * nothing is healthy.
 */
export function relayAlarm(
  scope: Construct,
  id: string,
  metric: cloudwatch.IMetric,
  condition: AlarmCondition,
  description: string,
  evaluationPeriods = 1,
): cloudwatch.Alarm {
  const above = 'above' in condition;
  return new cloudwatch.Alarm(scope, id, {
    metric,
    threshold: above ? condition.above : condition.atLeast,
    evaluationPeriods,
    comparisonOperator: above ? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD : cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: description,
  });
}
