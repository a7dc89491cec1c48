/**
 * Group commit's riders (deletes of acknowledged messages) on a real SQLite file and a fake clock: they wait for a
 * round another write starts, or for their own deadline, and a failure of the round they joined is not theirs. Then
 * in a client against the emulator: a caller waiting for the outbox to empty does not wait for that deadline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeDatabaseOpener } from '../../platform/node/database.js';
import { GroupCommit } from '../../src/outbox/group-commit.js';
import type { Database, WriteOptions } from '../../src/ports.js';
import { startClient, tempDir } from '../helpers/client.js';
import { FakeClock, StillClock } from '../helpers/clock.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A database that counts the transactions it commits (a wrapper: the writes themselves are SQLite's). */
async function countingDatabase(): Promise<{ db: Database; transactions: WriteOptions[] }> {
  const dir = tempDir('spotflow-group-commit-');
  cleanups.push(dir.cleanup);
  const real = await createNodeDatabaseOpener().open(dir.file('commit.sqlite'));
  cleanups.push(() => real.close());
  await real.write([{ sql: 'CREATE TABLE t (x INTEGER NOT NULL)' }]);
  const transactions: WriteOptions[] = [];
  const db: Database = {
    write: (statements, options = {}) => {
      transactions.push(options);
      return real.write(statements, options);
    },
    query: (sql, params) => real.query(sql, params),
    close: () => real.close(),
  };
  return { db, transactions };
}

const insert = (x: number) => ({ sql: 'INSERT INTO t (x) VALUES (?)', params: [x] });

describe('group commit riders', () => {
  it('join the next round another write starts, in its transaction, durable like it', async () => {
    const clock = new FakeClock();
    const { db, transactions } = await countingDatabase();
    const commit = new GroupCommit(db, clock);
    let riderDone = false;
    const rider = commit.whenConvenient([insert(1)], 1_000).then(() => {
      riderDone = true;
    });
    await clock.advance(999);
    expect(riderDone).toBe(false);
    expect(transactions).toEqual([]);
    const write = commit.write([insert(2)]);
    await clock.advance(0);
    await Promise.all([rider, write]);
    expect(transactions).toEqual([{ durability: 'full' }]);
    expect(await db.query('SELECT x FROM t ORDER BY x')).toEqual([{ x: 1 }, { x: 2 }]);
  });

  it('commit by themselves, relaxed, once their delay has passed', async () => {
    const clock = new FakeClock();
    const { db, transactions } = await countingDatabase();
    const commit = new GroupCommit(db, clock);
    const rider = commit.whenConvenient([insert(1)], 1_000);
    await clock.advance(1_000);
    await rider;
    expect(transactions).toEqual([{ durability: 'relaxed' }]);
  });

  it('go at once when a reader needs every write asked for so far', async () => {
    const clock = new FakeClock();
    const { db } = await countingDatabase();
    const commit = new GroupCommit(db, clock);
    void commit.whenConvenient([insert(1)], 60_000);
    const settled = commit.settled();
    await clock.advance(0);
    await settled;
    expect(await db.query('SELECT x FROM t')).toEqual([{ x: 1 }]);
  });

  it('are tried again alone when the round they joined fails for another write', async () => {
    const clock = new FakeClock();
    const { db, transactions } = await countingDatabase();
    const commit = new GroupCommit(db, clock);
    const rider = commit.whenConvenient([insert(1)], 1_000);
    const failing = commit.write([{ sql: 'INSERT INTO t (x) VALUES (NULL)' }]); // NOT NULL: refused
    failing.catch(() => {});
    await clock.advance(0);
    await expect(failing).rejects.toMatchObject({ name: 'SpotflowError' });
    await rider;
    expect(transactions).toEqual([{ durability: 'full' }, { durability: 'relaxed' }]);
    expect(await db.query('SELECT x FROM t')).toEqual([{ x: 1 }]);
  });
});

describe('deletes of acknowledged messages, in a client', () => {
  const bed = emulatorPerFile('spotflow-deletes-');

  it('go at once while a caller waits for the outbox to empty, not with a later write', async () => {
    // Time stands still past 500 ms: a delete left to join a later write (within 1 s) would never commit here.
    const clock = new StillClock({ realTimersUpToMs: 500 });
    const client = await startClient(bed.emulator, {
      database: bed.dirs.file('waits.db'),
      deviceId: 'waits',
      clock,
    });
    try {
      // Enqueued at once, so that most are acknowledged while the caller already waits.
      await Promise.all(Array.from({ length: 2_000 }, (_, i) => client.enqueueMessage({ i })));
      await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(20_000) });
      expect(await client.pendingMessagesCount()).toBe(0);
    } finally {
      await client.close();
    }
  });
});
