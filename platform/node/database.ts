/**
 * The `Database` port over better-sqlite3: WAL with `synchronous=FULL`, so a resolved `write()` has been fsync'd.
 * better-sqlite3 is synchronous; the port is async so that a worker-backed store can replace this one later.
 */
import { chmodSync, statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { SpotflowError } from '../../src/errors.js';
import type {
  Database,
  DatabaseOpener,
  SqlStatement,
  SqlValue,
  WriteOptions,
  WriteResult,
} from '../../src/ports.js';
import { loadSqliteDriver, type SqliteDriver } from './sqlite-driver.js';
import { createPrivateFile, translateSqliteError } from './sqlite-file.js';

/** How many prepared statements each database keeps (the core uses a few dozen distinct SQL texts). */
const STATEMENT_CACHE_SIZE = 128;

/**
 * Opens SQLite files with better-sqlite3.
 *
 * @example
 * const db = await createNodeDatabaseOpener().open('./device.db');
 * await db.write([{ sql: 'CREATE TABLE t (x)' }]);
 */
export function createNodeDatabaseOpener(): DatabaseOpener {
  return {
    async open(path: string): Promise<Database> {
      const driver = await loadSqliteDriver();
      createPrivateFile(path);
      let db: BetterSqlite3.Database | undefined;
      try {
        db = new driver(path, { timeout: 100 });
        // A cheap read first: a file that is not a database fails here (SQLITE_NOTADB), before any pragma.
        db.pragma('schema_version');
        if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
          throw new SpotflowError('DATABASE_UNAVAILABLE', `Cannot use a write-ahead log for ${path}`);
        }
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
      } catch (error) {
        db?.close();
        throw translateSqliteError(driver, error, `Cannot open the database ${path}`);
      }
      restrictCompanionFiles(path);
      return new NodeDatabase(driver, db, path);
    },
  };
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

class NodeDatabase implements Database {
  readonly #driver: SqliteDriver;
  readonly #db: BetterSqlite3.Database;
  readonly #path: string;
  readonly #statements = new Map<string, Prepared>();
  #closed = false;

  constructor(driver: SqliteDriver, db: BetterSqlite3.Database, path: string) {
    this.#driver = driver;
    this.#db = db;
    this.#path = path;
  }

  async write(statements: readonly SqlStatement[], options: WriteOptions = {}): Promise<WriteResult[]> {
    this.#checkOpen();
    // In WAL mode, synchronous=NORMAL commits without an fsync; the next FULL commit syncs the log including it.
    const relaxed = options.durability === 'relaxed';
    try {
      if (relaxed) this.#prepare('PRAGMA synchronous = NORMAL').statement.run();
      return this.#db.transaction(() =>
        statements.map(({ sql, params }) => {
          const { statement, inserts } = this.#prepare(sql);
          const { changes, lastInsertRowid } = statement.run(...bind(params));
          // SQLite's last_insert_rowid() outlives the INSERT that set it; the port reports it for INSERTs only.
          return { changes, lastInsertRowid: inserts && changes > 0 ? Number(lastInsertRowid) : 0 };
        }),
      )();
    } catch (error) {
      throw translateSqliteError(this.#driver, error, `A write to the database ${this.#path} failed`);
    } finally {
      // Prepared once: `db.pragma()` prepares its statement on every call, twice per relaxed write.
      if (relaxed) this.#prepare('PRAGMA synchronous = FULL').statement.run();
    }
  }

  async query<Row = Record<string, SqlValue>>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    this.#checkOpen();
    try {
      const { statement } = this.#prepare(sql);
      if (statement.reader) return statement.all(...bind(params)) as Row[];
      statement.run(...bind(params));
      return [];
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

  /** Prepared statements by SQL text, least recently used evicted first (a Map keeps insertion order). */
  #prepare(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (prepared === undefined) {
      prepared = { statement: this.#db.prepare(sql), inserts: INSERT.test(sql) };
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        this.#statements.delete(this.#statements.keys().next().value as string);
      }
    } else {
      this.#statements.delete(sql);
    }
    this.#statements.set(sql, prepared);
    return prepared;
  }
}

interface Prepared {
  statement: BetterSqlite3.Statement;
  /** Whether the statement is an INSERT (or REPLACE), whose rowid `write()` reports. */
  inserts: boolean;
}

/** An INSERT or REPLACE, after any leading white space and comments. */
const INSERT = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:INSERT|REPLACE)\b/i;

/**
 * better-sqlite3 binds every JS number as a REAL, so `1` in an untyped column would read back as REAL 1.0 where
 * sql.js stores INTEGER 1. Whole numbers are bound as 64-bit integers here, so the same SQL behaves alike on both.
 */
function bind(params: readonly SqlValue[] | undefined): SqlValue[] {
  if (params === undefined) return [];
  return params.map((value) =>
    typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value,
  );
}
