import crypto from 'node:crypto';
import { clientStateMatches } from '../../shared/graph/client-state';

const SECRET = 'current-secret-0123456789';

describe('clientStateMatches', () => {
  it('matches the same value', () => {
    // Prepare
    const received = SECRET;

    // Act
    const result = clientStateMatches(received, SECRET);

    // Assess
    expect(result).toBe(true);
  });

  it.each([
    ['a different value of the same length', 'current-secret-0123456780'],
    ['a prefix of the secret', SECRET.slice(0, -1)],
    ['the secret with a suffix', `${SECRET}x`],
    ['a different case', SECRET.toUpperCase()],
    ['an empty string', ''],
    ['surrounding spaces', ` ${SECRET} `],
  ])('does not match %s', (_label, received) => {
    // Prepare
    const expected = SECRET;

    // Act
    const result = clientStateMatches(received, expected);

    // Assess
    expect(result).toBe(false);
  });

  it('does not match a missing clientState', () => {
    // Prepare
    const received = undefined;

    // Act
    const result = clientStateMatches(received, SECRET);

    // Assess
    expect(result).toBe(false);
  });

  it('never matches an empty expected secret, even against an empty clientState', () => {
    // Prepare
    const expected = '';

    // Act
    const results = [clientStateMatches('', expected), clientStateMatches(undefined, expected), clientStateMatches('x', expected)];

    // Assess
    expect(results).toEqual([false, false, false]);
  });

  it('never matches an undefined expected secret (a caller bypassing the type)', () => {
    // Prepare
    const expected = undefined as unknown as string;

    // Act
    let result: unknown;
    try {
      result = clientStateMatches(undefined, expected);
    } catch {
      result = 'threw';
    }

    // Assess: refusing by throwing is acceptable; matching is not
    expect(result).not.toBe(true);
  });
});

describe('clientStateMatches: constant time', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each([
    ['equal lengths', 'current-secret-0123456780'],
    ['a shorter clientState', 'short'],
    ['a longer clientState', 'x'.repeat(128)],
  ])('compares fixed-size digests with timingSafeEqual for %s', (_label, received) => {
    // Prepare
    const compare = jest.spyOn(crypto, 'timingSafeEqual');

    // Act
    clientStateMatches(received, SECRET);

    // Assess
    expect(compare).toHaveBeenCalledTimes(1);
    const [a, b] = compare.mock.calls[0] as [NodeJS.ArrayBufferView, NodeJS.ArrayBufferView];
    expect(a.byteLength).toBe(32);
    expect(b.byteLength).toBe(32);
  });
});
