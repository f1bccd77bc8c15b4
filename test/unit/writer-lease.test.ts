/**
 * The Graph writer lease's state machine (shared/leadership/writer-lease.ts) over an in-memory store with the
 * DynamoDB store's conditional-write semantics, and its configuration.
 */
import { ConfigError } from '../../shared/config/env-parsing';
import { loadWriterLeaseConfig, WriterLease } from '../../shared/leadership/writer-lease';
import { MemoryLeaseStore } from '../support/writer-lease-fakes';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const SECOND = 1000;
const SETTINGS = { ttlSeconds: 180, graceSeconds: 60 };

describe('writer lease heartbeat', () => {
  it('takes an absent lease at epoch 1, with human-readable times and expiresAtMs = now + TTL', async () => {
    // Prepare
    const store = new MemoryLeaseStore();
    const lease = new WriterLease(store, SETTINGS);

    // Act
    const result = await lease.heartbeat('eu-west-1', T0);

    // Assess
    expect(result).toEqual({ outcome: 'acquired', takeover: false, lease: store.item });
    expect(store.item).toEqual({
      holder: 'eu-west-1',
      epoch: 1,
      acquiredAt: '2026-12-01T10:00:00.000Z',
      renewedAt: '2026-12-01T10:00:00.000Z',
      expiresAt: '2026-12-01T10:03:00.000Z',
      expiresAtMs: T0 + 180 * SECOND,
    });
  });

  it('renews the lease its region holds: same epoch and acquiredAt, expiry moved on', async () => {
    // Prepare
    const store = new MemoryLeaseStore();
    const lease = new WriterLease(store, SETTINGS);
    await lease.heartbeat('eu-west-1', T0);

    // Act
    const result = await lease.heartbeat('eu-west-1', T0 + 60 * SECOND);

    // Assess
    expect(result.outcome).toBe('renewed');
    expect(store.item).toMatchObject({ holder: 'eu-west-1', epoch: 1, acquiredAt: '2026-12-01T10:00:00.000Z', renewedAt: '2026-12-01T10:01:00.000Z', expiresAtMs: T0 + 240 * SECOND });
  });

  it('leaves a lease held by another region alone until its expiry plus the grace, then takes it with epoch + 1', async () => {
    // Prepare: eu-west-1 took it at T0 and stopped; it expires at T0 + 180 s, the grace ends at T0 + 240 s
    const store = new MemoryLeaseStore();
    const lease = new WriterLease(store, SETTINGS);
    await lease.heartbeat('eu-west-1', T0);

    // Act
    const beforeExpiry = await lease.heartbeat('us-east-1', T0 + 179 * SECOND);
    const inGrace = await lease.heartbeat('us-east-1', T0 + 240 * SECOND);
    const afterGrace = await lease.heartbeat('us-east-1', T0 + 240 * SECOND + 1);

    // Assess
    expect(beforeExpiry).toMatchObject({ outcome: 'held-by-other', holder: 'eu-west-1', expiresAt: '2026-12-01T10:03:00.000Z' });
    expect(inGrace).toMatchObject({ outcome: 'held-by-other', holder: 'eu-west-1' });
    expect(afterGrace).toMatchObject({ outcome: 'acquired', takeover: true, previousHolder: 'eu-west-1' });
    expect(store.item).toMatchObject({ holder: 'us-east-1', epoch: 2, acquiredAt: new Date(T0 + 240 * SECOND + 1).toISOString() });
    expect(store.writes).toBe(2);
  });

  it('counts every change of holder in the epoch, never a renewal', async () => {
    // Prepare
    const store = new MemoryLeaseStore();
    const lease = new WriterLease(store, { ttlSeconds: 10, graceSeconds: 5 });
    const epochs: number[] = [];

    // Act: A, renewed; B after A's expiry + grace; renewed; A after B's expiry + grace
    for (const [region, at] of [['a', 0], ['a', 5], ['b', 31], ['b', 35], ['a', 61]] as const) {
      await lease.heartbeat(region, T0 + at * SECOND);
      epochs.push(store.item?.epoch ?? 0);
    }

    // Assess
    expect(epochs).toEqual([1, 1, 2, 2, 3]);
  });

  it('reports the lease held by the winner when another heartbeat wrote between its read and its write', async () => {
    // Prepare: both read no item; us-east-1 writes first
    const store = new MemoryLeaseStore();
    const lease = new WriterLease(store, SETTINGS);
    store.beforeWrite = async () => {
      await new WriterLease(store, SETTINGS).heartbeat('us-east-1', T0);
    };

    // Act
    const result = await lease.heartbeat('eu-west-1', T0);

    // Assess
    expect(result).toMatchObject({ outcome: 'held-by-other', holder: 'us-east-1' });
    expect(store.item).toMatchObject({ holder: 'us-east-1', epoch: 1 });
  });

  it('loses a takeover race on the epoch it read: only one region gets the expired lease', async () => {
    // Prepare: eu-west-1's lease is past expiry + grace; us-east-1 and ap-south-1 both try to take it
    const store = new MemoryLeaseStore();
    await new WriterLease(store, SETTINGS).heartbeat('eu-west-1', T0);
    const later = T0 + 300 * SECOND;
    store.beforeWrite = async () => {
      await new WriterLease(store, SETTINGS).heartbeat('ap-south-1', later);
    };

    // Act
    const result = await new WriterLease(store, SETTINGS).heartbeat('us-east-1', later);

    // Assess
    expect(result).toMatchObject({ outcome: 'held-by-other', holder: 'ap-south-1' });
    expect(store.item).toMatchObject({ holder: 'ap-south-1', epoch: 2 });
  });
});

describe('writer lease configuration', () => {
  it('is off by default, naming the region when there is one', () => {
    expect(loadWriterLeaseConfig({})).toEqual({ enabled: false });
    expect(loadWriterLeaseConfig({ AWS_REGION: 'eu-west-1' })).toEqual({ enabled: false, region: 'eu-west-1' });
  });

  it('on: RELAY_REGION before AWS_REGION, TTL 180 s and grace 60 s by default', () => {
    expect(loadWriterLeaseConfig({ WRITER_LEASE: 'on', RELAY_REGION: 'us-east-1', AWS_REGION: 'eu-west-1' })).toEqual({ enabled: true, region: 'us-east-1', ttlSeconds: 180, graceSeconds: 60 });
    expect(loadWriterLeaseConfig({ WRITER_LEASE: 'on', AWS_REGION: 'eu-west-1', WRITER_LEASE_TTL_SECONDS: '2', WRITER_LEASE_GRACE_SECONDS: '1' })).toEqual({
      enabled: true,
      region: 'eu-west-1',
      ttlSeconds: 2,
      graceSeconds: 1,
    });
  });

  it('reads the lease from its own table when WRITER_LEASE_TABLE_NAME names one', () => {
    expect(loadWriterLeaseConfig({ WRITER_LEASE: 'on', RELAY_REGION: 'eu-west-1', WRITER_LEASE_TABLE_NAME: 'graph-relay-prod-writer-lease' })).toMatchObject({
      enabled: true,
      leaseTable: 'graph-relay-prod-writer-lease',
    });
  });

  it.each([
    [{ WRITER_LEASE: 'on' }, /WRITER_LEASE is on but neither RELAY_REGION nor AWS_REGION/],
    [{ WRITER_LEASE: 'yes', AWS_REGION: 'eu-west-1' }, /WRITER_LEASE/],
    [{ WRITER_LEASE: 'on', AWS_REGION: 'eu-west-1', WRITER_LEASE_TTL_SECONDS: '1' }, /WRITER_LEASE_TTL_SECONDS/],
    [{ WRITER_LEASE: 'on', AWS_REGION: 'eu-west-1', WRITER_LEASE_GRACE_SECONDS: '0' }, /WRITER_LEASE_GRACE_SECONDS/],
  ])('refuses %j in one line', (env, message) => {
    const load = () => loadWriterLeaseConfig(env);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
    try {
      load();
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });
});
