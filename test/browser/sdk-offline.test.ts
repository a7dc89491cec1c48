// Offline-first in a page: messages enqueued while the platform is down survive a reload and a SIGKILL of the
// whole browser (a kiosk losing power), and all arrive once the platform is back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TestEmulator } from '../helpers/emulator.js';
import {
  deviceOptions,
  emulatorHasAll,
  enqueueMany,
  pageConnected,
  startInPage,
  startPersistentEmulator,
} from './device-page.js';
import { gotoPage, launchBrowser, newContext, openPage, startKillableBrowser } from './harness/index.js';

const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function persistentEmulator(dataDir: string, port = 0): Promise<TestEmulator> {
  const emulator = await startPersistentEmulator(dataDir, port);
  cleanups.push(() => emulator.close());
  return emulator;
}

async function pending(page: Page): Promise<number> {
  return page.evaluate(() => device.client!.pendingMessagesCount());
}

describe('offline-first in a page', () => {
  it('delivers messages enqueued while the emulator was down, across a reload', async () => {
    const dataDir = tempDir('spotflow-browser-offline-');
    let emulator = await persistentEmulator(dataDir);
    const port = emulator.port;
    const browser = await launchBrowser();
    cleanups.push(() => browser.close());
    const page = await openPage(await newContext(browser), 'device.html');
    const options = deviceOptions(emulator, { database: `offline-${Date.now()}`, deviceId: 'offline-panel' });
    await startInPage(page, options);
    await pageConnected(page);

    await emulator.close();
    await page.waitForFunction(() => device.client!.connected === false);
    const before = await enqueueMany(page, 1_000, 0);
    expect(await pending(page)).toBe(1_000);

    await gotoPage(page, 'device.html');
    await startInPage(page, options); // offline: from the stored registration
    const after = await enqueueMany(page, 500, 1_000);
    expect(await pending(page)).toBe(1_500);

    emulator = await persistentEmulator(dataDir, port);
    const messages = await emulatorHasAll(emulator, 'offline-panel', [...before, ...after]);
    // At least once: anything received twice carries the same id and is flagged.
    const firsts = messages.filter((m) => !m.duplicate);
    expect(new Set(firsts.map((m) => m.mid)).size).toBe(firsts.length);
    await page.evaluate(() => device.client!.waitEnqueuedMessagesSent());
    expect(await pending(page)).toBe(0);
  });

  it('delivers every enqueue that resolved before the whole browser was SIGKILLed mid-burst', async () => {
    const dataDir = tempDir('spotflow-browser-kill-emulator-');
    const profile = tempDir('spotflow-browser-kill-profile-');
    let emulator = await persistentEmulator(dataDir);
    const port = emulator.port;
    const options = deviceOptions(emulator, { database: 'kiosk', deviceId: 'killed-panel' });

    let chromium = await startKillableBrowser(profile);
    cleanups.push(() => chromium.kill());
    let page = await chromium.context.newPage();
    await gotoPage(page, 'device.html');
    await startInPage(page, options);
    // Offline, so that every resolved enqueue can only come back from what the page stored.
    await emulator.close();
    // A long burst that is still going when the browser dies.
    await page.evaluate(() => {
      void (async () => {
        for (let i = 0; ; i++) {
          const { id } = await device.client!.enqueueMessage(
            { i, filler: 'x'.repeat(200) },
            { stream: 'burst' },
          );
          device.resolved.push(id);
        }
      })().catch(() => {});
    });
    await page.waitForFunction(() => device.resolved.length >= 1_500, null, { timeout: 60_000 });
    const resolved = await page.evaluate(() => device.resolved.slice());
    await chromium.kill();

    chromium = await startKillableBrowser(profile);
    cleanups.push(() => chromium.kill());
    page = await chromium.context.newPage();
    await gotoPage(page, 'device.html');
    await startInPage(page, options);
    emulator = await persistentEmulator(dataDir, port);
    await emulatorHasAll(emulator, 'killed-panel', resolved);
    console.log(
      `SIGKILL mid-burst: ${resolved.length} resolved enqueues before the kill, all delivered after it`,
    );
  });
});
