/**
 * The few things the SQLite store (database.ts, lock.ts) needs from a SQLite binding. Each runtime brings its own:
 * better-sqlite3 on Node (better-sqlite3.ts), `bun:sqlite` on Bun (platform/bun), `node:sqlite` on Deno and on
 * Node versions that have it (node-sqlite.ts). Everything else (WAL, fsync, locking, error codes) is plain SQLite
 * and lives once, above this interface.
 */
import type { SqlValue } from '../../src/ports.js';

/** A row as a binding returns it: plain object keyed by column name. */
export type SqliteRow = Record<string, SqlValue>;

/** One prepared statement. */
export interface SqliteStatement {
  run(params: readonly SqlValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  /** Every row; a statement that returns no data runs and gives `[]`. */
  all(params: readonly SqlValue[]): SqliteRow[];
  /** Frees the statement now rather than when it is garbage-collected (where the binding can). */
  finalize?(): void;
}

/** One open connection. */
export interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  /** Whether a transaction is open (SQLite rolls some failed ones back by itself). */
  readonly inTransaction: boolean;
  close(): void;
}

/** A SQLite binding. */
export interface SqliteDriver {
  /** Its name, in errors: `better-sqlite3`, `bun:sqlite`, `node:sqlite`. */
  readonly name: string;
  /** Opens (creating) the file read-write, with no busy timeout of its own (the store sets one). */
  open(path: string): SqliteConnection;
  /**
   * The SQLite result code name of an error the binding threw (`SQLITE_BUSY`, `SQLITE_IOERR_FSYNC`), or undefined
   * when it is not SQLite's (a TypeError for a value it cannot bind: misuse).
   */
  sqliteCode(error: unknown): string | undefined;
}

/** Loads a driver once, on first use (it may be an optional dependency or a runtime built-in). */
export type SqliteDriverLoader = () => Promise<SqliteDriver>;

/** SQLite's primary result codes by number (sqlite3.h), for bindings that report only the number. */
const PRIMARY_CODES = [
  'SQLITE_OK',
  'SQLITE_ERROR',
  'SQLITE_INTERNAL',
  'SQLITE_PERM',
  'SQLITE_ABORT',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_NOMEM',
  'SQLITE_READONLY',
  'SQLITE_INTERRUPT',
  'SQLITE_IOERR',
  'SQLITE_CORRUPT',
  'SQLITE_NOTFOUND',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
  'SQLITE_PROTOCOL',
  'SQLITE_EMPTY',
  'SQLITE_SCHEMA',
  'SQLITE_TOOBIG',
  'SQLITE_CONSTRAINT',
  'SQLITE_MISMATCH',
  'SQLITE_MISUSE',
  'SQLITE_NOLFS',
  'SQLITE_AUTH',
  'SQLITE_FORMAT',
  'SQLITE_RANGE',
  'SQLITE_NOTADB',
] as const;

/** The primary code's name of a (possibly extended) numeric result code: the low byte is the primary code. */
export function sqliteCodeName(code: number): string | undefined {
  return PRIMARY_CODES[code & 0xff];
}
