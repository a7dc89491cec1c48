// Where the browser SDK keeps its database when the caller names no store: the origin private file system wherever
// the database worker has sync access handles (Chromium here), else IndexedDB (Chromium started without OPFS, by its
// own runtime flag). A device that kept its database in IndexedDB and is started again with no storage option keeps
// its registration and every pending message: the database is moved into OPFS at that first open.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import {
  deviceOptions,
  emulatorHasAll,
  enqueueMany,
  pageConnected,
  startInPage,
  startPersistentEmulator,
} from './device-page.js';
import { type Browser, gotoPage, launchBrowser, newContext, openPage } from './harness/index.js';
import { scratch } from './harness/scratch.js';
import './pages/globals.js';

/** Chromium's runtime feature behind `navigator.storage.getDirectory()`: off, a worker has no OPFS. */
const WITHOUT_OPFS = ['--disable-blink-features=FileSystemAccessOriginPrivate'];

const { tempDir, cleanup } = scratch();

function idbNames(page: Page): Promise<(string | undefined)[]> {
  return page.evaluate(async () => {
    const idb = (globalThis as unknown as { indexedDB: { databases(): Promise<{ name?: string }[]> } })
      .indexedDB;
    return (await idb.databases()).map((database) => database.name);
  });
}

/** The sizes of database `name`'s OPFS files, or the error that reading them met (no such store). */
function opfsFiles(page: Page, name: string): Promise<Record<string, number> | string> {
  return page.evaluate(
    (name) => globalThis.__opfsFiles!(name).catch((error: Error) => `${error.name}: ${error.message}`),
    name,
  );
}

describe('storage where OPFS is available (the default)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(() => browser?.close());

  it('a database opened with no storage option is kept in OPFS, not in IndexedDB', async () => {
    const context = await newContext(browser);
    cleanup(() => context.close());
    const page = await openPage(context, 'database.html?storage=default');
    const name = `default-${Date.now()}`;
    await page.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)' }]);
      for (let i = 0; i < 50; i++)
        await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [`v${i}`] }]);
      await db.close();
    }, name);
    const files = await opfsFiles(page, name);
    expect(files).toEqual({ pages: expect.any(Number), journal: expect.any(Number) });
    expect((files as Record<string, number>).journal).toBeGreaterThan(50 * 20);
    expect(await idbNames(page)).not.toContain(name);
    // The same store as an explicit `storage: 'opfs'` opens.
    const explicit = await openPage(context, 'database.html?storage=opfs');
    const rows = await explicit.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      const [row] = await db.query<{ n: number }>('SELECT count(*) AS n FROM t');
      await db.close();
      return row!.n;
    }, name);
    expect(rows).toBe(50);
  });

  it('an IndexedDB database written after the move (storage: indexeddb) is left as it is and reported, not deleted', async () => {
    const context = await newContext(browser);
    cleanup(() => context.close());
    const name = `beside-${Date.now()}`;
    const writeRow = (page: Page, value: string) =>
      page.evaluate(
        async ({ name, value }) => {
          const db = await globalThis.__openDatabase!(name);
          const problems: string[] = [];
          db.onProblem?.((problem) => problems.push(problem.message));
          await db.write([{ sql: 'CREATE TABLE IF NOT EXISTS t (v TEXT NOT NULL)' }]);
          await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: [value] }]);
          const rows = await db.query<{ v: string }>('SELECT v FROM t ORDER BY rowid');
          await db.close();
          return { rows: rows.map((row) => row.v), problems };
        },
        { name, value },
      );
    const byDefault = await openPage(context, 'database.html?storage=default');
    expect((await writeRow(byDefault, 'in OPFS')).rows).toEqual(['in OPFS']);
    const inIdb = await openPage(context, 'database.html?storage=indexeddb');
    expect((await writeRow(inIdb, 'in IndexedDB')).rows).toEqual(['in IndexedDB']);
    // The default opens OPFS's again, says what it found beside it, and leaves it.
    const again = await writeRow(byDefault, 'in OPFS again');
    expect(again.rows).toEqual(['in OPFS', 'in OPFS again']);
    expect(again.problems).toEqual([expect.stringMatching(/IndexedDB database .* exists beside/)]);
    expect(await idbNames(byDefault)).toContain(name);
    expect((await writeRow(inIdb, 'in IndexedDB again')).rows).toEqual([
      'in IndexedDB',
      'in IndexedDB again',
    ]);
  });

  it('a device kept in IndexedDB, started again with no storage option, keeps its registration and every pending message', async () => {
    const dataDir = tempDir('spotflow-browser-storage-default-');
    let emulator: TestEmulator = await startPersistentEmulator(dataDir);
    cleanup(() => emulator.close());
    const port = emulator.port;
    const context = await newContext(browser);
    cleanup(() => context.close());
    const database = `upgraded-${Date.now()}`;
    const deviceId = 'upgraded-panel';
    const options = deviceOptions(emulator, { database, deviceId });

    // Before: provisioned on IndexedDB, then messages enqueued with the platform down, past a fold.
    const page = await openPage(context, 'device.html', 'device');
    await startInPage(page, { ...options, storage: 'indexeddb' });
    await pageConnected(page);
    await emulator.close();
    await page.waitForFunction(() => device.client!.connected === false);
    const before = await enqueueMany(page, 2_500);
    await page.evaluate(() => device.client!.close());
    const inspector = await openPage(context, 'database.html', 'inspector');
    expect(await idbNames(inspector)).toContain(database);
    const stored = await inspector.evaluate((name) => globalThis.__idbSummary!(name), database);
    console.log(`in IndexedDB before the upgrade: ${JSON.stringify(stored)}`);
    // Stored as chunks of a fold (and maybe journal records after it), not in the journal alone.
    expect(stored.pagesSeq).toBeGreaterThan(0);
    expect(await opfsFiles(inspector, database)).toMatch(/^NotFoundError/);

    // After: no storage option, platform still down. Only a stored registration lets start resolve now; a device
    // that found none would ask to be provisioned.
    let provisioning = false;
    page.on('request', (request) => {
      if (request.url().includes('/provisioning-operations')) provisioning = true;
    });
    await gotoPage(page, 'device.html');
    await startInPage(page, options);
    expect(provisioning).toBe(false);
    expect(await page.evaluate(() => device.client!.pendingMessagesCount())).toBe(before.length);
    // Moved: OPFS holds it, IndexedDB does not any more.
    const files = await opfsFiles(inspector, database);
    expect(files).toEqual({ pages: expect.any(Number), journal: expect.any(Number) });
    expect((files as Record<string, number>).pages).toBeGreaterThan(0);
    expect(await idbNames(inspector)).not.toContain(database);
    const after = await enqueueMany(page, 100, before.length);

    // Every message, before and after the move, arrives once the platform is back, with its own payload.
    emulator = await startPersistentEmulator(dataDir, port);
    await emulatorHasAll(emulator, deviceId, [...before, ...after]);
    const firsts = (await emulator.api.allMessages(deviceId)).filter((m) => !m.duplicate);
    expect(new Set(firsts.map((m) => m.mid)).size).toBe(firsts.length);
    const byId = new Map(
      firsts.map((m) => [m.mid, JSON.parse(Buffer.from(m.payloadBase64, 'base64').toString())]),
    );
    const ids = [...before, ...after];
    expect(ids.map((id) => byId.get(id))).toEqual(ids.map((_, n) => ({ n })));
  }, 120_000);
});

describe('storage where OPFS is not available', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser(WITHOUT_OPFS);
  });
  afterAll(() => browser?.close());

  it('a database opened with no storage option is kept in IndexedDB; an explicit opfs is refused', async () => {
    const context = await newContext(browser);
    cleanup(() => context.close());
    const page = await openPage(context, 'database.html?storage=default');
    const name = `fallback-${Date.now()}`;
    await page.evaluate(async (name) => {
      const db = await globalThis.__openDatabase!(name);
      await db.write([{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)' }]);
      await db.write([{ sql: 'INSERT INTO t (v) VALUES (?)', params: ['kept'] }]);
      await db.close();
    }, name);
    expect(await idbNames(page)).toContain(name);
    const summary = await page.evaluate((name) => globalThis.__idbSummary!(name), name);
    expect(summary.journalRecords + summary.pagesSeq).toBeGreaterThanOrEqual(2);

    const explicit = await openPage(context, 'database.html?storage=opfs');
    const refused = await explicit.evaluate(async (name) => {
      try {
        const db = await globalThis.__openDatabase!(name);
        await db.close();
        return 'opened';
      } catch (error) {
        return `${(error as { code?: string }).code}: ${(error as Error).message}`;
      }
    }, name);
    // The worker's own finding (no sync access handles), so the default above was its choice, not an accident.
    expect(refused).toMatch(/^DATABASE_UNAVAILABLE: .*no sync access handles.*storage: 'indexeddb'/);
  });

  it('DeviceClient.start with no storage option starts on IndexedDB; with storage opfs it fails with DATABASE_UNAVAILABLE', async () => {
    const emulator = await startTestEmulator({ settings: { autoApprove: true } });
    cleanup(() => emulator.close());
    const context = await newContext(browser);
    cleanup(() => context.close());
    const page = await openPage(context, 'device.html');
    const database = `fallback-device-${Date.now()}`;
    const options = deviceOptions(emulator, { database, deviceId: 'fallback-panel' });
    await startInPage(page, options);
    await pageConnected(page);
    await page.evaluate(() => device.client!.close());
    expect(await idbNames(page)).toContain(database);
    const refused = await page.evaluate(async (options) => {
      try {
        const client = await spotflow.DeviceClient.start({
          ...(options as Record<string, unknown>),
          storage: 'opfs',
        } as never);
        await client.close();
        return 'started';
      } catch (error) {
        return `${(error as { code?: string }).code}: ${(error as Error).message}`;
      }
    }, options);
    expect(refused).toMatch(/^DATABASE_UNAVAILABLE: .*origin private file system: this browser has no sync/);
  });
});
