// The bed.browser entry's own options and defaults: what only a bed.browser has (waitForLock, sqlWasmUrl), what it
// cannot do (MQTT over TCP), the default outbox limits, and the `online` event as a hint to reconnect sooner.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  deviceOptions,
  emulatorAndBrowser,
  pageConnected,
  startInPage,
  startPersistentEmulator,
} from './device-page.js';
import { newContext, openPage } from './harness/index.js';

const bed = emulatorAndBrowser();

/** What `DeviceClient.start(options)` rejects with in a fresh page: the error's code, or `started`. */
async function startOutcome(options: Record<string, unknown>): Promise<string> {
  const page = await openPage(await newContext(bed.browser), 'device.html');
  try {
    return await page.evaluate(async (options) => {
      try {
        const client = await spotflow.DeviceClient.start(options as never);
        await client.close();
        return 'started';
      } catch (error) {
        return `${(error as { code?: string }).code}: ${(error as Error).message}`;
      }
    }, options);
  } finally {
    await page.context().close();
  }
}

describe('browser start options', () => {
  it('refuses MQTT over TCP, a non-boolean waitForLock and an empty sqlWasmUrl at the call', async () => {
    const base = deviceOptions(bed.emulator, {
      database: `options-${Date.now()}`,
      deviceId: 'options-panel',
    });
    expect(await startOutcome({ ...base, transport: 'tcp' })).toMatch(/^INVALID_ARGUMENT: .*WebSockets/);
    expect(await startOutcome({ ...base, waitForLock: 'yes' })).toMatch(/^INVALID_ARGUMENT: waitForLock/);
    expect(await startOutcome({ ...base, sqlWasmUrl: '' })).toMatch(/^INVALID_ARGUMENT: sqlWasmUrl/);
    // A misspelt option is still refused by the core, not ignored.
    expect(await startOutcome({ ...base, waitforlock: true })).toMatch(/^INVALID_ARGUMENT: .*waitforlock/);
  });

  it('fails with DATABASE_UNAVAILABLE, naming the option, when sql.js cannot be loaded from sqlWasmUrl', async () => {
    const base = deviceOptions(bed.emulator, { database: `wasm-${Date.now()}`, deviceId: 'wasm-panel' });
    const outcome = await startOutcome({ ...base, sqlWasmUrl: '/no-such-file.wasm' });
    expect(outcome).toMatch(/^DATABASE_UNAVAILABLE: .*sqlWasmUrl/);
  });

  // Stores 64 MiB of payload (in the journal, then in the pages): 25 s here, past 60 s beside `npm run bench`.
  it('bounds the outbox by default, and takes the caller’s limits over the defaults', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-browser-limits-'));
    const offline = await startPersistentEmulator(dataDir);
    const context = await newContext(bed.browser);
    try {
      const page = await openPage(context, 'device.html');
      const own = deviceOptions(offline, {
        database: `limits-own-${Date.now()}`,
        deviceId: 'limits-panel',
        outboxLimits: { maxMessages: 20 },
      });
      await startInPage(page, own);
      await page.evaluate(() => device.client!.close());
      const byDefault = { ...own, database: `limits-default-${Date.now()}`, outboxLimits: undefined };
      await startInPage(page, byDefault);
      await page.evaluate(() => device.client!.close());
      // Offline from here on (no hub drains the outboxes).
      await offline.close();
      const codes = await page.evaluate(
        async ({ own, byDefault }) => {
          const fill = async (options: unknown, count: number, payload: unknown) => {
            const client = await spotflow.DeviceClient.start(options as never);
            const codes: string[] = [];
            for (let i = 0; i < count; i++) {
              await client.enqueueMessage(payload as never).then(
                () => codes.push('ok'),
                (error: { code: string }) => codes.push(error.code),
              );
            }
            await client.close();
            return codes;
          };
          return {
            // The caller's maxMessages of 20: the 21st is refused.
            own: await fill(own, 21, { small: true }),
            // The default maxBytes of 64 MiB: 64 payloads of 1 MiB fit, the 65th is refused.
            byDefault: await fill(byDefault, 65, new Uint8Array(1024 * 1024)),
          };
        },
        { own, byDefault },
      );
      expect(codes.own.slice(0, 20).every((code) => code === 'ok')).toBe(true);
      expect(codes.own[20]).toBe('OUTBOX_FULL');
      expect(codes.byDefault.slice(0, 64).every((code) => code === 'ok')).toBe(true);
      expect(codes.byDefault[64]).toBe('OUTBOX_FULL');
    } finally {
      await context.close();
      await offline.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('reconnects at once on the window’s online event instead of finishing a long backoff', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-browser-online-'));
    let down = await startPersistentEmulator(dataDir);
    const port = down.port;
    const context = await newContext(bed.browser);
    try {
      const page = await openPage(context, 'device.html');
      // A backoff of 30–60 s: without the hint, no reconnect would come within this test's wait.
      const options = deviceOptions(down, {
        database: `online-${Date.now()}`,
        deviceId: 'online-panel',
        reconnectInitialDelayMs: 60_000,
        reconnectMaxDelayMs: 60_000,
      });
      await startInPage(page, options);
      await pageConnected(page);
      await down.close();
      await page.waitForFunction(() => device.client!.connected === false);
      down = await startPersistentEmulator(dataDir, port);
      await page.evaluate(() => (globalThis as unknown as EventTarget).dispatchEvent(new Event('online')));
      await pageConnected(page, 10_000);
    } finally {
      await context.close();
      await down.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
