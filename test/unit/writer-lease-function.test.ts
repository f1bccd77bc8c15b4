/**
 * The writer lease heartbeat function (functions/writer-lease): its environment, and one heartbeat recorded as
 * metrics (or failing as an error).
 */
import { heartbeat } from '../../functions/writer-lease/handler';
import { createWriterLeaseRuntime, type WriterLeaseRuntime } from '../../functions/writer-lease/runtime';
import { ConfigError } from '../../shared/config/env-parsing';
import type { HeartbeatPorts, HeartbeatReport } from '../../shared/leadership/heartbeat';
import { WriterLease } from '../../shared/leadership/writer-lease';
import { MemoryHandoffStore, MemoryLeaseStore } from '../support/writer-lease-fakes';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');

function fakeRuntime(store: MemoryLeaseStore) {
  const recorded: HeartbeatReport[] = [];
  const flush = jest.fn();
  const logger = { info: jest.fn(), error: jest.fn() };
  const ports: HeartbeatPorts = {
    lease: new WriterLease(store, { ttlSeconds: 180, graceSeconds: 60 }),
    region: 'eu-west-1',
    handoffs: new MemoryHandoffStore(),
    catchUp: { renewal: jest.fn(async () => undefined), reconcile: jest.fn(async () => undefined) },
    deliver: {},
    logger,
    clock: { now: () => NOW },
  };
  const runtime = { ports, logger, metrics: { record: (report: HeartbeatReport) => recorded.push(report), flush } } as unknown as WriterLeaseRuntime;
  return { runtime, recorded, flush, logger };
}

describe('writer lease function', () => {
  it('does nothing, reading nothing, with the lease off', async () => {
    // Prepare
    const runtime = createWriterLeaseRuntime({ AWS_REGION: 'eu-west-1' });

    // Act
    const answer = await heartbeat(runtime);

    // Assess
    expect(runtime.ports).toBeUndefined();
    expect(answer).toEqual({ lease: 'off' });
  });

  it('needs the table and the functions it invokes when the lease is on, naming what is missing', () => {
    const create = () => createWriterLeaseRuntime({ WRITER_LEASE: 'on', AWS_REGION: 'eu-west-1', CONNECTIONS_TABLE_NAME: 'connections' });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(/RENEWAL_FUNCTION_NAME.*RECONCILE_FUNCTION_NAME.*LIFECYCLE_FUNCTION_NAME/);
    expect(() =>
      createWriterLeaseRuntime({
        WRITER_LEASE: 'on',
        RELAY_REGION: 'eu-west-1',
        CONNECTIONS_TABLE_NAME: 'connections',
        RENEWAL_FUNCTION_NAME: 'renewal',
        RECONCILE_FUNCTION_NAME: 'reconcile',
        LIFECYCLE_FUNCTION_NAME: 'lifecycle',
      }),
    ).not.toThrow();
  });

  it('records one heartbeat as metrics and flushes them', async () => {
    // Prepare
    const f = fakeRuntime(new MemoryLeaseStore());

    // Act
    const report = await heartbeat(f.runtime);

    // Assess
    expect(report).toMatchObject({ outcome: 'acquired', holder: 'eu-west-1', epoch: 1, catchUp: { started: ['renewal', 'reconcile'] } });
    expect(f.recorded).toEqual([report]);
    expect(f.flush).toHaveBeenCalledTimes(1);
  });

  it('logs and rethrows a failed heartbeat, still flushing metrics', async () => {
    // Prepare
    const store = new MemoryLeaseStore();
    jest.spyOn(store, 'read').mockRejectedValue(new Error('DynamoDB is down'));
    const f = fakeRuntime(store);

    // Act
    const run = heartbeat(f.runtime);

    // Assess
    await expect(run).rejects.toThrow('DynamoDB is down');
    expect(f.logger.error).toHaveBeenCalledWith('writer lease heartbeat failed', { error: expect.stringContaining('DynamoDB is down') });
    expect(f.flush).toHaveBeenCalledTimes(1);
  });
});
