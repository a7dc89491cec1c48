// The Lock contract (test/contract/lock-contract.ts) against Web Locks, plus hooks for the tests that hold a lock
// in one page and take it in another page of the same context.
import { createBrowserLock } from '../../../platform/browser/lock.js';
import type { LockHandle } from '../../../src/ports.js';
import { type LockContractContext, lockCases } from '../../contract/lock-contract.js';
import { exposeContract, markReady } from '../harness/in-page.js';
import './globals.js';

let counter = 0;
// Web Locks are per origin: names unique across the pages of a run.
const run = `${Date.now()}-${Math.random().toString(36).slice(2)}`;

exposeContract<LockContractContext>(lockCases(true), {
  context: () => ({
    createLock: ({ wait }) => createBrowserLock({ wait }),
    supportsWaiting: true,
    freshName: () => `contract-${run}-${++counter}`,
  }),
});

type State = 'waiting' | 'held' | 'released' | string;
const handles = new Map<string, LockHandle>();
const states = new Map<string, State>();
const aborts = new Map<string, AbortController>();

function track(name: string, acquiring: Promise<LockHandle>): Promise<State> {
  states.set(name, 'waiting');
  return acquiring.then(
    (handle) => {
      handles.set(name, handle);
      states.set(name, 'held');
      return 'held';
    },
    (error: { code?: string }) => {
      const state = error.code ?? String(error);
      states.set(name, state);
      return state;
    },
  );
}

/** Drives locks by name from the Node side: the result of an acquire is `held` or the error's code. */
const locks = {
  /** Resolves with `held` or the error code, at once. */
  tryAcquire: (name: string): Promise<State> => track(name, createBrowserLock({ wait: false }).acquire(name)),
  /** Starts a waiting acquire; follow it with `state` / `settled`. */
  startWaiting(name: string): void {
    const controller = new AbortController();
    aborts.set(name, controller);
    void track(name, createBrowserLock({ wait: true }).acquire(name, controller.signal));
  },
  abort: (name: string) => aborts.get(name)?.abort(),
  state: (name: string): State | undefined => states.get(name),
  async release(name: string): Promise<void> {
    await handles.get(name)?.release();
    states.set(name, 'released');
  },
  /** As in an insecure context (http: on another host), where browsers have no `navigator.locks`. */
  withoutWebLocks: (name: string): Promise<State> => {
    // (`navigator` through globalThis: pages are also type-checked without DOM types.)
    const navigator = (globalThis as unknown as { navigator: { locks?: unknown } }).navigator;
    Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true });
    try {
      return track(name, createBrowserLock({ wait: false }).acquire(name));
    } finally {
      delete navigator.locks;
    }
  },
};

globalThis.__locks = locks;

markReady();
