/** The platform's time as the device knows it: learnt from answers, carried on the monotonic clock. */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.js';
import { PlatformTime } from './platform-time.js';

const DAY = 86_400_000;
const PLATFORM = Date.UTC(2025, 0, 15, 12);

describe('PlatformTime', () => {
  it('guesses the wall clock plus the offset an earlier run learnt, until an answer tells the time', () => {
    const clock = new FakeClock(PLATFORM + 2 * 365 * DAY);
    const time = new PlatformTime(clock, -2 * 365 * DAY);
    expect(time.known).toBe(false);
    expect(time.now()).toBe(PLATFORM);
  });

  it('a guess outside what an answer allows is replaced; the time then runs on the monotonic clock alone', async () => {
    const clock = new FakeClock(PLATFORM + DAY);
    const time = new PlatformTime(clock);
    time.learn(PLATFORM + 500, PLATFORM, PLATFORM + 2000);
    expect(time.known).toBe(true);
    expect(time.now()).toBe(PLATFORM + 500);
    expect(time.offsetMs).toBe(500 - DAY);
    // NTP sets the wall clock right: the platform's time does not move with it.
    clock.stepWall(-DAY);
    await clock.advance(10_000);
    expect(time.now()).toBe(PLATFORM + 10_500);
  });

  it('a guess within what an answer allows is kept (more precise than a Date header of whole seconds)', () => {
    const clock = new FakeClock(PLATFORM + 1234);
    const time = new PlatformTime(clock);
    time.learn(PLATFORM + 500, PLATFORM, PLATFORM + 2000);
    expect(time.now()).toBe(PLATFORM + 1234);
    expect(time.known).toBe(true);
  });

  it('ignores an answer that contradicts itself or is not a number', () => {
    const clock = new FakeClock(PLATFORM);
    const time = new PlatformTime(clock);
    time.learn(Number.NaN, PLATFORM, PLATFORM + 2000);
    time.learn(PLATFORM + 5000, PLATFORM, PLATFORM + 2000);
    expect(time.known).toBe(false);
    expect(time.now()).toBe(PLATFORM);
  });

  it('tells how far the wall clock stepped against the monotonic one since it last looked', async () => {
    const clock = new FakeClock(PLATFORM);
    const time = new PlatformTime(clock);
    await clock.advance(5000);
    expect(time.wallStep()).toBe(0);
    clock.stepWall(2 * DAY);
    expect(time.wallStep()).toBe(2 * DAY);
    expect(time.wallStep()).toBe(0);
    clock.stepWall(-DAY);
    expect(time.wallStep()).toBe(-DAY);
  });
});
