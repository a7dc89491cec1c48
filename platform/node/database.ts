/**
 * The `Database` port over SQLite, whatever the binding (sqlite-driver.ts): WAL with `synchronous=FULL`, so a
 * resolved `write()` has been fsync'd. The bindings are synchronous; this store runs on the main thread, or on Node
 * in a worker thread when asked (worker-database.ts).
 */
import { chmodSync, statSync } from 'node:fs';
import { SpotflowError } from '../../src/errors.js';
import type {
  Database,
  DatabaseOpener,
  SqlStatement,
  SqlValue,
  WriteOptions,
  WriteResult,
} from '../../src/ports.js';
import { loadNodeDriver } from './node-driver.js';
import type { SqliteConnection, SqliteDriver, SqliteDriverLoader, SqliteStatement } from './sqlite-driver.js';
import { createPrivateFile, translateSqliteError } from './sqlite-file.js';
import { createWorkerDatabaseOpener } from './worker-database.js';

/** How many prepared statements each database keeps (the core uses a few dozen distinct SQL texts). */
const STATEMENT_CACHE_SIZE = 128;

/** How long a statement waits for a lock another connection holds (a checkpoint) before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 100;

/** Options of {@link createNodeDatabaseOpener}. */
export interface NodeDatabaseOptions {
  /**
   * Where SQLite runs: `'main'` (default), synchronously on the main thread; `'worker'`, one worker thread serving
   * every database of the process (worker-database.ts), so that SQLite's work and fsync leave the main thread free
   * for MQTT. The environment variable `SPOTFLOW_SQLITE_THREAD=worker` picks `'worker'` on Node. Measured on a
   * 2-core machine the worker frees a third of the main thread's time per message but costs more CPU in all: faster
   * end to end over plain TCP, slower over TLS and for durable enqueue (bench/README.md), hence not the default.
   */
  thread?: 'worker' | 'main';
}

/**
 * Opens SQLite files with better-sqlite3 (or `node:sqlite` where better-sqlite3 does not load: node-driver.ts).
 *
 * @example
 * const db = await createNodeDatabaseOpener().open('./device.db');
 * await db.write([{ sql: 'CREATE TABLE t (x)' }]);
 */
export function createNodeDatabaseOpener(options: NodeDatabaseOptions = {}): DatabaseOpener {
  const thread = options.thread ?? defaultThread();
  return thread === 'main' ? createSqliteDatabaseOpener(loadNodeDriver) : createWorkerDatabaseOpener();
}

/**
 * The main thread unless the environment asks for the worker, on Node only: Bun and Deno running this entry keep
 * SQLite on the main thread, as their own entries do (their worker threads differ from Node's: Deno refuses a
 * worker's flags, which running from sources needs).
 */
function defaultThread(): 'worker' | 'main' {
  const node = process.versions.bun === undefined && process.versions.deno === undefined;
  return node && process.env.SPOTFLOW_SQLITE_THREAD === 'worker' ? 'worker' : 'main';
}

/** Opens SQLite files with the driver `load` gives (loaded on the first open). */
export function createSqliteDatabaseOpener(load: SqliteDriverLoader): DatabaseOpener {
  return {
    async open(path: string): Promise<Database> {
      const driver = await load();
      createPrivateFile(path);
      let db: SqliteConnection | undefined;
      try {
        db = driver.open(path);
        // A cheap read first: a file that is not a database fails here (SQLITE_NOTADB), before any pragma.
        pragma(db, 'schema_version');
        if (pragma(db, 'journal_mode = WAL') !== 'wal') {
          throw new SpotflowError('DATABASE_UNAVAILABLE', `Cannot use a write-ahead log for ${path}`);
        }
        db.exec('PRAGMA synchronous = FULL');
        db.exec('PRAGMA foreign_keys = ON');
        db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      } catch (error) {
        db?.close();
        throw translateSqliteError(driver, error, `Cannot open the database ${path}`);
      }
      restrictCompanionFiles(path);
      return new SqliteDatabase(driver, db, path);
    },
  };
}

/** The first column of a pragma's first row. */
function pragma(db: SqliteConnection, text: string): SqlValue | undefined {
  const row = db.prepare(`PRAGMA ${text}`).all([])[0];
  return row === undefined ? undefined : Object.values(row)[0];
}

/** SQLite gives `-wal` and `-shm` the database file's mode; this only repairs files made by older code. */
function restrictCompanionFiles(path: string): void {
  for (const suffix of ['-wal', '-shm']) {
    try {
      if ((statSync(path + suffix).mode & 0o077) !== 0) chmodSync(path + suffix, 0o600);
    } catch {
      // Not there (yet): SQLite will create it with the database file's mode.
    }
  }
}

class SqliteDatabase implements Database {
  readonly #driver: SqliteDriver;
  readonly #db: SqliteConnection;
  readonly #path: string;
  readonly #statements = new Map<string, Prepared>();
  #closed = false;

  constructor(driver: SqliteDriver, db: SqliteConnection, path: string) {
    this.#driver = driver;
    this.#db = db;
    this.#path = path;
  }

  async write(statements: readonly SqlStatement[], options: WriteOptions = {}): Promise<WriteResult[]> {
    this.#checkOpen();
    // In WAL mode, synchronous=NORMAL commits without an fsync; the next FULL commit syncs the log including it.
    const relaxed = options.durability === 'relaxed';
    try {
      if (relaxed) this.#prepare('PRAGMA synchronous = NORMAL').statement.run([]);
      return this.#transaction(() =>
        statements.map(({ sql, params }) => {
          const { statement, inserts } = this.#prepare(sql);
          const result = statement.run(bind(params));
          const changes = Number(result.changes);
          // SQLite's last_insert_rowid() outlives the INSERT that set it; the port reports it for INSERTs only.
          return { changes, lastInsertRowid: inserts && changes > 0 ? Number(result.lastInsertRowid) : 0 };
        }),
      );
    } catch (error) {
      throw translateSqliteError(this.#driver, error, `A write to the database ${this.#path} failed`);
    } finally {
      // Prepared once and cached, like every statement here: two per relaxed write.
      if (relaxed) this.#prepare('PRAGMA synchronous = FULL').statement.run([]);
    }
  }

  async query<Row = Record<string, SqlValue>>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    this.#checkOpen();
    try {
      return this.#prepare(sql).statement.all(bind(params)) as Row[];
    } catch (error) {
      throw translateSqliteError(this.#driver, error, `A query of the database ${this.#path} failed`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    try {
      this.#db.close();
    } catch (error) {
      throw translateSqliteError(this.#driver, error, `Closing the database ${this.#path} failed`);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new SpotflowError('CLIENT_CLOSED', `The database ${this.#path} is closed`);
  }

  /** Runs `body` in one transaction: committed if it returns, rolled back if it throws. */
  #transaction<T>(body: () => T): T {
    this.#prepare('BEGIN').statement.run([]);
    try {
      const result = body();
      this.#prepare('COMMIT').statement.run([]);
      return result;
    } catch (error) {
      // SQLite has already rolled back after some failures (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM); a driver that
      // cannot tell says a transaction is open, and the ROLLBACK that then finds none fails harmlessly.
      if (this.#db.inTransaction) {
        try {
          this.#prepare('ROLLBACK').statement.run([]);
        } catch {
          // The error to report is the one that made the write fail.
        }
      }
      throw error;
    }
  }

  /** Prepared statements by SQL text, least recently used evicted first (a Map keeps insertion order). */
  #prepare(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (prepared === undefined) {
      prepared = { statement: this.#db.prepare(sql), inserts: INSERT.test(sql) };
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#statements.keys().next().value as string;
        this.#statements.get(oldest)?.statement.finalize?.();
        this.#statements.delete(oldest);
      }
    } else {
      this.#statements.delete(sql);
    }
    this.#statements.set(sql, prepared);
    return prepared;
  }
}

interface Prepared {
  statement: SqliteStatement;
  /** Whether the statement is an INSERT (or REPLACE), whose rowid `write()` reports. */
  inserts: boolean;
}

/** An INSERT or REPLACE, after any leading white space and comments. */
const INSERT = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:INSERT|REPLACE)\b/i;

/**
 * better-sqlite3 binds every JS number as a REAL, so `1` in an untyped column would read back as REAL 1.0 where
 * sql.js stores INTEGER 1. Whole numbers are bound as 64-bit integers here (every driver binds a bigint so), so the
 * same SQL behaves alike everywhere.
 */
function bind(params: readonly SqlValue[] | undefined): SqlValue[] {
  if (params === undefined) return [];
  return params.map((value) =>
    typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value,
  );
}
