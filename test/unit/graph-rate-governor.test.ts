/**
 * The rate governor on a clock that only moves when someone sleeps: tokens come back one window after their
 * call's answer, per-app and per-tenant buckets, waits refused past the deadline, the hold after a 429 (tenant,
 * then app), and the AIMD that lowers a bucket on a 429 and raises it back after runs of successes.
 */
import type { Clock } from '../../shared/graph/graph-config';
import { callKindOf, GovernorWaitError, GRAPH_RATE_LIMITS, RateGovernor, type RateLimit } from '../../shared/graph/rate-governor';

const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const WINDOW = 20_000;
const T1 = 'tenant-one';
const T2 = 'tenant-two';

function fakeClock() {
  const waits: number[] = [];
  let now = START;
  const clock: Clock = {
    now: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
  };
  return { clock, waits, advance: (ms: number) => (now += ms), elapsed: () => now - START };
}

const writes = (scope: 'app' | 'tenant', requests: number): RateLimit => ({ name: `writes per ${scope}`, scope, kinds: ['subscription-write'], requests, windowMs: WINDOW });

async function rejection(promise: Promise<unknown>): Promise<GovernorWaitError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GovernorWaitError) return error;
    throw error;
  }
  throw new Error('expected a GovernorWaitError');
}

/** Sends one call through the governor, answered `answerMs` after it was let through. */
async function call(governor: RateGovernor, time: ReturnType<typeof fakeClock>, tenant: string, answerMs = 0, options = {}) {
  const permit = await governor.acquire(tenant, 'subscription-write', options);
  time.advance(answerMs);
  permit.done();
}

describe('RateGovernor: pacing', () => {
  it("spends a window's worth at once, then waits until one window after the first answer", async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 3)], clock: time.clock });

    // Act
    for (let i = 0; i < 3; i += 1) await call(governor, time, T1, 100);
    await call(governor, time, T1);

    // Assess: answers at 100, 200, 300; the first token is back at 100 + 20,000
    expect(time.waits).toEqual([WINDOW + 100 - 300]);
    expect(time.elapsed()).toBe(WINDOW + 100);
  });

  it('paces one tenant without holding back another', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 1)], clock: time.clock });
    await call(governor, time, T1);

    // Act
    await call(governor, time, T2);

    // Assess
    expect(time.waits).toEqual([]);
  });

  it('shares the per-app bucket across tenants', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('app', 2), writes('tenant', 5)], clock: time.clock });
    await call(governor, time, T1);
    await call(governor, time, T2);

    // Act
    await call(governor, time, 'tenant-three');

    // Assess
    expect(time.waits).toEqual([WINDOW]);
  });

  it('applies a limit only to the kinds it names', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 1)], clock: time.clock });
    await call(governor, time, T1);

    // Act
    (await governor.acquire(T1, 'other')).done();
    (await governor.acquire(T1, 'subscription-read')).done();

    // Assess
    expect(time.waits).toEqual([]);
  });

  it('refuses a wait past the deadline without taking a token', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 1)], clock: time.clock });
    await call(governor, time, T1);

    // Act
    const error = await rejection(governor.acquire(T1, 'subscription-write', { deadline: START + 5_000 }));
    await call(governor, time, T1);

    // Assess: the refused call took nothing, so the next one waits for the first token only
    expect(error).toMatchObject({ reason: 'paced', scope: 'tenant', waitMs: WINDOW });
    expect(time.waits).toEqual([WINDOW]);
  });

  it('refuses a wait longer than the cap', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('app', 1)], clock: time.clock });
    await call(governor, time, T1);

    // Act
    const error = await rejection(governor.acquire(T2, 'subscription-write', { maxWaitMs: 1_000 }));

    // Assess
    expect(error).toMatchObject({ reason: 'paced', scope: 'app', waitMs: WINDOW });
  });

  it('with every token in flight, waits for an answer and then for the window', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 1)], clock: time.clock });
    const first = await governor.acquire(T1, 'subscription-write');
    const second = governor.acquire(T1, 'subscription-write');

    // Act
    time.advance(500);
    first.done();
    (await second).done();

    // Assess
    expect(time.waits).toEqual([WINDOW]);
    expect(time.elapsed()).toBe(500 + WINDOW);
  });

  it('gives a cancelled token back at once', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 1)], clock: time.clock });
    (await governor.acquire(T1, 'subscription-write')).cancel();

    // Act
    await call(governor, time, T1);

    // Assess
    expect(time.waits).toEqual([]);
  });

  it('scales every ceiling by its share', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 4)], clock: time.clock, share: 0.5 });
    await call(governor, time, T1);
    await call(governor, time, T1);

    // Act
    await call(governor, time, T1);

    // Assess
    expect(time.waits).toEqual([WINDOW]);
  });

  it('refuses a share outside (0, 1]', () => {
    // Act / Assess
    expect(() => new RateGovernor({ limits: [], clock: fakeClock().clock, share: 1.5 })).toThrow(RangeError);
  });
});

describe('RateGovernor: learning from 429', () => {
  it('holds the tenant back until Retry-After, and not another tenant', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [], clock: time.clock });
    (await governor.acquire(T1, 'subscription-write')).done({ throttledForMs: 7_000 });

    // Act
    const refused = await rejection(governor.acquire(T1.toUpperCase(), 'subscription-write', { deadline: START + 5_000 }));
    await call(governor, time, T2);
    await call(governor, time, T1);

    // Assess
    expect(refused).toMatchObject({ reason: 'throttled', scope: 'tenant', waitMs: 7_000 });
    expect(time.waits).toEqual([7_000]);
  });

  it('holds only the kind of call that was throttled', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [], clock: time.clock });
    (await governor.acquire(T1, 'subscription-write')).done({ throttledForMs: 7_000 });

    // Act
    (await governor.acquire(T1, 'other')).done();

    // Assess
    expect(time.waits).toEqual([]);
  });

  it('holds the whole app when a second tenant is throttled while the first is held', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [], clock: time.clock });
    (await governor.acquire(T1, 'subscription-write')).done({ throttledForMs: 10_000 });
    time.advance(1_000);
    (await governor.acquire(T2, 'subscription-write')).done({ throttledForMs: 4_000 });

    // Act
    const refused = await rejection(governor.acquire('tenant-three', 'subscription-write', { deadline: START + 2_000 }));

    // Assess
    expect(refused).toMatchObject({ reason: 'throttled', scope: 'app', waitMs: 4_000 });
    expect(governor.stats()).toMatchObject({ throttled: 2, appHolds: 1 });
  });

  it('halves the throttled tenant bucket, and raises it by a tenth of its ceiling after a run of successes', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 100), writes('app', 1_000)], clock: time.clock });
    (await governor.acquire(T1, 'subscription-write')).done({ throttledForMs: 1_000 });
    const lowered = governor.stats().lowered;

    // Act: 50 successes (the lowered size) earn one step back
    time.advance(WINDOW * 2);
    for (let i = 0; i < 50; i += 1) await call(governor, time, T1, 1);

    // Assess
    expect(lowered).toEqual({ 'writes per tenant|tenant-one': { size: 50, ceiling: 100 } });
    expect(governor.stats().lowered).toEqual({ 'writes per tenant|tenant-one': { size: 60, ceiling: 100 } });
  });

  it('lowers the app bucket only when the 429 is taken to be the app limit', async () => {
    // Prepare
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('app', 1_000)], clock: time.clock });
    (await governor.acquire(T1, 'subscription-write')).done({ throttledForMs: 5_000 });
    const afterOne = Object.keys(governor.stats().lowered);

    // Act
    (await governor.acquire(T2, 'subscription-write')).done({ throttledForMs: 5_000 });

    // Assess
    expect(afterOne).toEqual([]);
    expect(governor.stats().lowered).toEqual({ 'writes per app': { size: 500, ceiling: 1_000 } });
  });

  it('after a lowering, waits for the tokens beyond the new size to come back', async () => {
    // Prepare: 3 calls answered at 100, 200 and 300 ms, the 4th answered 429 at 400 ms: the size halves from 4 to 2
    const time = fakeClock();
    const governor = new RateGovernor({ limits: [writes('tenant', 4)], clock: time.clock });
    for (let i = 0; i < 3; i += 1) await call(governor, time, T1, 100);
    const throttled = await governor.acquire(T1, 'subscription-write');
    time.advance(100);
    throttled.done({ throttledForMs: 1_000 });

    // Act
    await call(governor, time, T1);

    // Assess: the hold (1 s), then until 3 of the 4 tokens in the window are back (the third at 300 ms + a window)
    expect(time.waits).toEqual([1_000, WINDOW + 300 - 1_400]);
    expect(time.elapsed()).toBe(WINDOW + 300);
  });
});

describe('callKindOf', () => {
  it.each([
    ['PATCH', '/subscriptions/abc', 'subscription-write'],
    ['POST', '/subscriptions', 'subscription-write'],
    ['POST', '/subscriptions/abc/reauthorize', 'subscription-write'],
    ['DELETE', '/subscriptions/abc', 'subscription-write'],
    ['GET', '/subscriptions', 'subscription-read'],
    ['GET', '/subscriptions?$top=5', 'subscription-read'],
    ['GET', '/users/delta', 'other'],
    ['GET', '/subscriptionsFoo', 'other'],
  ])('%s %s is %s', (method, path, kind) => {
    // Act / Assess
    expect(callKindOf(method, path)).toBe(kind);
  });
});

describe('GRAPH_RATE_LIMITS', () => {
  it('has a per-app limit for every kind of call', () => {
    // Assess
    for (const kind of ['subscription-write', 'subscription-read', 'other'] as const) {
      expect(GRAPH_RATE_LIMITS.some((limit) => limit.scope === 'app' && limit.kinds.includes(kind))).toBe(true);
    }
  });
});
