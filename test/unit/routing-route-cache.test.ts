import { RouteCache, type RouteCacheOptions } from '../../shared/routing/route-cache';
import { TENANT_A, TENANT_B } from '../support/fakes';

const MAX_AGE_SECONDS = 300;
const NEGATIVE_MAX_AGE_SECONDS = 30;

function cacheWithClock(options: Partial<RouteCacheOptions> = {}) {
  let now = 1_000_000;
  const cache = new RouteCache({
    maxEntries: 1000,
    maxAgeSeconds: MAX_AGE_SECONDS,
    negativeMaxAgeSeconds: NEGATIVE_MAX_AGE_SECONDS,
    now: () => now,
    ...options,
  });
  return {
    cache,
    advanceSeconds: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

describe('RouteCache', () => {
  it('keeps a subscription route for the max age, and "no such subscription" for the shorter negative age', () => {
    // Prepare
    const { cache, advanceSeconds } = cacheWithClock();
    cache.storeSubscription('contoso', 'sub-known', { connectionId: 'a-1', tenantId: TENANT_A });
    cache.storeSubscription('contoso', 'sub-absent', null);

    // Act
    advanceSeconds(NEGATIVE_MAX_AGE_SECONDS - 1);
    const beforeNegativeAge = [cache.subscription('contoso', 'sub-known'), cache.subscription('contoso', 'sub-absent')];
    advanceSeconds(1);
    const atNegativeAge = [cache.subscription('contoso', 'sub-known'), cache.subscription('contoso', 'sub-absent')];
    advanceSeconds(MAX_AGE_SECONDS - NEGATIVE_MAX_AGE_SECONDS);
    const atMaxAge = cache.subscription('contoso', 'sub-known');

    // Assess
    expect(beforeNegativeAge).toEqual([{ connectionId: 'a-1', tenantId: TENANT_A }, null]);
    expect(atNegativeAge).toEqual([{ connectionId: 'a-1', tenantId: TENANT_A }, undefined]);
    expect(atMaxAge).toBeUndefined();
  });

  it('keeps a tenant with connections for the max age, and a tenant without any for the negative age', () => {
    // Prepare
    const { cache, advanceSeconds } = cacheWithClock();
    cache.storeTenant('contoso', TENANT_A, ['a-1', 'a-2']);
    cache.storeTenant('contoso', TENANT_B, []);

    // Act
    const fresh = [cache.tenant('contoso', TENANT_A), cache.tenant('contoso', TENANT_B)];
    advanceSeconds(NEGATIVE_MAX_AGE_SECONDS);
    const atNegativeAge = [cache.tenant('contoso', TENANT_A), cache.tenant('contoso', TENANT_B)];
    advanceSeconds(MAX_AGE_SECONDS - NEGATIVE_MAX_AGE_SECONDS);
    const atMaxAge = cache.tenant('contoso', TENANT_A);

    // Assess
    expect(fresh).toEqual([['a-1', 'a-2'], []]);
    expect(atNegativeAge).toEqual([['a-1', 'a-2'], undefined]);
    expect(atMaxAge).toBeUndefined();
  });

  it('finds a tenant whatever the case of its id', () => {
    // Prepare
    const { cache } = cacheWithClock();
    cache.storeTenant('contoso', TENANT_A.toUpperCase(), ['a-1']);

    // Act
    const found = cache.tenant('contoso', TENANT_A);

    // Assess
    expect(found).toEqual(['a-1']);
  });

  it('keeps subscriptions, tenants and integrations apart', () => {
    // Prepare
    const { cache } = cacheWithClock();
    cache.storeTenant('contoso', TENANT_A, ['a-1']);

    // Act
    const asSubscription = cache.subscription('contoso', TENANT_A);
    const inOtherIntegration = cache.tenant('fabrikam', TENANT_A);

    // Assess
    expect(asSubscription).toBeUndefined();
    expect(inOtherIntegration).toBeUndefined();
  });

  it("forgets every route of an integration on invalidate, and only that integration's", () => {
    // Prepare
    const { cache } = cacheWithClock();
    cache.storeTenant('contoso', TENANT_A, ['a-1']);
    cache.storeSubscription('contoso', 'sub-1', { connectionId: 'a-1', tenantId: TENANT_A });
    cache.storeSubscription('contoso', 'sub-gone', null);
    cache.storeTenant('fabrikam', TENANT_A, ['f-1']);

    // Act
    cache.invalidate('contoso');
    const afterInvalidate = [cache.tenant('contoso', TENANT_A), cache.subscription('contoso', 'sub-1'), cache.subscription('contoso', 'sub-gone')];
    cache.storeTenant('contoso', TENANT_A, ['a-1', 'a-3']);

    // Assess
    expect(afterInvalidate).toEqual([undefined, undefined, undefined]);
    expect(cache.tenant('fabrikam', TENANT_A)).toEqual(['f-1']);
    expect(cache.tenant('contoso', TENANT_A)).toEqual(['a-1', 'a-3']);
  });

  it('holds at most maxEntries routes, dropping the least recently used', () => {
    // Prepare
    const { cache } = cacheWithClock({ maxEntries: 50 });
    cache.storeSubscription('contoso', 'sub-0', { connectionId: 'a-1', tenantId: TENANT_A });

    // Act
    for (let i = 1; i < 5_000; i += 1) {
      cache.storeSubscription('contoso', `sub-${i}`, i % 2 === 0 ? null : { connectionId: 'a-1', tenantId: TENANT_A });
      // Read on every insert: the most used route stays whatever else comes and goes.
      cache.subscription('contoso', 'sub-0');
    }

    // Assess
    expect(cache.size).toBe(50);
    expect(cache.subscription('contoso', 'sub-0')).toEqual({ connectionId: 'a-1', tenantId: TENANT_A });
    expect(cache.subscription('contoso', 'sub-1')).toBeUndefined();
    expect(cache.subscription('contoso', 'sub-4999')).toEqual({ connectionId: 'a-1', tenantId: TENANT_A });
  });
});
