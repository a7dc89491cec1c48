/** Opening the emulator's portal in a browser context, as a technician who followed the printed link would. */
import type { BrowserContext, Page } from 'playwright-core';
import type { TestEmulator } from '../helpers/emulator.js';
import { logPageProblems } from './harness/index.js';

/** A page of `context` with the portal signed in (the API token in the fragment), its live stream up, on a device. */
export async function openPortalOnDevice(
  context: BrowserContext,
  emulator: TestEmulator,
  deviceId: string,
): Promise<Page> {
  const page = await context.newPage();
  logPageProblems(page, 'portal');
  const fragment = new URLSearchParams({ apiToken: emulator.apiToken, device: deviceId });
  await page.goto(`${emulator.instance}/portal#${fragment}`);
  await page.locator('[data-test=live-status][data-state=live]').waitFor();
  await page.locator(`[data-test=device-panel][data-device-id="${deviceId}"]`).waitFor();
  return page;
}
