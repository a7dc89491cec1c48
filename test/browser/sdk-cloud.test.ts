// The device twin, direct methods, cloud-to-device messages and file upload, all from a page.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  deviceOptions,
  emulatorAndBrowser,
  emulatorHasAll,
  pageConnected,
  startInPage,
  startPersistentEmulator,
} from './device-page.js';
import { newContext, openPage } from './harness/index.js';

const bed = emulatorAndBrowser();

async function startedPage(database: string, deviceId: string): Promise<{ page: Page }> {
  const page = await openPage(await newContext(bed.browser), 'device.html');
  await startInPage(page, deviceOptions(bed.emulator, { database, deviceId }));
  await pageConnected(page);
  return { page };
}

describe('device twin in a page', () => {
  it('has desired properties changed while the page was closed after a reload, and sends reported ones made offline', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-browser-twin-'));
    let twinEmulator = await startPersistentEmulator(dataDir);
    const port = twinEmulator.port;
    const context = await newContext(bed.browser);
    try {
      const page = await openPage(context, 'device.html');
      const options = deviceOptions(twinEmulator, { database: `twin-${Date.now()}`, deviceId: 'twin-panel' });
      await startInPage(page, options);
      await pageConnected(page);
      await page.close();
      const patched = await twinEmulator.api.request('PATCH', '/devices/twin-panel/twin/desired', {
        interval: 5,
      });
      expect(patched.status).toBe(200);

      const again = await openPage(page.context(), 'device.html');
      await startInPage(again, options);
      await again.waitForFunction(() => device.client!.desiredProperties().values.interval === 5);

      await twinEmulator.close();
      await again.waitForFunction(() => device.client!.connected === false);
      await again.evaluate(() =>
        device.client!.updateReportedProperties({ state: 'offline-made', interval: 5 }),
      );
      twinEmulator = await startPersistentEmulator(dataDir, port);
      await again.evaluate(() => device.client!.waitReportedPropertiesSent());
      const twin = await twinEmulator.api.twin('twin-panel');
      expect(twin.reported).toMatchObject({ state: 'offline-made', interval: 5 });
    } finally {
      await context.close();
      await twinEmulator.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('cloud-to-device in a page', () => {
  it('answers a direct method and handles a C2D message', async () => {
    const { page } = await startedPage(`cloud-${Date.now()}`, 'cloud-panel');
    await page.evaluate(() => {
      device.client!.onMethod('identify', (payload) => ({ status: 200, payload: { flashed: payload } }));
      device.client!.onCloudMessage((message) => {
        device.events.push({
          name: 'cloudMessage',
          detail: { text: message.text(), properties: message.properties },
        });
      });
    });
    const invoked = await bed.emulator.api.request(
      'POST',
      '/devices/cloud-panel/methods/identify?timeoutSeconds=10',
      {
        seconds: 3,
      },
    );
    expect(invoked.body).toEqual({ status: 200, payload: { flashed: { seconds: 3 } } });

    const sent = await bed.emulator.api.request(
      'POST',
      '/devices/cloud-panel/c2d-messages?colour=red',
      undefined,
      {
        body: 'hello panel',
      },
    );
    expect(sent.status).toBe(202);
    const received = await page.waitForFunction(
      () => device.events.find((e) => e.name === 'cloudMessage')?.detail,
    );
    expect(await received.jsonValue()).toMatchObject({ text: 'hello panel', properties: { colour: 'red' } });
    await page.context().close();
  });

  it('sends a payload above 250 KB through file upload, with progress', async () => {
    const { page } = await startedPage(`upload-${Date.now()}`, 'upload-panel');
    const { id, size } = await page.evaluate(async () => {
      const bytes = new Uint8Array(600_000).map((_, i) => (i * 7) % 256);
      const { id } = await device.client!.sendMessage(bytes, { stream: 'files' });
      return { id, size: bytes.byteLength };
    });
    const [message] = (await emulatorHasAll(bed.emulator, 'upload-panel', [id])).filter((m) => m.mid === id);
    const payload = Buffer.from((message as unknown as { payloadBase64: string }).payloadBase64, 'base64');
    expect(payload.byteLength).toBe(size);
    expect(payload.every((byte, i) => byte === (i * 7) % 256)).toBe(true);
    expect(await page.evaluate(() => device.events.some((e) => e.name === 'uploadProgress'))).toBe(true);
    await page.context().close();
  });
});
