/**
 * Storage faults for the browser store's tests (issue 17), from outside the SDK: no production hook.
 *
 * - `patchDatabaseWorker` patches `IDBDatabase.prototype.transaction` inside the SDK's database worker (found by its
 *   name, `spotflow-device database …`) to fail a seeded share of read-write transactions, to count what IndexedDB
 *   itself aborted (a real `QuotaExceededError`), to report when a fold starts (a read-write transaction on `pages` or
 *   `meta` after the last switch) and optionally to hold one fold transaction uncommitted.
 * - `startWorkload` / `stopWorkload` run concurrent enqueues with unique, checkable payloads in a page and record
 *   per message whether it resolved (and its id) or rejected (and the error's code).
 * - `Arrivals` reads what the emulator received, incrementally; `judge` compares it with the outcomes as exact sets.
 */
import type { Page, Worker } from 'playwright-core';
import { SPOTFLOW_ERROR_CODES } from '../../../src/errors.js';
import type { TestEmulator } from '../../helpers/emulator.js';
import { startPersistentEmulator } from '../device-page.js';
import '../pages/globals.js';

/** The database worker's name starts with this (platform/browser/database.ts). */
export const DATABASE_WORKER_PREFIX = 'spotflow-device database';
/** What the worker patch writes to the console when a fold starts (its first transaction on `pages` or `meta`). */
export const FOLD_MARK = 'spotflow-test fold-start';
/** …and when it starts holding a fold transaction, followed by its stats as JSON. */
export const HOLD_MARK = 'spotflow-test fold-held';

/** A seed from SPOTFLOW_TEST_SEED, or a fresh one; log it so that a failure can be run again with it. */
export function testSeed(): number {
  const given = process.env.SPOTFLOW_TEST_SEED;
  return given !== undefined ? Number.parseInt(given, 10) >>> 0 : Math.floor(Math.random() * 2 ** 31);
}

/** mulberry32: the same generator as the worker patch's, for the Node side's random choices. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The payload of the message tagged `tag`, `size` bytes of ASCII: the tag, a dot, then characters drawn from a
 * generator seeded by the tag. Not compressible (Chromium compresses IndexedDB values: a repeated text would not
 * fill a disk). Self-contained: the page gets it by its source.
 */
export function payloadText(tag: string, size: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let state = 2_166_136_261;
  for (let i = 0; i < tag.length; i++) state = Math.imul(state ^ tag.charCodeAt(i), 16_777_619) >>> 0;
  const chars: string[] = [`${tag}.`];
  for (let length = tag.length + 1; length < size; length++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    chars.push(alphabet[((t ^ (t >>> 14)) >>> 0) & 63]!);
  }
  return chars.join('').slice(0, size);
}

/** Waits (bounded) for the page's database worker and returns it. */
export async function databaseWorker(page: Page, timeoutMs = 15_000): Promise<Worker> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const worker of page.workers()) {
      const name = await worker
        .evaluate(() => (globalThis as unknown as { name?: string }).name ?? '')
        .catch(() => '');
      if (name.startsWith(DATABASE_WORKER_PREFIX)) return worker;
    }
    if (Date.now() > deadline) throw new Error(`no worker named "${DATABASE_WORKER_PREFIX} …" in the page`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * `throwQuota`: `transaction()` throws a `QuotaExceededError`. `abortAtOnce`: the transaction is aborted as soon as
 * it is made (the store's next call on it throws). `abortLater`: aborted on the next task, once the store queued its
 * requests, as a quota failure at commit ends one (asynchronously, through `abort`).
 */
export type FaultShape = 'throwQuota' | 'abortAtOnce' | 'abortLater';
export const FAULT_SHAPES: readonly FaultShape[] = ['throwQuota', 'abortAtOnce', 'abortLater'];

/** The fault shapes from SPOTFLOW_TEST_FAULTS (comma-separated), or all three. */
export function faultShapes(): FaultShape[] {
  const given = process.env.SPOTFLOW_TEST_FAULTS?.split(',').filter((s): s is FaultShape =>
    FAULT_SHAPES.includes(s as FaultShape),
  );
  return given !== undefined && given.length > 0 ? given : [...FAULT_SHAPES];
}

export interface WorkerPatchOptions {
  /** Seeds the worker's choice of which transactions fail. */
  seed: number;
  /** While `active`, the share (0–1) of read-write transactions made to fail. */
  share: number;
  /** The shapes a fault takes, picked in turn by the seeded generator (default: all three). */
  shapes: FaultShape[];
  active: boolean;
  /**
   * console.log(FOLD_MARK …) when a fold starts (IndexedDB: its first chunk put) or, with `storage: 'opfs'`, when one
   * has finished (its journal starts over: a truncation to the bare header).
   */
  reportFolds: boolean;
  /**
   * Keep the `holdFoldAt`-th fold transaction (counted from when the patch was set) uncommitted for this long: the
   * worker's thread is kept busy right after the transaction's requests went out, so nothing reads after its writes
   * (a read would make Chromium write them early, which the store never does) and its commit is never sent. The
   * worker answers nothing meanwhile: the stats come with HOLD_MARK on the console. With `storage: 'opfs'`, the
   * `holdFoldAt`-th fold is held once its chunks are written into the file, before that file is flushed.
   */
  holdFoldMs: number;
  holdFoldAt: number;
}

export interface WorkerPatchStats {
  /** Read-write transactions opened while patched. */
  readwrite: number;
  /** …of them on `pages` or `meta` (a fold's), and of those how many completed. */
  foldStarts: number;
  foldCompletes: number;
  /** Fold transactions opened and not yet completed or aborted. */
  foldOpen: number;
  /** Folds finished in the origin private file system (`storage: 'opfs'`). */
  opfsFolds: number;
  /** Faults injected, by kind. */
  injected: { throwQuota: number; abortAtOnce: number; abortLater: number };
  /** Read-write transactions that ended in `abort`, by the transaction's error name (`none`: aborted by the test). */
  aborts: Record<string, number>;
  /** `put` calls on the `journal` store: journal records written (or attempted). */
  journalPuts: number;
  /** How long each completed fold transaction took, ms. */
  foldMs: number[];
}

/**
 * Patches `IDBDatabase.prototype.transaction` in the database worker (once; later calls change the options).
 * Faults take the shapes of `FaultShape`, picked by the seeded generator.
 */
export async function patchDatabaseWorker(
  worker: Worker,
  options: Partial<WorkerPatchOptions>,
): Promise<void> {
  await worker.evaluate(
    ({ options, foldMark, holdMark }) => {
      interface Tx {
        error: { name: string } | null;
        abort(): void;
        addEventListener(type: string, listener: () => void): void;
      }
      interface Patch {
        options: WorkerPatchOptions;
        stats: WorkerPatchStats;
        inFold: boolean;
        foldTransactions: number;
      }
      const scope = globalThis as unknown as {
        __spotflowIdbPatch?: Patch;
        IDBDatabase: { prototype: { transaction: (...args: unknown[]) => Tx } };
        IDBObjectStore: { prototype: { name: string; put: (...args: unknown[]) => unknown } };
        FileSystemSyncAccessHandle?: { prototype: { truncate: (size: number) => void } };
        DOMException: new (message: string, name: string) => Error;
      };
      const existing = scope.__spotflowIdbPatch;
      if (existing) {
        Object.assign(existing.options, options);
        existing.foldTransactions = 0;
        return;
      }
      const patch: Patch = {
        options: {
          seed: 1,
          share: 0,
          shapes: ['throwQuota', 'abortAtOnce', 'abortLater'],
          active: false,
          reportFolds: false,
          holdFoldMs: 0,
          holdFoldAt: 1,
          ...options,
        },
        stats: {
          readwrite: 0,
          foldStarts: 0,
          foldCompletes: 0,
          foldOpen: 0,
          opfsFolds: 0,
          injected: { throwQuota: 0, abortAtOnce: 0, abortLater: 0 },
          aborts: {},
          journalPuts: 0,
          foldMs: [],
        },
        inFold: false,
        foldTransactions: 0,
      };
      scope.__spotflowIdbPatch = patch;
      let state = patch.options.seed >>> 0;
      const next = () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
      };
      const storePrototype = scope.IDBObjectStore.prototype;
      const put = storePrototype.put;
      storePrototype.put = function (this: { name: string }, ...args: unknown[]) {
        if (this.name === 'journal') patch.stats.journalPuts++;
        // A fold stores chunks (puts on `pages`), then switches (a put of `meta`'s main entry); deletes follow.
        if (this.name === 'pages' && !patch.inFold) {
          patch.inFold = true;
          if (patch.options.reportFolds) console.log(`${foldMark} ${patch.stats.foldStarts}`);
        }
        if (this.name === 'meta' && args[1] === 'main') patch.inFold = false;
        return put.apply(this, args);
      };
      const syncHandle = scope.FileSystemSyncAccessHandle?.prototype;
      if (syncHandle) {
        const truncate = syncHandle.truncate;
        syncHandle.truncate = function (this: unknown, size: number) {
          truncate.call(this, size);
          // The file's last segment cut to a fold's length (platform/browser/segmented-file.ts does that at every
          // fold): the fold's chunks are in the journal and written in place, not yet flushed. (The journal is cut
          // to its 16-byte header at a fold; otherwise only at open, or when a failed write is taken back, which
          // the tests that hold folds do not cause.)
          if (size <= 16) return;
          patch.stats.opfsFolds++;
          if (patch.options.reportFolds) console.log(`${foldMark} opfs ${patch.stats.opfsFolds}`);
          const { options, stats } = patch;
          if (options.holdFoldMs > 0 && ++patch.foldTransactions === options.holdFoldAt) {
            console.log(`${holdMark} ${JSON.stringify(stats)}`);
            const until = Date.now() + options.holdFoldMs;
            while (Date.now() < until) {
              // Busy: the fold cannot go on to its flush and the journal's new start.
            }
          }
        };
      }
      const prototype = scope.IDBDatabase.prototype;
      const original = prototype.transaction;
      prototype.transaction = function (this: unknown, ...args: unknown[]): Tx {
        const [stores, mode] = args;
        if (mode !== 'readwrite') return original.apply(this, args);
        const { options, stats } = patch;
        stats.readwrite++;
        const names = typeof stores === 'string' ? [stores] : [...(stores as Iterable<string>)];
        let fault: FaultShape | undefined;
        if (options.active && next() < options.share) {
          fault = options.shapes[Math.floor(next() * options.shapes.length)];
        }
        if (fault === 'throwQuota') {
          stats.injected.throwQuota++;
          throw new scope.DOMException('Injected by the test: quota exceeded', 'QuotaExceededError');
        }
        const transaction = original.apply(this, args);
        transaction.addEventListener('abort', () => {
          const name = transaction.error?.name ?? 'none';
          stats.aborts[name] = (stats.aborts[name] ?? 0) + 1;
        });
        // A fold writes pages and switches meta; an append writes the journal (and meta, for a SQL text's first use).
        const fold = !names.includes('journal') && (names.includes('pages') || names.includes('meta'));
        if (fold) {
          stats.foldStarts++;
          stats.foldOpen++;
          transaction.addEventListener('abort', () => stats.foldOpen--);
          const foldStarted = Date.now();
          transaction.addEventListener('complete', () => {
            stats.foldOpen--;
            stats.foldCompletes++;
            stats.foldMs.push(Date.now() - foldStarted);
          });
          if (options.holdFoldMs > 0 && ++patch.foldTransactions === options.holdFoldAt) {
            console.log(`${holdMark} ${JSON.stringify(stats)}`);
            queueMicrotask(() => {
              const until = Date.now() + options.holdFoldMs;
              while (Date.now() < until) {
                // Busy: the transaction's results cannot come back, so it is not committed.
              }
            });
          }
        }
        if (fault === 'abortAtOnce') {
          stats.injected.abortAtOnce++;
          transaction.abort();
        } else if (fault === 'abortLater') {
          setTimeout(() => {
            try {
              transaction.abort();
              stats.injected.abortLater++;
            } catch {
              // already committed: no fault after all
            }
          }, 0);
        }
        return transaction;
      };
    },
    { options, foldMark: FOLD_MARK, holdMark: HOLD_MARK },
  );
}

export function patchStats(worker: Worker): Promise<WorkerPatchStats> {
  return worker.evaluate(
    () =>
      (globalThis as unknown as { __spotflowIdbPatch: { stats: WorkerPatchStats } }).__spotflowIdbPatch.stats,
  );
}

/**
 * What IndexedDB holds for `name`, store by store (record count, first and last key), read from a page of the same
 * origin without knowing the store's layout. For the log. Never creates the database (checks that it exists first:
 * opening a missing one would create it empty, at version 1).
 */
export function idbContents(page: Page, name: string): Promise<string> {
  // Page code as text: the Node side's type-check has no DOM types.
  return page
    .evaluate<string>(`(async (name) => {
    if (!(await indexedDB.databases()).some((db) => db.name === name)) return 'no such database';
    return await new Promise((resolve) => {
      const request = indexedDB.open(name);
      request.onerror = () => resolve('cannot open: ' + request.error);
      request.onsuccess = () => {
        const db = request.result;
        const names = [...db.objectStoreNames];
        if (names.length === 0) {
          db.close();
          resolve('no object stores');
          return;
        }
        const transaction = db.transaction(names, 'readonly');
        const reads = names.map((store) => [
          store,
          transaction.objectStore(store).count(),
          transaction.objectStore(store).openKeyCursor(null, 'next'),
          transaction.objectStore(store).openKeyCursor(null, 'prev'),
        ]);
        transaction.oncomplete = () => {
          db.close();
          resolve(reads.map(([store, count, first, last]) =>
            store + ': ' + count.result + ' (' + (first.result && first.result.key) + '…' +
              (last.result && last.result.key) + ')').join(', '));
        };
        transaction.onerror = () => resolve('cannot read: ' + transaction.error);
      };
    });
  })(${JSON.stringify(name)})`)
    .catch((error: unknown) => `cannot open: ${String(error).replace(/^Error: page.evaluate: /, '')}`);
}

/** Whether an IndexedDB database of this name exists for the page's origin. */
export function idbExists(page: Page, name: string): Promise<boolean> {
  return page.evaluate(
    `indexedDB.databases().then((dbs) => dbs.some((db) => db.name === ${JSON.stringify(name)}))`,
  );
}

/**
 * Deletes an IndexedDB database from a page of the origin (as another tab or "clear site data" would). Resolves
 * with how it went: `deleted`, `deleted after being blocked`, `failed: …`, or still blocked or pending after 15 s.
 */
export function deleteIdb(page: Page, name: string): Promise<string> {
  return page.evaluate(`new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(${JSON.stringify(name)});
    let blocked = false;
    request.onblocked = () => { blocked = true; };
    request.onsuccess = () => resolve(blocked ? 'deleted after being blocked' : 'deleted');
    request.onerror = () => resolve('failed: ' + request.error);
    setTimeout(() => resolve('still ' + (blocked ? 'blocked' : 'pending') + ' after 15 s'), 15000);
  })`);
}

// ---- enqueues in the page ----------------------------------------------------------------------------------------

export interface Outcome {
  tag: string;
  size: number;
  /** The id (`$.mid`) the enqueue resolved with. */
  id?: string;
  /** The rejection: its `code` (a SpotflowError's), name and message. */
  code?: string;
  name?: string;
  message?: string;
}

export interface WorkloadSpec {
  /** Tags are `${prefix}${n}`; unique across the test. */
  prefix: string;
  callers: number;
  /** Payload sizes, used in turn. */
  sizes: readonly number[];
  /** Stop after this many enqueues (or at `stopWorkload`). */
  max: number;
  stream?: string;
  /** A caller waits this long after a rejection before its next enqueue (as an app backing off would). */
  rejectionDelayMs?: number;
}

interface WorkloadState {
  outcomes: Outcome[];
  stop: boolean;
  running: number;
  next: number;
}

type WorkloadScope = { __spotflowWorkload?: WorkloadState };

/** Starts `spec.callers` concurrent enqueue loops in the page (a new workload replaces a finished one). */
export async function startWorkload(page: Page, spec: WorkloadSpec): Promise<void> {
  await page.evaluate(
    ({ spec, payloadSource }) => {
      const scope = globalThis as unknown as WorkloadScope;
      const payload = new Function(`return ${payloadSource}`)() as (tag: string, size: number) => string;
      const state: WorkloadState = { outcomes: [], stop: false, running: spec.callers, next: 0 };
      scope.__spotflowWorkload = state;
      const caller = async () => {
        while (!state.stop && state.next < spec.max) {
          const n = state.next++;
          const size = spec.sizes[n % spec.sizes.length]!;
          const tag = `${spec.prefix}${n}`;
          try {
            const { id } = await device.client!.enqueueMessage(payload(tag, size), {
              stream: spec.stream ?? 'faults',
            });
            state.outcomes.push({ tag, size, id });
            device.resolved.push(id);
          } catch (error) {
            const e = error as { code?: unknown; name?: unknown; message?: unknown };
            state.outcomes.push({
              tag,
              size,
              code: typeof e?.code === 'string' ? e.code : 'none',
              name: String(e?.name),
              message: String(e?.message),
            });
            if (spec.rejectionDelayMs)
              await new Promise((resolve) => setTimeout(resolve, spec.rejectionDelayMs));
          }
        }
        state.running--;
      };
      for (let i = 0; i < spec.callers; i++) void caller();
    },
    { spec, payloadSource: payloadText.toString() },
  );
}

export function workloadProgress(
  page: Page,
): Promise<{ resolved: number; rejected: number; running: number }> {
  return page.evaluate(() => {
    const state = (globalThis as unknown as WorkloadScope).__spotflowWorkload!;
    const resolved = state.outcomes.filter((o) => o.id !== undefined).length;
    return { resolved, rejected: state.outcomes.length - resolved, running: state.running };
  });
}

/** The outcomes so far (resolved ones in resolution order), without stopping. */
export function workloadOutcomes(page: Page): Promise<Outcome[]> {
  return page.evaluate(() => (globalThis as unknown as WorkloadScope).__spotflowWorkload!.outcomes.slice());
}

/**
 * Waits until the workload ran to its `max` (or stops it at once), then until every enqueue settled. Bounded, and
 * fails early when no enqueue settled for `stallMs` while some are still running: an enqueue that hangs.
 */
export async function stopWorkload(
  page: Page,
  options: { now?: boolean; timeoutMs?: number; stallMs?: number } = {},
): Promise<Outcome[]> {
  if (options.now) {
    await page.evaluate(() => {
      (globalThis as unknown as WorkloadScope).__spotflowWorkload!.stop = true;
    });
  }
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const stallMs = options.stallMs ?? 10_000;
  let settled = -1;
  let lastChange = Date.now();
  for (;;) {
    const { running, resolved, rejected } = await workloadProgress(page);
    if (running === 0) return workloadOutcomes(page);
    if (resolved + rejected !== settled) {
      settled = resolved + rejected;
      lastChange = Date.now();
    }
    const stalled = Date.now() - lastChange > stallMs;
    if (stalled || Date.now() > deadline) {
      throw new Error(
        `${running} enqueue calls ${stalled ? `settled no more for ${stallMs} ms` : 'did not settle in time'} ` +
          `(${resolved} resolved, ${rejected} rejected so far): an enqueue hangs`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether enqueues are still settling: false when some run but none settled for `stallMs`. */
export function progressWatch(page: Page, stallMs = 10_000): () => Promise<'running' | 'done' | 'stalled'> {
  let settled = -1;
  let lastChange = Date.now();
  return async () => {
    const { running, resolved, rejected } = await workloadProgress(page);
    if (running === 0) return 'done';
    if (resolved + rejected !== settled) {
      settled = resolved + rejected;
      lastChange = Date.now();
    }
    return Date.now() - lastChange > stallMs ? 'stalled' : 'running';
  };
}

/** The client's state for the log: connected, pending (or why it cannot say), its `error` events by message. */
export async function clientState(page: Page): Promise<string> {
  const state = await page
    .evaluate(async () => {
      const client = device.client!;
      const pending = await Promise.race([
        client.pendingMessagesCount().then(String, (error: { code?: string }) => `failing (${error?.code})`),
        new Promise<string>((resolve) => setTimeout(() => resolve('no answer in 3 s'), 3_000)),
      ]);
      const errors: Record<string, number> = {};
      for (const event of device.events) {
        if (event.name !== 'error') continue;
        const detail = event.detail as { code?: string; message?: string };
        const key = `${detail?.code}: ${String(detail?.message).replace(/\d+/g, '#').slice(0, 120)}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
      return { connected: client.connected, pending, errors };
    })
    .catch((error: unknown) => ({ unavailable: String(error) }));
  return JSON.stringify(state);
}

// ---- what the emulator received ----------------------------------------------------------------------------------

export interface Arrival {
  sequence: number;
  mid: string | null;
  duplicate: boolean;
  /** The payload's tag (its text up to the first dot). */
  tag: string;
  /** The decoded payload, as text. */
  text: string;
}

/** Reads a device's messages from the emulator incrementally (by sequence), across emulator restarts. */
export class Arrivals {
  readonly all: Arrival[] = [];
  #after = 0;

  constructor(
    private readonly emulator: () => TestEmulator,
    private readonly deviceId: string,
  ) {}

  /** Fetches what arrived since the last call; returns how many new messages. */
  async poll(): Promise<number> {
    let added = 0;
    for (;;) {
      const page = await this.emulator().api.messages(this.deviceId, `?limit=500&after=${this.#after}`);
      for (const item of page.items as {
        sequence: number;
        mid: string | null;
        duplicate: boolean;
        payloadBase64: string;
      }[]) {
        const text = Buffer.from(item.payloadBase64, 'base64').toString('utf8');
        const dot = text.indexOf('.');
        this.all.push({
          sequence: item.sequence,
          mid: item.mid,
          duplicate: item.duplicate,
          tag: dot < 0 ? text.slice(0, 40) : text.slice(0, dot),
          text,
        });
        this.#after = Math.max(this.#after, item.sequence);
        added++;
      }
      if (page.next === null || page.items.length === 0) return added;
    }
  }

  mids(): Set<string> {
    return new Set(this.all.map((a) => a.mid ?? ''));
  }
}

/**
 * Waits (bounded) until every id in `ids` arrived. Stops early, without failing, once the page reports nothing
 * pending and nothing new arrived for `quietMs`: what did not arrive then will not without a reconnect. Returns how
 * the wait ended, for the log; the caller asserts with `judge`.
 */
export async function waitForArrivals(
  arrivals: Arrivals,
  ids: readonly string[],
  options: { page?: Page; timeoutMs?: number; quietMs?: number } = {},
): Promise<{ ended: 'all arrived' | 'nothing pending, quiet' | 'timeout'; ms: number; missing: number }> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 30_000);
  const quietMs = options.quietMs ?? 3_000;
  let lastNew = Date.now();
  for (;;) {
    if ((await arrivals.poll()) > 0) lastNew = Date.now();
    const seen = arrivals.mids();
    const missing = ids.filter((id) => !seen.has(id)).length;
    if (missing === 0) return { ended: 'all arrived', ms: Date.now() - started, missing };
    if (Date.now() > deadline) return { ended: 'timeout', ms: Date.now() - started, missing };
    if (options.page && Date.now() - lastNew > quietMs) {
      const pending = await options.page
        .evaluate(() => device.client!.pendingMessagesCount())
        .catch(() => undefined);
      if (pending === 0) return { ended: 'nothing pending, quiet', ms: Date.now() - started, missing };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface Verdict {
  resolved: number;
  rejected: number;
  arrived: number;
  duplicates: number;
  /** Resolved enqueues whose id never arrived. */
  lost: string[];
  /** Tags of rejected enqueues that arrived anyway. */
  rejectedDelivered: string[];
  /** Resolved ids that arrived carrying another message's payload (`id: tag`). */
  wrongPayload: string[];
  /** Resolved messages that arrived under another `$.mid` than their own (`tag: mid`). */
  underOtherMid: string[];
  /** Arrivals whose payload is not exactly the one its tag's enqueue gave, or whose tag was never enqueued. */
  corrupt: string[];
  /** Rejections without a SpotflowError code. */
  uncoded: string[];
  /** Rejections by `code: message` (digits folded), for the log. */
  rejections: Record<string, number>;
}

/** Compares outcomes and arrivals as exact sets. */
export function judge(outcomes: readonly Outcome[], arrivals: readonly Arrival[]): Verdict {
  const byTag = new Map(outcomes.map((o) => [o.tag, o]));
  const byId = new Map(outcomes.filter((o) => o.id !== undefined).map((o) => [o.id!, o]));
  const verdict: Verdict = {
    resolved: byId.size,
    rejected: outcomes.length - byId.size,
    arrived: arrivals.filter((a) => !a.duplicate).length,
    duplicates: arrivals.filter((a) => a.duplicate).length,
    lost: [],
    rejectedDelivered: [],
    wrongPayload: [],
    underOtherMid: [],
    corrupt: [],
    uncoded: [],
    rejections: {},
  };
  const arrivedMids = new Set<string>();
  const rejectedSeen = new Set<string>();
  for (const arrival of arrivals) {
    if (arrival.mid !== null) arrivedMids.add(arrival.mid);
    const own = byTag.get(arrival.tag);
    if (own === undefined || arrival.text !== payloadText(own.tag, own.size)) {
      verdict.corrupt.push(`${arrival.mid}: ${arrival.text.slice(0, 30)}`);
      continue;
    }
    if (own.id === undefined) {
      if (!rejectedSeen.has(own.tag)) verdict.rejectedDelivered.push(own.tag);
      rejectedSeen.add(own.tag);
    } else if (arrival.mid !== own.id) {
      verdict.underOtherMid.push(`${own.tag}: ${arrival.mid}`);
    }
    const holder = arrival.mid === null ? undefined : byId.get(arrival.mid);
    if (holder !== undefined && holder.tag !== arrival.tag)
      verdict.wrongPayload.push(`${arrival.mid}: ${arrival.tag}`);
  }
  const codes = new Set<string>(SPOTFLOW_ERROR_CODES);
  for (const outcome of outcomes) {
    if (outcome.id !== undefined) {
      if (!arrivedMids.has(outcome.id)) verdict.lost.push(outcome.tag);
      continue;
    }
    if (outcome.code === undefined || !codes.has(outcome.code))
      verdict.uncoded.push(`${outcome.tag}: ${outcome.name} ${outcome.message}`);
    const key = `${outcome.code}: ${(outcome.message ?? '').replace(/\d+/g, '#')}`;
    verdict.rejections[key] = (verdict.rejections[key] ?? 0) + 1;
  }
  return verdict;
}

/** The verdict's problems, each list cut to its first items (with its length), for a readable assertion. */
export function problems(verdict: Verdict): Record<string, string> {
  const cut = (list: string[]) =>
    list.length === 0 ? 'none' : `${list.length}: ${list.slice(0, 8).join(', ')}`;
  return {
    lost: cut(verdict.lost),
    rejectedDelivered: cut(verdict.rejectedDelivered),
    wrongPayload: cut(verdict.wrongPayload),
    underOtherMid: cut(verdict.underOtherMid),
    corrupt: cut(verdict.corrupt),
    uncoded: cut(verdict.uncoded),
  };
}

export const NO_PROBLEMS = {
  lost: 'none',
  rejectedDelivered: 'none',
  wrongPayload: 'none',
  underOtherMid: 'none',
  corrupt: 'none',
  uncoded: 'none',
};

/** One line for the log: the counts of a verdict. */
export function summary(verdict: Verdict): string {
  return JSON.stringify({
    resolved: verdict.resolved,
    rejected: verdict.rejected,
    arrived: verdict.arrived,
    duplicates: verdict.duplicates,
    lost: verdict.lost.length,
    rejectedDelivered: verdict.rejectedDelivered.length,
    wrongPayload: verdict.wrongPayload.length,
    underOtherMid: verdict.underOtherMid.length,
    corrupt: verdict.corrupt.length,
    uncoded: verdict.uncoded.length,
    rejections: verdict.rejections,
  });
}

// ---- the link ----------------------------------------------------------------------------------------------------

/**
 * A persistent emulator (state in `dataDir`) that a test can drop a device's connection on, or stop for a while and
 * start again on the same port (a link that is down: connections refused).
 */
export class Link {
  /** Between `pause` and `resume`. */
  down = false;

  private constructor(
    public emulator: TestEmulator,
    private readonly dataDir: string,
  ) {}

  static async start(dataDir: string): Promise<Link> {
    return new Link(await startPersistentEmulator(dataDir), dataDir);
  }

  /** Ends the device's current connection (it reconnects at once). */
  async drop(deviceId: string): Promise<void> {
    await this.emulator.api.request('DELETE', `/devices/${encodeURIComponent(deviceId)}/connection`);
  }

  /** Stops the emulator (the link is down until `resume`). */
  async pause(): Promise<void> {
    this.down = true;
    await this.emulator.close();
  }

  async resume(): Promise<void> {
    this.emulator = await startPersistentEmulator(this.dataDir, this.emulator.port);
    this.down = false;
  }

  async close(): Promise<void> {
    if (!this.down) await this.emulator.close();
    this.down = true;
  }
}
