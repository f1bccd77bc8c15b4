import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { reconcileStreamBatch, runScheduledReconcile } from '../../functions/reconcile/handler';
import type { ReconcileRuntime } from '../../functions/reconcile/runtime';
import { ENV } from '../../shared/config/env-names';
import { ConfigError } from '../../shared/config/env-parsing';
import { loadReconcileConfig, RECONCILE_DEFAULTS } from '../../shared/config/reconcile-config';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import type { ReconcilePorts, ReconcileReport } from '../../shared/subscriptions/reconcile';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');

function fakeRuntime(options: { listIntegrationsFails?: boolean; connectionReadsFail?: boolean; subscriptions?: SubscriptionRecord[] } = {}) {
  const recorded: ReconcileReport[] = [];
  const flush = jest.fn();
  const logger = { info: jest.fn(), warn: jest.fn(), error: jest.fn() };
  const listIntegrations = jest.fn(async () => {
    if (options.listIntegrationsFails) throw new Error('DynamoDB is down');
    return { integrations: [{ integrationId: 'contoso', provider: 'microsoft-oauth2-cc', configVersion: 0, routesVersion: 0, createdAt: '', updatedAt: '' }], invalidItems: [] };
  });
  const readsFail = async () => {
    if (options.connectionReadsFail) throw new Error('DynamoDB is down');
  };
  const listConnectionsPage = jest.fn(async () => {
    await readsFail();
    return { connections: [], invalidItems: [] };
  });
  const getConnection = jest.fn(async () => {
    await readsFail();
    return undefined;
  });
  const ports: ReconcilePorts = {
    connections: { listIntegrations, getConnection, listConnectionsPage, existingConnectionIds: async () => new Set<string>(), markNeedsConsent: jest.fn() },
    store: {
      listByConnection: async () => ({ subscriptions: [], invalidItems: [] }),
      listByIntegrationPage: async () => ({ subscriptions: options.subscriptions ?? [], invalidItems: [], unindexed: [] }),
      setConnectionKey: jest.fn(),
      put: jest.fn(),
      delete: jest.fn(),
    },
    graphFor: jest.fn(),
    webhookSecretOf: jest.fn(),
    notificationUrlFor: (id) => `https://relay.example.com/webhook/${id}`,
    logger,
    clock: { now: () => NOW },
  };
  const runtime: ReconcileRuntime = { ports, logger: logger as unknown as Logger, metrics: { record: (r) => recorded.push(r), flush } };
  return { runtime, recorded, flush, logger, listIntegrations, listConnectionsPage };
}

const context = { getRemainingTimeInMillis: () => 300_000 };

describe('reconcile handler', () => {
  it('runs a full reconcile of every integration on a scheduled event and records it as metrics', async () => {
    // Prepare
    const f = fakeRuntime();

    // Act
    const summary = await runScheduledReconcile(f.runtime, context);

    // Assess
    expect(f.listIntegrations).toHaveBeenCalledTimes(1);
    expect(f.listConnectionsPage).toHaveBeenCalledWith('contoso', { limit: RECONCILE_DEFAULTS.pageSize });
    expect(summary).toEqual({ create: 0, delete: 0, skipped: 0, keep: 0, created: 0, deleted: 0, failed: 0, deferred: 0, invalidDeclarations: 0, invalidItems: 0, unindexed: 0, graphCalls: 0, stoppedEarly: false, subscriptions: 0, expiringWithin24h: 0, expiringWithin6h: 0, needsConsent: 0, failedStatus: 0 });
    expect(f.recorded).toHaveLength(1);
    expect(f.flush).toHaveBeenCalledTimes(1);
  });

  it('reports the subscription inventory of a scheduled run in its summary and its metrics', async () => {
    // Prepare: records of a connection that no longer exists, so the run plans deletes it cannot make (no Graph)
    const base = { integrationId: 'contoso', connectionId: 'gone', tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95', resource: 'users', changeTypes: ['created' as const], createdAt: '', updatedAt: '' };
    const subscriptions: SubscriptionRecord[] = [
      { ...base, subscriptionId: 's1', status: 'active', expiresAt: new Date(NOW + 3 * 24 * 3_600_000).toISOString() },
      { ...base, subscriptionId: 's2', status: 'needs-consent', expiresAt: new Date(NOW + 12 * 3_600_000).toISOString() },
      { ...base, subscriptionId: 's3', status: 'failed', expiresAt: new Date(NOW - 3_600_000).toISOString() },
    ];
    const f = fakeRuntime({ subscriptions });

    // Act
    const summary = await runScheduledReconcile(f.runtime, context);

    // Assess
    expect(summary).toMatchObject({ subscriptions: 3, expiringWithin24h: 2, expiringWithin6h: 1, needsConsent: 1, failedStatus: 1 });
    expect(f.recorded[0]?.inventory).toEqual({ total: 3, expiringWithin24h: 2, expiringWithin6h: 1, byStatus: { active: 1, 'needs-consent': 1, failed: 1 } });
  });

  it('logs and rethrows a failed scheduled run, still flushing metrics', async () => {
    // Prepare
    const f = fakeRuntime({ listIntegrationsFails: true });

    // Act
    const run = runScheduledReconcile(f.runtime, context);

    // Assess
    await expect(run).rejects.toThrow('DynamoDB is down');
    expect(f.logger.error).toHaveBeenCalledWith('scheduled reconcile failed', { error: expect.stringContaining('DynamoDB is down') });
    expect(f.flush).toHaveBeenCalledTimes(1);
  });

  it('answers a stream batch with the sequence numbers to retry, never throwing', async () => {
    // Prepare
    const f = fakeRuntime({ connectionReadsFail: true });
    const event: DynamoDBStreamEvent = {
      Records: [
        { eventName: 'INSERT', dynamodb: { Keys: { pk: { S: 'INTEGRATION#contoso' }, sk: { S: 'CONNECTION#conn-1' } }, SequenceNumber: '111' } },
        { eventName: 'INSERT', dynamodb: { Keys: { pk: { S: 'INTEGRATION#contoso' }, sk: { S: 'SUBSCRIPTION#sub-1' } }, SequenceNumber: '112' } },
      ],
    };

    // Act
    const response = await reconcileStreamBatch(f.runtime, event, context);

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '111' }] });
    expect(f.listIntegrations).not.toHaveBeenCalled();
  });
});

describe('reconcile config', () => {
  it('needs no event bus, and names a missing variable', () => {
    // Prepare
    const env = { [ENV.connectionsTable]: 'table', [ENV.webhookSecretPrefix]: 'graph-relay/dev/integrations/', [ENV.webhookBaseUrl]: 'https://relay.example.com/webhook/' };

    // Act
    const config = loadReconcileConfig(env);
    const missing = () => loadReconcileConfig({ ...env, [ENV.connectionsTable]: undefined });

    // Assess
    expect(config).toEqual({ connectionsTable: 'table', webhookSecretPrefix: 'graph-relay/dev/integrations/', webhookBaseUrl: 'https://relay.example.com/webhook/', secretMaxAgeSeconds: expect.any(Number) });
    expect(missing).toThrow(ConfigError);
    expect(missing).toThrow(ENV.connectionsTable);
  });
});
