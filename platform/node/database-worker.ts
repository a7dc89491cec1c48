/**
 * The writing half of the Node database: better-sqlite3 in a `worker_threads` worker, so a commit's fsync never
 * blocks the event loop (PUBACKs are read and PUBLISHes written meanwhile, and the next group commit gathers).
 * The worker's code is the self-contained function below, evaluated in the worker (`eval`), so the same file works
 * from the TypeScript sources and from dist/.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { SpotflowError } from '../../src/errors.js';
import type { SqlStatement, WriteResult } from '../../src/ports.js';
import type { SqliteDriver } from './sqlite-driver.js';

/** Runs inside the worker. It may use nothing from this module's scope: it is turned into source text. */
function databaseWorker(): void {
  const { parentPort, workerData } = require('node:worker_threads');
  const Driver: SqliteDriver = require(workerData.driverPath);
  /** An INSERT or REPLACE, after any leading white space and comments: `write()` reports rowids for those only. */
  const INSERT = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:INSERT|REPLACE)\b/i;
  const cache = new Map<string, { statement: BetterSqlite3.Statement; inserts: boolean }>();
  let db: BetterSqlite3.Database;
  const prepare = (sql: string) => {
    let prepared = cache.get(sql);
    if (prepared === undefined) {
      prepared = { statement: db.prepare(sql), inserts: INSERT.test(sql) };
      if (cache.size >= 128) cache.delete(cache.keys().next().value as string);
    } else {
      cache.delete(sql);
    }
    cache.set(sql, prepared);
    return prepared;
  };
  // Whole numbers bind as 64-bit integers, as sql.js stores them (better-sqlite3 binds every JS number as a REAL).
  const bind = (params: unknown[] | undefined) =>
    (params ?? []).map((v) => (typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v));
  type Statements = { sql: string; params?: unknown[] }[];
  const handlers: Record<
    string,
    (message: { path: string; statements: Statements; relaxed: boolean }) => unknown
  > = {
    open({ path }) {
      db = new Driver(path, { timeout: 100 });
      try {
        // A cheap read first: a file that is not a database fails here (SQLITE_NOTADB), before any pragma.
        db.pragma('schema_version');
        if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
          throw Object.assign(new Error('no write-ahead log'), { noWal: true });
        }
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
      } catch (error) {
        db.close();
        throw error;
      }
    },
    write({ statements, relaxed }) {
      // In WAL mode, synchronous=NORMAL commits without an fsync; the next FULL commit syncs the log including it.
      if (relaxed) db.pragma('synchronous = NORMAL');
      try {
        return db.transaction(() =>
          statements.map(({ sql, params }) => {
            const { statement, inserts } = prepare(sql);
            const { changes, lastInsertRowid } = statement.run(...bind(params));
            return { changes, lastInsertRowid: inserts && changes > 0 ? Number(lastInsertRowid) : 0 };
          }),
        )();
      } finally {
        if (relaxed) db.pragma('synchronous = FULL');
      }
    },
    close() {
      cache.clear();
      db.close();
    },
  };
  type Request = { id: number; op: string; path: string; statements: Statements; relaxed: boolean };
  parentPort.on('message', ({ id, op, ...args }: Request) => {
    try {
      parentPort.postMessage({ id, result: handlers[op]!(args) });
    } catch (caught) {
      const error = caught as { noWal?: boolean; code?: string; name?: string; message?: string };
      parentPort.postMessage({
        id,
        error: {
          sqlite: caught instanceof Driver.SqliteError,
          noWal: error?.noWal === true,
          code: error?.code,
          name: error?.name,
          message: String(error?.message),
        },
      });
    }
  });
}

const source = `(${databaseWorker.toString()})()`;

interface WorkerFailure {
  sqlite: boolean;
  noWal: boolean;
  code: string | undefined;
  name: string | undefined;
  message: string;
}

/** The main thread's handle on one database's writer worker: requests in order, answers by id. */
export class DatabaseWriter {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: unknown) => void }
  >();
  #next = 0;
  #dead: Error | undefined;

  private constructor(
    private readonly driver: SqliteDriver,
    private readonly path: string,
  ) {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(source, { eval: true, workerData: { driverPath } });
    // Only a request in flight keeps the process alive, as a synchronous handle would.
    this.#worker.unref();
    this.#worker.on(
      'message',
      ({ id, result, error }: { id: number; result?: unknown; error?: WorkerFailure }) => {
        const waiting = this.#pending.get(id);
        if (waiting === undefined) return;
        this.#settled(id);
        if (error) waiting.reject(this.#rebuild(error));
        else waiting.resolve(result);
      },
    );
    const fail = (error: Error) => {
      this.#dead ??= error;
      for (const [id, waiting] of this.#pending) {
        this.#settled(id);
        waiting.reject(this.#unavailable(error));
      }
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`the database worker exited (${code})`)));
  }

  /** Starts a worker and opens `path` in it (WAL, synchronous=FULL, foreign keys). */
  static async open(driver: SqliteDriver, path: string): Promise<DatabaseWriter> {
    const writer = new DatabaseWriter(driver, path);
    try {
      await writer.#request('open', { path });
    } catch (error) {
      await writer.#worker.terminate();
      throw error;
    }
    return writer;
  }

  write(statements: readonly SqlStatement[], relaxed: boolean): Promise<WriteResult[]> {
    // A view into a larger buffer (Node's pooled Buffers) would be copied whole by postMessage: send its bytes only.
    const plain = statements.map(({ sql, params }) => ({
      sql,
      params: params?.map((value) =>
        value instanceof Uint8Array && value.byteLength !== value.buffer.byteLength ? value.slice() : value,
      ),
    }));
    return this.#request('write', { statements: plain, relaxed }) as Promise<WriteResult[]>;
  }

  async close(): Promise<void> {
    try {
      if (this.#dead === undefined) await this.#request('close', {});
    } finally {
      await this.#worker.terminate();
    }
  }

  #request(op: string, args: object): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#unavailable(this.#dead));
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, ...args });
    });
  }

  #settled(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
  }

  /** The worker's failure as the error the synchronous driver would have thrown here. */
  #rebuild(failure: WorkerFailure): Error {
    if (failure.noWal) {
      return new SpotflowError('DATABASE_UNAVAILABLE', `Cannot use a write-ahead log for ${this.path}`);
    }
    if (failure.sqlite) return new this.driver.SqliteError(failure.message, failure.code ?? 'SQLITE_ERROR');
    const error =
      failure.name === 'TypeError' ? new TypeError(failure.message) : new RangeError(failure.message);
    return failure.name === 'TypeError' || failure.name === 'RangeError' ? error : new Error(failure.message);
  }

  #unavailable(cause: Error): SpotflowError {
    return new SpotflowError('DATABASE_UNAVAILABLE', `The database ${this.path} is unavailable`, { cause });
  }
}
