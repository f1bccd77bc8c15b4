import type { RoutingSnapshot } from '../../shared/store/connections-store';
import { RoutingCache } from '../../shared/intake/routing-cache';
import { deferred, routingSnapshot, settle, type Deferred } from '../support/fakes';

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function recordingLoader() {
  const loads: { integrationId: string; result: Deferred<RoutingSnapshot | undefined> }[] = [];
  const load = jest.fn((integrationId: string) => {
    const result = deferred<RoutingSnapshot | undefined>();
    loads.push({ integrationId, result });
    return result.promise;
  });
  return { load, loads };
}

describe('RoutingCache', () => {
  it('shares one in-flight load between concurrent requests', async () => {
    // Prepare
    const loader = recordingLoader();
    const cache = new RoutingCache({ load: loader.load, maxAgeSeconds: 30, staleWhileRevalidateSeconds: 0, negativeMaxAgeSeconds: 5, now: clock().now });
    const snapshot = routingSnapshot();

    // Act
    const requests = [cache.get('contoso'), cache.get('contoso'), cache.get('contoso')];
    loader.loads[0]?.result.resolve(snapshot);
    const results = await Promise.all(requests);

    // Assess
    expect(loader.load).toHaveBeenCalledTimes(1);
    expect(results).toEqual([snapshot, snapshot, snapshot]);
  });

  it('loads each integration separately', async () => {
    // Prepare
    const loader = recordingLoader();
    const cache = new RoutingCache({ load: loader.load, maxAgeSeconds: 30, staleWhileRevalidateSeconds: 0, negativeMaxAgeSeconds: 5, now: clock().now });

    // Act
    void cache.get('contoso');
    void cache.get('fabrikam');

    // Assess
    expect(loader.loads.map((l) => l.integrationId)).toEqual(['contoso', 'fabrikam']);
    for (const l of loader.loads) l.result.resolve(undefined);
  });

  it('serves a loaded snapshot until its max age, then reads it again', async () => {
    // Prepare
    const time = clock();
    const loader = recordingLoader();
    const cache = new RoutingCache({ load: loader.load, maxAgeSeconds: 30, staleWhileRevalidateSeconds: 0, negativeMaxAgeSeconds: 5, now: time.now });
    const first = routingSnapshot();
    const second = routingSnapshot({ provider: 'other' });
    const firstGet = cache.get('contoso');
    loader.loads[0]?.result.resolve(first);
    await firstGet;
    await settle();

    // Act
    time.advance(29_999);
    const cached = await cache.get('contoso');
    const loadsBeforeExpiry = loader.load.mock.calls.length;
    time.advance(1);
    const reloading = cache.get('contoso');
    loader.loads[1]?.result.resolve(second);
    const reloaded = await reloading;

    // Assess
    expect(cached).toBe(first);
    expect(loadsBeforeExpiry).toBe(1);
    expect(loader.load).toHaveBeenCalledTimes(2);
    expect(reloaded).toBe(second);
  });

  it('remembers an unknown integration for the negative max age only', async () => {
    // Prepare
    const time = clock();
    const loader = recordingLoader();
    const cache = new RoutingCache({ load: loader.load, maxAgeSeconds: 30, staleWhileRevalidateSeconds: 0, negativeMaxAgeSeconds: 5, now: time.now });
    const firstGet = cache.get('new-one');
    loader.loads[0]?.result.resolve(undefined);
    await firstGet;
    await settle();

    // Act
    time.advance(4_999);
    const stillUnknown = await cache.get('new-one');
    const loadsWithinNegativeAge = loader.load.mock.calls.length;
    time.advance(1);
    const reading = cache.get('new-one');
    loader.loads[1]?.result.resolve(routingSnapshot());

    // Assess
    expect(stillUnknown).toBeUndefined();
    expect(loadsWithinNegativeAge).toBe(1);
    expect(await reading).toBeDefined();
    expect(loader.load).toHaveBeenCalledTimes(2);
  });

  it('counts the max age from when the load finished, not when it started', async () => {
    // Prepare
    const time = clock();
    const loader = recordingLoader();
    const cache = new RoutingCache({ load: loader.load, maxAgeSeconds: 30, staleWhileRevalidateSeconds: 0, negativeMaxAgeSeconds: 5, now: time.now });
    const firstGet = cache.get('contoso');
    time.advance(20_000);
    loader.loads[0]?.result.resolve(routingSnapshot());
    await firstGet;
    await settle();

    // Act
    time.advance(29_000);
    await cache.get('contoso');

    // Assess
    expect(loader.load).toHaveBeenCalledTimes(1);
  });

  it('does not cache a failed load: the next request tries again', async () => {
    // Prepare
    const loader = recordingLoader();
    const cache = new RoutingCache({ load: loader.load, maxAgeSeconds: 30, staleWhileRevalidateSeconds: 0, negativeMaxAgeSeconds: 5, now: clock().now });
    const failing = [cache.get('contoso'), cache.get('contoso')];
    loader.loads[0]?.result.reject(new Error('ProvisionedThroughputExceededException'));
    const outcomes = await Promise.allSettled(failing);
    await settle();

    // Act
    const retry = cache.get('contoso');
    const snapshot = routingSnapshot();
    loader.loads[1]?.result.resolve(snapshot);
    const result = await retry;

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(loader.load).toHaveBeenCalledTimes(2);
    expect(result).toBe(snapshot);
  });

  it('uses the real clock when none is injected', async () => {
    // Prepare
    const load = jest.fn(async () => routingSnapshot());
    const cache = new RoutingCache({ load, maxAgeSeconds: 3600, staleWhileRevalidateSeconds: 0, negativeMaxAgeSeconds: 5 });
    await cache.get('contoso');
    await settle();

    // Act
    await cache.get('contoso');

    // Assess
    expect(load).toHaveBeenCalledTimes(1);
  });

  describe('stale while revalidate', () => {
    async function loadedCache(staleWhileRevalidateSeconds: number) {
      const time = clock();
      const loader = recordingLoader();
      const cache = new RoutingCache({ load: loader.load, maxAgeSeconds: 30, staleWhileRevalidateSeconds, negativeMaxAgeSeconds: 5, now: time.now });
      const first = routingSnapshot();
      const firstGet = cache.get('contoso');
      loader.loads[0]?.result.resolve(first);
      await firstGet;
      await settle();
      return { time, loader, cache, first };
    }

    it('keeps routing with the stale snapshot while one background reload runs, then uses the new one', async () => {
      // Prepare
      const { time, loader, cache, first } = await loadedCache(30);
      const second = routingSnapshot({ provider: 'other' });
      time.advance(31_000);

      // Act
      const duringReload = await Promise.all([cache.get('contoso'), cache.get('contoso')]);
      const loadsDuringReload = loader.load.mock.calls.length;
      loader.loads[1]?.result.resolve(second);
      await settle();
      const afterReload = await cache.get('contoso');

      // Assess
      expect(duringReload).toEqual([first, first]);
      expect(loadsDuringReload).toBe(2);
      expect(afterReload).toBe(second);
      expect(loader.load).toHaveBeenCalledTimes(2);
    });

    it('keeps the stale snapshot when the background reload fails, and tries again on the next request', async () => {
      // Prepare
      const { time, loader, cache, first } = await loadedCache(30);
      time.advance(31_000);
      const stale = await cache.get('contoso');
      loader.loads[1]?.result.reject(new Error('ServiceUnavailable'));
      await settle();

      // Act
      const next = await cache.get('contoso');

      // Assess
      expect(stale).toBe(first);
      expect(next).toBe(first);
      expect(loader.load).toHaveBeenCalledTimes(3);
    });

    it('waits for the read once the snapshot is older than max age plus the grace', async () => {
      // Prepare
      const { time, loader, cache, first } = await loadedCache(30);
      const second = routingSnapshot({ provider: 'other' });
      time.advance(60_000);

      // Act
      const reading = cache.get('contoso');
      loader.loads[1]?.result.resolve(second);
      const result = await reading;

      // Assess
      expect(result).toBe(second);
      expect(result).not.toBe(first);
    });
  });
});
