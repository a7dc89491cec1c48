// A large message compressed with Brotli `smallest` from a page: it arrives intact, and compressing it (about half
// a second of CPU at quality 11) never holds the page's main thread for more than 50 ms, because the compressor
// runs in a worker.
import { describe, expect, it } from 'vitest';
import { deviceOptions, emulatorAndBrowser, pageConnected, startInPage } from './device-page.js';
import { newContext, openPage, traceMainThread } from './harness/index.js';

const bed = emulatorAndBrowser();

describe('compression in a page', () => {
  it('sends a 240 KB message compressed with smallest without a main-thread task over 50 ms', async () => {
    const page = await openPage(await newContext(bed.browser), 'device.html');
    const deviceId = 'compressing-panel';
    await startInPage(page, deviceOptions(bed.emulator, { database: 'compression', deviceId }));
    await pageConnected(page);
    // Load the compressor before tracing: the first call also fetches and compiles the worker and its wasm.
    await page.evaluate(async () => {
      await device.client!.enqueueMessage({ warm: true }, { stream: 'warm-up', compression: 'fastest' });
    });
    await page.waitForFunction(() => device.events.some((e) => e.name === 'messageSent'));

    const stopTrace = await traceMainThread(bed.browser, page);
    const sent = await page.evaluate(async () => {
      // Realistic telemetry: readings of a few sensors over time, about 240 KB of JSON.
      const readings = [];
      for (let i = 0; readings.length < 2_400; i++) {
        readings.push({
          at: new Date(Date.UTC(2026, 10, 28) + i * 1000).toISOString(),
          sensor: `line-${i % 7}/temperature`,
          value: Math.round((21 + Math.sin(i / 40) * 3 + ((i * 7919) % 13) / 10) * 100) / 100,
          status: i % 97 === 0 ? 'warning' : 'ok',
        });
      }
      const text = JSON.stringify({ readings });
      const before = device.events.filter((e) => e.name === 'messageSent').length;
      const { id } = await device.client!.enqueueMessage(text, { stream: 'bulk', compression: 'smallest' });
      return { id, text, before };
    });
    expect(sent.text.length).toBeGreaterThan(200_000);
    expect(sent.text.length).toBeLessThan(250_000);
    await page.waitForFunction(
      (before) => device.events.filter((e) => e.name === 'messageSent').length > before,
      sent.before,
      { timeout: 60_000 },
    );
    const mainThread = await stopTrace();

    const stored = (await bed.emulator.api.allMessages(deviceId)).find((m) => m.mid === sent.id);
    expect(stored).toBeDefined();
    expect(Buffer.from(stored.payloadBase64, 'base64').toString('utf8')).toBe(sent.text);
    console.log(`compressed send figures: ${JSON.stringify(mainThread)}`);
    expect(mainThread.longestCpuMs).toBeLessThanOrEqual(50);
  }, 120_000);
});
