/** `npm start`'s settings for running as one region of two (local/writer-lease.ts). */
import { LocalRegionSettingsError, localRegionSettingsFromEnv, writerLeaseEnv } from '../../local/writer-lease';

describe('local region settings', () => {
  it('default to us-east-1 with the lease off, as before', () => {
    expect(localRegionSettingsFromEnv({})).toEqual({ region: 'us-east-1' });
    expect(writerLeaseEnv('us-east-1', undefined)).toEqual({ RELAY_REGION: 'us-east-1', WRITER_LEASE: 'off' });
  });

  it('take the region, the deliveries table and the lease with its timings (defaults 60 / 180 / 60 s)', () => {
    expect(localRegionSettingsFromEnv({ GRAPH_RELAY_REGION: 'eu-west-1', GRAPH_RELAY_WRITER_LEASE: 'on', GRAPH_RELAY_DELIVERIES_TABLE: 'deliveries-eu' })).toEqual({
      region: 'eu-west-1',
      deliveriesTable: 'deliveries-eu',
      writerLease: { heartbeatSeconds: 60, ttlSeconds: 180, graceSeconds: 60 },
    });
    const drill = localRegionSettingsFromEnv({
      GRAPH_RELAY_WRITER_LEASE: 'on',
      GRAPH_RELAY_LEASE_HEARTBEAT_SECONDS: '1',
      GRAPH_RELAY_WRITER_LEASE_TTL_SECONDS: '2',
      GRAPH_RELAY_WRITER_LEASE_GRACE_SECONDS: '1',
    });
    expect(drill.writerLease).toEqual({ heartbeatSeconds: 1, ttlSeconds: 2, graceSeconds: 1 });
    expect(writerLeaseEnv('eu-west-1', drill.writerLease)).toEqual({ RELAY_REGION: 'eu-west-1', WRITER_LEASE: 'on', WRITER_LEASE_TTL_SECONDS: '2', WRITER_LEASE_GRACE_SECONDS: '1' });
  });

  it('take a table of its own for the lease, which the product code is then pointed at', () => {
    const settings = localRegionSettingsFromEnv({ GRAPH_RELAY_WRITER_LEASE: 'on', GRAPH_RELAY_WRITER_LEASE_TABLE: 'lease-local' });

    expect(settings.writerLease?.table).toBe('lease-local');
    expect(writerLeaseEnv('eu-west-1', settings.writerLease)).toMatchObject({ WRITER_LEASE_TABLE_NAME: 'lease-local' });
  });

  it.each([
    [{ GRAPH_RELAY_WRITER_LEASE: 'on', GRAPH_RELAY_WRITER_LEASE_TABLE: 'a b' }, 'GRAPH_RELAY_WRITER_LEASE_TABLE must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got "a b"'],
    [{ GRAPH_RELAY_WRITER_LEASE: 'yes' }, 'GRAPH_RELAY_WRITER_LEASE must be on or off, got "yes"'],
    [{ GRAPH_RELAY_REGION: 'EU West' }, 'GRAPH_RELAY_REGION must be a region name such as eu-west-1, got "EU West"'],
    [{ GRAPH_RELAY_WRITER_LEASE: 'on', GRAPH_RELAY_WRITER_LEASE_TTL_SECONDS: '1' }, 'GRAPH_RELAY_WRITER_LEASE_TTL_SECONDS must be whole seconds of at least 2, got "1"'],
    [{ GRAPH_RELAY_WRITER_LEASE: 'on', GRAPH_RELAY_WRITER_LEASE_GRACE_SECONDS: '0' }, 'GRAPH_RELAY_WRITER_LEASE_GRACE_SECONDS must be whole seconds of at least 1, got "0"'],
    [{ GRAPH_RELAY_WRITER_LEASE: 'on', GRAPH_RELAY_LEASE_HEARTBEAT_SECONDS: '0.5' }, 'GRAPH_RELAY_LEASE_HEARTBEAT_SECONDS must be whole seconds of at least 1, got "0.5"'],
    [{ GRAPH_RELAY_DELIVERIES_TABLE: 'a b' }, 'GRAPH_RELAY_DELIVERIES_TABLE must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got "a b"'],
  ])('refuse %j in one line', (env, message) => {
    expect(() => localRegionSettingsFromEnv(env)).toThrow(new LocalRegionSettingsError(message));
  });
});
