/**
 * One owner per database across the tabs, windows and workers of an origin, with Web Locks
 * (`navigator.locks`): the browser releases a lock when its holder's page closes or crashes, so nothing is
 * left to clean up. Web Locks need a secure context (https:, or http://localhost / 127.0.0.1).
 */
import { abortedError, SpotflowError } from '../../src/errors.js';
import type { Lock, LockHandle } from '../../src/ports.js';

/** The part of the Web Locks API used here, typed locally so the file also compiles without DOM types. */
interface WebLocks {
  request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: object | null) => Promise<void> | undefined,
  ): Promise<unknown>;
}

/** Lock names are shared with everything else on the origin: ours are prefixed. */
const PREFIX = 'spotflow-device:';

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
    acquire(name: string, signal?: AbortSignal): Promise<LockHandle> {
      const locks = (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks;
      if (locks === undefined) {
        return Promise.reject(
          new SpotflowError(
            'DATABASE_UNAVAILABLE',
            'Web Locks (navigator.locks) are not available here: they need a secure context (https:, or http://localhost)',
          ),
        );
      }
      if (signal?.aborted) return Promise.reject(abortedError(signal));
      return new Promise<LockHandle>((resolve, reject) => {
        let release!: () => void;
        const held = new Promise<void>((done) => {
          release = done;
        });
        // Web Locks refuse `signal` together with `ifAvailable`: a non-waiting request has nothing to abort.
        const requestOptions = wait ? (signal === undefined ? {} : { signal }) : { ifAvailable: true };
        const settled = locks
          .request(PREFIX + name, requestOptions, (lock) => {
            if (lock === null) {
              reject(new SpotflowError('DATABASE_LOCKED', `Another client owns the database ${name}`));
              return undefined;
            }
            let released = false;
            resolve({
              async release() {
                if (!released) {
                  released = true;
                  release();
                }
                // Resolves once the browser has let the lock go.
                await settled;
              },
            });
            // The lock is held until this promise settles.
            return held;
          })
          .then(
            () => {},
            (error: unknown) => {
              // Before the grant only (after it, nothing rejects): an abort, or a browser refusal.
              // Web Locks reject with the signal's reason (an AbortError, or a TimeoutError from AbortSignal.timeout).
              if (signal?.aborted || isAbortError(error)) reject(abortedError(signal));
              else
                reject(
                  new SpotflowError('DATABASE_UNAVAILABLE', `Cannot lock the database ${name}`, {
                    cause: error,
                  }),
                );
            },
          );
      });
    },
  };
}

function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}
