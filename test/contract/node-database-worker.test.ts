/**
 * What only the worker-backed Node store has (worker-database.ts): one SQLite worker serves every database of the
 * process, ends when the last one closes, keeps the process alive only while a call is in flight, and a worker that
 * dies fails every call with a typed error rather than leaving it hanging. The contract itself runs against this
 * store in node-database.test.ts.
 */

import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeDatabaseOpener } from '../../platform/node/database.js';
import { currentSqliteWorker } from '../../platform/node/worker-database.js';
import { runFixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'spotflow-db-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const opener = createNodeDatabaseOpener({ thread: 'worker' });
let counter = 0;
const freshPath = () => join(dir, `db-${++counter}.sqlite`);

/** The running worker, which a test expects there to be. */
function runningWorker() {
  const thread = currentSqliteWorker();
  if (thread === undefined) throw new Error('no SQLite worker is running');
  return thread.worker;
}

/** Resolves when `worker` has exited; fails the test if it has not within 5 s. */
function exitOf(worker: ReturnType<typeof runningWorker>): Promise<unknown> {
  return once(worker, 'exit', { signal: AbortSignal.timeout(5_000) });
}

describe('Node database, SQLite worker', () => {
  it('serves every database of the process from one worker, and ends it when the last one closes', async () => {
    const first = await opener.open(freshPath());
    const worker = runningWorker();
    const second = await createNodeDatabaseOpener({ thread: 'worker' }).open(freshPath());
    expect(runningWorker()).toBe(worker);
    await first.close();
    expect(runningWorker()).toBe(worker);
    const exited = exitOf(worker);
    await second.close();
    await exited;
    expect(currentSqliteWorker()).toBeUndefined();
    // The next open starts a worker again.
    const third = await opener.open(freshPath());
    expect(runningWorker()).not.toBe(worker);
    await third.write([{ sql: 'CREATE TABLE t (x)' }]);
    await third.close();
  });

  it('is what the default opener uses when SPOTFLOW_SQLITE_THREAD=worker (the main thread otherwise)', async () => {
    const before = process.env.SPOTFLOW_SQLITE_THREAD;
    try {
      delete process.env.SPOTFLOW_SQLITE_THREAD;
      const inThread = await createNodeDatabaseOpener().open(freshPath());
      expect(currentSqliteWorker()).toBeUndefined();
      await inThread.close();
      process.env.SPOTFLOW_SQLITE_THREAD = 'worker';
      const inWorker = await createNodeDatabaseOpener().open(freshPath());
      expect(currentSqliteWorker()).toBeDefined();
      await inWorker.close();
    } finally {
      if (before === undefined) delete process.env.SPOTFLOW_SQLITE_THREAD;
      else process.env.SPOTFLOW_SQLITE_THREAD = before;
    }
  });

  it('resolves close once the connection is closed: SQLite has checkpointed and removed the WAL', async () => {
    const path = freshPath();
    const db = await opener.open(path);
    await db.write([{ sql: 'CREATE TABLE t (x)' }, { sql: 'INSERT INTO t VALUES (1)' }]);
    expect(existsSync(`${path}-wal`)).toBe(true);
    await db.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    await expect(db.query('SELECT 1')).rejects.toMatchObject({
      name: 'SpotflowError',
      code: 'CLIENT_CLOSED',
    });
  });

  it('rejects pending and later calls with DATABASE_UNAVAILABLE when the worker dies, then opens afresh', async () => {
    const path = freshPath();
    const db = await opener.open(path);
    await db.write([{ sql: 'CREATE TABLE t (x)' }]);
    const worker = runningWorker();
    // A worker's death (an exception in it, running out of memory) cannot be caused from here otherwise.
    const exited = exitOf(worker);
    void worker.terminate();
    // Sent while the worker is being terminated: no answer will come, the death must settle it.
    const pending = db.write([{ sql: 'INSERT INTO t VALUES (1)' }]);
    await expect(pending).rejects.toMatchObject({ name: 'SpotflowError', code: 'DATABASE_UNAVAILABLE' });
    await exited;
    await expect(db.query('SELECT x FROM t')).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    // The connection went with the thread: closing has nothing left to do.
    await db.close();
    await expect(db.query('SELECT x FROM t')).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    const again = await opener.open(path);
    expect(runningWorker()).not.toBe(worker);
    expect(await again.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 0 }]);
    await again.close();
  });

  it('keeps the process alive while a call is in flight, and not once it is done', async () => {
    const child = runFixture('database-left-open.ts', [freshPath()]);
    try {
      await child.waitForLine((line) => line === 'written');
      const timeout = AbortSignal.timeout(10_000);
      await Promise.race([child.exited, once(timeout, 'abort')]);
      expect(child.process.exitCode, 'the child still runs 10 s after its last write').toBe(0);
    } finally {
      child.process.kill('SIGKILL');
    }
  });
});
