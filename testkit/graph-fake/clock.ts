import { performance } from 'node:perf_hooks';

export interface FakeClockOptions {
  /** Wall-clock time the fake starts at (default: now). */
  start?: Date | number;
  /** A frozen clock only moves through advance() and set() (default: it follows real time). */
  frozen?: boolean;
}

/**
 * Graph's (and the identity platform's) wall clock: subscription expiry, token lifetimes and client-assertion
 * time checks all read it. It follows real time unless frozen, and tests move it with advance() to make
 * subscriptions or tokens expire. A product under test that signs assertions or computes expiry should be
 * given the same clock (`() => fake.clock.now()`) once a test advances it.
 * Rate-limit windows deliberately do not use it (see rate-limiter.ts).
 */
export class FakeClock {
  private anchorTime: number;
  private anchorReal = performance.now();
  private frozen: boolean;

  constructor(options: FakeClockOptions = {}) {
    this.anchorTime = options.start === undefined ? Date.now() : new Date(options.start).getTime();
    this.frozen = options.frozen ?? false;
  }

  /** Milliseconds since the epoch. */
  now(): number {
    return this.frozen ? this.anchorTime : this.anchorTime + (performance.now() - this.anchorReal);
  }

  date(): Date {
    return new Date(this.now());
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`clock.advance needs a non-negative number of milliseconds, got ${ms}`);
    this.rebase(this.now() + ms);
  }

  set(time: Date | number): void {
    const ms = new Date(time).getTime();
    if (Number.isNaN(ms)) throw new RangeError('clock.set needs a valid date');
    this.rebase(ms);
  }

  freeze(): void {
    this.rebase(this.now());
    this.frozen = true;
  }

  resume(): void {
    this.rebase(this.now());
    this.frozen = false;
  }

  private rebase(time: number): void {
    this.anchorTime = time;
    this.anchorReal = performance.now();
  }
}
