import { LruCache } from '../../shared/util/lru';

/** A clock the cache reads, moved by hand. */
function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const present = (cache: LruCache<string>, keys: readonly string[]) => keys.filter((key) => cache.get(key) !== undefined);

describe('LruCache', () => {
  it('drops the least recently used entry first, a read counting as a use', () => {
    // Prepare
    const cache = new LruCache<string>(3, clock().now);
    cache.set('a', 'A', 60_000);
    cache.set('b', 'B', 60_000);
    cache.set('c', 'C', 60_000);
    cache.get('a');

    // Act
    cache.set('d', 'D', 60_000);

    // Assess
    expect(cache.size).toBe(3);
    expect(present(cache, ['a', 'b', 'c', 'd'])).toEqual(['a', 'c', 'd']);
  });

  it('moves an entry set again to the most recently used end, with its new value', () => {
    // Prepare
    const cache = new LruCache<string>(2, clock().now);
    cache.set('a', 'A', 60_000);
    cache.set('b', 'B', 60_000);

    // Act
    cache.set('a', 'A2', 60_000);
    cache.set('c', 'C', 60_000);

    // Assess
    expect(cache.get('a')).toBe('A2');
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toBe('C');
  });

  it('never holds more than its bound, whatever the number of keys', () => {
    // Prepare
    const cache = new LruCache<string>(100, clock().now);

    // Act
    for (let i = 0; i < 10_000; i += 1) cache.set(`key-${i}`, String(i), 60_000);

    // Assess
    expect(cache.size).toBe(100);
    expect(cache.get('key-9899')).toBeUndefined();
    expect(cache.get('key-9900')).toBe('9900');
    expect(cache.get('key-9999')).toBe('9999');
  });

  it('serves an entry until its max age, then forgets it', () => {
    // Prepare
    const time = clock();
    const cache = new LruCache<string>(10, time.now);
    cache.set('a', 'A', 1_000);

    // Act
    time.advance(999);
    const before = cache.get('a');
    time.advance(1);
    const at = cache.get('a');

    // Assess
    expect(before).toBe('A');
    expect(at).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('gives each entry its own max age', () => {
    // Prepare
    const time = clock();
    const cache = new LruCache<string>(10, time.now);
    cache.set('short', 'S', 1_000);
    cache.set('long', 'L', 60_000);

    // Act
    time.advance(5_000);

    // Assess
    expect(cache.get('short')).toBeUndefined();
    expect(cache.get('long')).toBe('L');
  });

  it('deletes one entry, or all of them', () => {
    // Prepare
    const cache = new LruCache<string>(10, clock().now);
    for (const key of ['a', 'b', 'c']) cache.set(key, key.toUpperCase(), 60_000);

    // Act
    cache.delete('b');
    const afterDelete = present(cache, ['a', 'b', 'c']);
    cache.clear();

    // Assess
    expect(afterDelete).toEqual(['a', 'c']);
    expect(cache.size).toBe(0);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses a bound of %s entries', (maxEntries) => {
    // Act
    const create = () => new LruCache<string>(maxEntries);

    // Assess
    expect(create).toThrow(RangeError);
  });
});
