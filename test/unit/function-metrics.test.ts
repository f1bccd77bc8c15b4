/**
 * The metrics each function writes, read back from the Embedded Metric Format lines its real runtime prints: the
 * namespace, the `service` dimension and the metric names that the alarms and the dashboard are built on.
 */
import { createIntakeRuntime } from '../../functions/intake/runtime';
import { createLifecycleRuntime } from '../../functions/lifecycle/runtime';
import { createReconcileRuntime } from '../../functions/reconcile/runtime';
import { createRenewalRuntime } from '../../functions/renewal/runtime';
import { ENV } from '../../shared/config/env-names';
import type { IntakeCounts } from '../../shared/intake/process-notifications';
import type { ReconcileReport } from '../../shared/subscriptions/reconcile';
import type { RenewalReport } from '../../shared/subscriptions/renew-due';

const ENVIRONMENT: Record<string, string> = {
  [ENV.connectionsTable]: 'connections',
  [ENV.deliveriesTable]: 'deliveries',
  [ENV.eventBus]: 'bus',
  [ENV.webhookSecretPrefix]: 'graph-relay/test/integrations/',
  [ENV.webhookBaseUrl]: 'https://relay.example.com/webhook/',
  AWS_REGION: 'us-east-1',
  POWERTOOLS_METRICS_DISABLED: 'false',
};

const saved: Record<string, string | undefined> = {};

beforeEach(() => {
  for (const [name, value] of Object.entries(ENVIRONMENT)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

interface Emf {
  service?: string;
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [metric: string]: unknown;
}

/** The EMF documents printed while `act` runs. */
function emfOf(act: () => void): Emf[] {
  const written: string[] = [];
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    written.push(String(chunk));
    return true;
  });
  try {
    act();
  } finally {
    stdout.mockRestore();
  }
  return written
    .join('')
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Emf);
}

/** Metric name → value, after checking the namespace and that `service` is the only dimension. */
function metricsOf(documents: Emf[], service: string): Record<string, unknown> {
  expect(documents).toHaveLength(1);
  const [document] = documents as [Emf];
  const [directive] = document._aws.CloudWatchMetrics;
  expect(directive?.Namespace).toBe('GraphRelay');
  expect(directive?.Dimensions).toEqual([['service']]);
  expect(document.service).toBe(service);
  return Object.fromEntries((directive?.Metrics ?? []).map((metric) => [metric.Name, document[metric.Name]]));
}

describe('function metrics', () => {
  it('reconcile: the subscription inventory, with service "reconcile"', () => {
    // Prepare
    const runtime = createReconcileRuntime();
    const report: ReconcileReport = {
      dryRun: false,
      inventory: { total: 9, expiringWithin24h: 4, expiringWithin6h: 2, byStatus: { active: 5, 'needs-consent': 3, failed: 1 } },
      counts: { create: 0, delete: 0, skipped: 0, keep: 9, created: 0, deleted: 0, failed: 0, deferred: 0, invalidDeclarations: 0, invalidItems: 0 },
      planned: { create: [], delete: [], skipped: [], keep: [] },
      created: [],
      deleted: [],
      failed: [],
      deferred: [],
      invalidDeclarations: [],
      invalidItems: [],
      unindexed: 0,
      graphCalls: 0,
      stoppedEarly: false,
    };

    // Act
    const documents = emfOf(() => {
      runtime.metrics.record(report);
      runtime.metrics.flush();
    });

    // Assess
    expect(metricsOf(documents, 'reconcile')).toMatchObject({
      SubscriptionsExpiringWithin24h: 4,
      SubscriptionsExpiringWithin6h: 2,
      SubscriptionsNeedsConsent: 3,
      SubscriptionsFailedStatus: 1,
      ReconcileCreated: 0,
      ReconcileFailed: 0,
    });
  });

  it('intake: notification counts, read units and PublishRetries, with service "intake"', () => {
    // Prepare
    const runtime = createIntakeRuntime();
    const counts: IntakeCounts = { received: 7, refused: 1, rejected: 0, unconfirmed: 0, forged: 2, duplicates: 3, published: 1, unrouted: 0, events: 1, readUnits: 2 };

    // Act
    const documents = emfOf(() => {
      runtime.metrics.record({ kind: 'accepted', counts });
      runtime.metrics.flush();
    });

    // Assess
    expect(metricsOf(documents, 'intake')).toEqual({
      Outcome_accepted: 1,
      PublishRetries: 0,
      NotificationsReceived: 7,
      NotificationsRefused: 1,
      NotificationsRejected: 0,
      NotificationsUnconfirmed: 0,
      NotificationsForged: 2,
      NotificationsDuplicate: 3,
      NotificationsPublished: 1,
      NotificationsUnrouted: 0,
      EventsPublished: 1,
      ReadUnits: 2,
    });
  });

  it('renewal: failures countable as SubscriptionsFailed and SubscriptionsNeedsConsent, with service "renewal"', () => {
    // Prepare
    const runtime = createRenewalRuntime();
    const report: RenewalReport = { due: 7, renewed: 2, adopted: 1, recreated: 0, needsConsent: 1, failed: 3, deferred: 0, invalidItems: 0, graphCalls: 7, unpublishedEvents: 0, durationMs: 1200, stoppedEarly: false };

    // Act
    const documents = emfOf(() => {
      runtime.metrics.record(report);
      runtime.metrics.flush();
    });

    // Assess
    expect(metricsOf(documents, 'renewal')).toMatchObject({ SubscriptionsDue: 7, SubscriptionsFailed: 3, SubscriptionsNeedsConsent: 1, SubscriptionsRenewed: 2, SubscriptionsAdopted: 1 });
  });

  it('lifecycle: Lifecycle<Outcome> counts, with service "lifecycle"', () => {
    // Prepare
    const runtime = createLifecycleRuntime();

    // Act
    const documents = emfOf(() => {
      runtime.metrics.count('NeedsConsent');
      runtime.metrics.flush();
    });

    // Assess
    expect(metricsOf(documents, 'lifecycle')).toEqual({ LifecycleNeedsConsent: 1 });
  });
});
