import { runLifecycle } from '../../functions/lifecycle/handler';
import type { LifecycleMetric, LifecycleRuntime } from '../../functions/lifecycle/runtime';
import type { LifecyclePorts } from '../../shared/subscriptions/lifecycle';

const NOW = Date.parse('2026-11-26T10:00:00.000Z');

/** A runtime whose store fails or finds nothing, recording the metrics counted. */
function fakeRuntime(options: { getFails?: boolean } = {}) {
  const counted: [LifecycleMetric, number][] = [];
  const flush = jest.fn();
  const logger = { info: jest.fn(), warn: jest.fn(), error: jest.fn() };
  const get = jest.fn(async () => {
    if (options.getFails) throw new Error('DynamoDB is down');
    return undefined;
  });
  const ports = { store: { get }, logger, clock: { now: () => NOW } } as unknown as LifecyclePorts;
  const runtime: LifecycleRuntime = { ports, logger, metrics: { count: (metric, value = 1) => counted.push([metric, value]), flush } };
  return { runtime, counted, flush, logger };
}

function lifecycleEvent(lifecycleEvent: string) {
  return {
    id: 'event-1',
    'detail-type': 'Graph Lifecycle Notification',
    detail: {
      providerConfigKey: 'contoso',
      connectionId: 'conn-1',
      payload: { value: [{ lifecycleEvent, subscriptionId: 'sub-1', tenantId: 't-1' }] },
      metadata: { subscriptionId: 'sub-1', tenantId: 't-1' },
    },
  };
}

const context = { getRemainingTimeInMillis: () => 60_000 };

describe('lifecycle handler', () => {
  it('counts the outcome and flushes the metrics', async () => {
    // Prepare
    const f = fakeRuntime();

    // Act
    const result = await runLifecycle(f.runtime, lifecycleEvent('subscriptionRemoved'), context);

    // Assess
    expect(result).toMatchObject({ outcome: 'ignored', subscriptionId: 'sub-1' });
    expect(f.counted).toEqual([['Ignored', 1]]);
    expect(f.flush).toHaveBeenCalledTimes(1);
  });

  it('counts and logs an event of the wrong shape without throwing, so Lambda does not retry it', async () => {
    // Prepare
    const f = fakeRuntime();

    // Act
    const result = await runLifecycle(f.runtime, { id: 'event-2', 'detail-type': 'Graph Lifecycle Notification', detail: {} }, context);

    // Assess
    expect(result).toEqual({ outcome: 'invalid' });
    expect(f.counted).toEqual([['Invalid', 1]]);
    expect(f.logger.error).toHaveBeenCalledWith('lifecycle event refused', { error: expect.stringContaining('detail.providerConfigKey'), eventId: 'event-2' });
  });

  it('counts, logs and rethrows any other failure, so Lambda retries and then dead-letters the event', async () => {
    // Prepare
    const f = fakeRuntime({ getFails: true });

    // Act
    const run = runLifecycle(f.runtime, lifecycleEvent('reauthorizationRequired'), context);

    // Assess
    await expect(run).rejects.toThrow('DynamoDB is down');
    expect(f.counted).toEqual([['Errors', 1]]);
    expect(f.flush).toHaveBeenCalledTimes(1);
  });
});
