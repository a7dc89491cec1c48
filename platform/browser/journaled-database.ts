/**
 * A sql.js database made durable by a journal of committed statements and, folded from it now and then, the SQLite
 * file's changed pages (runs in the database worker), kept in IndexedDB or the origin private file system.
 *
 * Writes are applied in groups (group commit): the writes that arrived while the previous group was being stored
 * are applied together inside one SQLite transaction, each in its own savepoint, and that transaction stays open
 * until the group's journal record is stored. Then it commits and the writes resolve; if the append fails, it rolls
 * back and they reject, leaving memory exactly as stored. Reads run only between groups, once every write sent
 * before them has settled, so no read ever sees a row that is not stored (and no rejected write is ever read).
 * Ids handed out by a rolled-back group are never handed out again.
 *
 * The journal is folded once it holds enough records: the file's chunks changed since the last fold are stored
 * with the journal position they include, and the journal up to there is dropped. A failed fold loses nothing (the
 * journal stays) and is retried with backoff; if folds keep failing until the journal is too long to reload
 * comfortably, durable writes are refused with a typed error until one succeeds.
 *
 * About 550 lines because this class is the one owner of three things that decide on the same state (whether a
 * group's transaction is open, which journal position is stored, which connection or files are live): group commit,
 * folds, and getting the store back after it failed (IndexedDB closed or deleted: the connection swapped, the whole
 * file stored again; OPFS files that refused a write: opened again while reads wait). Where groups and folds are
 * stored is apart (persistence.ts: IndexedDB or the origin private file system), as are loading (journal-load.ts,
 * opfs-load.ts), the record format (journal-records.ts), the file in memory or read through (page-file.ts,
 * read-through-file.ts), id floors (sequence-floors.ts), when a failed fold is tried again (fold-backoff.ts) and
 * how a fold is stored (stored-chunks.ts, opfs-store.ts).
 */
import type { SqlJsStatic } from 'sql.js';
import { SpotflowError } from '../../src/errors.js';
import type { SqlStatement, SqlValue, WriteResult } from '../../src/ports.js';
import { FoldBackoff } from './fold-backoff.js';
import { CHUNK_BYTES, deletedByBrowser, type Loaded, load, openStore, storageError } from './journal-load.js';
import type { JournalStore } from './journal-store.js';
import { loadOpfs } from './opfs-load.js';
import { PageFile, type TrackedFile } from './page-file.js';
import { type Durability, IdbPersistence, type Persistence } from './persistence.js';
import { SequenceFloors } from './sequence-floors.js';
import { GroupLostError, SqlEngine } from './sql-engine.js';
import { FoldWriter } from './stored-chunks.js';
import { afterQueuedMessages } from './worker-rpc.js';

/** Fold the journal once it holds this many statements (replay at open stays short), or the store's bytes. */
const FOLD_STATEMENTS = 2_000;

export type { Durability } from './persistence.js';
/** Where a database is kept: IndexedDB, or the origin private file system (see persistence.ts). */
export type Storage = 'indexeddb' | 'opfs';

interface PendingWrite {
  statements: readonly SqlStatement[];
  durability: Durability;
  ordinal: number;
  resolve: (results: WriteResult[]) => void;
  reject: (error: unknown) => void;
}

interface PendingRead {
  /** The last write received before this read: it runs once that one has settled. */
  after: number;
  run: () => void;
}

/** A problem in the background (a fold failing, the database deleted from outside), reported once until it clears. */
export type ProblemListener = (problem: SpotflowError) => void;

export class JournaledDatabase {
  readonly #sql: SqlJsStatic;
  readonly #name: string;
  readonly #onProblem: ProblemListener;
  readonly #persistence: Persistence;
  /** The same object as `#persistence` when it is IndexedDB's: what getting a closed connection back needs. */
  readonly #idb: IdbPersistence | undefined;
  #file: TrackedFile;
  #engine: SqlEngine;
  #nextSeq: number;
  #writes: PendingWrite[] = [];
  #reads: PendingRead[] = [];
  #received = 0;
  #settled = 0;
  #draining: Promise<void> | undefined;
  /** A group's SQLite transaction is open: no read, no fold until it commits or rolls back. */
  #groupOpen = false;
  /** The store's files are being opened again after a failed write: no read, write or fold until they are. */
  #reopening = false;
  #folding: Promise<SpotflowError | undefined> | undefined;
  #lastFold: Promise<SpotflowError | undefined> | undefined;
  readonly #foldBackoff = new FoldBackoff(() => this.#foldIfDue());
  /** Every chunk is to be stored again by the next fold (a new database, an upgrade, a database created again). */
  #fullRewrite: boolean;
  /** The IndexedDB database was created again: nothing may be appended before the whole file is stored. */
  #recreated = false;
  /** Ids a rolled-back group handed out, per AUTOINCREMENT table: the next group starts above them. */
  readonly #floors = new SequenceFloors();
  #journalStatements: number;
  #journalBytes: number;
  readonly #reported = new Set<string>();
  #closing = false;
  #broken: SpotflowError | undefined;

  private constructor(
    sql: SqlJsStatic,
    persistence: Persistence,
    name: string,
    loaded: Omit<Loaded, 'layout' | 'texts'>,
    onProblem: ProblemListener,
  ) {
    this.#sql = sql;
    this.#persistence = persistence;
    this.#idb = persistence instanceof IdbPersistence ? persistence : undefined;
    this.#name = name;
    this.#onProblem = onProblem;
    this.#file = loaded.file;
    this.#engine = loaded.engine;
    this.#nextSeq = loaded.lastSeq + 1;
    this.#journalStatements = loaded.journalStatements;
    this.#journalBytes = loaded.journalBytes;
    this.#fullRewrite = loaded.fullRewrite;
    if (this.#idb) this.#watch(this.#idb.store);
  }

  /** Opens the database `name`; `sqlJs` may still be loading (it is needed only once the stored file is read). */
  static async open(
    sqlJs: Promise<SqlJsStatic>,
    name: string,
    onProblem: ProblemListener = () => {},
    storage: Storage = 'indexeddb',
  ): Promise<JournaledDatabase> {
    // Awaited below, unless the store fails first: then its failure is the one reported.
    sqlJs.catch(() => {});
    if (storage === 'opfs') {
      const { persistence, loaded } = await loadOpfs(sqlJs, name, onProblem);
      const database = new JournaledDatabase(await sqlJs, persistence, name, loaded, onProblem);
      database.#foldIfDue();
      return database;
    }
    const { store, deleted } = await openStore(name);
    if (deleted !== undefined) onProblem(deletedByBrowser(name, deleted));
    try {
      const loaded = await load(sqlJs, store, name);
      const persistence = new IdbPersistence(store, loaded.texts, new FoldWriter(loaded.layout));
      const database = new JournaledDatabase(await sqlJs, persistence, name, loaded, onProblem);
      database.#foldIfDue();
      return database;
    } catch (error) {
      store.close();
      throw error;
    }
  }

  write(statements: readonly SqlStatement[], durability: Durability): Promise<WriteResult[]> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    // An empty write changes nothing: it resolves once the writes before it have settled.
    if (statements.length === 0) return this.#read(() => []);
    return new Promise((resolve, reject) => {
      this.#writes.push({ statements, durability, ordinal: ++this.#received, resolve, reject });
      this.#drain();
    });
  }

  query<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    return this.#read(() => {
      try {
        return this.#engine.query<Row>(sql, params);
      } catch (error) {
        throw this.#storeFailure(error);
      }
    });
  }

  /** Waits for the writes received and a fold in flight, then releases the database. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    while (this.#draining) await this.#draining;
    // A fold that became due during the one in flight starts when it ends: wait for that one too.
    while (this.#folding) await this.#folding;
    this.#foldBackoff.stop();
    this.#broken = new SpotflowError('CLIENT_CLOSED', `The database ${this.#name} is closed`);
    this.#engine.close();
    this.#file.close();
    this.#persistence.close();
  }

  /**
   * A statement's failure, or the store's when the statement failed because the stored file could not be read (a
   * file read through, OPFS): then it is the browser's storage error, not the statement's.
   */
  #storeFailure(error: unknown): unknown {
    const failure = this.#file.takeReadFailure();
    return failure === undefined ? error : storageError(failure, `Cannot read ${this.#where()}`);
  }

  #refusal(): SpotflowError | undefined {
    if (this.#closing) return new SpotflowError('CLIENT_CLOSED', `The database ${this.#name} is closed`);
    return this.#broken;
  }

  #read<T>(read: () => T): Promise<T> {
    const after = this.#received;
    if (!this.#groupOpen && !this.#reopening && this.#settled >= after) {
      try {
        return Promise.resolve(read());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise((resolve, reject) => {
      this.#reads.push({
        after,
        run: () => {
          try {
            resolve(read());
          } catch (error) {
            reject(error);
          }
        },
      });
    });
  }

  #runReadyReads(): void {
    if (this.#groupOpen || this.#reopening || this.#reads.length === 0) return;
    const ready = this.#reads.filter((read) => read.after <= this.#settled);
    this.#reads = this.#reads.filter((read) => read.after > this.#settled);
    for (const read of ready) read.run();
  }

  /** Applies and stores the queued writes, group after group, until none is left. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = (async () => {
      try {
        do {
          if (this.#idb?.store.closedByOthers && !this.#broken) await this.#reopen(this.#idb);
          if (this.#persistence.needsReopen && !this.#broken) await this.#reopenStore();
          const group = this.#writes.splice(0);
          if (group.length > 0) {
            await this.#storeGroup(group);
            this.#settled = group[group.length - 1]!.ordinal;
          }
          this.#runReadyReads();
          this.#foldIfDue();
          // A store that flushes synchronously (OPFS) held the worker while it did: the writes sent meanwhile are
          // still messages in its queue. Let them in first, so that they go together in the next group.
          if (group.length > 0 && this.#persistence.synchronous) await afterQueuedMessages();
        } while (this.#writes.length > 0);
      } finally {
        this.#draining = undefined;
      }
    })();
  }

  async #storeGroup(group: PendingWrite[]): Promise<void> {
    const unavailable = this.#broken ?? (this.#recreated ? await this.#storeWholeFile() : undefined);
    if (unavailable) {
      for (const write of group) write.reject(unavailable);
      return;
    }
    let full = this.#journalFull();
    // Folds behind but not failing (a burst of large writes): wait for the fold in flight rather than refuse.
    while (full && this.#folding && !this.#foldBackoff.failing) {
      await this.#folding;
      full = this.#journalFull();
    }
    this.#engine.begin();
    this.#groupOpen = true;
    let applied: { write: PendingWrite; results: WriteResult[] }[] = [];
    let statements = this.#floors.apply(this.#engine);
    for (const write of group) {
      if (full && write.durability === 'strict') {
        write.reject(full);
        continue;
      }
      try {
        applied.push({ write, results: this.#engine.apply(write.statements) });
        statements.push(...write.statements);
      } catch (error) {
        if (!(error instanceof GroupLostError)) {
          write.reject(this.#storeFailure(error));
          continue;
        }
        // SQLite rolled back the whole group: the writes applied so far are gone with it.
        const reason = this.#storeFailure(error.reason);
        for (const { write: lost } of applied) lost.reject(reason);
        write.reject(reason);
        applied = [];
        statements = this.#floors.apply(this.#engine);
      }
    }
    if (applied.length === 0) {
      this.#engine.rollback();
      this.#groupOpen = false;
      return;
    }
    const durability = applied.every(({ write }) => write.durability === 'relaxed') ? 'relaxed' : 'strict';
    let stored: { positions: number; bytes: number };
    try {
      stored = await this.#persistence.append(this.#nextSeq, statements, durability);
    } catch (error) {
      this.#floors.rollBack(this.#engine);
      this.#groupOpen = false;
      const reason = storageError(error, `Cannot write to ${this.#where()}`);
      for (const { write } of applied) write.reject(reason);
      return;
    }
    try {
      this.#engine.commit();
    } catch (error) {
      // Stored but not applied: memory no longer matches IndexedDB. Only a reopen puts them together again.
      this.#floors.rollBack(this.#engine);
      this.#groupOpen = false;
      this.#broken = new SpotflowError(
        'INTERNAL',
        `A stored transaction did not commit in memory; reopen the database ${this.#name}`,
        { cause: error },
      );
      for (const { write } of applied) write.reject(this.#broken);
      return;
    }
    this.#groupOpen = false;
    this.#nextSeq += stored.positions;
    this.#floors.clear();
    this.#journalStatements += statements.length;
    this.#journalBytes += stored.bytes;
    for (const { write, results } of applied) write.resolve(results);
  }
  /** The refusal for durable writes while the journal is too long (folds keep failing), if it is. */
  #journalFull(): SpotflowError | undefined {
    // Past the store's limit of unfolded journal, durable writes are refused (see `Persistence.journalLimitBytes`).
    if (this.#journalBytes < this.#persistence.journalLimitBytes) return undefined;
    const megabytes = Math.round(this.#journalBytes / (1024 * 1024));
    return new SpotflowError(
      'DATABASE_UNAVAILABLE',
      `Storage is full: the journal of ${this.#name} has grown to ${megabytes} MB because storing it as pages ` +
        'keeps failing; writes are refused until that succeeds (free storage for this site)',
    );
  }

  #foldIfDue(): void {
    if (this.#folding || this.#groupOpen || this.#reopening || this.#broken) return;
    if (
      !this.#fullRewrite &&
      this.#journalStatements < FOLD_STATEMENTS &&
      this.#journalBytes < this.#persistence.foldBytes
    )
      return;
    if (this.#foldBackoff.waiting) return;
    // The store's files must be opened again first: the drain does that (reads wait for it), then folds.
    if (this.#persistence.needsReopen) {
      this.#drain();
      return;
    }
    // What the store must do first (OPFS: open the file's next segment) is done before the chunks are taken; then
    // this runs again.
    const preparing = this.#persistence.prepareFold(this.#engine.fileBytes());
    this.#folding = (
      preparing === undefined
        ? this.#fold()
        : preparing.then(
            () => undefined,
            (error: unknown) => this.#foldFailed(error),
          )
    ).finally(() => {
      this.#folding = undefined;
      // The journal may have grown past the threshold again meanwhile (with no write to come and notice it).
      this.#foldIfDue();
    });
    this.#lastFold = this.#folding;
  }

  /**
   * Stores the chunks changed since the last fold, as of the last committed group. Starts synchronously, while no
   * group is open: the chunks are copied before anything else can change them. Resolves to the failure, if any.
   */
  #fold(): Promise<SpotflowError | undefined> {
    const fileBytes = this.#engine.fileBytes();
    if (!this.#file.verify(fileBytes)) {
      console.warn(
        `spotflow-device: the database file of ${this.#name} is stored whole (page tracking was lost)`,
      );
      this.#retrack();
    }
    const full = this.#fullRewrite;
    if (full) this.#file.markAllChanged();
    const chunks = this.#file.takeChanged(fileBytes);
    const taken = [...chunks.keys()];
    const seq = this.#nextSeq - 1;
    const statements = this.#journalStatements;
    const bytes = this.#journalBytes;
    const meta = { seq, fileBytes, chunkBytes: this.#file.chunkBytes };
    return this.#persistence.fold(meta, chunks).then(
      async () => {
        this.#file.stored();
        if (full) this.#fullRewrite = false;
        if (this.#recreated) this.#reported.delete('recreated');
        this.#recreated = false;
        this.#journalStatements -= statements;
        this.#journalBytes -= bytes;
        this.#foldBackoff.succeeded();
        this.#reported.delete('fold');
        return undefined;
      },
      (error: unknown) => {
        this.#file.restoreChanged(taken);
        return this.#foldFailed(error);
      },
    );
  }

  /** A fold (or what it needed first) failed: tried again later, reported once. */
  #foldFailed(error: unknown): SpotflowError {
    const delay = this.#foldBackoff.failed();
    const reason = storageError(
      error,
      `Cannot store the database ${this.#name} as pages (the journal keeps every write meanwhile); ` +
        `trying again in ${Math.round(delay / 1000)} s`,
    );
    this.#report('fold', reason);
    return reason;
  }

  /**
   * Opens the store's files again after a write through them failed (Chromium fails every later write through a
   * handle that met a full disk, even once space is free). Reads wait meanwhile: the file is read through them.
   */
  async #reopenStore(): Promise<void> {
    this.#reopening = true;
    try {
      await this.#persistence.reopen();
      this.#reported.delete('reopen');
    } catch (error) {
      const delay = this.#foldBackoff.failed();
      this.#report(
        'reopen',
        storageError(
          error,
          `Cannot open ${this.#where()} again after a failed write; trying again in ${Math.round(delay / 1000)} s`,
        ),
      );
    } finally {
      this.#reopening = false;
    }
  }

  /**
   * The writes seen no longer account for the file (sql.js changed how it writes): store the whole file again,
   * from a fresh tracked copy of it.
   */
  #retrack(): void {
    const image = this.#engine.export();
    const file = PageFile.open(this.#sql, image, CHUNK_BYTES);
    const engine = new SqlEngine(file.db);
    this.#engine.close();
    this.#file = file;
    this.#engine = engine;
    this.#fullRewrite = true;
  }

  /** For a database created again: stores the whole file before anything else; the error if that failed. */
  async #storeWholeFile(): Promise<SpotflowError | undefined> {
    await this.#folding;
    // The fold just awaited may have been that whole-file store (it clears `#recreated`): storing the file again
    // would keep every write waiting for a second whole-file transaction, on a disk that may just have room for one.
    if (!this.#recreated) return undefined;
    this.#fullRewrite = true;
    this.#foldIfDue();
    // No fold started: the last one failed a moment ago and its backoff has not run out.
    return this.#folding ? await this.#folding : ((await this.#lastFold) ?? refusedForNow(this.#name));
  }

  /**
   * The IndexedDB connection was closed from outside. If the browser closed it (a storage error), the database is
   * opened again as it is; if it was deleted, it is created again from memory (which holds exactly what was
   * stored); if another context put something else there, this client stops.
   */
  async #reopen(idb: IdbPersistence): Promise<void> {
    let store: JournalStore;
    let last: number | undefined;
    try {
      // Deleted under a running client: what it holds in memory is what was stored, so nothing is lost.
      ({ store } = await openStore(this.#name));
    } catch (error) {
      this.#report('lost', storageError(error, `Cannot open the IndexedDB database ${this.#name} again`));
      return;
    }
    try {
      last = await store.lastStored();
    } catch (error) {
      // Cannot tell what is there (a full disk): keep the old, closed connection, so the next write tries again.
      store.close();
      this.#report('lost', storageError(error, `Cannot read the IndexedDB database ${this.#name} again`));
      return;
    }
    idb.store.close();
    idb.store = store;
    this.#watch(store);
    this.#reported.delete('lost');
    // Ours as we left it: the browser closed the connection (a storage error), nothing was deleted.
    if (last !== undefined && last < this.#nextSeq) return;
    if (last !== undefined) {
      this.#broken = new SpotflowError(
        'DATABASE_UNAVAILABLE',
        `The IndexedDB database ${this.#name} was replaced by another context while this client had it open; ` +
          'close the client and start it again',
      );
      this.#report('lost', this.#broken);
      return;
    }
    // Deleted (by the app, the user, or the browser itself after a storage failure): memory holds exactly what was
    // stored, so store it again, at once if possible (a failure is retried with the fold's backoff, and writes wait
    // for it).
    this.#recreated = true;
    this.#fullRewrite = true;
    // The texts' entries went with the deleted database: each is written again with the next record naming it.
    idb.texts.forgetStored();
    this.#report(
      'recreated',
      new SpotflowError(
        'DATABASE_UNAVAILABLE',
        `The IndexedDB database ${this.#name} was deleted from outside; it is created again from the client's memory`,
      ),
    );
    await this.#storeWholeFile();
  }

  /** Recovers at once when the connection is closed from outside, not only at the next write. */
  #watch(store: JournalStore): void {
    store.onClosedByOthers = () => {
      if (this.#closing || this.#broken) return;
      this.#drain();
    };
  }

  /** Names the database and where it is kept, for messages. */
  #where(): string {
    return this.#idb
      ? `the IndexedDB database ${this.#name}`
      : `the database ${this.#name} (origin private file system)`;
  }

  #report(kind: string, problem: SpotflowError): void {
    if (this.#reported.has(kind)) return;
    this.#reported.add(kind);
    this.#onProblem(problem);
  }
}

function refusedForNow(name: string): SpotflowError {
  return new SpotflowError(
    'DATABASE_UNAVAILABLE',
    `Storing the database ${name} failed a moment ago; trying again shortly`,
  );
}
