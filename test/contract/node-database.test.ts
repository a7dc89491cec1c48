/**
 * The Database contract and the Node file behaviour, for both Node stores: SQLite in the process's worker thread
 * (`thread: 'worker'`) and on the main thread (the default). What only the worker has (one per process, its death,
 * not holding the process open) is in node-database-worker.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createNodeDatabaseOpener, type NodeDatabaseOptions } from '../../platform/node/database.js';
import type { Database } from '../../src/ports.js';
import { databaseContract } from './database-contract.js';
import { runFixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'spotflow-db-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

const threads: NonNullable<NodeDatabaseOptions['thread']>[] = ['worker', 'main'];

describe.each(threads)('Node database, SQLite on the %s thread', (thread) => {
  const opener = createNodeDatabaseOpener({ thread });
  const opened: Database[] = [];

  const ctx = {
    async open(name: string) {
      const db = await opener.open(join(dir, name));
      opened.push(db);
      return db;
    },
    freshName: () => `db-${++counter}.sqlite`,
  };

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  describe('Database contract (better-sqlite3)', () => {
    it.each(databaseContract)('$name', ({ run }) => run(ctx));
  });

  describe('Node database files', () => {
    it('creates the database and its WAL with mode 0600', async () => {
      const name = ctx.freshName();
      const path = join(dir, name);
      const db = await ctx.open(name);
      await db.write([{ sql: 'CREATE TABLE t (x)' }, { sql: 'INSERT INTO t VALUES (1)' }]);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}-shm`).mode & 0o777).toBe(0o600);
    });

    it('narrows the mode of an existing database that others could read', async () => {
      const name = ctx.freshName();
      const db = await ctx.open(name);
      await db.close();
      chmodSync(join(dir, name), 0o644);
      await ctx.open(name);
      expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    });

    it('rejects a file that is not a database with DATABASE_CORRUPT at open', async () => {
      const path = join(dir, 'random.bin');
      writeFileSync(path, randomBytes(16_384));
      await expect(opener.open(path)).rejects.toMatchObject({
        name: 'SpotflowError',
        code: 'DATABASE_CORRUPT',
        cause: expect.objectContaining({ code: 'SQLITE_NOTADB' }),
      });
    });

    it('rejects a path it cannot create with DATABASE_UNAVAILABLE', async () => {
      await expect(opener.open(join(dir, 'no', 'such', 'dir', 'x.db'))).rejects.toMatchObject({
        code: 'DATABASE_UNAVAILABLE',
      });
    });

    it('rejects a database that is a directory with DATABASE_UNAVAILABLE', async () => {
      await expect(opener.open(dir)).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    });

    it('loses no acknowledged write when the process is killed with SIGKILL', async () => {
      const name = `durable-${thread}.sqlite`;
      const path = join(dir, name);
      const child = runFixture('database-writer.ts', [path, thread]);
      let written = 0;
      await child.waitForLine((line) => {
        const match = /^written (\d+)$/.exec(line);
        if (match) written = Number(match[1]);
        return written >= 200;
      });
      child.process.kill('SIGKILL');
      await child.exited;
      const lastPrinted = Math.max(written, ...child.lines.map((line) => Number(/\d+/.exec(line)?.[0] ?? 0)));
      const db = await ctx.open(name);
      const rows = await db.query<{ n: number; max: number }>(
        'SELECT count(*) AS n, max(n) AS max FROM rows',
      );
      expect(rows[0]!.max).toBeGreaterThanOrEqual(lastPrinted);
      // No gap: every row up to the last one is there.
      expect(rows[0]!.n).toBe(rows[0]!.max);
    });
  });
});
