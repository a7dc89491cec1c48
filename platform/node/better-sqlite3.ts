/**
 * better-sqlite3 as a {@link SqliteDriver}, loaded on first use. It is an optional peer dependency (a native build
 * the user installs), so importing the package costs nothing, and a missing driver is named in a typed error when a
 * client starts, rather than a module-not-found error when the package is imported.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { SpotflowError } from '../../src/errors.js';
import type { SqlValue } from '../../src/ports.js';
import type { SqliteDriver, SqliteRow, SqliteStatement } from './sqlite-driver.js';

let loading: Promise<SqliteDriver> | undefined;

/**
 * The better-sqlite3 driver, imported once. Rejects with `DEPENDENCY_MISSING` when it is not installed (and tries
 * again on the next call, so installing it does not need a restart of a long-lived process).
 */
export function loadBetterSqlite3(): Promise<SqliteDriver> {
  loading ??= import('better-sqlite3')
    .then((module) => {
      // better-sqlite3 loads its native addon at the first open, not at import: an addon that cannot load (built
      // for another Node, or a runtime without Node's addon API, as Deno is) fails here rather than at a real open.
      new module.default(':memory:').close();
      return betterSqlite3Driver(module.default);
    })
    .catch((error: unknown) => {
      loading = undefined;
      throw driverError(error);
    });
  return loading;
}

function betterSqlite3Driver(Database: typeof BetterSqlite3): SqliteDriver {
  return {
    name: 'better-sqlite3',
    open(path) {
      // timeout 0: better-sqlite3's own default is 5 s; the store sets busy_timeout itself.
      const db = new Database(path, { timeout: 0 });
      return {
        exec: (sql) => void db.exec(sql),
        prepare: (sql) => statement(db.prepare(sql)),
        get inTransaction() {
          return db.inTransaction;
        },
        close: () => void db.close(),
      };
    },
    sqliteCode: (error) => (error instanceof Database.SqliteError ? error.code : undefined),
  };
}

function statement(prepared: BetterSqlite3.Statement): SqliteStatement {
  return {
    run: (params) => prepared.run(...(params as SqlValue[])),
    // better-sqlite3 refuses `all()` on a statement that returns no data.
    all(params) {
      if (prepared.reader) return prepared.all(...(params as SqlValue[])) as SqliteRow[];
      prepared.run(...(params as SqlValue[]));
      return [];
    },
  };
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
