/**
 * The `Database` port in browsers: sql.js in a dedicated worker, made durable by an IndexedDB journal (see
 * journaled-database.ts). This side only forwards calls; a write resolves when the worker reports its IndexedDB
 * transaction complete.
 */
import { SpotflowError, type SpotflowErrorCode } from '../../src/errors.js';
import type {
  Database,
  DatabaseOpener,
  SqlStatement,
  SqlValue,
  WriteOptions,
  WriteResult,
} from '../../src/ports.js';
import type { DatabaseRequest, DatabaseResponse, WireError } from './database-protocol.js';

/** A request without its id, which the connection assigns. */
type Call = DatabaseRequest extends infer R ? (R extends DatabaseRequest ? Omit<R, 'id'> : never) : never;

export interface BrowserDatabaseOptions {
  /** Where sql.js's `sql-wasm-browser.wasm` is served; by default the URL the bundler gave it. */
  sqlWasmUrl?: string;
}

/**
 * @example
 * const db = await createBrowserDatabaseOpener().open('kiosk-device');
 */
export function createBrowserDatabaseOpener(options: BrowserDatabaseOptions = {}): DatabaseOpener {
  return {
    async open(name: string): Promise<Database> {
      const connection = new WorkerConnection(name);
      try {
        await connection.call({ op: 'open', name, wasmUrl: options.sqlWasmUrl });
      } catch (error) {
        connection.terminate();
        throw error;
      }
      return new BrowserDatabase(connection, name);
    },
  };
}

class BrowserDatabase implements Database {
  readonly #connection: WorkerConnection;
  readonly #name: string;
  #closing: Promise<void> | undefined;

  constructor(connection: WorkerConnection, name: string) {
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

  close(): Promise<void> {
    this.#closing ??= this.#connection
      .call({ op: 'close' })
      .then(() => undefined)
      .finally(() => this.#connection.terminate());
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing) throw new SpotflowError('CLIENT_CLOSED', `The database ${this.#name} is closed`);
  }
}

/** Request/response over one worker; a worker that fails to start or dies fails every call. */
class WorkerConnection {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: unknown) => void }
  >();
  #nextId = 1;
  #failure: SpotflowError | undefined;

  constructor(name: string) {
    this.#worker = new Worker(new URL('./database-worker.js', import.meta.url), {
      type: 'module',
      name: `spotflow-device database ${name}`,
    });
    this.#worker.onmessage = ({ data }: MessageEvent<DatabaseResponse>) => {
      const pending = this.#pending.get(data.id);
      if (pending === undefined) return;
      this.#pending.delete(data.id);
      if (data.ok) pending.resolve(data.value);
      else pending.reject(fromWire(data.error));
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(
        new SpotflowError(
          'DATABASE_UNAVAILABLE',
          `The database worker failed (${event.message || 'no detail'})`,
        ),
      );
    };
  }

  call(call: Call): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...call, id });
    });
  }

  terminate(): void {
    this.#worker.terminate();
    this.#fail(new SpotflowError('CLIENT_CLOSED', 'The database is closed'));
  }

  #fail(error: SpotflowError): void {
    this.#failure ??= error;
    for (const { reject } of this.#pending.values()) reject(this.#failure);
    this.#pending.clear();
  }
}

function fromWire(error: WireError): SpotflowError {
  const cause = error.cause && Object.assign(new Error(error.cause.message), { name: error.cause.name });
  return new SpotflowError(error.code as SpotflowErrorCode, error.message, cause ? { cause } : undefined);
}
