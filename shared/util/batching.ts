export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Full-jitter exponential backoff: base × 2^attempt, capped. */
export function backoffDelay(attempt: number, baseMs = 25, capMs = 1000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/**
 * Runs `attempt` until it reports done, backing off between tries; after `maxAttempts` throws `onExhausted()`.
 * Used for work DynamoDB or EventBridge left partly undone (unprocessed keys, failed entries).
 */
export async function retryWithBackoff(
  maxAttempts: number,
  attempt: () => Promise<boolean>,
  onExhausted: () => Error,
  delay: (attempt: number) => number = backoffDelay,
): Promise<void> {
  for (let i = 0; i < maxAttempts; i += 1) {
    if (i > 0) await sleep(delay(i));
    if (await attempt()) return;
  }
  throw onExhausted();
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order; rejects with the first error. */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  // A bad limit must never mean "no calls" (which would look like success).
  const workers = Array.from({ length: Math.min(Math.max(1, Math.floor(limit) || 1), items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
