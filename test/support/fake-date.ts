/**
 * Fakes only `Date` (jest modern timers with every timer and clock function left real, `advanceTimers: true`), so
 * the product's `new Date()` / `Date.now()` can be moved forward with `jest.setSystemTime` while sockets, timeouts
 * and DynamoDB Local keep real time. Used by the subscription end-to-end tests, which move the product's clock and
 * the Graph fake's clock together.
 */
export function fakeDateOnly(): void {
  jest.useFakeTimers({
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'requestAnimationFrame',
      'cancelAnimationFrame',
      'requestIdleCallback',
      'cancelIdleCallback',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
    advanceTimers: true,
    now: Date.now(),
  });
}
