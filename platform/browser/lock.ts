/**
 * One owner per database across the tabs, windows and workers of an origin, with Web Locks (web-locks.ts): the
 * browser releases a lock when its holder's page closes or crashes, so nothing is left to clean up.
 */
import { abortedError, SpotflowError } from '../../src/errors.js';
import type { Lock, LockHandle } from '../../src/ports.js';
import { requestLock, webLocks } from './web-locks.js';

/** Lock names are shared with everything else on the origin: ours are prefixed. */
const PREFIX = 'spotflow-device:';

/** Options of {@link createBrowserLock}. */
export interface BrowserLockOptions {
  /**
   * `false` (default): `acquire` rejects with `DATABASE_LOCKED` at once when another owner holds the lock.
   * `true`: it waits until the owner releases it (or its tab closes); the `signal` passed to `acquire` ends the wait.
   */
  wait?: boolean;
}

/**
 * @example
 * const handle = await createBrowserLock({ wait: false }).acquire('kiosk');
 * try { ... } finally { await handle.release(); }
 */
export function createBrowserLock(options: BrowserLockOptions = {}): Lock {
  const wait = options.wait === true;
  return {
    async acquire(name: string, signal?: AbortSignal): Promise<LockHandle> {
      const locks = webLocks();
      if (signal?.aborted) throw abortedError(signal);
      let held: LockHandle | null;
      try {
        // Web Locks refuse `signal` together with `ifAvailable`: a non-waiting request has nothing to abort.
        held = await requestLock(
          locks,
          PREFIX + name,
          wait ? (signal === undefined ? {} : { signal }) : { ifAvailable: true },
        );
      } catch (error) {
        // Before the grant only: an abort (Web Locks reject with the signal's reason: an AbortError, or a
        // TimeoutError from AbortSignal.timeout), or a browser refusal.
        if (signal?.aborted || isAbortError(error)) throw abortedError(signal);
        throw new SpotflowError('DATABASE_UNAVAILABLE', `Cannot lock the database ${name}`, { cause: error });
      }
      if (held === null)
        throw new SpotflowError('DATABASE_LOCKED', `Another client owns the database ${name}`);
      return held;
    },
  };
}

function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}
