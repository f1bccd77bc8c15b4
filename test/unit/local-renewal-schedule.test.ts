import {
  DEFAULT_LOCAL_RENEWAL_INTERVAL_SECONDS,
  LocalRenewalSettingsError,
  localRenewalSettingsFromEnv,
  publicWebhookBaseUrl,
  startLocalRenewalSchedule,
} from '../../local/renewal-schedule';

/** Timers that record what was scheduled and fire only when told to. */
function manualTimers() {
  const scheduled: { callback: () => void; ms: number; cleared: boolean }[] = [];
  return {
    scheduled,
    timers: {
      setInterval: (callback: () => void, ms: number) => {
        const entry = { callback, ms, cleared: false };
        scheduled.push(entry);
        return entry;
      },
      clearInterval: (handle: unknown) => {
        (handle as { cleared: boolean }).cleared = true;
      },
    },
    tick: () => scheduled.filter((entry) => !entry.cleared).forEach((entry) => entry.callback()),
  };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('local renewal schedule', () => {
  it('schedules a run every interval and clears the timer on stop', async () => {
    // Prepare
    const t = manualTimers();
    const run = jest.fn(async () => 'report');

    // Act
    const schedule = startLocalRenewalSchedule({ intervalMs: 900_000, run, log: () => undefined, timers: t.timers });
    t.tick();
    await flush();
    await schedule.stop();
    t.tick();
    await flush();

    // Assess
    expect(t.scheduled.map((entry) => ({ ms: entry.ms, cleared: entry.cleared }))).toEqual([{ ms: 900_000, cleared: true }]);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('schedules no timer when the interval is 0, yet runs on demand', async () => {
    // Prepare
    const t = manualTimers();

    // Act
    const schedule = startLocalRenewalSchedule({ intervalMs: 0, run: async () => 'report', log: () => undefined, timers: t.timers });
    const result = await schedule.runNow();

    // Assess
    expect(t.scheduled).toEqual([]);
    expect(result).toBe('report');
    await schedule.stop();
  });

  it('skips a tick while a run is in progress, and stop waits for that run', async () => {
    // Prepare
    const t = manualTimers();
    const gate = deferred<string>();
    const run = jest.fn(() => gate.promise);
    const schedule = startLocalRenewalSchedule({ intervalMs: 1000, run, log: () => undefined, timers: t.timers });
    t.tick();
    await flush();
    t.tick();
    await flush();
    let stopped = false;

    // Act
    const stopping = schedule.stop().then(() => {
      stopped = true;
    });
    await flush();
    const stoppedBeforeRunEnded = stopped;
    gate.resolve('report');
    await stopping;

    // Assess
    expect(run).toHaveBeenCalledTimes(1);
    expect(stoppedBeforeRunEnded).toBe(false);
    expect(stopped).toBe(true);
  });

  it('logs a failed scheduled run and keeps the schedule going', async () => {
    // Prepare
    const t = manualTimers();
    const log = jest.fn();
    const run = jest.fn().mockRejectedValueOnce(new Error('DynamoDB is down')).mockResolvedValueOnce('report');
    const schedule = startLocalRenewalSchedule({ intervalMs: 1000, run, log, timers: t.timers });

    // Act
    t.tick();
    await flush();
    t.tick();
    await flush();
    await schedule.stop();

    // Assess
    expect(log).toHaveBeenCalledWith('renewal run failed: DynamoDB is down');
    expect(run).toHaveBeenCalledTimes(2);
  });

  it('refuses a run on demand after stop', async () => {
    // Prepare
    const schedule = startLocalRenewalSchedule({ intervalMs: 0, run: async () => 'report', log: () => undefined });
    await schedule.stop();

    // Act
    const result = schedule.runNow();

    // Assess
    await expect(result).rejects.toThrow('stopped');
  });
});

describe('local renewal settings', () => {
  it('defaults to the deployed interval and the listening URL', () => {
    // Act
    const settings = localRenewalSettingsFromEnv({});

    // Assess
    expect(settings).toEqual({ intervalSeconds: DEFAULT_LOCAL_RENEWAL_INTERVAL_SECONDS });
    expect(DEFAULT_LOCAL_RENEWAL_INTERVAL_SECONDS).toBe(900);
  });

  it('reads the interval (0 disables) and a public URL', () => {
    // Act
    const settings = localRenewalSettingsFromEnv({ GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS: '0', GRAPH_RELAY_PUBLIC_URL: 'https://abc.ngrok.app/' });

    // Assess
    expect(settings).toEqual({ intervalSeconds: 0, publicUrl: 'https://abc.ngrok.app/' });
  });

  it.each(['-1', '1.5', 'soon'])('refuses the interval %p, naming the variable', (value) => {
    // Act
    const read = () => localRenewalSettingsFromEnv({ GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS: value });

    // Assess
    expect(read).toThrow(LocalRenewalSettingsError);
    expect(read).toThrow('GRAPH_RELAY_RENEWAL_INTERVAL_SECONDS must be whole seconds');
  });

  it.each(['tunnel.example.com', 'ftp://tunnel.example.com', 'https://user:pw@tunnel.example.com', 'https://tunnel.example.com/?a=1'])(
    'refuses the public URL %p',
    (value) => {
      // Act
      const read = () => localRenewalSettingsFromEnv({ GRAPH_RELAY_PUBLIC_URL: value });

      // Assess
      expect(read).toThrow(/GRAPH_RELAY_PUBLIC_URL must be/);
    },
  );

  it('puts the webhook path below the public URL, keeping a path prefix', () => {
    // Act
    const bases = [publicWebhookBaseUrl('https://abc.ngrok.app'), publicWebhookBaseUrl('https://proxy.example.com/relay/')];

    // Assess
    expect(bases).toEqual(['https://abc.ngrok.app/webhook/', 'https://proxy.example.com/relay/webhook/']);
  });
});
