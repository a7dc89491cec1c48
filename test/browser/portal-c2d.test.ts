// The portal's cloud-to-device list in Chromium: each queued message shows when it expires and how often the hub
// wrote it without an acknowledgement, and a message the hub drops is marked dropped live, without a reload.
import type { MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, nextMessage } from '../helpers/device-mqtt.js';
import { provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { launchBrowser, newContext } from './harness/index.js';
import { openPortalOnDevice } from './portal-page.js';

let emulator: TestEmulator;
let browser: Browser;
/** Moves the emulator's clock (expiry is checked against it) without waiting. */
let clockOffsetMs = 0;
const contexts: BrowserContext[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  [emulator, browser] = await Promise.all([
    startTestEmulator({ now: () => Date.now() + clockOffsetMs }),
    launchBrowser(),
  ]);
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true).catch(() => {})));
});
afterAll(async () => {
  await browser?.close();
  await emulator?.close();
});

/** The portal signed in, on one device, in a context of its own. */
async function deviceOpen(deviceId: string): Promise<Page> {
  const context = await newContext(browser);
  contexts.push(context);
  return openPortalOnDevice(context, emulator, deviceId);
}

/** Queues a C2D message expiring `inMs` from the emulator's now; resolves with its mid and expiry. */
async function sendExpiring(deviceId: string, body: string, inMs: number) {
  const expiresAt = new Date(Date.now() + clockOffsetMs + inMs).toISOString();
  const sent = await emulator.api.request(
    'POST',
    `/devices/${deviceId}/c2d-messages?%24.exp=${encodeURIComponent(expiresAt)}`,
    undefined,
    { body },
  );
  expect(sent.status).toBe(202);
  return { mid: (sent.body as { mid: string }).mid, expiresAt };
}

const row = (page: Page, mid: string) => page.locator(`[data-test=c2d-message][data-mid="${mid}"]`);

describe('cloud-to-device messages in the portal', () => {
  it('show when each expires and how often it was written to the device unacknowledged', async () => {
    const device = await provisionDevice(emulator, 'c2d-unacked');
    const { mid, expiresAt } = await sendExpiring('c2d-unacked', 'take me', 60 * 60_000);
    // A device that receives the message but never acknowledges it: MQTT.js sends the PUBACK only once
    // handleMessage calls back, and this one never does. The hub counts one write.
    const client = await connectDevice(emulator, device);
    clients.push(client);
    client.handleMessage = () => {};
    const arrived = nextMessage(client, `devices/${device.hubDeviceId}/messages/devicebound/`);
    await client.subscribeAsync(`devices/${device.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
    expect((await arrived).payload.toString()).toBe('take me');
    await client.endAsync(true);

    const page = await deviceOpen('c2d-unacked');
    const item = row(page, mid);
    await item.waitFor();
    expect(await item.getAttribute('data-state')).toBe('queued');
    expect(await item.getAttribute('data-expires-at')).toBe(expiresAt);
    expect(await item.getAttribute('data-delivery-count')).toBe('1');
    expect(await item.locator('[data-test=c2d-message-expiry]').textContent()).toMatch(
      /^expires \d\d:\d\d:\d\d\.\d{3}$/,
    );
    expect(await item.locator('[data-test=c2d-message-deliveries]').textContent()).toBe(
      'written 1× unacknowledged',
    );
  });

  it('marks a message the hub dropped after its expiry as dropped, live', async () => {
    await provisionDevice(emulator, 'c2d-expiring');
    const page = await deviceOpen('c2d-expiring');
    const stale = await sendExpiring('c2d-expiring', 'too late', 60_000);
    await row(page, stale.mid).locator('[data-test=c2d-message-state]').waitFor();
    expect(await row(page, stale.mid).getAttribute('data-state')).toBe('queued');
    expect(await page.locator('[data-test=c2d-message-deliveries]').count()).toBe(0);

    clockOffsetMs += 61_000;
    // The hub drops what expired whenever it next looks at the queue: here, when the next message is queued.
    const fresh = await sendExpiring('c2d-expiring', 'in time', 60_000);
    await row(page, fresh.mid).waitFor();
    await page.locator(`[data-test=c2d-message][data-mid="${stale.mid}"][data-state=dropped]`).waitFor();
    expect(await row(page, stale.mid).locator('[data-test=c2d-message-state]').textContent()).toMatch(
      /^dropped \d\d:\d\d:\d\d\.\d{3} · expired$/,
    );
    expect(await row(page, fresh.mid).getAttribute('data-state')).toBe('queued');
  });
});
