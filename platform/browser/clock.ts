/**
 * The `Clock` port in browsers: `Date.now()`, `performance.now()` and the window's timers. A zero delay (group
 * commit's "next task") is a MessageChannel message rather than `setTimeout(…, 0)`, which browsers clamp to 4 ms
 * once timers nest: with it, a page awaiting enqueues in a loop would commit at most 250 rounds a second.
 */
import type { Clock, TimerHandle } from '../../src/ports.js';

interface ZeroDelay {
  cancelled: boolean;
}

/**
 * @example
 * const clock = createBrowserClock();
 * const handle = clock.setTimeout(() => console.log('tick'), 1000);
 */
export function createBrowserClock(): Clock {
  const channel = new MessageChannel();
  const due: { callback: () => void; handle: ZeroDelay }[] = [];
  channel.port1.onmessage = () => {
    const next = due.shift();
    if (next && !next.handle.cancelled) next.callback();
  };
  return {
    now: () => Date.now(),
    monotonicNow: () => performance.now(),
    setTimeout(callback: () => void, ms: number): TimerHandle {
      if (ms <= 0) {
        const handle: ZeroDelay = { cancelled: false };
        due.push({ callback, handle });
        channel.port2.postMessage(null);
        return handle;
      }
      return globalThis.setTimeout(callback, ms);
    },
    clearTimeout(handle: TimerHandle): void {
      if (typeof handle === 'number') globalThis.clearTimeout(handle);
      else if (typeof handle === 'object' && handle !== null) (handle as ZeroDelay).cancelled = true;
    },
  };
}
