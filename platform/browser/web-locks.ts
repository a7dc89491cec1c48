/**
 * Web Locks (`navigator.locks`) as promises: a lock held until released, typed locally so that the file also compiles
 * without DOM types. The browser releases a context's locks when it closes or crashes, which is what makes them the
 * way to elect one owner and to learn that a context has gone. They need a secure context (https:, or localhost).
 */
import { SpotflowError } from '../../src/errors.js';

interface WebLocks {
  request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: object | null) => Promise<void> | undefined,
  ): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[]; pending?: { name?: string }[] }>;
}

export interface HeldLock {
  /** Lets the lock go; resolves once the browser has. Idempotent. */
  release(): Promise<void>;
}

/** The origin's Web Locks, or a `DATABASE_UNAVAILABLE` error saying why there are none. */
export function webLocks(): WebLocks {
  const locks = (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks;
  if (locks === undefined) {
    throw new SpotflowError(
      'DATABASE_UNAVAILABLE',
      'Web Locks (navigator.locks) are not available here: they need a secure context (https:, or http://localhost)',
    );
  }
  return locks;
}

/**
 * Requests `name`: resolves with the held lock once granted, or with null when `ifAvailable` and another holds it.
 * Rejects with the browser's error (the signal's reason when `signal` aborts the wait).
 */
export function requestLock(
  locks: WebLocks,
  name: string,
  options: { ifAvailable: true } | { signal?: AbortSignal },
): Promise<HeldLock | null> {
  return new Promise<HeldLock | null>((resolve, reject) => {
    let letGo!: () => void;
    const held = new Promise<void>((done) => {
      letGo = done;
    });
    const settled = locks
      .request(name, options, (lock) => {
        if (lock === null) {
          resolve(null);
          return undefined;
        }
        resolve({
          async release() {
            letGo();
            await settled;
          },
        });
        // The lock is held until this promise settles.
        return held;
      })
      .then(() => {}, reject);
  });
}

/** Resolves once nobody holds `name` (at once if nobody does): the holder released it, or its context went away. */
export async function whenReleased(locks: WebLocks, name: string, signal: AbortSignal): Promise<void> {
  const lock = await requestLock(locks, name, { signal });
  await lock?.release();
}

/** Whether some context of the origin holds `name` now. */
export async function isHeld(locks: WebLocks, name: string): Promise<boolean> {
  const { held = [] } = await locks.query();
  return held.some((lock) => lock.name === name);
}
