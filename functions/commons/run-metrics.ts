import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';

/** Adds one Count metric per entry (metric name → value), in the entries' order. */
export function addCounts(metrics: Metrics, counts: Readonly<Record<string, number>>): void {
  for (const [name, value] of Object.entries(counts)) metrics.addMetric(name, MetricUnit.Count, value);
}
