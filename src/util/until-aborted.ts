import { abortedError } from '../errors.js';

/**
 * Waits for `work`, or rejects with {@link abortedError} of the first of `signals` to abort (at once when one
 * already has), calling `cleanup` then. The listeners go when it settles, whichever way.
 */
export async function untilAborted<T>(
  work: Promise<T>,
  signals: readonly AbortSignal[],
  cleanup: () => void,
): Promise<T> {
  const fired = signals.find((signal) => signal.aborted);
  if (fired) {
    cleanup();
    throw abortedError(fired);
  }
  let onAbort!: (event: Event) => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = (event) => {
      cleanup();
      reject(abortedError(event.target as AbortSignal));
    };
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    for (const signal of signals) signal.removeEventListener('abort', onAbort);
  }
}
