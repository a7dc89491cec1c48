/**
 * What the SQLite database and lock share, whatever the driver: private file creation and SQLite error translation.
 */
import { chmodSync, closeSync, openSync, statSync } from 'node:fs';
import { isSpotflowError, SpotflowError, type SpotflowErrorCode } from '../../src/errors.js';
import type { SqliteDriver } from './sqlite-driver.js';

/**
 * Creates `path` with mode 0600 if it does not exist (before SQLite opens it, so it is never readable by others,
 * not even for a moment), and narrows the mode of an existing file that others could read or write.
 */
export function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'a', 0o600));
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SpotflowError('DATABASE_UNAVAILABLE', `Cannot create the file ${path} (${code})`, {
      cause: error,
    });
  }
}

/**
 * Turns a driver's failure into a SpotflowError by its structured SQLite code (extended codes such as
 * `SQLITE_IOERR_FSYNC` count as their primary code), never by its message text. The original is the `cause`.
 */
export function translateSqliteError(driver: SqliteDriver, error: unknown, context: string): SpotflowError {
  if (isSpotflowError(error)) return error;
  const sqliteCode = driver.sqliteCode(error);
  if (sqliteCode !== undefined) {
    return new SpotflowError(codeOf(sqliteCode), `${context} (${sqliteCode})`, { cause: error });
  }
  // Drivers throw TypeError / RangeError for misuse (a wrong parameter count, a value they cannot bind):
  // the core built the statement, so it is a bug.
  return new SpotflowError('INTERNAL', `${context} (${nameOf(error)})`, { cause: error });
}

function codeOf(sqliteCode: string): SpotflowErrorCode {
  const primary = /^SQLITE_[A-Z]+/.exec(sqliteCode)?.[0];
  switch (primary) {
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return 'DATABASE_CORRUPT';
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return 'DATABASE_LOCKED';
    // Statements that are wrong in themselves are ours to fix, not the device's storage.
    case 'SQLITE_ERROR':
    case 'SQLITE_CONSTRAINT':
    case 'SQLITE_MISMATCH':
    case 'SQLITE_RANGE':
    case 'SQLITE_TOOBIG':
    case 'SQLITE_MISUSE':
      return 'INTERNAL';
    default:
      // SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_IOERR_*, SQLITE_FULL, SQLITE_PERM, SQLITE_NOMEM, ...
      return 'DATABASE_UNAVAILABLE';
  }
}

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
