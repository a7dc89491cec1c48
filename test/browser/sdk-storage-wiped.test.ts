// Chromium deleting the origin's IndexedDB under the client (issue 17): after a crash tore the last record of its
// LevelDB log, a later start finds the log unreadable and deletes the whole store (sdk-kill-folds.test.ts meets it
// with real kills, in about half its runs). Here the torn record is made by hand, so that it happens every time:
// after a kill, 7 bytes (a record header whose payload never came) are appended to the store's log, which is what
// a kill in the middle of a LevelDB write leaves. This is the one fault in these tests made by editing a file; a real
// kill makes the same bytes, but only sometimes.
//
// The client cannot bring back what the browser deleted. What it must do: say so, once, clearly (DATABASE_CORRUPT
// on the logger, as no `error` listener can be added before `start` resolves) and provision again, instead of
// starting from nothing without a word.
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { deviceOptions, enqueueMany, pageConnected, startInPage } from './device-page.js';
import { type KillableBrowser, openKillablePage } from './harness/index.js';
import { scratch } from './harness/scratch.js';
import { Link } from './harness/storage-faults.js';

const DATABASE = 'kiosk-wiped';
/** A LevelDB log record header (checksum, length 64, type FULL) with no payload after it. */
const TORN_HEADER = Buffer.from([0x11, 0x22, 0x33, 0x44, 0x40, 0x00, 0x01]);

const { tempDir, cleanup } = scratch();

/** The LevelDB log Chromium writes the origin's IndexedDB to now (the highest-numbered one). */
function currentLog(profile: string): string {
  const base = join(profile, 'Default', 'IndexedDB');
  const store = readdirSync(base).find((entry) => entry.endsWith('.indexeddb.leveldb'));
  if (store === undefined) throw new Error(`no IndexedDB LevelDB store in ${base}`);
  const logs = readdirSync(join(base, store))
    .filter((file) => /^\d+\.log$/.test(file))
    .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
  if (logs.length === 0) throw new Error(`no log in ${store}`);
  return join(base, store, logs.at(-1)!);
}

describe('the browser deletes the IndexedDB store under the client', () => {
  it('says so once, as DATABASE_CORRUPT, and provisions again', async () => {
    const link = await Link.start(tempDir('spotflow-browser-wiped-emulator-'));
    cleanup(() => link.close());
    const profile = tempDir('spotflow-browser-wiped-profile-');
    const deviceId = 'wiped-panel';
    // IndexedDB's own LevelDB log is torn here: not the default store where OPFS exists.
    const options = deviceOptions(link.emulator, { database: DATABASE, deviceId, storage: 'indexeddb' });
    let chromium: KillableBrowser | undefined;
    const consoleErrors: string[] = [];
    const restart = async (): Promise<Page> => {
      let page: Page;
      ({ chromium, page } = await openKillablePage(profile, 'device.html', {
        label: 'kiosk',
        cleanup,
        onConsole: (message) => {
          if (message.type() === 'error') consoleErrors.push(message.text());
        },
      }));
      return page;
    };

    // Provisioned, then three messages stored with the link down; the browser killed.
    let page = await restart();
    await startInPage(page, options);
    await pageConnected(page);
    await link.pause();
    await page.waitForFunction(() => device.client!.connected === false);
    await enqueueMany(page, 3);
    await chromium!.kill();

    // A kill tore the log's last record; the next start still reads everything (LevelDB takes a torn tail for the
    // end of the log) and writes after it.
    appendFileSync(currentLog(profile), TORN_HEADER);
    page = await restart();
    await startInPage(page, options);
    expect(await page.evaluate(() => device.client!.pendingMessagesCount())).toBe(3);
    await enqueueMany(page, 2, 3);
    expect(await page.evaluate(() => device.client!.pendingMessagesCount())).toBe(5);
    await chromium!.kill();

    // The start after that: Chromium cannot read its log and deletes the store. The client says so and provisions
    // again (the emulator approves by itself).
    await link.resume();
    page = await restart();
    await startInPage(page, options);
    await pageConnected(page);
    const reports = consoleErrors.filter((text) => text.includes('DATABASE_CORRUPT'));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain(`The browser deleted the IndexedDB database ${DATABASE}`);
    expect(reports[0]).toContain('the device provisions again');
    expect(await page.evaluate(() => device.client!.pendingMessagesCount())).toBe(0);
  }, 120_000);
});
