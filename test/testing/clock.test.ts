// TestClock: real time that a test moves forward, firing the emulator's timers due by then.
import { describe, expect, it } from 'vitest';
import { TestClock } from '../../testing/index.js';

describe('TestClock', () => {
  it('reads the real time plus what was advanced, and never goes back', () => {
    const clock = new TestClock();
    const before = Date.now();
    clock.advance(60_000);
    expect(clock.offsetMs).toBe(60_000);
    expect(clock.now()).toBeGreaterThanOrEqual(before + 60_000);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('fires the timers due by the new time at once, in time order, and timers they set within the step', () => {
    const clock = new TestClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('later'), 5_000);
    clock.setTimeout(() => {
      fired.push('first');
      clock.setTimeout(() => fired.push('set by first'), 1_000);
    }, 1_000);
    const cancelled = clock.setTimeout(() => fired.push('cancelled'), 2_000);
    clock.setTimeout(() => fired.push('not yet'), 60_000);
    clock.clearTimeout(cancelled);
    clock.advance(5_000);
    expect(fired).toEqual(['first', 'set by first', 'later']);
  });

  it('runs a timer not yet due on the real time left', async () => {
    const clock = new TestClock();
    const fired = new Promise<number>((resolve) => clock.setTimeout(() => resolve(Date.now()), 60_000));
    const advanced = Date.now();
    clock.advance(59_950);
    expect(await fired).toBeLessThan(advanced + 5_000);
  });

  it('rewinds to the real time, a pending timer keeping its due time on the clock', () => {
    const clock = new TestClock();
    const fired: string[] = [];
    clock.advance(3_600_000);
    clock.setTimeout(() => fired.push('due 1 min after the advance'), 60_000);
    clock.rewind();
    expect(clock.offsetMs).toBe(0);
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(1_000);
    clock.advance(3_600_000);
    expect(fired).toEqual([]);
    clock.advance(60_000);
    expect(fired).toEqual(['due 1 min after the advance']);
  });
});
