/**
 * IndexedDB faults injected inside a page's database worker, from the Node side: Playwright evaluates a patch of
 * `IDBDatabase.prototype.transaction` in the worker's own global scope, so no production code carries a test hook.
 * A read-write transaction picked to fail is aborted right after the store queued its requests (what a quota error
 * or a failing disk does to it: nothing of it is applied, the store's `onabort` runs).
 *
 * Transactions are told apart by scope: one on `journal` is an append (with `meta` for a SQL text's first use; relaxed,
 * the deletion of folded records); one on `pages` or `meta` alone is part of a fold (its chunks on `pages`, then the
 * switch on `meta`, then deletes on `pages`). A failing fold stops at its first failed transaction, so each failed one is one failed fold.
 */
import type { Page, Worker } from 'playwright-core';

export interface IdbFaults {
  /** Abort the next N fold transactions (N failed folds). */
  failFolds?: number;
  /** Abort the switch of every fold (its chunks are stored, `meta` is not moved to them) until changed again. */
  failSwitches?: boolean;
  /** Abort every fold transaction until changed again. */
  failAllFolds?: boolean;
  /**
   * Close the connection at the next read-write transaction, from the page's side (no `close` event, as Chromium
   * was seen to do on a full disk), so that the transaction throws InvalidStateError. Once.
   */
  closeSilently?: boolean;
  /** Abort this share (0–1) of append transactions, picked by a hash of their number and `seed`. */
  appendFailureRate?: number;
  seed?: number;
}

export interface IdbCounts {
  appends: number;
  failedAppends: number;
  /** Read-write transactions on `pages` or `meta`. */
  folds: number;
  failedFolds: number;
  /** Transactions on `meta`: folds that got to their switch. */
  switches: number;
}

/** The page's database worker (one database open in the page), waiting for it to start if needed. */
export async function databaseWorker(page: Page, timeoutMs = 15_000): Promise<Worker> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const worker = page.workers().find((w) => w.url().includes('database-worker'));
    if (worker) return worker;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('no database worker started in the page');
    await page.waitForEvent('worker', { timeout: left }).catch(() => {});
  }
}

/** Installs the patch on first use, then replaces the fault settings (counts carry on). */
export async function injectIdbFaults(worker: Worker, faults: IdbFaults): Promise<void> {
  await worker.evaluate((faults) => {
    interface State {
      faults: IdbFaults;
      counts: IdbCounts;
      random: () => number;
    }
    const scope = globalThis as unknown as { __idbFaults?: State };
    // Which appends fail: a multiplicative hash of their number with the seed, so a run can be repeated.
    const seed = (faults.seed ?? 1) >>> 0;
    let picked = 0;
    const random = () => (Math.imul(++picked ^ seed, 2654435761) >>> 0) / 4294967296;
    if (scope.__idbFaults) {
      scope.__idbFaults.faults = { ...faults };
      scope.__idbFaults.random = random;
      return;
    }
    const state: State = {
      faults: { ...faults },
      counts: { appends: 0, failedAppends: 0, folds: 0, failedFolds: 0, switches: 0 },
      random,
    };
    scope.__idbFaults = state;
    // Typed loosely: this file is checked with Node's types, and the function runs in a worker.
    interface Transaction {
      abort(): void;
    }
    type Open = (names: string | string[], mode?: string, options?: { durability?: string }) => Transaction;
    const prototype = (globalThis as unknown as { IDBDatabase: { prototype: { transaction: Open } } })
      .IDBDatabase.prototype;
    const original = prototype.transaction;
    prototype.transaction = function transaction(this: unknown, names, mode, options) {
      if (mode === 'readwrite' && state.faults.closeSilently) {
        state.faults.closeSilently = false;
        (this as { close(): void }).close();
      }
      const tx = original.call(this, names, mode, options);
      if (mode !== 'readwrite') return tx;
      const stores = typeof names === 'string' ? [names] : [...names];
      let fail = false;
      if (!stores.includes('journal') && (stores.includes('pages') || stores.includes('meta'))) {
        state.counts.folds++;
        if (stores.includes('meta')) state.counts.switches++;
        if (state.faults.failAllFolds) fail = true;
        else if (state.faults.failSwitches && stores.includes('meta')) fail = true;
        else if ((state.faults.failFolds ?? 0) > 0) {
          state.faults.failFolds = (state.faults.failFolds ?? 0) - 1;
          fail = true;
        }
        if (fail) state.counts.failedFolds++;
      } else if (stores.includes('journal') && options?.durability !== 'relaxed') {
        state.counts.appends++;
        fail = state.random() < (state.faults.appendFailureRate ?? 0);
        if (fail) state.counts.failedAppends++;
      }
      if (fail) queueMicrotask(() => tx.abort());
      return tx;
    };
  }, faults);
}

export function idbCounts(worker: Worker): Promise<IdbCounts> {
  return worker.evaluate(() => {
    const state = (globalThis as unknown as { __idbFaults?: { counts: IdbCounts } }).__idbFaults;
    return state
      ? { ...state.counts }
      : { appends: 0, failedAppends: 0, folds: 0, failedFolds: 0, switches: 0 };
  });
}
