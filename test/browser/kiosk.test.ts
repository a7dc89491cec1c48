// The kiosk demo (demo/kiosk/) as built for users, in Chromium, served from another origin than the emulator:
// provisioning through its code and QR deep link, readings, the desired sampling interval, identify, cloud
// messages shown as text, an outage, a reload, a second tab and a bad config.json. The panel is read only
// through its data-test hooks (demo/kiosk/README.md). Every wait is bounded.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changes,
  readIdentifySeconds,
  readSamplingInterval,
  reportedPatch,
} from '../../demo/shared/settings.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { operations } from '../helpers/provisioning.js';
import {
  BROWSER_TIMEOUT_MS,
  type Browser,
  launchBrowser,
  logPageProblems,
  newContext,
} from './harness/index.js';
import { type StaticServer, serveStatic } from './harness/static-server.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const screenshots = join(repo, 'test-results', 'screenshots');
const deviceId = 'kiosk-1';
const WAIT_MS = 30_000;

let outDir: string;
let dataDir: string;
let emulator: TestEmulator;
let server: StaticServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const dialogs: string[] = [];

/** The emulator keeps its state in `dataDir`, so the outage test can stop it and start it again on its port. */
function startEmulator(port = 0): Promise<TestEmulator> {
  return startTestEmulator({ memory: false, dataDir, port, settings: { autoApprove: false } });
}

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'spotflow-kiosk-build-'));
  dataDir = mkdtempSync(join(tmpdir(), 'spotflow-kiosk-emulator-'));
  await build({
    configFile: join(repo, 'demo/kiosk/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, minify: false, sourcemap: true },
  });
  emulator = await startEmulator();
  writeFileSync(
    join(outDir, 'config.json'),
    JSON.stringify({
      instance: emulator.instance,
      provisioningToken: emulator.provisioningToken,
      portalUrl: emulator.portalUrl,
      deviceId,
      database: `kiosk-test-${Date.now()}`,
    }),
  );
  server = await serveStatic(outDir);
  browser = await launchBrowser();
  context = await newContext(browser);
  page = await kioskPage(context, 'kiosk');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await emulator?.close();
  for (const dir of [outDir, dataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function kioskPage(context: BrowserContext, label: string): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  logPageProblems(page, label);
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(server.url, { waitUntil: 'load' });
  return page;
}

const hook = (name: string) => `[data-test="${name}"]`;

async function text(page: Page, name: string): Promise<string> {
  return (await page.locator(hook(name)).first().textContent()) ?? '';
}

/** Waits until the hook's text satisfies `accept` (a string means equal); returns that text. */
function waitForText(
  page: Page,
  name: string,
  accept: string | ((text: string) => boolean),
  timeout = WAIT_MS,
): Promise<string> {
  const ok = typeof accept === 'string' ? (t: string) => t === accept : accept;
  return until(
    `${name} to show ${typeof accept === 'string' ? JSON.stringify(accept) : accept.toString()}`,
    async () => {
      const shown = await text(page, name);
      return ok(shown) ? shown : undefined;
    },
    timeout,
  );
}

/** Polls `probe` until it returns something other than undefined, for at most `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Reading {
  temperature: number;
  humidity: number;
  at: string;
}

async function readings(): Promise<Reading[]> {
  const messages = await emulator.api.allMessages(deviceId);
  return messages
    .filter((m) => m.stream === 'readings')
    .map((m) => JSON.parse(Buffer.from(m.payloadBase64, 'base64').toString('utf8')) as Reading);
}

const portalBase = () => emulator.portalUrl.slice(0, emulator.portalUrl.indexOf('#'));

describe('kiosk rules', () => {
  it('takes a sampling interval that is an integer from 100 to 60000, and the default when none is desired', () => {
    expect(readSamplingInterval({})).toEqual({ ok: true, intervalMs: 1000 });
    expect(readSamplingInterval({ samplingIntervalMs: null })).toEqual({ ok: true, intervalMs: 1000 });
    for (const good of [100, 250, 60_000]) {
      expect(readSamplingInterval({ samplingIntervalMs: good })).toEqual({ ok: true, intervalMs: good });
    }
    for (const bad of [99, 60_001, 250.5, '250', true, [250], { ms: 250 }, Number.NaN]) {
      const setting = readSamplingInterval({ samplingIntervalMs: bad });
      expect(setting.ok, JSON.stringify(bad)).toBe(false);
    }
  });

  it('reports the applied interval, and an error without changing it', () => {
    expect(reportedPatch({ ok: true, intervalMs: 250 }, 250, 'kiosk-demo 1.0')).toEqual({
      samplingIntervalMs: 250,
      firmware: 'kiosk-demo 1.0',
      lastConfigError: null,
    });
    expect(reportedPatch({ ok: false, error: 'no' }, 250, 'kiosk-demo 1.0')).toEqual({
      samplingIntervalMs: 250,
      firmware: 'kiosk-demo 1.0',
      lastConfigError: 'no',
    });
    expect(changes({ samplingIntervalMs: 250, firmware: 'kiosk-demo 1.0' }, { lastConfigError: null })).toBe(
      false,
    );
    expect(changes({ lastConfigError: 'no' }, { lastConfigError: null })).toBe(true);
    expect(changes({ samplingIntervalMs: 250 }, { samplingIntervalMs: 500 })).toBe(true);
  });

  it('reads identify payloads: seconds above 0 up to 60, default 3', () => {
    expect(readIdentifySeconds(null)).toEqual({ seconds: 3 });
    expect(readIdentifySeconds({})).toEqual({ seconds: 3 });
    expect(readIdentifySeconds({ seconds: 0.5 })).toEqual({ seconds: 0.5 });
    for (const bad of [{ seconds: 0 }, { seconds: 61 }, { seconds: '3' }, 3, 'x', [1]]) {
      expect('error' in readIdentifySeconds(bad), JSON.stringify(bad)).toBe(true);
    }
  });
});

describe('kiosk demo', () => {
  it('shows the verification code large, and a QR code of the portal deep link to the operation (no token)', async () => {
    const code = await waitForText(page, 'verification-code', (t) => t.length > 0);
    expect(await text(page, 'connection-state')).toBe('waiting-for-approval');
    const pending = await operations(emulator, 'pending');
    const operation = pending.find((op) => op.verificationCode === code);
    expect(operation, `a pending operation with the code ${code}`).toBeDefined();
    expect(operation!.deviceId).toBe(deviceId);

    const qr = page.locator(hook('qr'));
    const url = await qr.getAttribute('data-url');
    expect(url).toBe(`${portalBase()}#operation=${encodeURIComponent(operation!.provisioningOperationId)}`);
    expect(url).not.toContain(emulator.provisioningToken);
    expect(url).not.toContain(emulator.apiToken);
    expect(url).not.toMatch(/token/i);
    expect(await qr.evaluate((svg) => svg.tagName.toLowerCase())).toBe('svg');
    expect((await qr.locator('path').getAttribute('d'))?.length).toBeGreaterThan(500);
    expect(await page.locator(hook('portal-link')).getAttribute('href')).toBe(url);
    const fontSize = await page
      .locator(hook('verification-code'))
      .evaluate((element) => Number.parseFloat((globalThis as any).getComputedStyle(element).fontSize));
    expect(fontSize).toBeGreaterThanOrEqual(48);
    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: join(screenshots, 'kiosk-provisioning.png') });
  });

  it('turns connected once a technician approves, and sends readings to the stream "readings"', async () => {
    const code = await text(page, 'verification-code');
    const operation = (await operations(emulator, 'pending')).find((op) => op.verificationCode === code)!;
    expect((await emulator.api.approve(operation.provisioningOperationId)).status).toBe(200);
    await waitForText(page, 'connection-state', 'connected');
    expect(await text(page, 'device-id')).toBe(deviceId);
    expect(await page.locator(hook('verification-code')).isVisible()).toBe(false);
    const sent = await until('three readings in the emulator', async () => {
      const all = await readings();
      return all.length >= 3 ? all : undefined;
    });
    for (const reading of sent) {
      expect(reading).toEqual({
        temperature: expect.any(Number),
        humidity: expect.any(Number),
        at: expect.any(String),
      });
    }
    await waitForText(page, 'sent-count', (t) => Number(t) >= 3);
    expect(await text(page, 'pending-count')).toMatch(/^\d+$/);
    expect(await text(page, 'sampling-interval')).toBe('1000');
    expect(await text(page, 'last-reading')).toContain('°C');
  });

  it('applies a desired samplingIntervalMs at once and reports it; an invalid one is ignored and reported', async () => {
    const patched = await emulator.api.request('PATCH', `/devices/${deviceId}/twin/desired`, {
      samplingIntervalMs: 250,
    });
    expect(patched.status).toBe(200);
    await waitForText(page, 'sampling-interval', '250');
    const twin = await until('the reported interval', async () => {
      const twin = await emulator.api.twin(deviceId);
      return twin.reported?.samplingIntervalMs === 250 ? twin : undefined;
    });
    expect(twin.reported).toMatchObject({ samplingIntervalMs: 250, firmware: 'kiosk-demo 1.0' });
    expect(twin.reported.lastConfigError).toBeUndefined();
    await page.waitForSelector(`${hook('reported-state')}[data-sent="true"]`, { timeout: WAIT_MS });
    expect(JSON.parse(await text(page, 'reported-state'))).toMatchObject({ samplingIntervalMs: 250 });

    // Readings now come about every 250 ms.
    const changedAt = Date.now();
    const recent = await until('eight readings at the new interval', async () => {
      const fresh = (await readings()).filter((r) => Date.parse(r.at) > changedAt);
      return fresh.length >= 8 ? fresh : undefined;
    });
    const gaps = recent.slice(1).map((r, i) => Date.parse(r.at) - Date.parse(recent[i]!.at));
    const median = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThanOrEqual(200);
    expect(median).toBeLessThan(750);

    await emulator.api.request('PATCH', `/devices/${deviceId}/twin/desired`, { samplingIntervalMs: 5 });
    const refused = await until('the reported config error', async () => {
      const twin = await emulator.api.twin(deviceId);
      return typeof twin.reported?.lastConfigError === 'string' ? twin : undefined;
    });
    expect(refused.reported.lastConfigError).toContain('samplingIntervalMs 5 ignored');
    expect(refused.reported.samplingIntervalMs).toBe(250);
    expect(await text(page, 'sampling-interval')).toBe('250');

    await emulator.api.request('PATCH', `/devices/${deviceId}/twin/desired`, { samplingIntervalMs: 250 });
    await until('the config error cleared', async () => {
      const twin = await emulator.api.twin(deviceId);
      return twin.reported?.lastConfigError === undefined ? true : undefined;
    });
    await page.waitForSelector(`${hook('reported-state')}[data-sent="true"]`, { timeout: WAIT_MS });
    expect(JSON.parse(await text(page, 'reported-state'))).toEqual({
      samplingIntervalMs: 250,
      firmware: 'kiosk-demo 1.0',
    });
  });

  it('answers identify and flashes the panel', async () => {
    const invoked = await emulator.api.request(
      'POST',
      `/devices/${deviceId}/methods/identify?timeoutSeconds=10`,
      { seconds: 4 },
    );
    expect(invoked.body).toEqual({ status: 200, payload: { identified: true, seconds: 4 } });
    const panel = page.locator(hook('panel'));
    expect(await panel.getAttribute('data-identifying')).toBe('true');
    expect(
      await panel.evaluate((element) => (globalThis as any).getComputedStyle(element).animationName),
    ).toBe('identify');
    await page.waitForSelector(`${hook('panel')}[data-identifying="false"]`, { timeout: 15_000 });

    const byDefault = await emulator.api.request(
      'POST',
      `/devices/${deviceId}/methods/identify?timeoutSeconds=10`,
    );
    expect(byDefault.body).toEqual({ status: 200, payload: { identified: true, seconds: 3 } });
    const refused = await emulator.api.request(
      'POST',
      `/devices/${deviceId}/methods/identify?timeoutSeconds=10`,
      { seconds: 'long' },
    );
    expect(refused.body).toMatchObject({ status: 400 });
  });

  it('shows cloud-to-device messages as text, never as HTML', async () => {
    const markup = '<img src=x onerror=alert(1)>';
    const sent = await emulator.api.request(
      'POST',
      `/devices/${deviceId}/c2d-messages?colour=${encodeURIComponent('<b>red</b>')}`,
      undefined,
      { body: markup },
    );
    expect(sent.status).toBe(202);
    await page.waitForSelector(hook('cloud-message'), { timeout: WAIT_MS });
    const item = page.locator(hook('cloud-message')).first();
    expect(await item.locator(hook('cloud-message-text')).textContent()).toBe(markup);
    expect(await item.textContent()).toContain('colour=<b>red</b>');
    expect(await page.locator(`${hook('cloud-messages')} img, ${hook('cloud-messages')} b`).count()).toBe(0);
    expect(dialogs).toEqual([]);

    await page.waitForSelector(`${hook('panel')}[data-identifying="false"]`, { timeout: 15_000 });
    await page.screenshot({ path: join(screenshots, 'kiosk.png') });
  });

  it('keeps sampling while the platform is down, also across a reload, and drains the outbox when it is back', async () => {
    const port = emulator.port;
    const sentBefore = (await readings()).length;
    await emulator.close();
    await waitForText(page, 'connection-state', 'offline');
    expect(await page.locator(hook('offline-indicator')).isVisible()).toBe(true);
    const before = Number(await text(page, 'pending-count'));
    const stored = Number(await waitForText(page, 'pending-count', (t) => Number(t) >= before + 8));

    // Reloaded offline: it starts from the stored registration, and every stored reading is still there.
    await page.reload({ waitUntil: 'load' });
    await waitForText(page, 'connection-state', 'offline');
    await waitForText(page, 'pending-count', (t) => Number(t) >= stored + 4);
    expect(await page.locator(hook('verification-code')).isVisible()).toBe(false);
    const lastOffline = JSON.parse(
      (await page.locator(hook('last-reading')).getAttribute('data-reading'))!,
    ) as Reading;

    emulator = await startEmulator(port);
    await waitForText(page, 'connection-state', 'connected');
    await until('the last reading taken offline', async () =>
      (await readings()).some((r) => r.at === lastOffline.at) ? true : undefined,
    );
    expect((await readings()).length).toBeGreaterThanOrEqual(sentBefore + stored + 4);
    await waitForText(page, 'pending-count', (t) => Number(t) <= 2);
    expect(await page.locator(hook('offline-indicator')).isVisible()).toBe(false);
  });

  it('resumes after a reload from its stored registration, without a new code, keeping the applied interval', async () => {
    // An invalid desired value leaves the applied interval in force, also across the reload.
    await emulator.api.request('PATCH', `/devices/${deviceId}/twin/desired`, { samplingIntervalMs: 'fast' });
    await waitForText(page, 'reported-state', (t) => t.includes('lastConfigError'));
    await page.reload({ waitUntil: 'load' });
    await waitForText(page, 'connection-state', 'connected');
    expect(await operations(emulator, 'pending')).toEqual([]);
    expect(await page.locator(hook('verification-code')).isVisible()).toBe(false);
    await waitForText(page, 'sampling-interval', '250');
    expect(JSON.parse(await text(page, 'reported-state')).lastConfigError).toContain('"fast" ignored');
    await waitForText(page, 'sent-count', (t) => Number(t) >= 2);
  });

  it('tells a second tab that the database is locked, and takes over when asked to wait', async () => {
    const second = await kioskPage(context, 'kiosk second tab');
    await waitForText(second, 'notice-title', (t) => t.includes('DATABASE_LOCKED'));
    expect(await text(second, 'error')).toContain('DATABASE_LOCKED');
    await second.locator(hook('notice-action')).click();
    await waitForText(second, 'notice-title', (t) => t.includes('Waiting'));
    await page.close();
    await waitForText(second, 'connection-state', 'connected');
    expect(await second.locator(hook('notice')).isVisible()).toBe(false);
    page = second;
  });

  it('shows a clear message when config.json is missing or bad', async () => {
    const other = await browser.newContext();
    try {
      const missing = await other.newPage();
      await missing.route('**/config.json', (route) => route.fulfill({ status: 404, body: 'not found' }));
      await missing.goto(server.url);
      await waitForText(missing, 'notice-title', 'The kiosk is not configured');
      expect(await text(missing, 'notice-text')).toMatch(/config\.json.*404.*provisioningToken/s);
      expect(await text(missing, 'connection-state')).toBe('offline');

      const bad = await other.newPage();
      await bad.route('**/config.json', (route) =>
        route.fulfill({ status: 200, contentType: 'application/json', body: '{"instance":"x"}' }),
      );
      await bad.goto(server.url);
      await waitForText(bad, 'notice-text', (t) => t.includes('"provisioningToken" is missing'));

      // A portalUrl that would carry the provisioning token into the QR code: the code alone is shown.
      const leaky = await other.newPage();
      await leaky.route('**/config.json', (route) =>
        route.fulfill({
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({
            instance: emulator.instance,
            provisioningToken: emulator.provisioningToken,
            portalUrl: `${portalBase()}?t=${emulator.provisioningToken}`,
            deviceId: 'kiosk-leaky',
          }),
        }),
      );
      await leaky.goto(server.url);
      await waitForText(leaky, 'verification-code', (t) => t.length > 0);
      await waitForText(leaky, 'error', (t) => t.includes('portalUrl holds the provisioning token'));
      expect(await leaky.locator(hook('qr')).isVisible()).toBe(false);
      expect(await leaky.locator(hook('qr')).getAttribute('data-url')).toBe('');
      expect(await leaky.locator(hook('portal-link')).isVisible()).toBe(false);
    } finally {
      await other.close();
    }
  });
});
