/**
 * The `Database` port over better-sqlite3: WAL with `synchronous=FULL`, so a resolved `write()` has been fsync'd.
 * Writes run in a worker thread (database-worker.ts), so the event loop never waits for an fsync; reads run here, on
 * a read-only connection to the same file (WAL lets readers and the writer go on at once, and a read sees every
 * write that resolved before it started), because a lookup by key costs less than a message to a worker.
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
import { DatabaseWriter } from './database-worker.js';
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
      let writer: DatabaseWriter | undefined;
      let reader: BetterSqlite3.Database | undefined;
      try {
        writer = await DatabaseWriter.open(driver, path);
        reader = new driver(path, { readonly: true, timeout: 100 });
      } catch (error) {
        await writer?.close().catch(() => {});
        throw translateSqliteError(driver, error, `Cannot open the database ${path}`);
      }
      restrictCompanionFiles(path);
      return new NodeDatabase(driver, writer, reader, path);
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
  readonly #writer: DatabaseWriter;
  readonly #db: BetterSqlite3.Database;
  readonly #path: string;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  #closed = false;

  constructor(driver: SqliteDriver, writer: DatabaseWriter, reader: BetterSqlite3.Database, path: string) {
    this.#driver = driver;
    this.#writer = writer;
    this.#db = reader;
    this.#path = path;
  }

  async write(statements: readonly SqlStatement[], options: WriteOptions = {}): Promise<WriteResult[]> {
    this.#checkOpen();
    if (statements.length === 0) return [];
    try {
      return await this.#writer.write(statements, options.durability === 'relaxed');
    } catch (error) {
      throw translateSqliteError(this.#driver, error, `A write to the database ${this.#path} failed`);
    }
  }

  async query<Row = Record<string, SqlValue>>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    this.#checkOpen();
    try {
      const statement = this.#prepare(sql);
      if (!statement.reader) {
        throw new SpotflowError(
          'INTERNAL',
          `query() is for reads; writes go through write(): ${sql.slice(0, 40)}`,
        );
      }
      return statement.all(...bind(params)) as Row[];
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
      await this.#writer.close();
    } catch (error) {
      throw translateSqliteError(this.#driver, error, `Closing the database ${this.#path} failed`);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new SpotflowError('CLIENT_CLOSED', `The database ${this.#path} is closed`);
  }

  /** Prepared statements by SQL text, least recently used evicted first (a Map keeps insertion order). */
  #prepare(sql: string): BetterSqlite3.Statement {
    let prepared = this.#statements.get(sql);
    if (prepared === undefined) {
      prepared = this.#db.prepare(sql);
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
