/// <reference path="../../../platform/browser/assets.d.ts" />
// The harness's own page: sql.js and its wasm load from the build, and a trivial contract runs over the bridge.
import initSqlJs from 'sql.js';
import wasmUrl from 'sql.js/dist/sql-wasm-browser.wasm?url';
import { exposeContract, markReady } from '../harness/in-page.js';

interface SmokeContext {
  expected: number;
}

exposeContract<SmokeContext>(
  [
    {
      name: 'runs SQL in sql.js loaded from the build',
      async run(ctx) {
        const SQL = await initSqlJs({ locateFile: () => wasmUrl });
        const db = new SQL.Database();
        const value = db.exec('SELECT 6 * 7 AS answer')[0]?.values[0]?.[0];
        db.close();
        if (value !== ctx.expected) throw new Error(`expected ${ctx.expected}, got ${String(value)}`);
      },
    },
    {
      name: 'fails with the message and stack of the error',
      async run() {
        throw new Error('deliberate failure', { cause: new TypeError('the cause') });
      },
    },
    {
      name: 'blocks the main thread for 300 ms',
      async run() {
        // In a task of the page's own (work done directly in a DevTools evaluate is not reported as a long task).
        await new Promise<void>((resolve) =>
          setTimeout(() => {
            const end = performance.now() + 300;
            while (performance.now() < end) {
              // busy
            }
            resolve();
          }, 0),
        );
      },
    },
  ],
  { context: (options) => options as SmokeContext },
);

/**
 * A strict-durability IndexedDB key-value store, for the kill-and-restart check. (Typed loosely: pages are also
 * type-checked by the root tsconfig, which has no DOM types.)
 */
function store(): Promise<any> {
  return new Promise((resolve, reject) => {
    const open = (globalThis as any).indexedDB.open('harness', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('kv');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => resolve(open.result);
  });
}

(globalThis as { __smoke?: unknown }).__smoke = {
  async put(key: string, value: unknown): Promise<void> {
    const tx = (await store()).transaction('kv', 'readwrite', { durability: 'strict' });
    tx.objectStore('kv').put(value, key);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  },
  async get(key: string): Promise<unknown> {
    const get = (await store()).transaction('kv').objectStore('kv').get(key);
    return new Promise((resolve, reject) => {
      get.onsuccess = () => resolve(get.result);
      get.onerror = () => reject(get.error);
    });
  },
};

markReady();
