import type { Logger } from '@aws-lambda-powertools/logger';
import { runScheduledRenewal } from '../../functions/renewal/handler';
import type { RenewalRuntime } from '../../functions/renewal/runtime';
import { ENV } from '../../shared/config/env-names';
import { ConfigError } from '../../shared/config/env-parsing';
import { loadRenewalConfig, RENEWAL_DEFAULTS } from '../../shared/config/renewal-config';
import type { SubscriptionRecord } from '../../shared/store/subscriptions-store';
import { RENEWAL_RUN_DEFAULTS, type RenewalPorts, type RenewalReport } from '../../shared/subscriptions/renew-due';

const NOW = Date.parse('2026-11-26T10:00:00.000Z');

/** A runtime whose store finds nothing due (or fails), recording what the run asked for and reported. */
function fakeRuntime(options: { findDueFails?: boolean; due?: SubscriptionRecord[] } = {}) {
  const findDue = jest.fn(async () => {
    if (options.findDueFails) throw new Error('DynamoDB is down');
    return { due: options.due ?? [], invalidItems: [] };
  });
  const recorded: RenewalReport[] = [];
  const flush = jest.fn();
  const logger = { info: jest.fn(), warn: jest.fn(), error: jest.fn() };
  const ports = {
    store: { findDue, recordRenewal: jest.fn(), markNeedsConsent: jest.fn(), markFailed: jest.fn(), put: jest.fn(), delete: jest.fn() },
    graphFor: jest.fn(),
    providerOf: jest.fn(),
    webhookSecretOf: jest.fn(),
    notificationUrlFor: (id: string) => `https://relay.example.com/webhook/${id}`,
    publisher: { publish: jest.fn() },
    eventSource: 'graph-relay',
    logger,
    clock: { now: () => NOW },
  } as unknown as RenewalPorts;
  const runtime: RenewalRuntime = {
    ports,
    limit: 250,
    logger: logger as unknown as Logger,
    metrics: { record: (report) => recorded.push(report), flush },
  };
  return { runtime, findDue, recorded, flush, logger, graphFor: ports.graphFor as jest.Mock };
}

describe('renewal handler', () => {
  it('finds due subscriptions at the current time, up to the configured limit, and records the report as metrics', async () => {
    // Prepare
    const f = fakeRuntime();

    // Act
    const report = await runScheduledRenewal(f.runtime, { getRemainingTimeInMillis: () => 300_000 });

    // Assess
    expect(f.findDue).toHaveBeenCalledWith(new Date(NOW), { limit: 250 });
    expect(report).toMatchObject({ due: 0, renewed: 0, stoppedEarly: false });
    expect(f.recorded).toEqual([report]);
    expect(f.flush).toHaveBeenCalledTimes(1);
  });

  it('logs and rethrows a failed run, still flushing metrics', async () => {
    // Prepare
    const f = fakeRuntime({ findDueFails: true });

    // Act
    const run = runScheduledRenewal(f.runtime, { getRemainingTimeInMillis: () => 300_000 });

    // Assess
    await expect(run).rejects.toThrow('DynamoDB is down');
    expect(f.logger.error).toHaveBeenCalledWith('renewal run failed', { error: expect.stringContaining('DynamoDB is down') });
    expect(f.recorded).toEqual([]);
    expect(f.flush).toHaveBeenCalledTimes(1);
  });

  it('starts no Graph call that could not finish before the Lambda timeout less the margin', async () => {
    // Prepare: time left would fit one PATCH, but not once the margin is kept free
    const record: SubscriptionRecord = {
      integrationId: 'contoso',
      subscriptionId: 'sub-1',
      connectionId: 'conn-1',
      tenantId: '11111111-1111-1111-1111-111111111111',
      resource: 'users',
      changeTypes: ['updated'],
      expiresAt: '2026-11-26T10:30:00.000Z',
      status: 'active',
      createdAt: '2026-11-24T10:00:00.000Z',
      updatedAt: '2026-11-24T10:00:00.000Z',
    };
    const f = fakeRuntime({ due: [record] });
    const remaining = RENEWAL_DEFAULTS.deadlineMarginMs + RENEWAL_RUN_DEFAULTS.renewBudgetMs - 1;

    // Act
    const report = await runScheduledRenewal(f.runtime, { getRemainingTimeInMillis: () => remaining });

    // Assess
    expect(report).toMatchObject({ due: 1, deferred: 1, graphCalls: 0, stoppedEarly: true });
    expect(f.graphFor).not.toHaveBeenCalled();
  });
});

describe('renewal config', () => {
  const required = {
    [ENV.connectionsTable]: 'connections',
    [ENV.eventBus]: 'bus',
    [ENV.webhookSecretPrefix]: 'graph-relay/dev/integrations/',
    [ENV.webhookBaseUrl]: 'https://abc.execute-api.eu-west-1.amazonaws.com/webhook/',
  };

  it('applies the defaults to the required names', () => {
    // Act
    const config = loadRenewalConfig(required);

    // Assess
    expect(config).toEqual({
      connectionsTable: 'connections',
      eventBusName: 'bus',
      webhookSecretPrefix: 'graph-relay/dev/integrations/',
      webhookBaseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/webhook/',
      eventSource: 'graph-relay',
      secretMaxAgeSeconds: RENEWAL_DEFAULTS.secretMaxAgeSeconds,
      runLimit: RENEWAL_DEFAULTS.runLimit,
    });
  });

  it('reads the run limit', () => {
    // Act
    const config = loadRenewalConfig({ ...required, [ENV.renewalRunLimit]: '50' });

    // Assess
    expect(config.runLimit).toBe(50);
  });

  it.each([
    [{ [ENV.webhookBaseUrl]: undefined }, ENV.webhookBaseUrl],
    [{ [ENV.webhookBaseUrl]: 'https://abc.example.com/webhook' }, 'must end with "/"'],
    [{ [ENV.webhookBaseUrl]: 'abc.example.com/webhook/' }, 'absolute http(s) URL'],
    [{ [ENV.renewalRunLimit]: '0' }, ENV.renewalRunLimit],
    [{ [ENV.connectionsTable]: undefined }, ENV.connectionsTable],
  ])('refuses %p with a message naming the problem', (override, message) => {
    // Act
    const load = () => loadRenewalConfig({ ...required, ...override });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });
});
