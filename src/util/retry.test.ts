import { afterEach, describe, expect, it, vi } from 'vitest';
import { realClock } from '../../test/helpers/clock.js';
import { isSpotflowError, SpotflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import { Hurry, isTransient, retrying } from './retry.js';

/** The Node clock reads the globals at each call: vitest's fake timers drive it where a case installs them. */
const clock = realClock();

function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
}

/** A call that fails with each of `errors` in turn, then resolves with the number of calls made. */
function failing(...errors: unknown[]) {
  let calls = 0;
  return {
    calls: () => calls,
    call: async () => {
      calls++;
      if (calls <= errors.length) throw errors[calls - 1];
      return calls;
    },
  };
}

const network = () => new SpotflowError('NETWORK', 'The platform could not be reached (TypeError)');

describe('isTransient', () => {
  it('is true for NETWORK errors only', () => {
    expect(isTransient(network())).toBe(true);
    expect(isTransient(new SpotflowError('WORKSPACE_DISABLED', 'disabled'))).toBe(false);
    expect(isTransient(new TypeError('fetch failed'))).toBe(false);
  });
});

describe('retrying', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries NETWORK errors with growing delays until the call succeeds', async () => {
    // Fake timers: three real backoffs would take up to 7 s.
    vi.useFakeTimers();
    const log = recordingLog();
    const target = failing(network(), network(), network());
    const started = Date.now();
    const result = retrying(target.call, clock, log, undefined);
    // 0.5–1 s, 1–2 s, 2–4 s: all three retries are done within 7 s, not before 3.5 s.
    await vi.advanceTimersByTimeAsync(3400);
    expect(target.calls()).toBeLessThanOrEqual(3);
    await vi.advanceTimersByTimeAsync(3600);
    expect(await result).toBe(4);
    expect(Date.now() - started).toBeLessThanOrEqual(7000);
    expect(log.warnings).toEqual(Array(3).fill('Platform not reachable; retrying'));
  });

  it('rethrows any other error at once', async () => {
    const refused = new SpotflowError('REGISTRATION_INVALID', 'refused');
    const target = failing(refused);
    await expect(retrying(target.call, clock, recordingLog(), undefined)).rejects.toBe(refused);
    expect(target.calls()).toBe(1);
  });

  it('rejects with ABORTED when the signal aborts during a wait', async () => {
    const controller = new AbortController();
    const target = failing(network(), network());
    const result = retrying(target.call, clock, recordingLog(), controller.signal);
    setTimeout(() => controller.abort(), 20);
    const error = await result.catch((e: unknown) => e);
    expect(isSpotflowError(error, 'ABORTED')).toBe(true);
    expect(target.calls()).toBe(1);
  });

  it('a hurry cuts the wait short and the call is made again at once', async () => {
    const hurry = new Hurry(clock);
    const target = failing(network());
    const started = Date.now();
    const result = retrying(target.call, clock, recordingLog(), undefined, hurry);
    setTimeout(() => hurry.now(), 20);
    expect(await result).toBe(2);
    expect(Date.now() - started).toBeLessThan(400);
  });
});

describe('Hurry', () => {
  it('waits the full time when nobody hurries it', async () => {
    const started = Date.now();
    await new Hurry(clock).wait(60, undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('ends a long wait early on now()', async () => {
    const hurry = new Hurry(clock);
    const started = Date.now();
    const waiting = hurry.wait(10_000, undefined);
    setTimeout(() => hurry.now(), 20);
    await waiting;
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects with ABORTED when the signal aborts', async () => {
    const controller = new AbortController();
    const waiting = new Hurry(clock).wait(10_000, controller.signal);
    controller.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(isSpotflowError(error, 'ABORTED')).toBe(true);
  });
});
