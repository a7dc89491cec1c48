/**
 * The database worker: sql.js and its durable store (the origin private file system, or IndexedDB) run here, so
 * neither a statement, a snapshot fold nor loading a large database ever blocks the page's main thread. One worker
 * serves one database. Which store a database gets when the caller names none is decided here, where it can be known
 * (see `defaultStorage`).
 */
import initSqlJs, { type SqlJsStatic } from 'sql.js';
import bundledWasmUrl from 'sql.js/dist/sql-wasm-browser.wasm?url';
import { SpotflowError } from '../../src/errors.js';
import type { DatabaseRequest } from './database-protocol.js';
import { JournaledDatabase, type Storage } from './journaled-database.js';
import { AsynchronousHandles, opfsAvailable } from './opfs-files.js';
import { notify, serveRequests, type WorkerReply } from './worker-rpc.js';

let database: JournaledDatabase | undefined;

serveRequests(handle, 'The database worker failed');

async function handle(request: DatabaseRequest): Promise<WorkerReply> {
  switch (request.op) {
    case 'open':
      database = await open(request);
      return { value: undefined };
    case 'write':
      return { value: await opened().write(request.statements, request.durability) };
    case 'query': {
      const rows = await opened().query<Record<string, unknown>>(request.sql, request.params);
      return { value: rows, transfer: blobBuffers(rows) };
    }
    case 'close':
      await database?.close();
      database = undefined;
      return { value: undefined };
  }
}

/**
 * Opens the database where the caller asked or, by default, in the origin private file system wherever this worker
 * has sync access handles that answer synchronously, else in IndexedDB (Chromium 102–107 had asynchronous ones: a
 * fact of the browser, so the choice never changes between starts). A database kept in IndexedDB before is moved
 * over at its first open in the origin private file system (opfs-migration.ts).
 */
async function open(request: Extract<DatabaseRequest, { op: 'open' }>): Promise<JournaledDatabase> {
  // sql.js loads while the stored database is read: neither waits for the other.
  const sqlJs = loadSqlJs(request.wasmUrl);
  const storage: Storage = request.storage ?? (opfsAvailable() ? 'opfs' : 'indexeddb');
  try {
    return await JournaledDatabase.open(sqlJs, request.name, notify, storage);
  } catch (error) {
    const asynchronous = (error as { cause?: unknown } | null)?.cause instanceof AsynchronousHandles;
    if (request.storage !== undefined || !asynchronous) throw error;
    return JournaledDatabase.open(sqlJs, request.name, notify, 'indexeddb');
  }
}

function opened(): JournaledDatabase {
  if (database === undefined) throw new SpotflowError('CLIENT_CLOSED', 'The database is not open');
  return database;
}

async function loadSqlJs(wasmUrl: string | undefined): Promise<SqlJsStatic> {
  const url = wasmUrl ?? bundledWasmUrl;
  try {
    return await initSqlJs({ locateFile: () => url });
  } catch (error) {
    throw new SpotflowError(
      'DATABASE_UNAVAILABLE',
      `Cannot load sql.js's WebAssembly from ${url} (set the sqlWasmUrl option to where it is served)`,
      { cause: error },
    );
  }
}

/** BLOB values are fresh copies made for this reply: hand their memory over instead of copying it again. */
function blobBuffers(rows: Record<string, unknown>[]): Transferable[] {
  const buffers: Transferable[] = [];
  for (const row of rows) {
    for (const value of Object.values(row)) if (value instanceof Uint8Array) buffers.push(value.buffer);
  }
  return buffers;
}
