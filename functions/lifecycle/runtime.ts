import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { LifecycleOutcome, LifecyclePorts } from '../../shared/subscriptions/lifecycle';
import { createRenewalPortsFromEnv } from '../commons/subscription-clients';

/** What a lifecycle invocation ended in, counted as `Lifecycle<Outcome>` (e.g. LifecycleRecreated). */
export type LifecycleMetric = 'Reauthorized' | 'Renewed' | 'Recreated' | 'Missed' | 'Ignored' | 'NeedsConsent' | 'Failed' | 'Invalid' | 'Errors' | 'EventsUnpublished';

/** The metric each outcome is counted under. */
export const LIFECYCLE_METRIC_OF: Record<LifecycleOutcome, LifecycleMetric> = {
  reauthorized: 'Reauthorized',
  renewed: 'Renewed',
  recreated: 'Recreated',
  missed: 'Missed',
  ignored: 'Ignored',
  'needs-consent': 'NeedsConsent',
  failed: 'Failed',
};

export interface LifecycleRuntime {
  ports: LifecyclePorts;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  metrics: { count(metric: LifecycleMetric, value?: number): void; flush(): void };
}

/**
 * Same environment as the renewal (table, bus, secret prefix, webhook base URL, Graph URLs) and the same clients,
 * built once per execution environment so a warm invocation reuses the secret cache and the tenants' tokens.
 */
export function createLifecycleRuntime(): LifecycleRuntime {
  const { logger, ports } = createRenewalPortsFromEnv('lifecycle', 1);
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'lifecycle' });
  return {
    ports,
    logger,
    metrics: {
      count: (metric, value = 1) => metrics.addMetric(`Lifecycle${metric}`, MetricUnit.Count, value),
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
