/**
 * The `Clock` port on Node: `Date.now()`, `performance.now()` and the global timers. The globals are looked up at
 * each call, not captured at import, so that tools replacing them (vitest's fake timers, timer watchers in tests)
 * see the core's timers too.
 */
import type { Clock, TimerHandle } from '../../src/ports.js';

/** Handles that came from `setImmediate` (cleared with `clearImmediate`, not `clearTimeout`). */
const immediates = new WeakSet<object>();

/**
 * @example
 * const clock = createNodeClock();
 * const handle = clock.setTimeout(() => console.log('tick'), 1000);
 * clock.clearTimeout(handle);
 */
export function createNodeClock(): Clock {
  return {
    now: () => Date.now(),
    monotonicNow: () => performance.now(),
    setTimeout(callback: () => void, ms: number): TimerHandle {
      // Node's timers have a 1 ms floor; a zero delay (group commit's "next task") takes the check phase instead,
      // which runs after pending I/O without that floor.
      if (ms <= 0) {
        const immediate = globalThis.setImmediate(callback);
        immediates.add(immediate);
        return immediate;
      }
      return globalThis.setTimeout(callback, ms);
    },
    clearTimeout(handle: TimerHandle): void {
      if (typeof handle !== 'object' || handle === null) return;
      if (immediates.has(handle)) globalThis.clearImmediate(handle as NodeJS.Immediate);
      else globalThis.clearTimeout(handle as NodeJS.Timeout);
    },
  };
}
