// Compression never blocks delivery (in Chromium): with the Brotli wasm answering 404, a page's messages that ask for
// `smallest` go uncompressed, in order with the plain ones, and the failure is reported once on `error`, naming the
// URL that failed.
import { describe, expect, it } from 'vitest';
import { deviceOptions, emulatorAndBrowser, startInPage } from './device-page.js';
import { newContext, openPage } from './harness/index.js';

const bed = emulatorAndBrowser();

describe('a page whose Brotli wasm answers 404', () => {
  it('delivers compressed and plain messages in order, uncompressed, and reports the failure once', async () => {
    const context = await newContext(bed.browser);
    const wasmRequests: string[] = [];
    await context.route(/brotli_wasm_bg[^/]*\.wasm$/, (route) => {
      wasmRequests.push(route.request().url());
      return route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' });
    });
    const page = await openPage(context, 'device.html', 'brotli 404');
    const deviceId = 'panel-without-brotli';
    await startInPage(page, deviceOptions(bed.emulator, { database: 'brotli-404', deviceId }));
    const texts = Array.from({ length: 6 }, (_, n) =>
      JSON.stringify({ n, text: 'compressible '.repeat(200) }),
    );
    const ids = await page.evaluate(async (texts) => {
      const ids: string[] = [];
      for (const [n, text] of texts.entries()) {
        const compression = n % 2 === 0 ? 'smallest' : 'none';
        ids.push((await device.client!.enqueueMessage(text, { stream: 'fallback', compression })).id);
      }
      return ids;
    }, texts);
    await page.waitForFunction(
      (count) => device.events.filter((e) => e.name === 'messageSent').length >= count,
      ids.length,
      { timeout: 30_000 },
    );

    const stored = await bed.emulator.api.allMessages(deviceId);
    expect(stored.map((m) => m.mid)).toEqual(ids);
    expect(stored.map((m) => Buffer.from(m.payloadBase64, 'base64').toString('utf8'))).toEqual(texts);
    expect(stored.every((m) => m.properties['content-encoding'] === undefined)).toBe(true);
    const errors = await page.evaluate(() =>
      device.events.filter((e) => e.name === 'error').map((e) => e.detail),
    );
    expect(errors).toEqual([
      {
        code: 'NETWORK',
        message: expect.stringMatching(
          /brotli-wasm\) from http:\/\/127\.0\.0\.1:\d+\/.*brotli_wasm_bg.*\.wasm \(HTTP 404\)/,
        ),
      },
    ]);
    // Fetched once: the messages after the failure did not each try again.
    expect(wasmRequests).toHaveLength(1);
    await page.evaluate(() => device.client!.close());
    await context.close();
  }, 90_000);
});
