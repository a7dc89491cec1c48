/**
 * What crosses between the main thread's database proxies (worker-database.ts) and the SQLite worker
 * (sqlite-worker.ts): numbered requests naming a connection by handle, and answers. Errors cross as plain data,
 * because structured cloning keeps an Error's message but drops a SpotflowError's `code` and the SQLite code of its
 * cause, both of which callers and the contract tests check.
 */
import { isSpotflowError, SpotflowError, type SpotflowErrorCode } from '../../src/errors.js';
import type { SqlStatement, SqlValue, WriteOptions, WriteResult } from '../../src/ports.js';
import type { SqliteRow } from './sqlite-driver.js';

export type SqliteRequest =
  | { id: number; op: 'open'; path: string }
  | {
      id: number;
      op: 'write';
      handle: number;
      statements: readonly SqlStatement[];
      durability: WriteOptions['durability'];
    }
  | { id: number; op: 'query'; handle: number; sql: string; params: readonly SqlValue[] | undefined }
  | { id: number; op: 'close'; handle: number };

/** What each request resolves with: a new connection's handle, a write's results, a query's rows. */
export interface SqliteAnswers {
  open: number;
  write: WriteResult[];
  query: SqliteRow[];
  close: undefined;
}

export type SqliteResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

/** A SpotflowError as data; its cause keeps the driver's code (`SQLITE_NOTADB`, `ERR_MODULE_NOT_FOUND`). */
export interface WireError {
  code: string;
  message: string;
  cause?: { name: string; message: string; code?: string };
}

/** The worker's side: any failure as a SpotflowError's data (one that is not a SpotflowError is a bug: INTERNAL). */
export function errorToWire(error: unknown): WireError {
  const spotflow = isSpotflowError(error)
    ? error
    : new SpotflowError('INTERNAL', 'The SQLite worker failed unexpectedly', { cause: error });
  const wire: WireError = { code: spotflow.code, message: spotflow.message };
  const cause = spotflow.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    wire.cause = { name: cause.name, message: cause.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return wire;
}

/** The main side: the SpotflowError again, with the same code, message and the cause's name, message and code. */
export function errorFromWire(wire: WireError): SpotflowError {
  if (wire.cause === undefined) return new SpotflowError(wire.code as SpotflowErrorCode, wire.message);
  const cause = Object.assign(new Error(wire.cause.message), wire.cause);
  return new SpotflowError(wire.code as SpotflowErrorCode, wire.message, { cause });
}
