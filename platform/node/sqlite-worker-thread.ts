/**
 * The main thread's side of one SQLite worker (sqlite-worker.ts): numbers each request and settles it from the
 * worker's answer. The worker keeps the process alive only while a call is pending, as the in-thread store would
 * (an open database with nothing in flight does not hold a process open). A worker that dies, whatever killed it
 * (an exception, running out of memory, `terminate()`), rejects every pending and later call with
 * DATABASE_UNAVAILABLE instead of leaving it hanging.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { SpotflowError } from '../../src/errors.js';
import {
  errorFromWire,
  type SqliteAnswers,
  type SqliteRequest,
  type SqliteResponse,
} from './sqlite-worker-protocol.js';

/** A request as the caller writes it: the thread numbers it. */
export type UnnumberedRequest = SqliteRequest extends infer R
  ? R extends unknown
    ? Omit<R, 'id'>
    : never
  : never;

/** A call awaiting the worker's answer. */
interface PendingCall {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class SqliteWorkerThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, PendingCall>();
  #nextId = 1;
  #failure: SpotflowError | undefined;
  /** Set by `stop()`: the worker's exit is expected, and later calls are refused as closed rather than failed. */
  #stopping = false;

  constructor() {
    const { url, execArgv } = workerEntry();
    this.#worker = new Worker(url, execArgv === undefined ? {} : { execArgv });
    this.#worker.unref();
    this.#worker.on('message', (response: SqliteResponse) => this.#settle(response));
    // Without an 'error' listener a worker's uncaught exception would be rethrown on the main thread.
    this.#worker.on('error', (error) => this.#fail(`failed: ${error.message}`, error));
    this.#worker.on('exit', (code) => this.#fail(`stopped (exit code ${code})`));
  }

  /** Whether the worker has died (or been stopped): every call from now on rejects. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** The worker itself, for tests: terminating it is the only way to cause its death from outside. */
  get worker(): Worker {
    return this.#worker;
  }

  call<Request extends UnnumberedRequest>(request: Request): Promise<SqliteAnswers[Request['op']]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      // The worker answers each op with its SqliteAnswers type (sqlite-worker.ts).
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  /** Ends the worker once no database is open in it (nothing is pending then). */
  stop(): void {
    this.#stopping = true;
    void this.#worker.terminate();
  }

  #settle(response: SqliteResponse): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return;
    this.#pending.delete(response.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (response.ok) pending.resolve(response.value);
    else pending.reject(errorFromWire(response.error));
  }

  #fail(detail: string, cause?: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = this.#stopping
      ? new SpotflowError('CLIENT_CLOSED', 'The SQLite worker has been stopped')
      : new SpotflowError(
          'DATABASE_UNAVAILABLE',
          `The SQLite worker ${detail}`,
          cause ? { cause } : undefined,
        );
    for (const { reject } of this.#pending.values()) reject(this.#failure);
    this.#pending.clear();
  }
}

/**
 * Where the worker is. Built (dist/, the package): `sqlite-worker.js` beside this module. From this repository's
 * TypeScript sources (its tests run them through vitest, which does not reach into worker threads): the `.ts`
 * beside it, loaded through the repository's TypeScript hooks (test/fixtures/register-ts.mjs), since Node 20 cannot
 * strip types. The worker keeps the process's own flags either way (a test's module hooks apply inside it too).
 */
function workerEntry(): { url: URL; execArgv?: string[] } {
  const built = new URL('./sqlite-worker.js', import.meta.url);
  if (existsSync(built)) return { url: built };
  const source = new URL(built.href.replace(/\.js$/, '.ts'));
  const hooks = new URL('../../test/fixtures/register-ts.mjs', source).href;
  return { url: source, execArgv: [...process.execArgv, '--import', hooks] };
}
