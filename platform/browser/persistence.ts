/**
 * Where a journaled database (journaled-database.ts) keeps what it stores: the groups it commits and the folds of
 * its file. Two kinds: IndexedDB (journal records and generations of chunks, journal-store.ts and stored-chunks.ts)
 * and the origin private file system (a file and a frame-log journal beside it, opfs-store.ts).
 */
import type { SqlStatement } from '../../src/ports.js';
import { recordBytes, type SqlTexts, toRecords } from './journal-records.js';
import type { JournalStore } from './journal-store.js';
import { type FoldMeta, JOURNAL_FOLD_BYTES, JOURNAL_LIMIT_BYTES, type OpfsStore } from './opfs-store.js';
import type { FoldWriter } from './stored-chunks.js';

export type Durability = 'strict' | 'relaxed';

export interface Persistence {
  /**
   * Stores a committed group's statements at journal positions from `firstSeq` on; resolves once stored with
   * `durability`, with how many positions the group took and about how many bytes the journal grew by.
   */
  append(
    firstSeq: number,
    statements: readonly SqlStatement[],
    durability: Durability,
  ): Promise<{ positions: number; bytes: number }>;
  /**
   * Stores a fold: the chunks changed since the last one (each is let go once stored), for the file `meta`
   * describes, holding the journal up to `meta.seq`, which it no longer needs. If it fails, the file stored is the
   * one before.
   */
  fold(meta: FoldMeta, chunks: Map<number, Uint8Array>): Promise<void>;
  /**
   * What must happen before a fold of a file of `fileBytes` can start (a promise), or undefined when it can start now.
   * Called before the chunks are taken: a fold must not wait between taking them and storing them.
   */
  prepareFold(fileBytes: number): Promise<void> | undefined;
  /** How long the journal may grow before a fold is due. */
  readonly foldBytes: number;
  /** How long the journal may grow while folds fail before durable writes are refused. */
  readonly journalLimitBytes: number;
  /** Whether `append` stores (and flushes) before it returns, holding the worker meanwhile. */
  readonly synchronous: boolean;
  /** A write failed and the store takes no more until `reopen` has opened it again (nothing may read it meanwhile). */
  readonly needsReopen: boolean;
  reopen(): Promise<void>;
  close(): void;
}

/** IndexedDB: journal records (SQL texts stored once, by number) and folds stored as generations of chunks. */
export class IdbPersistence implements Persistence {
  /** The connection: replaced when the database is opened again after it was closed from outside. */
  store: JournalStore;
  readonly texts: SqlTexts;
  readonly #folds: FoldWriter;

  constructor(store: JournalStore, texts: SqlTexts, folds: FoldWriter) {
    this.store = store;
    this.texts = texts;
    this.#folds = folds;
  }

  async append(firstSeq: number, statements: readonly SqlStatement[], durability: Durability) {
    const records = toRecords(firstSeq, statements, this.texts);
    const texts = this.texts.unstored(records);
    await this.store.append(records, durability, texts);
    this.texts.stored(texts);
    return {
      positions: records.length,
      bytes: records.reduce((sum, record) => sum + recordBytes(record), 0),
    };
  }

  async fold(meta: FoldMeta, chunks: Map<number, Uint8Array>): Promise<void> {
    await this.#folds.store(this.store, meta, chunks);
    // Records left behind (a failure, a kill) are skipped at load (the pages hold them) and dropped next time.
    await this.store.dropThrough(meta.seq).catch(() => {});
  }

  readonly synchronous = false;
  readonly foldBytes = 8 * 1024 * 1024;
  /** A journal this long still loads at open (`getAll()`) in seconds. */
  readonly journalLimitBytes = 32 * 1024 * 1024;

  prepareFold(): undefined {
    return undefined;
  }

  /** IndexedDB's connection is opened again by the database itself when it is closed from outside. */
  readonly needsReopen = false;

  async reopen(): Promise<void> {}

  close(): void {
    this.store.close();
  }
}

/**
 * The origin private file system: each group one frame of the journal file (flushed when strict), each fold written
 * into the file in place behind its copy in the journal. Synchronous underneath (sync access handles): a group is
 * stored before the next one is applied, which is what group commit needs anyway. The segments a fold's file
 * reaches are opened (asynchronous) before it starts.
 */
export class OpfsPersistence implements Persistence {
  readonly #store: OpfsStore;
  readonly synchronous = true;
  readonly foldBytes = JOURNAL_FOLD_BYTES;
  readonly journalLimitBytes = JOURNAL_LIMIT_BYTES;

  constructor(store: OpfsStore) {
    this.#store = store;
  }

  async append(firstSeq: number, statements: readonly SqlStatement[], durability: Durability) {
    return { positions: 1, bytes: this.#store.append(firstSeq, statements, durability) };
  }

  /**
   * Synchronous from start to end, so that no group is stored between the chunks being taken and the journal
   * starting over from the fold's position (it would be dropped with the frames before it).
   */
  async fold(meta: FoldMeta, chunks: Map<number, Uint8Array>): Promise<void> {
    this.#store.fold(meta, chunks);
    chunks.clear();
  }

  prepareFold(fileBytes: number): Promise<void> | undefined {
    return this.#store.hasRoomFor(fileBytes) ? undefined : this.#store.prepareFold(fileBytes);
  }

  get needsReopen(): boolean {
    return this.#store.needsReopen;
  }

  reopen(): Promise<void> {
    return this.#store.reopen();
  }

  close(): void {
    this.#store.close();
  }
}
