/**
 * Clocks for tests. `FakeClock` is a `Clock` port whose time moves only when the test says so: a timing rule (a
 * backoff, a grace period) is checked without sleeping. `realClock()` is the Node platform's clock; it reads the
 * globals at each call, so vitest's fake timers drive it too.
 */
import { setImmediate as realSetImmediate } from 'node:timers';
import type { Clock, TimerHandle } from '../../src/ports.js';

export { createNodeClock as realClock } from '../../platform/node/clock.js';

interface FakeTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/** Lets every promise callback that is ready run (a real macrotask; not affected by fake timers). */
export function settle(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

export class FakeClock implements Clock {
  #wall: number;
  #monotonic = 0;
  #seq = 0;
  readonly #timers = new Map<object, FakeTimer>();
  /** Every delay asked of `setTimeout`, in order. */
  readonly delays: number[] = [];

  constructor(wallStartMs = Date.UTC(2025, 0, 15, 12)) {
    this.#wall = wallStartMs;
  }

  now(): number {
    return this.#wall;
  }

  monotonicNow(): number {
    return this.#monotonic;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.delays.push(delay);
    const handle = {};
    this.#timers.set(handle, { at: this.#monotonic + delay, seq: this.#seq++, callback });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'object' && handle !== null) this.#timers.delete(handle);
  }

  /** Timers neither fired nor cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves both clocks forward by `ms`, firing due timers in time order and letting promise callbacks run after
   * each (so a timer set by a fired one fires too, when it falls within the step).
   */
  async advance(ms: number): Promise<void> {
    const target = this.#monotonic + ms;
    await settle();
    for (;;) {
      const next = this.#next();
      if (next === undefined || next[1].at > target) break;
      const [handle, timer] = next;
      this.#timers.delete(handle);
      this.#wall += timer.at - this.#monotonic;
      this.#monotonic = timer.at;
      timer.callback();
      await settle();
    }
    this.#wall += target - this.#monotonic;
    this.#monotonic = target;
    await settle();
  }

  /** Steps the wall clock only (NTP correcting it); the monotonic clock and timers do not move. */
  stepWall(ms: number): void {
    this.#wall += ms;
  }

  #next(): [object, FakeTimer] | undefined {
    let best: [object, FakeTimer] | undefined;
    for (const entry of this.#timers) {
      if (!best || entry[1].at < best[1].at || (entry[1].at === best[1].at && entry[1].seq < best[1].seq))
        best = entry;
    }
    return best;
  }
}
