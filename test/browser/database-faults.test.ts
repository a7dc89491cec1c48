// The browser database under IndexedDB faults (injected in its worker: harness/idb-faults.ts), and the page
// tracking behind its folds checked against a model of what was written.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseWorker, idbCounts, injectIdbFaults } from './harness/idb-faults.js';
import { launchBrowser, newContext, openPage } from './harness/index.js';
import './pages/globals.js';

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/** A page of its own (one database worker in it) with the database `name` open as `globalThis.__db`. */
async function openDatabasePage(name: string): Promise<Page> {
  const page = await openPage(await newContext(browser), 'database.html');
  await page.evaluate(async (name) => {
    const scope = globalThis as unknown as { __db: unknown; __problems: string[] };
    const db = await globalThis.__openDatabase!(name);
    scope.__problems = [];
    db.onProblem?.((problem) => scope.__problems.push(`${problem.code}: ${problem.message}`));
    scope.__db = db;
  }, name);
  // A new database stores its (empty) file at open, in the background: done before a test injects faults, so that
  // the faults and the counts are the test's own folds only (on a busy machine that fold could still be in flight).
  await expect
    .poll(async () => (await page.evaluate((name) => globalThis.__idbSummary!(name), name)).fileBytes, {
      timeout: 20_000,
      interval: 50,
    })
    .toBeGreaterThan(0);
  return page;
}

describe('browser database under IndexedDB faults', () => {
  it('never lets a read see a write that is not stored: with appends failing at random, every resolved insert is stored with its own value and no rejected one ever is, ids never reused', async () => {
    const name = `faults-${Date.now()}`;
    const page = await openDatabasePage(name);
    const worker = await databaseWorker(page);
    const seed = Date.now() % 100_000;
    console.log(`append faults seed ${seed}`);
    await injectIdbFaults(worker, { appendFailureRate: 0.2, seed });
    const outcome = await page.evaluate(async () => {
      type Db = import('../../src/ports.js').Database;
      const db = (globalThis as unknown as { __db: Db }).__db;
      const create = { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL UNIQUE)' };
      // The faults are on already: the table too may take a few tries.
      for (;;)
        if (
          await db.write([create]).then(
            () => true,
            () => false,
          )
        )
          break;
      const resolved = new Map<string, number>();
      const rejected = new Map<string, string>();
      /** What a reader saw while the faults ran: every row it saw must be one that resolved. */
      const seen = new Map<number, string>();
      let reading = true;
      const reader = (async () => {
        while (reading) {
          for (const row of await db.query<{ id: number; v: string }>('SELECT id, v FROM t')) {
            seen.set(row.id, row.v);
          }
        }
      })();
      // 8 callers, 150 inserts each, one after another per caller.
      await Promise.all(
        Array.from({ length: 8 }, async (_, caller) => {
          for (let i = 0; i < 150; i++) {
            const v = `c${caller}-${i}`;
            try {
              const [result] = await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [v] }]);
              resolved.set(v, result!.lastInsertRowid);
            } catch (error) {
              rejected.set(v, (error as { code: string }).code);
            }
          }
        }),
      );
      reading = false;
      await reader;
      const rows = await db.query<{ id: number; v: string }>('SELECT id, v FROM t ORDER BY id');
      return {
        resolved: [...resolved],
        rejected: [...rejected],
        seen: [...seen],
        rows: rows.map((row) => [row.id, row.v] as const),
      };
    });
    const counts = await idbCounts(worker);
    console.log(
      `appends ${counts.appends}, failed ${counts.failedAppends}; resolved ${outcome.resolved.length}, rejected ${outcome.rejected.length}`,
    );
    expect(counts.failedAppends).toBeGreaterThan(0);
    expect(outcome.rejected.length).toBeGreaterThan(0);
    expect(new Set(outcome.rejected.map(([, code]) => code))).toEqual(new Set(['DATABASE_UNAVAILABLE']));
    const resolved = new Map(outcome.resolved);
    // Exactly the resolved inserts are there, each under the id its write reported.
    expect(new Map(outcome.rows.map(([id, v]) => [v, id]))).toEqual(resolved);
    // No reader ever saw a row that was later rolled back, nor one under another value.
    for (const [id, v] of outcome.seen) expect(resolved.get(v)).toBe(id);
    // An id is never handed out twice (a rolled-back group's ids are skipped).
    const ids = outcome.resolved.map(([, id]) => id);
    expect(new Set(ids).size).toBe(ids.length);

    // Faults gone: it keeps working without a restart, and a reopen finds the same rows.
    await injectIdbFaults(worker, { appendFailureRate: 0 });
    const after = await page.evaluate(async (name) => {
      type Db = import('../../src/ports.js').Database;
      const db = (globalThis as unknown as { __db: Db }).__db;
      await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: ['after'] }]);
      await db.close();
      const again = await globalThis.__openDatabase!(name);
      const rows = await again.query<{ id: number; v: string }>('SELECT id, v FROM t ORDER BY id');
      await again.close();
      return rows.map((row) => [row.id, row.v] as const);
    }, name);
    expect(after.slice(0, -1)).toEqual(outcome.rows);
    expect(after.at(-1)![1]).toBe('after');
    expect(after.at(-1)![0]).toBeGreaterThan(Math.max(...ids));
    await page.context().close();
  });

  it('backs off a fold that fails (no fold per append), reports it once, and stores the pages once it succeeds', async () => {
    const name = `fold-faults-${Date.now()}`;
    const page = await openDatabasePage(name);
    const worker = await databaseWorker(page);
    await injectIdbFaults(worker, { failFolds: 3 });
    const written = await page.evaluate(async () => {
      type Db = import('../../src/ports.js').Database;
      const db = (globalThis as unknown as { __db: Db }).__db;
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' }]);
      // Past the fold threshold (2,000 statements), then 1,500 more: each commit checks whether a fold is due.
      for (let round = 0; round < 35; round++) {
        await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [round * 100 + i] }]),
          ),
        );
      }
      return 3_500;
    });
    // Three failures take 0.5 + 1 + 2 s of backoff; the fourth attempt stores the pages.
    await expect
      .poll(async () => (await page.evaluate((name) => globalThis.__idbSummary!(name), name)).pagesSeq, {
        timeout: 20_000,
        interval: 250,
      })
      .toBeGreaterThan(0);
    const counts = await idbCounts(worker);
    // Three folds failed at their first transaction; the fourth stored its chunks and switched to them.
    expect(counts.failedFolds).toBe(3);
    expect(counts.switches).toBe(1);
    const problems = await page.evaluate(
      () => (globalThis as unknown as { __problems: string[] }).__problems,
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DATABASE_UNAVAILABLE: Cannot store the database .* as pages/);
    const rows = await page.evaluate(async (name) => {
      type Db = import('../../src/ports.js').Database;
      await (globalThis as unknown as { __db: Db }).__db.close();
      const again = await globalThis.__openDatabase!(name);
      const [row] = await again.query<{ n: number; total: number }>(
        'SELECT count(*) AS n, sum(v) AS total FROM t',
      );
      await again.close();
      return row;
    }, name);
    expect(rows).toEqual({ n: written, total: ((written - 1) * written) / 2 });
    await page.context().close();
  });

  it('leaves no trace of a fold that fails at its switch: the file stays the one before, its chunks are ignored at a reopen and deleted by the next fold', async () => {
    const name = `switch-faults-${Date.now()}`;
    const page = await openDatabasePage(name);
    const worker = await databaseWorker(page);
    const insert = (from: number, to: number) =>
      page.evaluate(
        async ({ from, to }) => {
          type Db = import('../../src/ports.js').Database;
          const db = (globalThis as unknown as { __db: Db }).__db;
          if (from === 0)
            await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)' }]);
          for (let id = from; id < to; id += 100) {
            await Promise.all(
              Array.from({ length: 100 }, (_, i) =>
                db.write([
                  {
                    sql: 'INSERT INTO t (id, v) VALUES (?, ?)',
                    params: [id + i, new Uint8Array(200).fill(id % 251)],
                  },
                ]),
              ),
            );
          }
        },
        { from, to },
      );
    const summary = () => page.evaluate((name) => globalThis.__idbSummary!(name), name);
    await insert(0, 2_500);
    await expect.poll(async () => (await summary()).pagesSeq, { timeout: 20_000 }).toBeGreaterThan(0);
    const before = await summary();
    await injectIdbFaults(worker, { failSwitches: true });
    await insert(2_500, 5_000);
    await expect
      .poll(async () => (await idbCounts(worker)).failedFolds, { timeout: 20_000 })
      .toBeGreaterThan(0);
    // The failed folds' chunks are stored (strays), and the file is still the one before. Polled: a further fold may
    // be starting (each deletes the strays before it, then writes its own), which a single read could land between.
    await expect
      .poll(
        async () => {
          const now = await summary();
          return now.chunks - Math.ceil(now.fileBytes / now.chunkBytes);
        },
        { timeout: 20_000 },
      )
      .toBeGreaterThan(0);
    const failed = await summary();
    expect(failed.pagesSeq).toBe(before.pagesSeq);
    const reopened = await page.evaluate(async (name) => {
      type Db = import('../../src/ports.js').Database;
      const scope = globalThis as unknown as { __db: Db };
      await scope.__db.close();
      // A new worker, without the faults.
      scope.__db = await globalThis.__openDatabase!(name);
      const [row] = await scope.__db.query<{ n: number; bad: number }>(
        "SELECT count(*) AS n, sum(length(v) != 200 OR hex(substr(v, 1, 1)) != printf('%02X', (id / 100 * 100) % 251)) AS bad FROM t",
      );
      return row;
    }, name);
    expect(reopened).toEqual({ n: 5_000, bad: 0 });
    // The journal is past the fold threshold at the reopen: that fold switched, deleting every stray and every
    // superseded version.
    await expect
      .poll(async () => (await summary()).pagesSeq, { timeout: 20_000 })
      .toBeGreaterThan(failed.pagesSeq);
    const after = await summary();
    expect(after.chunks).toBe(Math.ceil(after.fileBytes / after.chunkBytes));
    await insert(5_000, 7_500);
    const final = await page.evaluate(async (name) => {
      type Db = import('../../src/ports.js').Database;
      const scope = globalThis as unknown as { __db: Db };
      await scope.__db.close();
      const db = await globalThis.__openDatabase!(name);
      const [row] = await db.query<{ n: number }>('SELECT count(*) AS n FROM t');
      const [check] = await db.query<{ integrity_check: string }>('PRAGMA integrity_check');
      await db.close();
      return { n: row?.n, check: check?.integrity_check };
    }, name);
    expect(final).toEqual({ n: 7_500, check: 'ok' });
    await page.context().close();
  });

  it('opens its connection again when it is found closed without a close event (seen on a full disk): one write fails, the next is stored', async () => {
    const name = `closed-${Date.now()}`;
    const page = await openDatabasePage(name);
    const worker = await databaseWorker(page);
    const write = (v: number) =>
      page.evaluate(async (v) => {
        type Db = import('../../src/ports.js').Database;
        const db = (globalThis as unknown as { __db: Db }).__db;
        return db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [v] }]).then(
          () => 'stored',
          (error: { code: string; message: string }) => `${error.code}: ${error.message}`,
        );
      }, v);
    await page.evaluate(async () => {
      type Db = import('../../src/ports.js').Database;
      await (globalThis as unknown as { __db: Db }).__db.write([
        { sql: 'CREATE TABLE t (v INTEGER NOT NULL)' },
      ]);
    });
    expect(await write(1)).toBe('stored');
    // A real closed connection (closed from the page's side, which fires no close event), not a simulated error.
    await injectIdbFaults(worker, { closeSilently: true });
    expect(await write(2)).toMatch(/^DATABASE_UNAVAILABLE: .*InvalidStateError/);
    expect(await write(3)).toBe('stored');
    const stored = await page.evaluate(async (name) => {
      type Db = import('../../src/ports.js').Database;
      await (globalThis as unknown as { __db: Db }).__db.close();
      const db = await globalThis.__openDatabase!(name);
      const rows = await db.query<{ v: number }>('SELECT v FROM t ORDER BY v');
      await db.close();
      return rows.map((row) => row.v);
    }, name);
    expect(stored).toEqual([1, 3]);
    await page.context().close();
  });

  it('refuses durable writes with a typed error once folds have failed for 32 MB of journal, keeps relaxed ones, and accepts them again after a fold succeeds', async () => {
    const name = `journal-limit-${Date.now()}`;
    const page = await openDatabasePage(name);
    const worker = await databaseWorker(page);
    await injectIdbFaults(worker, { failAllFolds: true });
    const refused = await page.evaluate(async () => {
      type Db = import('../../src/ports.js').Database;
      const db = (globalThis as unknown as { __db: Db }).__db;
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)' }]);
      const megabyte = new Uint8Array(1024 * 1024).fill(1);
      for (let i = 0; i < 40; i++) {
        try {
          await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [megabyte] }]);
        } catch (error) {
          const relaxed = await db
            .write([{ sql: 'DELETE FROM t WHERE id = 1' }], { durability: 'relaxed' })
            .then(
              () => 'resolved',
              (e: { code: string }) => e.code,
            );
          return {
            at: i,
            code: (error as { code: string }).code,
            message: (error as Error).message,
            relaxed,
          };
        }
      }
      return undefined;
    });
    expect(refused).toBeDefined();
    expect(refused!.at).toBeGreaterThanOrEqual(31);
    expect(refused!.at).toBeLessThanOrEqual(33);
    expect(refused!.code).toBe('DATABASE_UNAVAILABLE');
    expect(refused!.message).toMatch(/Storage is full: the journal of .* has grown to 3\d MB/);
    expect(refused!.relaxed).toBe('resolved');
    await injectIdbFaults(worker, { failAllFolds: false });
    // The next retry (backoff, at most 60 s; here a few seconds) stores the pages; then writes are accepted.
    await expect
      .poll(
        () =>
          page.evaluate(async () => {
            type Db = import('../../src/ports.js').Database;
            const db = (globalThis as unknown as { __db: Db }).__db;
            return db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [new Uint8Array(8)] }]).then(
              () => 'resolved',
              (e: { code: string }) => e.code,
            );
          }),
        { timeout: 40_000, interval: 500 },
      )
      .toBe('resolved');
    await page.context().close();
  });
});

describe('page tracking behind folds', () => {
  it('stores exactly the file: after growth, updates, deletes, overflow pages, a rolled-back group that grew the file, and many folds, a reopen reads what a model says, with no whole-file fallback', async () => {
    const name = `tracking-${Date.now()}`;
    const page = await openDatabasePage(name);
    const warnings: string[] = [];
    const worker = await databaseWorker(page);
    worker.on('console', (message) => {
      if (message.type() === 'warning') warnings.push(message.text());
    });
    const workload = (rounds: [number, number]) =>
      page.evaluate(async ([from, to]) => {
        type Db = import('../../src/ports.js').Database;
        const scope = globalThis as unknown as { __db: Db; __model?: Map<number, number> };
        const db = scope.__db;
        if (!scope.__model) {
          await db.write([
            { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)' },
            { sql: 'CREATE INDEX t_len ON t (length(v))' },
          ]);
        }
        scope.__model ??= new Map<number, number>();
        const model = scope.__model;
        let state = 12345 + from;
        const next = () => {
          state = (Math.imul(state, 1103515245) + 12345) >>> 0;
          return state >>> 8;
        };
        // Enough statements for several folds (every 2,000).
        for (let round = from; round < to; round++) {
          const writes: Promise<unknown>[] = [];
          for (let i = 0; i < 100; i++) {
            const id = next() % 3_000;
            const op = next() % 10;
            // Mostly small rows, some past a page (overflow pages), a few deletes.
            const size = op === 0 ? 9_000 + (next() % 20_000) : 20 + (next() % 300);
            if (op === 9) {
              model.delete(id);
              writes.push(db.write([{ sql: 'DELETE FROM t WHERE id = ?', params: [id] }]));
            } else {
              const fill = next() % 251;
              model.set(id, size * 256 + fill);
              const blob = new Uint8Array(size).fill(fill);
              writes.push(
                db.write([{ sql: 'INSERT OR REPLACE INTO t (id, v) VALUES (?, ?)', params: [id, blob] }]),
              );
            }
          }
          await Promise.all(writes);
        }
        const [count] = await db.query<{ page_count: number }>('PRAGMA page_count');
        return count!.page_count;
      }, rounds);
    await workload([0, 30]);
    // A group that grows the file by 6 MB (past SQLite's 2 MB cache, so pages spill into the file) and whose append
    // fails: the rollback gives the file back its old size.
    await injectIdbFaults(worker, { appendFailureRate: 1 });
    const rolledBack = await page.evaluate(async () => {
      type Db = import('../../src/ports.js').Database;
      const db = (globalThis as unknown as { __db: Db }).__db;
      const [before] = await db.query<{ page_count: number }>('PRAGMA page_count');
      const rows = Array.from({ length: 6_000 }, (_, i) => ({
        sql: 'INSERT INTO t (id, v) VALUES (?, ?)',
        params: [100_000 + i, new Uint8Array(1_000).fill(9)],
      }));
      const outcome = await db.write(rows).then(
        () => 'resolved',
        (error: { code: string }) => error.code,
      );
      const [after] = await db.query<{ page_count: number }>('PRAGMA page_count');
      return { outcome, before: before!.page_count, after: after!.page_count };
    });
    expect(rolledBack.outcome).toBe('DATABASE_UNAVAILABLE');
    expect(rolledBack.after).toBe(rolledBack.before);
    await injectIdbFaults(worker, { appendFailureRate: 0 });
    await workload([30, 80]);
    const expected = await page.evaluate(async () => {
      type Db = import('../../src/ports.js').Database;
      const scope = globalThis as unknown as { __db: Db; __model: Map<number, number> };
      await scope.__db.close();
      return [...scope.__model].sort((a, b) => a[0] - b[0]);
    });
    const summary = await page.evaluate((name) => globalThis.__idbSummary!(name), name);
    expect(summary.pagesSeq).toBeGreaterThan(0);
    expect(summary.chunks).toBe(Math.ceil(summary.fileBytes / summary.chunkBytes));
    const stored = await page.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const rows = await db.query<{ id: number; size: number; first: string; last: string }>(
        'SELECT id, length(v) AS size, hex(substr(v, 1, 1)) AS first, hex(substr(v, -1, 1)) AS last FROM t ORDER BY id',
      );
      const [check] = await db.query<{ integrity_check: string }>('PRAGMA integrity_check');
      await db.close();
      return {
        rows: rows.map((row) => [row.id, row.size, parseInt(row.first, 16), parseInt(row.last, 16)] as const),
        check: check?.integrity_check,
      };
    }, name);
    expect(stored.check).toBe('ok');
    expect(stored.rows).toEqual(
      expected.map(([id, code]) => [id, Math.floor(code / 256), code % 256, code % 256]),
    );
    expect(warnings.filter((w) => w.includes('page tracking was lost'))).toEqual([]);
    await page.context().close();
  });
});
