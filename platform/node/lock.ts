/**
 * One owner per database, across processes, with nothing to clean up after a crash.
 *
 * The lock is SQLite's own: a companion file `<name>.lock` opened with `locking_mode=EXCLUSIVE` and a
 * `BEGIN EXCLUSIVE` transaction that is never committed. SQLite holds it with an OS-level byte-range lock
 * (`fcntl` on POSIX, `LockFileEx` on Windows), which the kernel drops when the process ends in any way, `kill -9`
 * included, so there are no stale PID files to judge. Within one process SQLite tracks locks per file too, so a
 * second `acquire` from the same process is refused as well.
 */
import { isSpotflowError, SpotflowError } from '../../src/errors.js';
import type { Lock, LockHandle } from '../../src/ports.js';
import { loadNodeDriver } from './node-driver.js';
import type { SqliteConnection, SqliteDriverLoader } from './sqlite-driver.js';
import { createPrivateFile, translateSqliteError } from './sqlite-file.js';

/** Handles that are held, so that a lock never goes away because its handle was garbage-collected. */
const held = new Set<SqliteConnection>();

/**
 * @example
 * const handle = await createNodeLock().acquire('./device.db');
 * try { ... } finally { await handle.release(); }
 */
export function createNodeLock(): Lock {
  return createSqliteLock(loadNodeDriver);
}

/** The lock over the SQLite driver `load` gives (loaded on the first acquire). */
export function createSqliteLock(load: SqliteDriverLoader): Lock {
  return {
    async acquire(name: string): Promise<LockHandle> {
      const driver = await load();
      const path = `${name}.lock`;
      createPrivateFile(path);
      let db: SqliteConnection | undefined;
      try {
        db = driver.open(path);
        // No busy timeout (the drivers open with none): an owned lock is refused at once rather than waited for.
        db.exec('PRAGMA busy_timeout = 0');
        db.exec('PRAGMA locking_mode = EXCLUSIVE');
        db.exec('BEGIN EXCLUSIVE');
      } catch (error) {
        db?.close();
        const translated = translateSqliteError(driver, error, `Cannot lock the database ${name}`);
        if (isSpotflowError(translated, 'DATABASE_LOCKED')) {
          throw new SpotflowError('DATABASE_LOCKED', `Another client owns the database ${name}`, {
            cause: error,
          });
        }
        throw translated;
      }
      const owned = db;
      held.add(owned);
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          held.delete(owned);
          // Closing the connection rolls the open transaction back and drops the OS lock.
          owned.close();
        },
      };
    },
  };
}
