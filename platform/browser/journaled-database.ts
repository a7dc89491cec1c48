/**
 * A sql.js database made durable by an IndexedDB journal (runs in the database worker).
 *
 * A write runs on the in-memory database at once (so its results are known), then its statements are appended to
 * the journal; the write resolves when that IndexedDB transaction completed. Writes that arrive while an append
 * is in flight go together in the next one (group commit). When the journal has grown, it is folded into a new
 * snapshot while nothing is waiting to be appended. On open, the snapshot is loaded and the journal replayed:
 * the statements are deterministic (the core passes times and ids as parameters), so replay rebuilds the same rows
 * and rowids.
 *
 * If an append fails, the in-memory database is ahead of what is stored: every write not yet stored is rejected
 * and the database is rebuilt from IndexedDB, so that nothing of a rejected write stays applied.
 */
import type { SqlJsStatic } from 'sql.js';
import { isSpotflowError, SpotflowError } from '../../src/errors.js';
import type { SqlStatement, SqlValue, WriteResult } from '../../src/ports.js';
import { type JournalRecord, JournalStore } from './journal-store.js';
import { SqlEngine } from './sql-engine.js';

/** Fold the journal into a snapshot once it holds this many records or bytes (replay at open stays short). */
const FOLD_RECORDS = 2_000;
const FOLD_BYTES = 8 * 1024 * 1024;

interface Waiting {
  record: JournalRecord;
  durability: 'strict' | 'relaxed';
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class JournaledDatabase {
  readonly #sql: SqlJsStatic;
  readonly #store: JournalStore;
  readonly #name: string;
  #engine: SqlEngine;
  #nextSeq = 1;
  #waiting: Waiting[] = [];
  #appending: Promise<void> | undefined;
  #folding: Promise<void> | undefined;
  /** Set while the database is rebuilt after a failed append: every call waits for it. */
  #rebuilding: Promise<void> | undefined;
  #broken: SpotflowError | undefined;
  #journalRecords = 0;
  #journalBytes = 0;

  private constructor(sql: SqlJsStatic, store: JournalStore, name: string, loaded: Loaded) {
    this.#sql = sql;
    this.#store = store;
    this.#name = name;
    this.#engine = loaded.engine;
    this.#adopt(loaded);
  }

  static async open(sql: SqlJsStatic, name: string): Promise<JournaledDatabase> {
    let store: JournalStore;
    try {
      store = await JournalStore.open(name);
    } catch (error) {
      throw storageError(error, `Cannot open the IndexedDB database ${name}`);
    }
    try {
      const database = new JournaledDatabase(sql, store, name, await load(sql, store, name));
      database.#foldIfDue();
      return database;
    } catch (error) {
      store.close();
      throw error;
    }
  }

  async write(statements: readonly SqlStatement[], durability: 'strict' | 'relaxed'): Promise<WriteResult[]> {
    await this.#ready();
    if (statements.length === 0) {
      await this.#appending;
      return [];
    }
    const results = this.#engine.write(statements);
    const record = { seq: this.#nextSeq++, statements };
    await new Promise<void>((resolve, reject) => {
      this.#waiting.push({ record, durability, resolve, reject });
      this.#appending ??= this.#appendAll();
    });
    return results;
  }

  async query<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    await this.#ready();
    return this.#engine.query<Row>(sql, params);
  }

  /** Waits for appends and a fold in flight, then releases the database. */
  async close(): Promise<void> {
    await this.#rebuilding;
    await this.#appending;
    await this.#folding?.catch(() => {});
    this.#broken = new SpotflowError('CLIENT_CLOSED', `The database ${this.#name} is closed`);
    this.#engine.close();
    this.#store.close();
  }

  async #ready(): Promise<void> {
    if (this.#rebuilding) await this.#rebuilding;
    if (this.#broken) throw this.#broken;
  }

  #adopt(loaded: Loaded): void {
    this.#engine = loaded.engine;
    this.#nextSeq = loaded.lastSeq + 1;
    this.#journalRecords = loaded.journalRecords;
    this.#journalBytes = loaded.journalBytes;
  }

  async #appendAll(): Promise<void> {
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0);
      const durability = batch.every((w) => w.durability === 'relaxed') ? 'relaxed' : 'strict';
      try {
        await this.#store.append(
          batch.map((w) => w.record),
          durability,
        );
      } catch (error) {
        const failed = [...batch, ...this.#waiting.splice(0)];
        const reason = storageError(error, `Cannot write to the IndexedDB database ${this.#name}`);
        for (const waiting of failed) waiting.reject(reason);
        this.#appending = undefined;
        await this.#rebuild();
        return;
      }
      this.#journalRecords += batch.length;
      for (const waiting of batch) {
        this.#journalBytes += recordBytes(waiting.record);
        waiting.resolve();
      }
    }
    this.#appending = undefined;
    this.#foldIfDue();
  }

  #rebuild(): Promise<void> {
    this.#rebuilding = (async () => {
      const stale = this.#engine;
      try {
        this.#adopt(await load(this.#sql, this.#store, this.#name));
        stale.close();
      } catch (error) {
        this.#broken = isSpotflowError(error)
          ? error
          : storageError(error, `Cannot reload the IndexedDB database ${this.#name}`);
      } finally {
        this.#rebuilding = undefined;
      }
    })();
    return this.#rebuilding;
  }

  /** Folds only when everything applied in memory is also stored, so the snapshot holds no unstored write. */
  #foldIfDue(): void {
    if (this.#journalRecords < FOLD_RECORDS && this.#journalBytes < FOLD_BYTES) return;
    if (this.#folding || this.#appending || this.#waiting.length > 0 || this.#broken) return;
    const seq = this.#nextSeq - 1;
    const records = this.#journalRecords;
    const bytes = this.#journalBytes;
    const image = this.#engine.export();
    // Left to the GC on purpose: freeing it once IndexedDB cloned it did not lower the renderer's peak while filling
    // 100,000 messages (median +230 vs +207 MB, 9 alternating runs); its size makes V8 collect sooner.
    this.#folding = this.#store
      .writeSnapshot({ bytes: image, seq })
      .then(() => this.#store.dropThrough(seq))
      .then(() => {
        this.#journalRecords -= records;
        this.#journalBytes -= bytes;
      })
      // A failed fold loses nothing (the journal stays); the next append tries again.
      .catch(() => {})
      .finally(() => {
        this.#folding = undefined;
      });
  }
}

interface Loaded {
  engine: SqlEngine;
  lastSeq: number;
  journalRecords: number;
  journalBytes: number;
}

/** The stored snapshot with the journal replayed on it. */
async function load(sql: SqlJsStatic, store: JournalStore, name: string): Promise<Loaded> {
  const stored = await store.load().catch((error: unknown) => {
    throw storageError(error, `Cannot read the IndexedDB database ${name}`);
  });
  let engine: SqlEngine;
  try {
    engine = new SqlEngine(new sql.Database(stored.snapshot?.bytes));
  } catch (error) {
    throw new SpotflowError('DATABASE_CORRUPT', `The stored database ${name} is damaged`, { cause: error });
  } finally {
    // sql.js copied the image (or failed): free the read copy now, so the worker holds the database once, not twice
    // until a GC.
    if (stored.snapshot) release(stored.snapshot.bytes);
  }
  try {
    for (const record of stored.journal) engine.write(record.statements);
  } catch (error) {
    engine.close();
    throw new SpotflowError('DATABASE_CORRUPT', `The journal of ${name} does not replay`, { cause: error });
  }
  return {
    engine,
    lastSeq: stored.journal.at(-1)?.seq ?? stored.snapshot?.seq ?? 0,
    journalRecords: stored.journal.length,
    journalBytes: stored.journal.reduce((sum, record) => sum + recordBytes(record), 0),
  };
}

/**
 * Frees an image's memory at once instead of at the next GC (ArrayBuffer `transfer(0)` detaches it; a browser
 * without it just leaves the image to the GC). Only for an image nothing else reads.
 */
function release(image: Uint8Array): void {
  (image.buffer as { transfer?: (length: number) => ArrayBuffer }).transfer?.(0);
}

function recordBytes(record: JournalRecord): number {
  let bytes = 0;
  for (const { sql, params } of record.statements) {
    bytes += sql.length;
    for (const value of params ?? []) {
      if (value instanceof Uint8Array) bytes += value.byteLength;
      else if (typeof value === 'string') bytes += value.length;
      else bytes += 8;
    }
  }
  return bytes;
}

/** IndexedDB failures (quota, a deleted database, private mode) by their DOMException name. */
function storageError(error: unknown, context: string): SpotflowError {
  if (isSpotflowError(error)) return error;
  const name = error instanceof Error || error instanceof DOMException ? error.name : 'unknown error';
  return new SpotflowError('DATABASE_UNAVAILABLE', `${context} (${name})`, { cause: error });
}
