/**
 * Watches `setTimeout` in this process (the emulator under test runs in it): which delays were asked for, and which
 * long timers are still pending (neither fired nor cleared). `stop()` puts the real functions back.
 */
export function watchTimers(longerThanMs = 10 * 60_000): {
  delays: number[];
  pendingLong: () => number;
  stop: () => void;
} {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const delays: number[] = [];
  const long = new Set<unknown>();
  const patchedSetTimeout = (handler: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const delay = ms ?? 0;
    delays.push(delay);
    const timer = realSetTimeout(
      (...callArgs: unknown[]) => {
        long.delete(timer);
        handler(...callArgs);
      },
      delay,
      ...args,
    );
    if (delay > longerThanMs) long.add(timer);
    return timer;
  };
  const patchedClearTimeout = (timer: Parameters<typeof clearTimeout>[0]) => {
    long.delete(timer);
    realClearTimeout(timer);
  };
  globalThis.setTimeout = patchedSetTimeout as unknown as typeof setTimeout;
  globalThis.clearTimeout = patchedClearTimeout as typeof clearTimeout;
  return {
    delays,
    pendingLong: () => long.size,
    stop: () => {
      globalThis.setTimeout = realSetTimeout;
      globalThis.clearTimeout = realClearTimeout;
    },
  };
}
