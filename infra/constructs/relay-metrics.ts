import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

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
