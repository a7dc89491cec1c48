/**
 * better-sqlite3, loaded on first use. It is an optional peer dependency (a native build the user installs), so
 * importing the package costs nothing, and a missing driver is named in a typed error when a client starts, rather
 * than a module-not-found error when the package is imported.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { SpotflowError } from '../../src/errors.js';

export type SqliteDriver = typeof BetterSqlite3;

let loading: Promise<SqliteDriver> | undefined;

/**
 * The better-sqlite3 module, imported once. Rejects with `DEPENDENCY_MISSING` when it is not installed (and tries
 * again on the next call, so installing it does not need a restart of a long-lived process).
 */
export function loadSqliteDriver(): Promise<SqliteDriver> {
  loading ??= import('better-sqlite3').then(
    (module) => module.default,
    (error: unknown) => {
      loading = undefined;
      throw driverError(error);
    },
  );
  return loading;
}

function driverError(error: unknown): SpotflowError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    return new SpotflowError('DEPENDENCY_MISSING', 'better-sqlite3 is not installed: npm i better-sqlite3', {
      cause: error,
    });
  }
  const detail = typeof code === 'string' ? code : error instanceof Error ? error.name : typeof error;
  return new SpotflowError('DATABASE_UNAVAILABLE', `better-sqlite3 could not be loaded (${detail})`, {
    cause: error,
  });
}
