import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { handOffLifecycleEvent } from '../../shared/leadership/handoffs';
import type { LifecycleOutcome, LifecyclePorts } from '../../shared/subscriptions/lifecycle';
import { createRenewalPortsFromEnv, type WriterGating } from '../commons/subscription-clients';

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
  /**
   * The writer lease's gate, and the hand-off a region not holding it stores the event with (answering its id).
   * Absent: single-region, always the writer.
   */
  writer?: { gate: WriterGating['gate']; handOff(event: unknown): Promise<string> };
}

/**
 * Same environment as the renewal (table, bus, secret prefix, webhook base URL, Graph URLs) and the same clients,
 * built once per execution environment so a warm invocation reuses the secret cache and the tenants' tokens.
 */
export function createLifecycleRuntime(): LifecycleRuntime {
  const { logger, ports, writer } = createRenewalPortsFromEnv('lifecycle', 1);
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'lifecycle' });
  const { handoffs, region } = writer;
  return {
    ports,
    logger,
    writer: {
      gate: writer.gate,
      handOff: async (event) => {
        if (handoffs === undefined) throw new Error('no hand-off store: the writer lease is off');
        const id = await handOffLifecycleEvent(handoffs, event, region);
        metrics.addMetric('LifecycleHandedOff', MetricUnit.Count, 1);
        metrics.publishStoredMetrics();
        return id;
      },
    },
    metrics: {
      count: (metric, value = 1) => metrics.addMetric(`Lifecycle${metric}`, MetricUnit.Count, value),
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
