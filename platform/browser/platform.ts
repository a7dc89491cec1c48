/**
 * The browser platform (kiosk and HMI web panels, Electron renderers): sql.js in a worker made durable in the origin
 * private file system (or in IndexedDB where a worker has no sync access handles), Web Locks for one owner per
 * database, MQTT.js over WebSockets, Brotli from WebAssembly loaded only when a message asks for compression, and the
 * page's own `fetch`. The only place that picks browser packages.
 */
import type { OutboxLimits } from '../../src/options.js';
import type { Platform } from '../../src/ports.js';
import { createBrowserClock } from './clock.js';
import { createBrowserCompressor } from './compression.js';
import { createBrowserDatabaseOpener } from './database.js';
import { createBrowserLock } from './lock.js';
import { createBrowserMqttConnector } from './mqtt.js';

/** Options of {@link createBrowserPlatform}. */
export interface BrowserPlatformOptions {
  /** Where sql.js's `sql-wasm-browser.wasm` is served, when the bundler cannot find it. */
  sqlWasmUrl?: string;
  /** Wait for another tab that owns the database to close it, instead of failing with `DATABASE_LOCKED`. */
  waitForLock?: boolean;
  /**
   * Where the database is kept: `'opfs'`, the origin private file system through sync access handles (Chromium 108+,
   * Firefox 111+, Safari 16.4+), which a kill cannot take with the rest of the origin's IndexedDB, or `'indexeddb'`.
   * By default `'opfs'` where the database worker has sync access handles, else `'indexeddb'`; a database kept in
   * IndexedDB before is moved into the origin private file system at its first open there. An explicit `'opfs'`
   * where it is not available fails with `DATABASE_UNAVAILABLE` (see the README's browser section).
   */
  storage?: 'indexeddb' | 'opfs';
}

/**
 * sql.js keeps the whole database in memory, so a browser's outbox is bounded unless the caller sets its own
 * `outboxLimits` (each field given replaces its default; pass `Number.MAX_SAFE_INTEGER` to lift one). At 100,000
 * pending messages of 256 B the page's renderer grew by about 190 MB in our tests; these defaults keep a kiosk far
 * from running out of memory. New messages beyond them fail with `OUTBOX_FULL` (policy `reject`, the default).
 */
export const browserDefaultOutboxLimits: Readonly<Required<Pick<OutboxLimits, 'maxMessages' | 'maxBytes'>>> =
  Object.freeze({ maxMessages: 200_000, maxBytes: 64 * 1024 * 1024 });

/**
 * @example
 * const platform = createBrowserPlatform({ waitForLock: true });
 */
export function createBrowserPlatform(options: BrowserPlatformOptions = {}): Platform {
  return {
    name: 'browser',
    database: createBrowserDatabaseOpener({
      ...(options.sqlWasmUrl === undefined ? {} : { sqlWasmUrl: options.sqlWasmUrl }),
      ...(options.storage === undefined ? {} : { storage: options.storage }),
    }),
    lock: createBrowserLock({ wait: options.waitForLock === true }),
    mqtt: createBrowserMqttConnector(),
    compressor: createBrowserCompressor(),
    // Called through a wrapper: the window's fetch refuses to run with another `this`.
    fetch: (input, init) => globalThis.fetch(input, init),
    defaultTransport: 'websocket',
    clock: createBrowserClock(),
    onNetworkHint: listenForOnline,
  };
}

/** The window's (or worker's) `online` event: the browser thinks the network is back. */
function listenForOnline(listener: () => void): () => void {
  const target = globalThis as unknown as Partial<Pick<Window, 'addEventListener' | 'removeEventListener'>>;
  if (typeof target.addEventListener !== 'function') return () => {};
  target.addEventListener('online', listener);
  return () => target.removeEventListener?.('online', listener);
}

export {
  createBrowserClock,
  createBrowserCompressor,
  createBrowserDatabaseOpener,
  createBrowserLock,
  createBrowserMqttConnector,
};
