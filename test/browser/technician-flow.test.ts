// The whole technician flow of `npm start`, in Chromium: the kiosk shows a code, the technician approves it in the
// portal, the kiosk connects and its readings appear in the portal live; the portal changes the sampling interval
// (the kiosk applies and reports it), calls `identify` (the kiosk flashes, the portal shows the answer) and sends
// a cloud-to-device message (the kiosk shows it). Screenshots of both pages go to test-results/screenshots/ (the
// README's pictures are copies of them).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUrls, demoRunner, demoUrls } from '../helpers/npm-start.js';
import { launchBrowser, logPageProblems, newContext } from './harness/index.js';

const screenshots = join(import.meta.dirname, '../../test-results/screenshots');
const demo = demoRunner('spotflow-technician-flow-');
let browser: Browser;
let urls: DemoUrls;

beforeAll(async () => {
  urls = await demoUrls(demo.run(['--port', '0', '--kiosk-port', '0', '--no-node-device']));
  browser = await launchBrowser();
  mkdirSync(screenshots, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  demo.cleanup();
});

async function open(url: string, label: string): Promise<Page> {
  const page = await (await newContext(browser)).newPage();
  page.setDefaultTimeout(30_000);
  await page.setViewportSize({ width: 1280, height: 800 });
  logPageProblems(page, label);
  await page.goto(url);
  return page;
}

const text = (page: Page, hook: string) => page.locator(`[data-test="${hook}"]`).first().textContent();

describe('the technician flow (npm start, kiosk and portal in Chromium)', () => {
  it('approves the kiosk from the portal and operates it: live readings, twin, identify, C2D', async () => {
    const kiosk = await open(urls.kiosk, 'kiosk');
    await kiosk.locator('[data-test="verification-code"]').filter({ hasText: /\S/ }).waitFor();
    const shownCode = (await text(kiosk, 'verification-code'))!.trim();
    await kiosk.screenshot({ path: join(screenshots, 'kiosk-provisioning.png') });

    const portal = await open(urls.portal, 'portal');
    const operation = portal.locator(`[data-test="operation"][data-verification-code="${shownCode}"]`);
    await operation.locator('[data-test="operation-approve"]').click();
    await kiosk.locator('[data-test="connection-state"]', { hasText: /^connected$/ }).waitFor();

    // Readings appear in the portal as they arrive (live, not on a reload).
    await portal.locator('[data-test="device"][data-device-id="kiosk-1"]').click();
    const readings = portal.locator('[data-test="messages"] [data-test="message"][data-stream="readings"]');
    await readings.first().waitFor();
    const before = await readings.count();
    await expect.poll(() => readings.count(), { timeout: 15_000 }).toBeGreaterThan(before);
    expect(await readings.first().locator('[data-test="message-payload"]').textContent()).toMatch(
      /temperature/,
    );

    // The sampling interval set in the twin editor is applied by the kiosk and reported back.
    await portal.locator('[data-test="desired-patch"]').fill('{ "samplingIntervalMs": 250 }');
    await portal.locator('[data-test="desired-submit"]').click();
    await portal.locator('[data-test="desired-result"][data-state="ok"]').waitFor();
    await kiosk.locator('[data-test="sampling-interval"]', { hasText: /^250$/ }).waitFor();
    await portal.locator('[data-test="twin-reported"]', { hasText: '"samplingIntervalMs": 250' }).waitFor();

    // identify: the kiosk flashes, the portal shows the answer.
    await portal.locator('[data-test="method-name"]').fill('identify');
    await portal.locator('[data-test="method-payload"]').fill('{ "seconds": 5 }');
    await portal.locator('[data-test="method-submit"]').click();
    await kiosk.locator('[data-test="panel"][data-identifying="true"]').waitFor();
    await portal.locator('[data-test="method-response"]', { hasText: 'identified' }).waitFor();

    // A cloud-to-device message reaches the kiosk.
    await portal.locator('[data-test="c2d-body"]').fill('Shift change at 14:00');
    await portal.locator('[data-test="c2d-submit"]').click();
    await kiosk.locator('[data-test="cloud-message"]', { hasText: 'Shift change at 14:00' }).waitFor();

    await kiosk.screenshot({ path: join(screenshots, 'kiosk.png') });
    // From the top: the side column is sticky, and the forms above scrolled the page.
    await portal.mouse.wheel(0, -100_000);
    await portal.screenshot({ path: join(screenshots, 'portal.png'), fullPage: true });
  }, 120_000);
});
