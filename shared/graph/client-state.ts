import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time comparison of a notification's clientState with an expected secret. Both sides are hashed
 * first so the comparison takes the same time whatever the lengths.
 */
export function clientStateMatches(received: string | undefined, expected: string): boolean {
  if (received === undefined || expected.length === 0) return false;
  const a = createHash('sha256').update(received, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
