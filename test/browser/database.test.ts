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
    // 3,000 single-row writes: more than the fold threshold (2,000 journal records), so the reopened database is a
    // snapshot plus a journal.
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
});
