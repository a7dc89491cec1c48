/**
 * Clocks for tests. `FakeClock` is a `Clock` port whose time moves only when the test says so: a timing rule (a
 * backoff, a grace period) is checked without sleeping. `realClock()` is the Node platform's clock; it reads the
 * globals at each call, so vitest's fake timers drive it too.
 */
import { setImmediate as realSetImmediate } from 'node:timers';
import type { Clock, TimerHandle } from '../../src/ports.js';

export { createNodeClock as realClock } from '../../platform/node/clock.js';

/** Lets every promise callback that is ready run (a real macrotask; not affected by fake timers). */
export function settle(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

interface QueuedTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/**
 * The timers of a test's clock, due at times of its monotonic clock (which moves only in `advance`): they fire in
 * time order, timers due at the same time in the order they were set. {@link FakeClock} and {@link StillClock} keep
 * theirs here.
 */
class TimerQueue {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<object, QueuedTimer>();

  /** The monotonic time. */
  get now(): number {
    return this.#now;
  }

  /** Timers neither fired nor deleted. */
  get size(): number {
    return this.#timers.size;
  }

  /** A timer due `delay` ms from now; its handle. */
  add(delay: number, callback: () => void): object {
    const handle = {};
    this.#timers.set(handle, { at: this.#now + delay, seq: this.#seq++, callback });
    return handle;
  }

  /** Whether `handle` was a timer still waiting (it no longer is). */
  delete(handle: unknown): boolean {
    return typeof handle === 'object' && handle !== null && this.#timers.delete(handle);
  }

  /** How far ahead (ms) the timers `include` picks are due, soonest first. */
  delays(include: (handle: object) => boolean): number[] {
    return [...this.#timers]
      .filter(([handle]) => include(handle))
      .map(([, timer]) => timer.at - this.#now)
      .sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing every timer due by then in time order: the ready promise callbacks run first
   * and last (a real macrotask), `fired(handle)` just before a timer's callback and `afterEach` after it (so a timer
   * set by a fired one fires too, when it falls within the step). `moved` hears of each step of time.
   */
  async advance(
    ms: number,
    hooks: { moved: (ms: number) => void; afterEach: () => Promise<void>; fired?: (handle: object) => void },
  ): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#next();
      if (next === undefined || next[1].at > target) break;
      const [handle, timer] = next;
      this.#timers.delete(handle);
      hooks.fired?.(handle);
      this.#moveTo(timer.at, hooks.moved);
      timer.callback();
      await hooks.afterEach();
    }
    this.#moveTo(target, hooks.moved);
    await settle();
  }

  #moveTo(at: number, moved: (ms: number) => void): void {
    moved(at - this.#now);
    this.#now = at;
  }

  #next(): [object, QueuedTimer] | undefined {
    let best: [object, QueuedTimer] | undefined;
    for (const entry of this.#timers) {
      if (!best || entry[1].at < best[1].at || (entry[1].at === best[1].at && entry[1].seq < best[1].seq))
        best = entry;
    }
    return best;
  }
}

/** A timer's delay as `setTimeout` takes it: a negative or non-finite one is 0. */
function delayOf(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

export class FakeClock implements Clock {
  #wall: number;
  readonly #timers = new TimerQueue();
  /** Every delay asked of `setTimeout`, in order. */
  readonly delays: number[] = [];

  constructor(wallStartMs = Date.UTC(2025, 0, 15, 12)) {
    this.#wall = wallStartMs;
  }

  now(): number {
    return this.#wall;
  }

  monotonicNow(): number {
    return this.#timers.now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const delay = delayOf(ms);
    this.delays.push(delay);
    return this.#timers.add(delay, callback);
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** Timers neither fired nor cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves both clocks forward by `ms`, firing due timers in time order and letting promise callbacks run after
   * each (so a timer set by a fired one fires too, when it falls within the step).
   */
  advance(ms: number): Promise<void> {
    return this.#timers.advance(ms, { moved: (step) => (this.#wall += step), afterEach: settle });
  }

  /** Steps the wall clock only (NTP correcting it); the monotonic clock and timers do not move. */
  stepWall(ms: number): void {
    this.#wall += ms;
  }
}

/**
 * A `Clock` port for tests against a real emulator and real I/O, where time stands still until the test moves it.
 * `now()` and `monotonicNow()` change only in {@link StillClock.advance}, so a lifetime, an age or a renewal interval
 * passes exactly when the test says, however slow the machine is. Timers up to `realTimersUpToMs` (the machinery's
 * short waits: a reconnect backoff, a provisioning poll, the next task) also run on real time, without moving the
 * clock, so the client keeps working between steps; longer ones (renewals, dead-link and request timeouts) fire
 * only when `advance` reaches them. Give the emulator this clock too (its `clock` option) so both sides share the
 * same time, and its expiries (a SAS token's, a provisioning operation's) come when `advance` reaches them.
 */
export class StillClock implements Clock {
  #wall: number;
  readonly #timers = new TimerQueue();
  /** The real timers of the short waits, cleared when `advance` fires the callback first. */
  readonly #real = new Map<object, ReturnType<typeof setTimeout>>();
  readonly #realUpToMs: number;

  constructor(options: { wallStartMs?: number; realTimersUpToMs?: number } = {}) {
    this.#wall = options.wallStartMs ?? Date.now();
    this.#realUpToMs = options.realTimersUpToMs ?? 1000;
  }

  now(): number {
    return this.#wall;
  }

  monotonicNow(): number {
    return this.#timers.now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const delay = delayOf(ms);
    const handle = this.#timers.add(delay, callback);
    if (delay <= this.#realUpToMs) {
      const real = globalThis.setTimeout(() => {
        this.#real.delete(handle);
        if (this.#timers.delete(handle)) callback();
      }, delay);
      this.#real.set(handle, real);
    }
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
    this.#clearReal(handle);
  }

  /**
   * Lets the client act on what the last step made due: ready promise callbacks, then `ms` of real time for its I/O
   * and short timers. (A short timer cannot tell "done" from "waiting": a renewal due in 300 ms of the test's clock
   * keeps re-arming a real 300 ms timer until `advance` reaches it.)
   */
  async quiet(ms = 50): Promise<void> {
    await settle();
    await new Promise((resolve) => globalThis.setTimeout(resolve, ms));
    await settle();
  }

  /** Moves time forward `totalMs` in steps of `stepMs`, letting the client act ({@link quiet}) after each. */
  async walk(totalMs: number, stepMs: number, quietMs?: number): Promise<void> {
    for (let done = 0; done < totalMs; done += stepMs) {
      await this.advance(Math.min(stepMs, totalMs - done));
      await this.quiet(quietMs);
    }
  }

  /**
   * Moves time forward in steps of `stepMs` until `probe` holds (checked before each step, and waited for on real
   * time for up to `quietMs` after it); throws once `maxMs` of the clock's time passed without it.
   */
  async walkUntil(
    probe: () => boolean,
    { stepMs, maxMs, quietMs = 500 }: { stepMs: number; maxMs: number; quietMs?: number },
  ): Promise<void> {
    for (let done = 0; ; done += stepMs) {
      if (probe()) return;
      if (done >= maxMs) throw new Error(`condition not met within ${maxMs} ms of the test's clock`);
      await this.advance(stepMs);
      const until = Date.now() + quietMs;
      while (!probe() && Date.now() < until)
        await new Promise((resolve) => globalThis.setTimeout(resolve, 10));
    }
  }

  /** Delays (ms from now) of the timers that only `advance` fires, soonest first. */
  heldDelays(): number[] {
    return this.#timers.delays((handle) => !this.#real.has(handle));
  }

  /**
   * Moves both clocks forward by `ms`, firing every timer due by then (short ones too, if their real wait has not
   * ended yet) in time order, letting promise callbacks run after each. No I/O completes within the step (only
   * promise callbacks run between the timers): what a fired timer sends is answered at the step's end, so where an
   * answer lands on the clock does not depend on how fast the machine is.
   */
  advance(ms: number): Promise<void> {
    return this.#timers.advance(ms, {
      moved: (step) => (this.#wall += step),
      fired: (handle) => this.#clearReal(handle),
      afterEach: async () => {
        for (let turn = 0; turn < 50; turn++) await Promise.resolve();
      },
    });
  }

  #clearReal(handle: unknown): void {
    if (typeof handle !== 'object' || handle === null) return;
    const real = this.#real.get(handle);
    if (real === undefined) return;
    globalThis.clearTimeout(real);
    this.#real.delete(handle);
  }
}

/**
 * A device whose wall clock is wrong: `now()` is the test clock's wall time plus `aheadMs` (negative: behind), and
 * {@link WrongWallClock.jump} steps it as NTP or a user would, while the monotonic time and the timers stay the test
 * clock's own. Give the emulator the test clock itself: the platform's time is right, the device's is not.
 */
export class WrongWallClock implements Clock {
  constructor(
    private readonly base: Clock,
    public aheadMs: number,
  ) {}

  now(): number {
    return this.base.now() + this.aheadMs;
  }

  monotonicNow(): number {
    return this.base.monotonicNow();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.base.setTimeout(callback, ms);
  }

  clearTimeout(handle: TimerHandle): void {
    this.base.clearTimeout(handle);
  }

  /** Steps the wall clock by `ms` (forward when positive); monotonic time and timers do not move. */
  jump(ms: number): void {
    this.aheadMs += ms;
  }
}
