import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { RENEWAL_DEFAULTS } from '../../shared/config/renewal-config';
import type { RenewalPorts, RenewalReport } from '../../shared/subscriptions/renew-due';
import { addCounts } from '../commons/run-metrics';
import { createRenewalPortsFromEnv, type WriterGating } from '../commons/subscription-clients';

export interface RenewalRuntime {
  ports: RenewalPorts;
  /** Due subscriptions taken per run. */
  limit: number;
  logger: Logger;
  metrics: { record(report: RenewalReport): void; flush(): void };
  /**
   * The writer lease's gate: a region not holding it skips the run, and one that took it over within the takeover
   * window checks Graph before renewing. Absent: single-region, always the writer, no window.
   */
  writer?: Pick<WriterGating, 'gate' | 'takeoverWindowMs'>;
}

/**
 * Clients, the secret cache and the per-integration Graph clients (with their tokens) live for the life of the
 * execution environment, so a warm run reuses tokens obtained by an earlier one.
 */
export function createRenewalRuntime(): RenewalRuntime {
  const { config, logger, ports, writer } = createRenewalPortsFromEnv('renewal', RENEWAL_DEFAULTS.publishConcurrency);
  const metrics = new Metrics({ namespace: 'GraphRelay', serviceName: 'renewal' });
  return {
    ports,
    writer,
    limit: config.runLimit,
    logger,
    metrics: {
      record(report) {
        addCounts(metrics, {
          SubscriptionsDue: report.due,
          SubscriptionsRenewed: report.renewed,
          SubscriptionsAdopted: report.adopted,
          SubscriptionsRecreated: report.recreated,
          SubscriptionsNeedsConsent: report.needsConsent,
          SubscriptionsFailed: report.failed,
          SubscriptionsDeferred: report.deferred,
          RenewalEventsUnpublished: report.unpublishedEvents,
          RenewalGraphCalls: report.graphCalls,
        });
        metrics.addMetric('RenewalRunDuration', MetricUnit.Milliseconds, report.durationMs);
      },
      flush: () => metrics.publishStoredMetrics(),
    },
  };
}
