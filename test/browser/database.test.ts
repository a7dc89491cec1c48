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

  it('folds a long journal into a snapshot, and a reopen is the snapshot plus what came after it', async () => {
    const context = await newContext(browser);
    const writer = await openPage(context, 'database.html');
    const name = `fold-${Date.now()}`;
    const stored = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' }]);
      // One after another: 2,500 journal records, past the fold threshold of 2,000.
      for (let i = 0; i < 2_500; i++) await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [i] }]);
      await db.close(); // waits for a fold in flight
      return globalThis.__idbSummary!(name);
    }, name);
    expect(stored.snapshotSeq).toBeGreaterThanOrEqual(2_000);
    // 2,501 records in all (the CREATE and the inserts): the journal keeps exactly those after the snapshot.
    expect(stored.journalRecords).toBe(2_501 - stored.snapshotSeq);
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

  it('rejects writes with DATABASE_UNAVAILABLE once its IndexedDB database is deleted under it, never resolving them', async () => {
    const context = await newContext(browser);
    const writer = await openPage(context, 'database.html');
    const name = `deleted-${Date.now()}`;
    // A real fault, as when a user clears the site's data while the kiosk runs: the worker's connection is closed
    // by the deletion, and every later IndexedDB transaction fails.
    const outcome = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' }]);
      await db.write([{ sql: 'INSERT INTO t (v) VALUES (1)' }]);
      await globalThis.__deleteIdb!(name);
      const code = (promise: Promise<unknown>) =>
        promise.then(
          () => 'resolved',
          (error: { code: string }) => error.code,
        );
      const write = await code(db.write([{ sql: 'INSERT INTO t (v) VALUES (2)' }]));
      const query = await code(db.query('SELECT count(*) AS n FROM t'));
      await db.close();
      // Opening again starts from what IndexedDB holds now: nothing.
      const again = await globalThis.__openDatabase!(name);
      const tables = await again.query("SELECT name FROM sqlite_master WHERE type = 'table'");
      await again.close();
      return { write, query, tables: tables.length };
    }, name);
    expect(outcome).toEqual({ write: 'DATABASE_UNAVAILABLE', query: 'DATABASE_UNAVAILABLE', tables: 0 });
    await context.close();
  });
});
