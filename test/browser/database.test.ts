// The Database port contract in Chromium, against the browser adapter (sql.js in a worker + IndexedDB journal).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseContract } from '../contract/database-contract.js';
import { launchBrowser, newContext, openPage, runContractCase } from './harness/index.js';
import './pages/globals.js';

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  page = await openPage(await newContext(browser), 'database.html');
});
afterAll(async () => {
  await browser?.close();
});

describe('Database contract (sql.js + IndexedDB, Chromium)', () => {
  it.each(databaseContract.map((c) => c.name))('%s', (name) => runContractCase(page, name));
});

describe('browser database durability', () => {
  it('keeps every resolved write across a page reload (snapshot and journal, or journal alone)', async () => {
    const context = await newContext(browser);
    const writer = await openPage(context, 'database.html');
    const name = `reload-${Date.now()}`;
    const written = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)' }]);
      await Promise.all(
        Array.from({ length: 3_000 }, (_, i) =>
          db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [`v${i}`] }]),
        ),
      );
      // Resolved writes only: the page is reloaded without closing the database.
      return 3_000;
    }, name);
    await writer.reload();
    await writer.waitForFunction(() => globalThis.__ready === true);
    const rows = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const [row] = await db.query<{ n: number; last: string }>(
        'SELECT count(*) AS n, (SELECT v FROM t ORDER BY id DESC LIMIT 1) AS last FROM t',
      );
      await db.close();
      return row;
    }, name);
    expect(rows).toEqual({ n: written, last: 'v2999' });
    await context.close();
  });

  it('folds a long journal into stored pages, and a reopen is the pages plus what came after them', async () => {
    const context = await newContext(browser);
    const writer = await openPage(context, 'database.html');
    const name = `fold-${Date.now()}`;
    const stored = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' }]);
      // One after another: 2,500 journal records of one statement each, past the fold threshold of 2,000.
      for (let i = 0; i < 2_500; i++) await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [i] }]);
      await db.close(); // waits for a fold in flight
      return globalThis.__idbSummary!(name);
    }, name);
    expect(stored.pagesSeq).toBeGreaterThanOrEqual(2_000);
    // 2,501 records in all (the CREATE and the inserts): the journal keeps exactly those after the pages.
    expect(stored.journalRecords).toBe(2_501 - stored.pagesSeq);
    expect(stored.chunks).toBe(Math.ceil(stored.fileBytes / stored.chunkBytes));
    const rows = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const [row] = await db.query<{ n: number; total: number }>(
        'SELECT count(*) AS n, sum(v) AS total FROM t',
      );
      await db.close();
      return row;
    }, name);
    expect(rows).toEqual({ n: 2_500, total: (2_499 * 2_500) / 2 });
    await context.close();
  });

  it('creates its IndexedDB database again from memory when it is deleted under it, reporting that once', async () => {
    const context = await newContext(browser);
    const writer = await openPage(context, 'database.html');
    const name = `deleted-${Date.now()}`;
    // A real fault, as when a user clears the site's data while the kiosk runs: the worker's connection is closed
    // by the deletion. Memory holds exactly what was stored, so the database is stored again from it.
    const outcome = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const problems: string[] = [];
      db.onProblem?.((problem) => problems.push(`${problem.code}: ${problem.message}`));
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' }]);
      // One SQL text throughout: records name it by number, and its entry must be stored again in each new database.
      const insert = 'INSERT INTO t (v) VALUES (?)';
      await db.write([{ sql: insert, params: [1] }]);
      await globalThis.__deleteIdb!(name);
      await db.write([{ sql: insert, params: [2] }]);
      const [live] = await db.query<{ n: number }>('SELECT count(*) AS n FROM t');
      await globalThis.__deleteIdb!(name);
      await db.write([{ sql: insert, params: [3] }]);
      await db.close();
      const again = await globalThis.__openDatabase!(name);
      const rows = await again.query<{ v: number }>('SELECT v FROM t ORDER BY id');
      await again.close();
      return { live: live?.n, stored: rows.map((row) => row.v), problems };
    }, name);
    expect(outcome.live).toBe(2);
    expect(outcome.stored).toEqual([1, 2, 3]);
    // Once per deletion: each is news to the app (its storage was wiped and rebuilt).
    expect(outcome.problems).toHaveLength(2);
    for (const problem of outcome.problems) {
      expect(problem).toMatch(/^DATABASE_UNAVAILABLE: .*deleted from outside.*created again/);
    }
    await context.close();
  });

  it.each<[1 | 2, string]>([
    [1, 'a whole-file snapshot'],
    [2, 'chunks under bare numbers'],
  ])(
    'opens a database stored by version %i (%s and a journal) and moves it to the current pages',
    async (version) => {
      const context = await newContext(browser);
      const page = await openPage(context, 'database.html');
      const source = `v${version}-source-${Date.now()}`;
      const legacy = `v${version}-${Date.now()}`;
      const outcome = await page.evaluate(
        async ({ source, legacy, version }) => {
          // A SQLite file to put in the old layout: one made by this version (a write of 2,001 statements is past the
          // fold threshold, so its pages are stored), read back from its pages.
          const db = await globalThis.__openDatabase!(source);
          await db.write([
            { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)' },
            ...Array.from({ length: 2_000 }, () => ({
              sql: "INSERT INTO t (v) VALUES ('from the snapshot')",
            })),
          ]);
          await db.close();
          const { image } = await globalThis.__storedImage!(source);
          const write = version === 1 ? globalThis.__writeVersion1! : globalThis.__writeVersion2!;
          await write(legacy, { bytes: image, seq: 7 }, [
            // Already in the image (seq 7): skipped.
            { seq: 7, statements: [{ sql: "INSERT INTO t (v) VALUES ('in the image already')" }] },
            { seq: 8, statements: [{ sql: "INSERT INTO t (v) VALUES ('from the journal')" }] },
          ]);
          const upgraded = await globalThis.__openDatabase!(legacy);
          await upgraded.write([{ sql: "INSERT INTO t (v) VALUES ('after the upgrade')" }]);
          const read = async (db: typeof upgraded) =>
            (
              await db.query<{ v: string; n: number }>(
                'SELECT v, count(*) AS n FROM t GROUP BY v ORDER BY min(id)',
              )
            ).map((row) => `${row.v} x${row.n}`);
          const rows = await read(upgraded);
          await upgraded.close();
          const after = await globalThis.__idbSummary!(legacy);
          const leftover = await globalThis.__version1Left!(legacy);
          const reopened = await globalThis.__openDatabase!(legacy);
          const again = await read(reopened);
          await reopened.close();
          return { rows, again, after, leftover };
        },
        { source, legacy, version },
      );
      const expected = ['from the snapshot x2000', 'from the journal x1', 'after the upgrade x1'];
      expect(outcome.rows).toEqual(expected);
      expect(outcome.again).toEqual(expected);
      // The first fold (at open: every chunk is due) stored pages and dropped the old image or numbered chunks (the count
      // is of every key in `pages`).
      expect(outcome.after.pagesSeq).toBeGreaterThanOrEqual(8);
      expect(outcome.after.chunks).toBe(Math.ceil(outcome.after.fileBytes / outcome.after.chunkBytes));
      expect(outcome.leftover).toBe(0);
      await context.close();
    },
  );

  it.each<[string, 'current' | 'version 2']>([
    ['its only stored version', 'current'],
    ['a chunk under a bare number (version 2)', 'version 2'],
  ])(
    'refuses a stored file with a chunk missing (%s) as damaged, not as an empty or partial file',
    async (_, layout) => {
      const context = await newContext(browser);
      const page = await openPage(context, 'database.html');
      const name = `missing-chunk-${Date.now()}`;
      const outcome = await page.evaluate(
        async ({ name, layout }) => {
          const source = `${name}-source`;
          const db = await globalThis.__openDatabase!(layout === 'current' ? name : source);
          // Past the fold threshold (2,000 statements), a file of several chunks: its pages are stored at close.
          await db.write([
            { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)' },
            ...Array.from({ length: 2_000 }, () => ({
              sql: `INSERT INTO t (v) VALUES ('${'x'.repeat(100)}')`,
            })),
          ]);
          await db.close();
          if (layout === 'version 2') {
            const { image } = await globalThis.__storedImage!(source);
            await globalThis.__writeVersion2!(name, { bytes: image, seq: 2 }, []);
          }
          // Chunk 1 goes: its key is [generation, 1] now, a bare 1 in version 2.
          const doomed = await globalThis.__deleteStoredChunk!(name, 1);
          try {
            const reopened = await globalThis.__openDatabase!(name);
            await reopened.close();
            return { doomed, opened: 'opened' };
          } catch (error) {
            const { code, message } = error as { code: string; message: string };
            return { doomed, opened: `${code}: ${message}` };
          }
        },
        { name, layout },
      );
      expect(outcome.doomed).toBe(1);
      expect(outcome.opened).toMatch(/^DATABASE_CORRUPT: .*damaged/);
      await context.close();
    },
  );

  it('stores no value near the size Chromium moves into a blob file: large parameters go in pieces and replay whole', async () => {
    const context = await newContext(browser);
    const page = await openPage(context, 'database.html');
    const name = `pieces-${Date.now()}`;
    const outcome = await page.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const big = new Uint8Array(200_000).map((_, i) => (i * 7) % 251);
      const text = 'ä€'.repeat(60_000);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB, s TEXT)' }]);
      await db.write([
        { sql: 'INSERT INTO t (b, s) VALUES (?, ?)', params: [big, text] },
        // Many small statements in one write: more than one record's worth.
        ...Array.from({ length: 500 }, (_, i) => ({
          sql: 'INSERT INTO t (b, s) VALUES (?, ?)',
          params: [new Uint8Array(300).fill(i % 256), `row ${i}`],
        })),
      ]);
      await db.close(); // no fold yet (fewer than 2,000 statements): the reopen replays the journal
      const largest = await globalThis.__largestStoredValue!(name);
      const again = await globalThis.__openDatabase!(name);
      const [row] = await again.query<{ b: Uint8Array; s: string }>('SELECT b, s FROM t WHERE id = 1');
      const [count] = await again.query<{ n: number; bytes: number }>(
        'SELECT count(*) AS n, sum(length(b)) AS bytes FROM t',
      );
      await again.close();
      const same =
        row!.b.length === big.length && row!.b.every((byte, i) => byte === big[i]) && row!.s === text;
      return { largest, same, count };
    }, name);
    expect(outcome.same).toBe(true);
    expect(outcome.count).toEqual({ n: 501, bytes: 200_000 + 500 * 300 });
    expect(outcome.largest).toBeLessThan(60 * 1024);
    await context.close();
  });
});
