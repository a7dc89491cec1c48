/**
 * Bun's built-in `bun:sqlite` as a {@link SqliteDriver}: no native build to install. It needs nothing covered
 * beyond what better-sqlite3 gives: it reports SQLite's extended result code on its errors (`errno`), binds bigints
 * as 64-bit integers, returns BLOBs as Uint8Array and knows whether a transaction is open.
 */
import type { SqlValue } from '../../src/ports.js';
import { type SqliteDriver, sqliteCodeName } from '../node/sqlite-driver.js';

let loading: Promise<SqliteDriver> | undefined;

/** The `bun:sqlite` driver, imported once (a dynamic import: Node and Deno have no such module). */
export function loadBunSqlite(): Promise<SqliteDriver> {
  loading ??= import('bun:sqlite').then(({ Database, SQLiteError }) => ({
    name: 'bun:sqlite',
    open(path) {
      const db = new Database(path, { readwrite: true, create: true });
      return {
        exec: (sql) => db.exec(sql),
        prepare(sql) {
          const statement = db.prepare(sql);
          return {
            run: (params) => statement.run(...(params as SqlValue[])),
            all: (params) => statement.all(...(params as SqlValue[])),
            finalize: () => statement.finalize(),
          };
        },
        get inTransaction() {
          return db.inTransaction;
        },
        close: () => db.close(),
      };
    },
    // By number, which every Bun version sets; the primary code is what the store translates.
    sqliteCode: (error) =>
      error instanceof SQLiteError && typeof error.errno === 'number'
        ? sqliteCodeName(error.errno)
        : undefined,
  }));
  return loading;
}
