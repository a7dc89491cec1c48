// The emulator's portal in Chromium: sign-in, approving devices, deep links, live updates without polling,
// reconnecting after the emulator restarts, and the screenshot the README uses.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answerMethods, sendTelemetry, uploadFile } from '../emulator/portal-support.js';
import { connectDevice } from '../helpers/device-mqtt.js';
import {
  call,
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { launchBrowser, logPageProblems, newContext } from './harness/index.js';

let emulator: TestEmulator;
let browser: Browser;
const contexts: BrowserContext[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  [emulator, browser] = await Promise.all([startTestEmulator(), launchBrowser()]);
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  await Promise.all(clients.splice(0).map((client) => client.endAsync().catch(() => {})));
});
afterAll(async () => {
  await browser?.close();
  await emulator?.close();
});

const portal = (fragment = '') => `${emulator.instance}/portal${fragment}`;
const withToken = (extra = '') =>
  portal(`#apiToken=${encodeURIComponent(emulator.apiToken)}${extra ? `&${extra}` : ''}`);

async function openPortal(url: string): Promise<Page> {
  const context = await newContext(browser);
  contexts.push(context);
  const page = await context.newPage();
  logPageProblems(page, 'portal');
  await page.goto(url);
  return page;
}

/** Opens the portal signed in, and waits for its live stream. */
async function signedIn(extra = ''): Promise<Page> {
  const page = await openPortal(withToken(extra));
  await page.locator('[data-test=live-status][data-state=live]').waitFor();
  return page;
}

async function startOperation(deviceId: string) {
  const init = await call(emulator.instance, 'POST', '/provisioning-operations/init', {
    token: emulator.provisioningToken,
    json: { deviceId },
  });
  expect(init.status).toBe(200);
  return init.body as { provisioningOperationId: string; verificationCode: string };
}

async function online(deviceId: string): Promise<{ device: ProvisionedDevice; client: MqttClient }> {
  const device = await provisionDevice(emulator, deviceId);
  const client = await connectDevice(emulator, device);
  clients.push(client);
  return { device, client };
}

const operationStatus = async (id: string) =>
  (await emulator.api.request('GET', `/provisioning-operations/${id}`)).body.status as string;

describe('sign-in', () => {
  it('takes the token from the fragment, removes it from the address bar and keeps it for the tab', async () => {
    const page = await signedIn();
    expect(page.url()).toBe(portal());
    await expect.poll(() => page.locator('#app').isVisible()).toBe(true);
    expect(await page.title()).toBe(`Spotflow emulator · ${emulator.workspaceId}`);
    expect(await page.evaluate('JSON.stringify(sessionStorage)')).toContain(emulator.apiToken);
    // A reload signs in again from sessionStorage, with no token in any URL.
    await page.reload();
    await page.locator('[data-test=live-status][data-state=live]').waitFor();
    expect(page.url()).toBe(portal());
    await page.locator('[data-test=forget-token]').click();
    await page.locator('[data-test=login-form]').waitFor();
    expect(await page.evaluate('JSON.stringify(sessionStorage)')).not.toContain(emulator.apiToken);
  });

  it('refuses a wrong token next to the form, then accepts the right one', async () => {
    const page = await openPortal(portal());
    await page.locator('[data-test=login-submit]').click();
    await expect
      .poll(() => page.locator('[data-test=login-error]').textContent())
      .toBe('Paste the API token first.');
    await page.locator('[data-test=login-token]').fill('api-wrong');
    await page.locator('[data-test=login-submit]').click();
    const error = page.locator('[data-test=login-error][data-state=error]');
    await expect.poll(() => error.textContent()).toContain('The emulator refused this API token (401)');
    expect(await page.locator('#app').isHidden()).toBe(true);
    await page.locator('[data-test=login-token]').fill(emulator.apiToken);
    await page.locator('[data-test=login-submit]').click();
    await page.locator('[data-test=live-status][data-state=live]').waitFor();
    expect(await page.locator('[data-test=login-form]').isHidden()).toBe(true);
  });

  it('goes back to the sign-in form when the stored token is no longer accepted', async () => {
    const page = await openPortal(portal('#apiToken=api-stale'));
    await expect
      .poll(() => page.locator('[data-test=login-error]').textContent())
      .toContain('refused this API token (401)');
    expect(page.url()).toBe(portal());
  });
});

describe('provisioning operations', () => {
  it('appear live with their code; Approve approves, Cancel cancels', async () => {
    const page = await signedIn();
    await page.locator('[data-test=operations-empty]').waitFor();
    const first = await startOperation('ops-approve');
    const second = await startOperation('ops-cancel');
    const row = page.locator(`[data-test=operation][data-verification-code="${first.verificationCode}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-operation-id')).toBe(first.provisioningOperationId);
    expect(await row.getAttribute('data-device-id')).toBe('ops-approve');
    expect(await row.locator('[data-test=operation-code]').textContent()).toBe(first.verificationCode);
    await row.locator('[data-test=operation-approve]').click();
    await row.waitFor({ state: 'detached' });
    expect(await operationStatus(first.provisioningOperationId)).toBe('approved');
    expect(await page.locator('[data-test=operations-status]').textContent()).toBe(
      `Approved ops-approve (${first.verificationCode}).`,
    );

    const other = page.locator(
      `[data-test=operation][data-operation-id="${second.provisioningOperationId}"]`,
    );
    await other.locator('[data-test=operation-cancel]').click();
    await other.waitFor({ state: 'detached' });
    expect(await operationStatus(second.provisioningOperationId)).toBe('cancelled');
    await page.locator('[data-test=operations-empty]').waitFor();
  });

  it('disappear when decided elsewhere, and a late click says why it failed beside the buttons', async () => {
    const page = await signedIn();
    const op = await startOperation('ops-elsewhere');
    const row = page.locator(`[data-test=operation][data-operation-id="${op.provisioningOperationId}"]`);
    await row.waitFor();
    await emulator.api.approve(op.provisioningOperationId);
    await row.waitFor({ state: 'detached' });

    // The same operation decided between the page's render and the click.
    const late = await startOperation('ops-late');
    const lateRow = page.locator(
      `[data-test=operation][data-operation-id="${late.provisioningOperationId}"]`,
    );
    await lateRow.waitFor();
    await page.route('**/provisioning-operations/approve', async (route) => {
      await emulator.api.request('PUT', '/provisioning-operations/cancel', {
        provisioningOperationId: late.provisioningOperationId,
      });
      await route.continue();
    });
    await lateRow.locator('[data-test=operation-approve]').click();
    await expect
      .poll(() => lateRow.locator('[data-test=operation-error][data-state=error]').textContent())
      .toBe('409 Operation is cancelled — only a pending operation can be approved');
  });
});

describe('deep link to one operation (#operation=…)', () => {
  it('opens the operation with its Approve button when the token comes along', async () => {
    const op = await startOperation('deep-with-token');
    const page = await signedIn(`operation=${op.provisioningOperationId}`);
    expect(page.url()).toBe(portal(`#operation=${op.provisioningOperationId}`));
    const focused = page.locator(`[data-test=focused-operation][data-status=pending]`);
    await focused.waitFor();
    expect(await focused.getAttribute('data-operation-id')).toBe(op.provisioningOperationId);
    expect(await focused.getAttribute('data-verification-code')).toBe(op.verificationCode);
    expect(await focused.locator('[data-test=operation-code]').textContent()).toBe(op.verificationCode);
    await focused.locator('[data-test=operation-approve]').click();
    await page.locator('[data-test=focused-operation][data-status=approved]').waitFor();
    expect(await page.locator('[data-test=focused-operation-status]').textContent()).toContain('Approved');
    expect(await operationStatus(op.provisioningOperationId)).toBe('approved');
  });

  it('asks for the token first when the link has none (the QR code case), then shows the operation', async () => {
    const op = await startOperation('deep-no-token');
    const link = portal(`#operation=${op.provisioningOperationId}`);
    expect(link).not.toContain(emulator.apiToken);
    const page = await openPortal(link);
    await page.locator('[data-test=login-form]').waitFor();
    expect(await page.locator('#login-operation').textContent()).toContain(op.provisioningOperationId);
    await page.locator('[data-test=login-token]').fill(emulator.apiToken);
    await page.locator('[data-test=login-submit]').click();
    const focused = page.locator('[data-test=focused-operation][data-status=pending]');
    await focused.waitFor();
    expect(await focused.getAttribute('data-verification-code')).toBe(op.verificationCode);
    expect(page.url()).toBe(link);
    // Decided elsewhere (the kiosk's technician was faster): the page follows.
    await emulator.api.request('PUT', '/provisioning-operations/cancel', {
      provisioningOperationId: op.provisioningOperationId,
    });
    await page.locator('[data-test=focused-operation][data-status=cancelled]').waitFor();
    expect(await focused.locator('[data-test=operation-approve]').count()).toBe(0);
  });

  it('says so when the operation does not exist', async () => {
    const page = await signedIn('operation=no-such-operation');
    await page.locator('[data-test=focused-operation][data-status=unknown]').waitFor();
    expect(await page.locator('[data-test=focused-operation]').textContent()).toContain(
      'There is no provisioning operation no-such-operation',
    );
  });

  it('follows a link opened in a tab that is already signed in', async () => {
    const page = await signedIn();
    const op = await startOperation('deep-hashchange');
    await page.evaluate(`location.hash = 'operation=${op.provisioningOperationId}'`);
    await page
      .locator(`[data-test=focused-operation][data-operation-id="${op.provisioningOperationId}"]`)
      .waitFor();
  });
});

describe('live updates', () => {
  it('arrive without polling: no list is fetched again while events stream in', async () => {
    const { device, client } = await online('live-device');
    await answerMethods(client, {});
    const page = await signedIn('device=live-device');
    const panel = page.locator('[data-test=device-panel][data-device-id="live-device"]');
    await panel.waitFor();
    // Every section of the panel has loaded (each shows its data or its empty state), and the stream is live: from
    // here on, any request the page makes would be a poll.
    for (const loaded of [
      '[data-test=messages-empty]',
      '[data-test=batches-empty]',
      '[data-test=files-empty]',
      '[data-test=c2d-messages-empty]',
      '[data-test=connection]',
      '[data-test=twin-desired][data-version]',
      '[data-test=live-status][data-state=live]',
    ]) {
      await page.locator(loaded).first().waitFor();
    }
    const requests: Request[] = [];
    page.on('request', (request) => requests.push(request));

    const started = Date.now();
    for (let i = 1; i <= 3; i++) {
      await sendTelemetry(
        client,
        device,
        {
          'stream-name': 'telemetry',
          'batch-id': 'live-b',
          ...(i === 3 ? { 'complete-batch': 'true' } : {}),
        },
        JSON.stringify({ reading: i }),
      );
    }
    await page.locator('[data-test=message][data-sequence]').nth(2).waitFor();
    expect(await page.locator('[data-test=message-payload]').allTextContents()).toEqual([
      '{"reading":3}',
      '{"reading":2}',
      '{"reading":1}',
    ]);
    await page
      .locator('[data-test=batch][data-batch-id="live-b"][data-complete=true][data-message-count="3"]')
      .waitFor();

    await emulator.api.request('PATCH', '/devices/live-device/twin/desired', { interval: 7 });
    await page.locator('[data-test=twin-desired][data-version="2"]').waitFor();
    expect(JSON.parse((await page.locator('[data-test=twin-desired]').textContent())!)).toEqual({
      interval: 7,
    });
    await client.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=9', '{"interval":7}');
    await page.locator('[data-test=twin-reported][data-version="2"]').waitFor();

    await emulator.api.request('POST', '/devices/live-device/c2d-messages', undefined, {
      body: 'queued while watched',
    });
    await page.locator('[data-test=c2d-message]').first().waitFor();

    await uploadFile(emulator, device, 'live.txt', 'live file');
    await page.locator('[data-test=file][data-file-name="live.txt"][data-notified=true]').waitFor();

    const pending = await startOperation('live-waiting');
    await page
      .locator(`[data-test=operation][data-operation-id="${pending.provisioningOperationId}"]`)
      .waitFor();

    await client.endAsync();
    await page.locator('[data-test=device][data-device-id="live-device"][data-connected=false]').waitFor();
    await page.locator('[data-test=connection][data-event=disconnected]').first().waitFor();
    expect(await page.locator('[data-test=device-panel-state]').textContent()).toMatch(/^offline/);
    const reconnected = await connectDevice(emulator, device);
    clients.push(reconnected);
    await page.locator('[data-test=device][data-device-id="live-device"][data-connected=true]').waitFor();
    expect(
      await page
        .locator('[data-test=device][data-device-id="live-device"] [data-test=device-state]')
        .textContent(),
    ).toBe('connected');
    expect(await page.locator('[data-test=connection]').count()).toBe(3);
    expect(await page.locator('[data-test=connection-reason]').allTextContents()).toEqual([
      'MQTT over TCP',
      'the device sent DISCONNECT',
      'MQTT over TCP',
    ]);

    // Seconds of events, and the page asked for nothing: everything came over the one open stream.
    await new Promise((resolve) => setTimeout(resolve, Math.max(1000, 4000 - (Date.now() - started))));
    expect(requests.map((request) => `${request.method()} ${new URL(request.url()).pathname}`)).toEqual([]);
  });

  it('reconnects by itself after the emulator restarts, and reloads what it shows', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-portal-restart-'));
    const options = { memory: false, dataDir } as const;
    let own = await startTestEmulator(options);
    try {
      const device = await provisionDevice(own, 'restart-device');
      const context = await newContext(browser);
      contexts.push(context);
      const page = await context.newPage();
      logPageProblems(page, 'portal');
      await page.goto(`${own.portalUrl}&device=restart-device`);
      await page.locator('[data-test=live-status][data-state=live]').waitFor();
      const port = own.port;
      await own.close();
      await page.locator('[data-test=live-status][data-state=reconnecting]').waitFor();
      own = await startTestEmulator({ ...options, port });
      await page.locator('[data-test=live-status][data-state=live]').waitFor({ timeout: 20_000 });
      const client = await connectDevice(own, device);
      clients.push(client);
      await sendTelemetry(client, device, { 'stream-name': 'after-restart' }, 'back again');
      await page.locator('[data-test=message][data-stream="after-restart"]').waitFor();
      await page
        .locator('[data-test=device][data-device-id="restart-device"][data-connected=true]')
        .waitFor();
    } finally {
      await own.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('screenshot', () => {
  it('of a device with messages (test-results/screenshots/portal.png)', async () => {
    const shot = await startTestEmulator();
    try {
      const device = await provisionDevice(shot, 'pump-7');
      const client = await connectDevice(shot, device);
      clients.push(client);
      await answerMethods(client, { identify: () => ({ status: 200, payload: { flashed: true } }) });
      await client.subscribeAsync(`devices/${device.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
      const context = await browser.newContext({ viewport: { width: 1400, height: 1600 } });
      contexts.push(context);
      const page = await context.newPage();
      logPageProblems(page, 'portal');
      await page.goto(`${shot.portalUrl}&device=pump-7`);
      await page.locator('[data-test=live-status][data-state=live]').waitFor();
      await call(shot.instance, 'POST', '/provisioning-operations/init', {
        token: shot.provisioningToken,
        json: { deviceId: 'panel-3' },
      });
      for (let i = 0; i < 8; i++) {
        await sendTelemetry(
          client,
          device,
          {
            'stream-group-name': 'default',
            'stream-name': 'telemetry',
            'batch-id': `b-${Math.floor(i / 4)}`,
            '$.mid': `m-${i}`,
            ...(i % 4 === 3 ? { 'complete-batch': 'true' } : {}),
          },
          JSON.stringify({ temperature: 21 + i / 4, pressure: 1013 - i }),
        );
      }
      await client.publishAsync(
        '$iothub/twin/PATCH/properties/reported/?$rid=1',
        '{"interval":5,"firmware":"1.2.0"}',
      );
      await page.locator('[data-test=desired-patch]').fill('{"interval": 5}');
      await page.locator('[data-test=desired-submit]').click();
      await page.locator('[data-test=desired-result][data-state=ok]').waitFor();
      await page.locator('[data-test=method-name]').fill('identify');
      await page.locator('[data-test=method-submit]').click();
      await page.locator('[data-test=method-status][data-state=ok]').waitFor();
      await page.locator('[data-test=c2d-body]').fill('{"display": "Service due"}');
      await page.locator('[data-test=c2d-submit]').click();
      await page.locator('[data-test=c2d-message][data-state=delivered]').waitFor();
      await uploadFile(shot, device, 'logs/boot.log', 'booted\n');
      await page.locator('[data-test=message]').nth(7).waitFor();
      await page.locator('[data-test=file]').waitFor();
      await page.locator('[data-test=batch][data-complete=true]').nth(1).waitFor();
      await page.locator('[data-test=batch]').first().locator('summary').click();
      await page.locator('[data-test=batch-message]').nth(3).waitFor();
      // Let the highlight of fresh rows fade; the page from its top (the side column is sticky).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await page.evaluate('window.scrollTo(0, 0)');
      const dir = join(process.cwd(), 'test-results', 'screenshots');
      mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: join(dir, 'portal.png'), fullPage: true });
    } finally {
      await shot.close();
    }
  });
});
