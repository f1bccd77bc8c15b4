/**
 * What the local stand-ins for Lambda's event sources (the connections stream, the SQS queues) share: each polls in
 * a loop until stopped, waits between polls in a way stop cuts short, and keeps an outage from filling the log.
 */

/** A local event source as the local stack drives it. */
export interface LocalEventSource<Stats> {
  stats(): Stats;
  /** Resolves once there is nothing left to hand over (each source says how it tells), or on stop. */
  idle(): Promise<void>;
  /** Stops polling, waits for the batch in progress and closes the client. */
  stop(): Promise<void>;
}

export interface PollerControl {
  /** Aborted on stop: passed to every SDK call, so a long poll ends at once. */
  readonly abort: AbortController;
  /** Waits `ms`, or less when stopped meanwhile. */
  sleep(ms: number): Promise<void>;
  /** Logs `${prefix}: ${message}`, but not the same message twice in a row: an outage would log it on every poll. */
  reportError(message: string): void;
  /** A poll went through: the next error is logged even if it repeats the last one. */
  recovered(): void;
}

export function pollerControl(prefix: string, logError: (line: string) => void): PollerControl {
  const abort = new AbortController();
  let lastError: string | undefined;
  return {
    abort,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        if (abort.signal.aborted) return resolve();
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          abort.signal.removeEventListener('abort', done);
          resolve();
        }
        abort.signal.addEventListener('abort', done);
      }),
    reportError(message) {
      if (message !== lastError) logError(`${prefix}: ${message}`);
      lastError = message;
    },
    recovered() {
      lastError = undefined;
    },
  };
}
