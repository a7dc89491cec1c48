// The whole technician flow of `npm start`, in Chromium: the kiosk shows a code (fitting 800×480 and 1024×600
// panels, QR code included), the technician approves it in the portal, the kiosk connects and its readings appear
// in the portal live; the panel opens its service page, a second window on the same device (`shared: true`), which
// shows it connected and sends a message of its own; the portal changes the sampling interval (the kiosk applies
// and reports it, both windows show it), calls `identify` (the kiosk flashes, the portal shows the answer) and
// sends a cloud-to-device message (the kiosk shows it). Screenshots of the pages go to test-results/screenshots/
// (the README's pictures are copies of them).
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

/** The common HMI panel sizes the kiosk must fit without scrolling. */
const panelSizes = [
  { width: 800, height: 480 },
  { width: 1024, height: 600 },
];

/**
 * At each panel size: the document does not scroll either way, and each of `hooks` is shown whole inside the
 * viewport. Screenshots `<name>-<w>x<h>.png`; the page is left at 1280×800.
 */
async function expectFitsPanels(page: Page, name: string, hooks: string[]): Promise<void> {
  for (const size of panelSizes) {
    await page.setViewportSize(size);
    const fits = await page.evaluate<{
      height: number;
      width: number;
      innerHeight: number;
      innerWidth: number;
    }>(
      '({ height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth, innerHeight, innerWidth })',
    );
    const at = `${name} at ${size.width}×${size.height}`;
    expect(fits.height, `${at}: scrollHeight`).toBeLessThanOrEqual(fits.innerHeight);
    expect(fits.width, `${at}: scrollWidth`).toBeLessThanOrEqual(fits.innerWidth);
    for (const hook of hooks) {
      const box = await page.locator(`[data-test="${hook}"]`).boundingBox();
      expect(box, `${at}: ${hook} shown`).not.toBeNull();
      expect(box!.x, `${at}: ${hook} left`).toBeGreaterThanOrEqual(0);
      expect(box!.y, `${at}: ${hook} top`).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width, `${at}: ${hook} right`).toBeLessThanOrEqual(size.width);
      expect(box!.y + box!.height, `${at}: ${hook} bottom`).toBeLessThanOrEqual(size.height);
    }
    await page.screenshot({ path: join(screenshots, `${name}-${size.width}x${size.height}.png`) });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

describe('the technician flow (npm start, kiosk and portal in Chromium)', () => {
  it('approves the kiosk from the portal and operates it: live readings, twin, identify, C2D', async () => {
    const kiosk = await open(urls.kiosk, 'kiosk');
    await kiosk.locator('[data-test="verification-code"]').filter({ hasText: /\S/ }).waitFor();
    const shownCode = (await text(kiosk, 'verification-code'))!.trim();
    await kiosk.screenshot({ path: join(screenshots, 'kiosk-provisioning.png') });
    await expectFitsPanels(kiosk, 'kiosk-provisioning', ['verification-code', 'qr']);
    // A QR code a phone can scan from a step away, not one shrunk to fit.
    await kiosk.setViewportSize(panelSizes[0]!);
    expect((await kiosk.locator('[data-test="qr"]').boundingBox())!.height).toBeGreaterThanOrEqual(240);
    await kiosk.setViewportSize({ width: 1280, height: 800 });

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

    // The panel's service page: a second window on the same device, connected through the panel's client.
    const [service] = await Promise.all([
      kiosk.context().waitForEvent('page'),
      kiosk.locator('[data-test="service-open"]').click(),
    ]);
    service.setDefaultTimeout(30_000);
    logPageProblems(service, 'service page');
    await service.setViewportSize({ width: 1280, height: 800 });
    await service.locator('[data-test="connection-state"]', { hasText: /^connected$/ }).waitFor();
    expect(await text(service, 'device-id')).toBe('kiosk-1');
    expect(await service.locator('[data-test="notice"]').isVisible()).toBe(false);

    // Its own message, acknowledged by the hub, arrives in the portal with the id the page shows.
    await service.locator('[data-test="service-send"]').click();
    const sentId = service.locator('[data-test="service-sent-id"]').filter({ hasText: /\S/ });
    await sentId.waitFor();
    const id = (await sentId.textContent())!.trim();
    const check = portal.locator('[data-test="messages"] [data-test="message"][data-stream="service"]');
    await check.first().click();
    await portal.locator('[data-test="message-detail"]', { hasText: `mid ${id}` }).waitFor();
    expect(await check.count()).toBe(1);
    expect(await portal.locator('[data-test="message-detail-payload"]').textContent()).toContain(
      'service check',
    );

    // The sampling interval set in the twin editor is applied by the kiosk and reported back; both windows show it.
    await portal.locator('[data-test="desired-patch"]').fill('{ "samplingIntervalMs": 250 }');
    await portal.locator('[data-test="desired-submit"]').click();
    await portal.locator('[data-test="desired-result"][data-state="ok"]').waitFor();
    await kiosk.locator('[data-test="sampling-interval"]', { hasText: /^250$/ }).waitFor();
    await service.locator('[data-test="desired-sampling-interval"]', { hasText: /^250$/ }).waitFor();
    await service.locator('[data-test="desired-state"]', { hasText: '"samplingIntervalMs":250' }).waitFor();
    await portal.locator('[data-test="twin-reported"]', { hasText: '"samplingIntervalMs": 250' }).waitFor();
    await service.locator('[data-test="reported-state"]', { hasText: '"samplingIntervalMs": 250' }).waitFor();
    // The panel's readings, sent by whichever window owns the connection, are heard in the service page too.
    await expect
      .poll(async () => Number(await text(service, 'sent-count')), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(3);

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
    await service.screenshot({ path: join(screenshots, 'service.png') });
    await expectFitsPanels(kiosk, 'kiosk', ['cloud-messages', 'reported-state']);
    await expectFitsPanels(service, 'service', ['service-send', 'service-sent-id']);
    // From the top: the side column is sticky, and the forms above scrolled the page.
    await portal.mouse.wheel(0, -100_000);
    await portal.screenshot({ path: join(screenshots, 'portal.png'), fullPage: true });
  }, 120_000);
});
