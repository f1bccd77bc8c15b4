/**
 * The local stand-in for the EventBridge schedule: runs the renewal every interval, in process, one run at a time
 * (like the function's reserved concurrency of 1). A failed run is logged and the schedule goes on; it never takes
 * the local stack down.
 */
export interface LocalRenewalScheduleOptions<R> {
  /** 0 disables the timer; `runNow` still works. */
  intervalMs: number;
  run(): Promise<R>;
  log(line: string): void;
  /** Names the run in failure logs; default "renewal". */
  label?: string;
  /** Injected by tests; the global timers otherwise. */
  timers?: {
    setInterval(callback: () => void, ms: number): unknown;
    clearInterval(handle: unknown): void;
  };
}

export interface LocalRenewalSchedule<R> {
  /** Runs now (after a run in progress, if any) and resolves with its result; rejects if the run fails. */
  runNow(): Promise<R>;
  /** Clears the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

const defaultTimers = {
  setInterval: (callback: () => void, ms: number): unknown => setInterval(callback, ms),
  clearInterval: (handle: unknown): void => clearInterval(handle as NodeJS.Timeout),
};

export function startLocalRenewalSchedule<R>(options: LocalRenewalScheduleOptions<R>): LocalRenewalSchedule<R> {
  const timers = options.timers ?? defaultTimers;
  let current: Promise<unknown> = Promise.resolve();
  let running = false;
  let stopped = false;

  const enqueue = (): Promise<R> => {
    const next = current.then(async () => {
      running = true;
      try {
        return await options.run();
      } finally {
        running = false;
      }
    });
    current = next.catch(() => undefined);
    return next;
  };

  let timer: unknown;
  if (options.intervalMs > 0) {
    timer = timers.setInterval(() => {
      // A tick while a run is still going is skipped, as EventBridge's next invocation would wait for concurrency.
      if (running || stopped) return;
      enqueue().catch((error: unknown) => options.log(`${options.label ?? 'renewal'} run failed: ${error instanceof Error ? error.message : String(error)}`));
    }, options.intervalMs);
  }

  return {
    runNow: () => {
      if (stopped) return Promise.reject(new Error('the local renewal schedule is stopped'));
      return enqueue();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) timers.clearInterval(timer);
      timer = undefined;
      await current;
    },
  };
}

/** Environment of `npm start` for the local renewal. */
export const LOCAL_RENEWAL_ENV = {
  intervalSeconds: 'GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS',
  publicUrl: 'GRAPH_RELAY_PUBLIC_URL',
} as const;

/** The deployed schedule's default interval. */
export const DEFAULT_LOCAL_RENEWAL_INTERVAL_SECONDS = 900;

export class LocalRenewalSettingsError extends Error {
  override readonly name = 'LocalRenewalSettingsError';
}

/** Interval (0 disables) and the public base URL (e.g. a tunnel), or a clear error naming the variable. */
export function localRenewalSettingsFromEnv(env: NodeJS.ProcessEnv): { intervalSeconds: number; publicUrl?: string } {
  const intervalText = env[LOCAL_RENEWAL_ENV.intervalSeconds]?.trim() || String(DEFAULT_LOCAL_RENEWAL_INTERVAL_SECONDS);
  const intervalSeconds = Number(intervalText);
  if (!/^\d+$/.test(intervalText) || !Number.isSafeInteger(intervalSeconds)) {
    throw new LocalRenewalSettingsError(`${LOCAL_RENEWAL_ENV.intervalSeconds} must be whole seconds (0 disables the renewal), got "${intervalText}"`);
  }
  const publicUrl = env[LOCAL_RENEWAL_ENV.publicUrl]?.trim() || undefined;
  if (publicUrl !== undefined) publicWebhookBaseUrl(publicUrl);
  return { intervalSeconds, ...(publicUrl === undefined ? {} : { publicUrl }) };
}

/** `<public URL>/webhook/`: what Graph is told to call (and validates) for notifications. */
export function publicWebhookBaseUrl(publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    throw new LocalRenewalSettingsError(`${LOCAL_RENEWAL_ENV.publicUrl} must be an absolute URL such as https://example.ngrok.app, got "${publicUrl}"`);
  }
  if (!/^https?:$/.test(url.protocol) || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new LocalRenewalSettingsError(`${LOCAL_RENEWAL_ENV.publicUrl} must be an http(s) URL without credentials, query or fragment, got "${publicUrl}"`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}/webhook/`;
}
