import { describe, expect, it } from 'vitest';
import {
  approveShown,
  beginStart,
  deviceOptions,
  emulatorAndBrowser,
  emulatorHasAll,
  pageConnected,
  started,
  startInPage,
} from './device-page.js';
import { gotoPage, newContext, openPage } from './harness/index.js';

const bed = emulatorAndBrowser({ autoApprove: false });

describe('provisioning in a page', () => {
  it('shows the code, connects once approved, and starts at once after a reload', async () => {
    const context = await newContext(bed.browser);
    const page = await openPage(context, 'device.html');
    const options = deviceOptions(bed.emulator, { database: `kiosk-${Date.now()}`, deviceId: 'panel-1' });

    await beginStart(page, options);
    const code = await approveShown(page, bed.emulator);
    expect(code).toMatch(/\S/);
    await started(page);
    await pageConnected(page);
    const sent = await page.evaluate(async () => {
      await device.client!.sendMessage({ hello: 'from a page' }, { stream: 'kiosk' });
      return { workspaceId: device.client!.workspaceId, deviceId: device.client!.deviceId };
    });
    expect(sent).toEqual({ workspaceId: bed.emulator.workspaceId, deviceId: 'panel-1' });

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
    await emulatorHasAll(bed.emulator, 'panel-1', [id]);
    console.log(`start after reload, from the stored registration: ${startMs} ms`);
    await context.close();
  });
});
