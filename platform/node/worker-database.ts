/**
 * The `Database` port on Node with SQLite in a worker thread (sqlite-worker.ts): profiles showed a quarter of the
 * main thread's time inside SQLite transactions and their fsync, during which no MQTT was read or written. One
 * worker serves every database of the process (a gateway hosts many devices, each with its own): started by the
 * first open, ended when the last database closes, started again by the next open.
 */
import { SpotflowError } from '../../src/errors.js';
import type { Database, DatabaseOpener, SqlStatement, SqlValue, WriteOptions } from '../../src/ports.js';
import { SqliteWorkerThread } from './sqlite-worker-thread.js';

/** The process's worker, while any database is open in it or being opened. */
let shared: SqliteWorkerThread | undefined;
/** Databases open or being opened in `shared`. */
let users = 0;

function acquireWorker(): SqliteWorkerThread {
  if (shared === undefined || shared.failed) {
    shared = new SqliteWorkerThread();
    users = 0;
  }
  users++;
  return shared;
}

function releaseWorker(thread: SqliteWorkerThread): void {
  // A worker that died was already replaced (or will be by the next open); its users are not counted any more.
  if (thread !== shared) return;
  if (--users > 0) return;
  shared = undefined;
  thread.stop();
}

/** The worker serving the process's databases, if one is running: for tests, which terminate it to cause a death. */
export function currentSqliteWorker(): SqliteWorkerThread | undefined {
  return shared;
}

/** Opens SQLite files in the process's SQLite worker (database.ts's store, run there). */
export function createWorkerDatabaseOpener(): DatabaseOpener {
  return {
    async open(path: string): Promise<Database> {
      const thread = acquireWorker();
      try {
        const handle = await thread.call({ op: 'open', path });
        return new WorkerDatabase(thread, handle, path);
      } catch (error) {
        releaseWorker(thread);
        throw error;
      }
    },
  };
}

class WorkerDatabase implements Database {
  readonly #thread: SqliteWorkerThread;
  readonly #handle: number;
  readonly #path: string;
  #closing: Promise<void> | undefined;

  constructor(thread: SqliteWorkerThread, handle: number, path: string) {
    this.#thread = thread;
    this.#handle = handle;
    this.#path = path;
  }

  async write(statements: readonly SqlStatement[], options: WriteOptions = {}) {
    this.#checkOpen();
    const { durability } = options;
    return this.#thread.call({ op: 'write', handle: this.#handle, statements, durability });
  }

  async query<Row = Record<string, SqlValue>>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    this.#checkOpen();
    // Rows are plain objects keyed by column name; `Row` is the caller's word for their shape.
    return (await this.#thread.call({ op: 'query', handle: this.#handle, sql, params })) as Row[];
  }

  /**
   * Resolves once the worker has closed the connection, so another client can open the file at once. When the
   * worker has died, the connection went with it: there is nothing left to close, and the calls that failed have
   * said so already.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeConnection().finally(() => releaseWorker(this.#thread));
    return this.#closing;
  }

  async #closeConnection(): Promise<void> {
    try {
      await this.#thread.call({ op: 'close', handle: this.#handle });
    } catch (error) {
      if (!this.#thread.failed) throw error;
    }
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) {
      throw new SpotflowError('CLIENT_CLOSED', `The database ${this.#path} is closed`);
    }
  }
}
