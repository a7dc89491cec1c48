/**
 * The built-in `node:sqlite` (Deno 2; Node 22.5+) as a {@link SqliteDriver}: no native build to install.
 *
 * What it lacks beside better-sqlite3, and how that is covered:
 * - Result codes: its errors carry SQLite's extended code (`errcode`) only when they come from a prepared statement;
 *   `exec()` and a failed open throw with the message alone (seen on Deno 2.9). So `exec` runs through a prepared
 *   statement here, and a failed open, which is `sqlite3_open_v2` failing, is reported as `SQLITE_CANTOPEN`.
 * - Integers beyond 2^53: node:sqlite throws reading one (better-sqlite3 rounds it); here integers are read as
 *   bigints and made numbers where that is exact, so such a value comes back as a bigint.
 * - Statement lifetime: no `finalize()`; statements are freed when collected (the store keeps a bounded cache).
 * - `isTransaction` is missing before Node 22.16: the store is then told a transaction is open after a failure,
 *   and its ROLLBACK, should SQLite have rolled back already, fails harmlessly.
 */
import type { SqlValue } from '../../src/ports.js';
import { type SqliteDriver, type SqliteRow, sqliteCodeName } from './sqlite-driver.js';

/** What node:sqlite's errors carry (ERR_SQLITE_ERROR). */
interface NodeSqliteError extends Error {
  code?: unknown;
  errcode?: unknown;
}

/** Marks a failure to open, which node:sqlite reports without a result code. */
class CantOpenError extends Error {
  override name = 'CantOpenError';
}

let loading: Promise<SqliteDriver> | undefined;

/** The `node:sqlite` driver, imported once; rejects where the runtime has no such module (Node before 22.5). */
export function loadNodeSqlite(): Promise<SqliteDriver> {
  loading ??= import('node:sqlite').then(({ DatabaseSync }) => ({
    name: 'node:sqlite',
    open(path) {
      let db: InstanceType<typeof DatabaseSync>;
      try {
        db = new DatabaseSync(path, { open: true, timeout: 0 });
      } catch (error) {
        throw new CantOpenError(`Cannot open ${path}`, { cause: error });
      }
      return {
        exec: (sql) => void db.prepare(sql).run(),
        prepare(sql) {
          const statement = db.prepare(sql);
          // Integers as bigints, made numbers where exact: node:sqlite would throw on one beyond 2^53 otherwise.
          statement.setReadBigInts(true);
          return {
            run: (params) => statement.run(...(params as SqlValue[])),
            all: (params) => statement.all(...(params as SqlValue[])).map(safeNumbers),
          };
        },
        get inTransaction() {
          return db.isTransaction ?? true;
        },
        close: () => db.close(),
      };
    },
    sqliteCode(error) {
      if (error instanceof CantOpenError) return 'SQLITE_CANTOPEN';
      const { code, errcode } = (error ?? {}) as NodeSqliteError;
      if (code !== 'ERR_SQLITE_ERROR') return undefined;
      return typeof errcode === 'number' ? sqliteCodeName(errcode) : 'SQLITE_ERROR';
    },
  }));
  return loading;
}

/** The row with its bigints that fit a number exactly made numbers. */
function safeNumbers(row: SqliteRow): SqliteRow {
  for (const [column, value] of Object.entries(row)) {
    if (typeof value === 'bigint' && value >= MIN_SAFE && value <= MAX_SAFE) row[column] = Number(value);
  }
  return row;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
