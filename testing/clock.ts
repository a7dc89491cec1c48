import type { EmulatorClock } from '../emulator/context.js';

interface Timer {
  dueAt: number;
  seq: number;
  callback: () => void;
  real: ReturnType<typeof setTimeout>;
}

/**
 * A clock for the emulator that runs with real time and can be moved forward: `advance(ms)` jumps ahead at once,
 * firing every emulator timer due by then (a SAS token's expiry, an undecided provisioning operation's, a direct
 * method's timeout), so a test sees a lifetime end without waiting it out. Within a test time never goes back;
 * `rewind()` sets it back to the real time between tests.
 *
 * @example
 * ```ts
 * const clock = new TestClock();
 * const emulator = await startTestEmulator({ clock, settings: { sasTokenLifetimeSeconds: 3600 } });
 * clock.advance(3600_000); // every device connection's SAS token has now expired: the emulator closes them
 * ```
 */
export class TestClock implements EmulatorClock {
  #offset = 0;
  #seq = 0;
  readonly #timers = new Map<object, Timer>();

  /** Wall-clock ms: the real time plus every `advance` so far. */
  now(): number {
    return Date.now() + this.#offset;
  }

  /** How far this clock is ahead of the real one, in ms. */
  get offsetMs(): number {
    return this.#offset;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const handle = {};
    this.#schedule(handle, { dueAt: this.now() + Math.max(0, ms), seq: this.#seq++, callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    const timer = typeof handle === 'object' && handle !== null ? this.#timers.get(handle) : undefined;
    if (!timer) return;
    clearTimeout(timer.real);
    this.#timers.delete(handle as object);
  }

  /**
   * Moves the time forward by `ms` and fires, in time order, every timer due by then (timers those set fire too when
   * they fall within the step). The rest wait for the remaining, shorter, real time.
   */
  advance(ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`advance takes ms >= 0, not ${ms}`);
    const finalOffset = this.#offset + ms;
    const target = this.now() + ms;
    for (;;) {
      const next = this.#next();
      if (next === undefined || next[1].dueAt > target) break;
      const [handle, timer] = next;
      // Time moves to when this timer is due, so a timer it sets is due from there.
      this.#offset = Math.min(finalOffset, Math.max(this.#offset, timer.dueAt - Date.now()));
      this.clearTimeout(handle);
      timer.callback();
    }
    this.#offset = finalOffset;
    this.#reschedule();
  }

  /**
   * Sets the clock back to the real time (between tests: the Playwright fixture calls it after each test, once that
   * test's devices are shut out). A timer still pending keeps its due time on this clock, so it now fires that much
   * later in real time: what was left of a lifetime is never cut short by a rewind.
   */
  rewind(): void {
    if (this.#offset === 0) return;
    this.#offset = 0;
    this.#reschedule();
  }

  /** Re-arms every pending timer's real timeout after the offset changed. */
  #reschedule(): void {
    for (const [handle, timer] of [...this.#timers]) {
      clearTimeout(timer.real);
      this.#schedule(handle, timer);
    }
  }

  #next(): [object, Timer] | undefined {
    let next: [object, Timer] | undefined;
    for (const entry of this.#timers) {
      const [, timer] = entry;
      if (
        !next ||
        timer.dueAt < next[1].dueAt ||
        (timer.dueAt === next[1].dueAt && timer.seq < next[1].seq)
      ) {
        next = entry;
      }
    }
    return next;
  }

  #schedule(handle: object, timer: Omit<Timer, 'real'>): void {
    const real = setTimeout(
      () => {
        this.#timers.delete(handle);
        timer.callback();
      },
      Math.max(0, timer.dueAt - this.now()),
    );
    // Like the emulator's real clock: a pending timer does not keep the process alive.
    real.unref();
    this.#timers.set(handle, { ...timer, real });
  }
}
