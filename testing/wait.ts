import { WaitTimeoutError } from './errors.js';

/** How long a wait of the management client may take. */
export interface WaitOptions {
  /** Give up after this many ms with a {@link WaitTimeoutError}. Default: the client's `timeoutMs` (10 s). */
  timeoutMs?: number;
  /** Give up when this aborts (rejects with its reason). */
  signal?: AbortSignal;
}

/** What one look of a {@link waitUntil} found: done with a value, or not yet (and what it saw, for the error). */
export type Probe<T> = { done: true; value: T } | { done: false; seen?: string };

/**
 * Looks with `probe` until it is done, every `intervalMs` (a look never overlaps the next), for at most `timeoutMs`.
 * Rejects with {@link WaitTimeoutError} naming `awaited` and what the last look saw, or with the signal's reason; an
 * error thrown by `probe` ends the wait with that error.
 */
export async function waitUntil<T>(
  awaited: string,
  probe: () => Promise<Probe<T>>,
  options: { timeoutMs: number; signal?: AbortSignal | undefined; intervalMs?: number },
): Promise<T> {
  const { timeoutMs, signal, intervalMs = 100 } = options;
  const deadline = Date.now() + timeoutMs;
  let seen: string | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const result = await probe();
    if (result.done) return result.value;
    seen = result.seen ?? seen;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(awaited, timeoutMs, seen);
    await pause(Math.min(intervalMs, left), signal);
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}
