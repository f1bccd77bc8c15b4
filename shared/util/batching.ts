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
