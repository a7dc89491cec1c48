/**
 * The `Database` port in browsers: sql.js in a dedicated worker, made durable by a journal in the origin private
 * file system or in IndexedDB (see journaled-database.ts). This side only forwards calls; a write resolves when the
 * worker reports it stored.
 */
import { SpotflowError } from '../../src/errors.js';
import type {
  Database,
  DatabaseOpener,
  SqlStatement,
  SqlValue,
  WriteOptions,
  WriteResult,
} from '../../src/ports.js';
import type { DatabaseRequest } from './database-protocol.js';
import { WorkerConnection } from './worker-rpc.js';

type Connection = WorkerConnection<DatabaseRequest>;

/** Options of {@link createBrowserDatabaseOpener}. */
export interface BrowserDatabaseOptions {
  /** Where sql.js's `sql-wasm-browser.wasm` is served; by default the URL the bundler gave it. */
  sqlWasmUrl?: string;
  /**
   * Where the database is kept: by default `'opfs'` where the database worker has sync access handles, else
   * `'indexeddb'` (see `BrowserPlatformOptions.storage`).
   */
  storage?: 'indexeddb' | 'opfs';
}

/**
 * @example
 * const db = await createBrowserDatabaseOpener().open('kiosk-device');
 */
export function createBrowserDatabaseOpener(options: BrowserDatabaseOptions = {}): DatabaseOpener {
  return {
    async open(name: string): Promise<Database> {
      const connection = connect(name);
      try {
        await connection.call({ op: 'open', name, wasmUrl: options.sqlWasmUrl, storage: options.storage });
      } catch (error) {
        connection.terminate(closed());
        throw error;
      }
      return new BrowserDatabase(connection, name);
    },
  };
}

class BrowserDatabase implements Database {
  readonly #connection: Connection;
  readonly #name: string;
  #closing: Promise<void> | undefined;

  constructor(connection: Connection, name: string) {
    this.#connection = connection;
    this.#name = name;
  }

  async write(statements: readonly SqlStatement[], options: WriteOptions = {}): Promise<WriteResult[]> {
    this.#checkOpen();
    const durability = options.durability === 'relaxed' ? 'relaxed' : 'strict';
    return (await this.#connection.call({ op: 'write', statements, durability })) as WriteResult[];
  }

  async query<Row = Record<string, SqlValue>>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    this.#checkOpen();
    return (await this.#connection.call({ op: 'query', sql, params })) as Row[];
  }

  onProblem(listener: (problem: SpotflowError) => void): void {
    this.#connection.onNotice = listener;
  }

  close(): Promise<void> {
    this.#closing ??= this.#connection
      .call({ op: 'close' })
      .then(() => undefined)
      .finally(() => this.#connection.terminate(closed()));
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing) throw new SpotflowError('CLIENT_CLOSED', `The database ${this.#name} is closed`);
  }
}

function connect(name: string): Connection {
  const worker = new Worker(new URL('./database-worker.js', import.meta.url), {
    type: 'module',
    name: `spotflow-device database ${name}`,
  });
  return new WorkerConnection<DatabaseRequest>(
    worker,
    (detail) => new SpotflowError('DATABASE_UNAVAILABLE', `The database worker failed (${detail})`),
  );
}

function closed(): SpotflowError {
  return new SpotflowError('CLIENT_CLOSED', 'The database is closed');
}
