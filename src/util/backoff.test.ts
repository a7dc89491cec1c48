import { beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, realClock } from '../../test/helpers/clock.js';
import { isSpotflowError, SpotflowError } from '../errors.js';
import { backoffDelay, sleep } from './backoff.js';

const noJitter = { random: () => 0 };

describe('backoffDelay', () => {
  it('grows exponentially from 1 s and stops at 60 s by default', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 20].map((attempt) => backoffDelay(attempt, noJitter));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('takes up to the jitter fraction off', () => {
    expect(backoffDelay(0, { random: () => 0.5 })).toBe(750);
    expect(backoffDelay(0, { random: () => 0.999 })).toBeCloseTo(500.5);
    expect(backoffDelay(3, { jitter: 1, random: () => 0.25 })).toBe(6000);
    expect(backoffDelay(3, { jitter: 0, random: () => 0.9 })).toBe(8000);
  });

  it('stays within [max·(1−jitter), max] for any random value and attempt', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const delay = backoffDelay(attempt);
      const ceiling = Math.min(60_000, 1000 * 2 ** attempt);
      expect(delay).toBeGreaterThan(ceiling * 0.5);
      expect(delay).toBeLessThanOrEqual(ceiling);
    }
  });

  it('honours custom initial, max and factor', () => {
    const options = { initialMs: 100, maxMs: 1000, factor: 3, ...noJitter };
    expect([0, 1, 2, 3].map((attempt) => backoffDelay(attempt, options))).toEqual([100, 300, 900, 1000]);
    expect(backoffDelay(5, { factor: 1, ...noJitter })).toBe(1000);
  });

  it('survives huge, infinite, negative, fractional and NaN attempts', () => {
    expect(backoffDelay(10_000, noJitter)).toBe(60_000);
    expect(backoffDelay(Number.POSITIVE_INFINITY, noJitter)).toBe(60_000);
    expect(backoffDelay(-3, noJitter)).toBe(1000);
    expect(backoffDelay(Number.NaN, noJitter)).toBe(1000);
    expect(backoffDelay(1.7, noJitter)).toBe(2000);
    expect(backoffDelay(10_000, { initialMs: 0, ...noJitter })).toBe(0);
  });

  it('clamps a misbehaving random source into [0, 1]', () => {
    expect(backoffDelay(0, { random: () => 7 })).toBe(500);
    expect(backoffDelay(0, { random: () => -1 })).toBe(1000);
  });

  it('rejects unusable options with INVALID_ARGUMENT', () => {
    const bad = [
      { initialMs: -1 },
      { maxMs: -1 },
      { initialMs: Number.NaN },
      { factor: 0.5 },
      { factor: Number.POSITIVE_INFINITY },
      { jitter: -0.1 },
      { jitter: 1.5 },
      { jitter: Number.NaN },
    ];
    for (const options of bad) {
      expect(() => backoffDelay(0, options)).toThrow(SpotflowError);
    }
  });
});

describe('sleep', () => {
  // A fake clock: time moves only by `advance`, so no case sleeps for real (except the one that checks it does).
  let clock: FakeClock;
  beforeEach(() => {
    clock = new FakeClock();
  });

  it('resolves after the delay', async () => {
    let done = false;
    const sleeping = sleep(clock, 1000).then(() => {
      done = true;
    });
    await clock.advance(999);
    expect(done).toBe(false);
    await clock.advance(1);
    await sleeping;
    expect(done).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('really waits with the Node clock', async () => {
    const started = Date.now();
    await sleep(realClock(), 15);
    expect(Date.now() - started).toBeGreaterThanOrEqual(10);
  });

  it('rejects with ABORTED and clears its timer when the signal aborts', async () => {
    const controller = new AbortController();
    const sleeping = sleep(clock, 60_000, controller.signal);
    expect(clock.pending).toBe(1);
    controller.abort();
    await expect(sleeping).rejects.toSatisfy((error) => isSpotflowError(error, 'ABORTED'));
    expect(clock.pending).toBe(0);
  });

  it('rejects at once, without a timer, when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new SpotflowError('CLIENT_CLOSED', 'closed'));
    const sleeping = sleep(clock, 1000, controller.signal);
    expect(clock.pending).toBe(0);
    await expect(sleeping).rejects.toSatisfy((error) => isSpotflowError(error, 'CLIENT_CLOSED'));
  });

  it('removes its abort listener when it resolves', async () => {
    const controller = new AbortController();
    const removed = vi.spyOn(controller.signal, 'removeEventListener');
    const sleeping = sleep(clock, 10, controller.signal);
    await clock.advance(10);
    await sleeping;
    expect(removed).toHaveBeenCalledWith('abort', expect.any(Function));
    controller.abort(); // must not throw or reject anything
  });

  it('treats negative and NaN delays as 0', async () => {
    const both = Promise.all([sleep(clock, -5), sleep(clock, Number.NaN)]);
    expect(clock.delays).toEqual([0, 0]);
    await clock.advance(0);
    await expect(both).resolves.toEqual([undefined, undefined]);
  });

  it('chains timers for sleeps beyond the 2^31−1 ms timer limit', async () => {
    const limit = 2 ** 31 - 1;
    let done = false;
    const sleeping = sleep(clock, limit * 2 + 5).then(() => {
      done = true;
    });
    await clock.advance(limit);
    expect(done).toBe(false);
    await clock.advance(limit);
    expect(done).toBe(false);
    await clock.advance(5);
    await sleeping;
    expect(done).toBe(true);
    expect(clock.delays).toEqual([limit, limit, 5]);
  });

  it('can be aborted during a later chained timer', async () => {
    const controller = new AbortController();
    const sleeping = sleep(clock, Number.POSITIVE_INFINITY, controller.signal);
    await clock.advance(2 ** 31 * 3);
    expect(clock.pending).toBe(1);
    controller.abort();
    await expect(sleeping).rejects.toSatisfy((error) => isSpotflowError(error, 'ABORTED'));
    expect(clock.pending).toBe(0);
  });
});
