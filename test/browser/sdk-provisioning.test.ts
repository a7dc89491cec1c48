// Provisioning in a page: the verification code reaches the page's callback, a technician approves it through the
// management API, the page connects and sends; a reload starts at once from the stored registration.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import {
  approveShown,
  beginStart,
  deviceOptions,
  emulatorHasAll,
  pageConnected,
  started,
  startInPage,
} from './device-page.js';
import { gotoPage, launchBrowser, newContext, openPage } from './harness/index.js';

let emulator: TestEmulator;
let browser: Browser;

beforeAll(async () => {
  emulator = await startTestEmulator({ settings: { autoApprove: false } });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await emulator?.close();
});

describe('provisioning in a page', () => {
  it('shows the code, connects once approved, and starts at once after a reload', async () => {
    const context = await newContext(browser);
    const page = await openPage(context, 'device.html');
    const options = deviceOptions(emulator, { database: `kiosk-${Date.now()}`, deviceId: 'panel-1' });

    await beginStart(page, options);
    const code = await approveShown(page, emulator);
    expect(code).toMatch(/\S/);
    await started(page);
    await pageConnected(page);
    const sent = await page.evaluate(async () => {
      await device.client!.sendMessage({ hello: 'from a page' }, { stream: 'kiosk' });
      return { workspaceId: device.client!.workspaceId, deviceId: device.client!.deviceId };
    });
    expect(sent).toEqual({ workspaceId: emulator.workspaceId, deviceId: 'panel-1' });

    // A reload: the page's client was never closed (as when a kiosk reloads), and its lock died with the page.
    await gotoPage(page, 'device.html');
    const began = Date.now();
    await startInPage(page, options);
    const startMs = Date.now() - began;
    expect(await page.evaluate(() => device.operations.length)).toBe(0);
    await pageConnected(page);
    const { id } = await page.evaluate(() =>
      device.client!.sendMessage({ again: true }, { stream: 'kiosk' }),
    );
    await emulatorHasAll(emulator, 'panel-1', [id]);
    console.log(`start after reload, from the stored registration: ${startMs} ms`);
    await context.close();
  });
});
