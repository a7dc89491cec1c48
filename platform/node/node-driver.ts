/**
 * Which SQLite binding the Node entry uses. better-sqlite3 when it loads (Node 20 has nothing else); otherwise the
 * built-in `node:sqlite` where the runtime has it (Node 22.13+, or 22.5+ with --experimental-sqlite), so that those
 * users need no native build; otherwise better-sqlite3's own error (DEPENDENCY_MISSING naming the package).
 */
import { loadBetterSqlite3 } from './better-sqlite3.js';
import { loadNodeSqlite } from './node-sqlite.js';
import type { SqliteDriver } from './sqlite-driver.js';

export async function loadNodeDriver(): Promise<SqliteDriver> {
  try {
    return await loadBetterSqlite3();
  } catch (error) {
    // The reason to report is better-sqlite3's: it is the binding that works on every Node this package supports.
    return loadNodeSqlite().catch(() => {
      throw error;
    });
  }
}
