// The Database port on the origin private file system (storage: 'opfs'): the same contract as on IndexedDB, and
// what a reload keeps, across folds.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseContract } from '../contract/database-contract.js';
import { launchBrowser, newContext, openPage, runContractCase } from './harness/index.js';
import './pages/globals.js';

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  page = await openPage(await newContext(browser), 'database.html?storage=opfs');
});
afterAll(async () => {
  await browser?.close();
});

describe('Database contract (sql.js + OPFS, Chromium)', () => {
  it.each(databaseContract.map((c) => c.name))('%s', (name) => runContractCase(page, name));
});

describe('browser database on OPFS: durability', () => {
  it('keeps every resolved write across a page reload, past two folds', async () => {
    const context = await newContext(browser);
    const writer = await openPage(context, 'database.html?storage=opfs');
    const name = `reload-${Date.now()}`;
    const count = 4_500;
    await writer.evaluate(
      async ({ name, count }) => {
        const db = await globalThis.__openDatabase!(name);
        await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)' }]);
        // One at a time: each its own group and journal frame, so folds (every 2,000 statements) come several times.
        for (let i = 0; i < count; i++)
          await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [`v${i}`] }]);
      },
      { name, count },
    );
    // Resolved writes only: the page is reloaded without closing the database.
    await writer.reload();
    await writer.waitForFunction(() => globalThis.__ready === true);
    const stored = await writer.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const rows = await db.query<{ n: number; last: string }>(
        'SELECT count(*) AS n, (SELECT v FROM t ORDER BY id DESC LIMIT 1) AS last FROM t',
      );
      await db.close();
      return rows[0];
    }, name);
    expect(stored).toEqual({ n: count, last: `v${count - 1}` });
    // Kept in the origin private file system, not in IndexedDB: the file holds the folds, the journal what followed.
    const files = await writer.evaluate((name) => globalThis.__opfsFiles!(name), name);
    expect(files.pages).toBeGreaterThan(count * 10);
    expect(files.journal).toBeLessThan(files.pages!);
    const idbNames = await writer.evaluate(async () => {
      const idb = (globalThis as unknown as { indexedDB: { databases(): Promise<{ name?: string }[]> } })
        .indexedDB;
      return (await idb.databases()).map((database) => database.name);
    });
    expect(idbNames).not.toContain(name);
  }, 120_000);

  it('a database kept in IndexedDB is moved over at its first open with storage opfs, and IndexedDB is emptied', async () => {
    const context = await newContext(browser);
    const before = await openPage(context, 'database.html');
    const name = `moved-${Date.now()}`;
    await before.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)' }]);
      // Past a fold (stored chunks) and some journal after it.
      for (let i = 0; i < 2_500; i++)
        await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [`v${i}`] }]);
      await db.close();
    }, name);
    await before.close();
    const after = await openPage(context, 'database.html?storage=opfs');
    const stored = await after.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: ['after the move'] }]);
      const rows = await db.query<{ n: number; last: string }>(
        'SELECT count(*) AS n, (SELECT v FROM t ORDER BY id DESC LIMIT 1) AS last FROM t',
      );
      await db.close();
      return rows[0];
    }, name);
    expect(stored).toEqual({ n: 2_501, last: 'after the move' });
    const idbNames = await after.evaluate(async () => {
      const idb = (globalThis as unknown as { indexedDB: { databases(): Promise<{ name?: string }[]> } })
        .indexedDB;
      return (await idb.databases()).map((database) => database.name);
    });
    expect(idbNames).not.toContain(name);
    // And from the new store alone, after a reload.
    await after.reload();
    await after.waitForFunction(() => globalThis.__ready === true);
    const reloaded = await after.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const rows = await db.query<{ n: number }>('SELECT count(*) AS n FROM t');
      await db.close();
      return rows[0]!.n;
    }, name);
    expect(reloaded).toBe(2_501);
  }, 120_000);
});
