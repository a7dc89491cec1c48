/**
 * The Node side of pages/device.ts: start the SDK in a page against an emulator running in this process, approve
 * it, and read what the page saw. Every wait is bounded.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { operations } from '../helpers/provisioning.js';
import { launchBrowser } from './harness/index.js';
import './pages/globals.js';

export interface PageDeviceOptions {
  database: string;
  deviceId: string;
  [option: string]: unknown;
}

/** The start options a page needs to reach `emulator` (the page itself is served from another origin). */
export function deviceOptions(emulator: TestEmulator, options: PageDeviceOptions) {
  return {
    provisioningToken: emulator.provisioningToken,
    instance: emulator.instance,
    provisioningPollIntervalMs: 200,
    reconnectInitialDelayMs: 200,
    reconnectMaxDelayMs: 1_000,
    ...options,
  };
}

/** Calls `DeviceClient.start` in the page without waiting for it (it may wait for approval). */
export async function beginStart(page: Page, options: Record<string, unknown>): Promise<void> {
  await page.evaluate((options) => {
    void device.start(options as never).catch(() => {});
  }, options);
}

/** Waits for the page's `start()` to resolve; throws with the page's error if it failed. */
export async function started(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForFunction(() => device.client !== undefined || device.startError !== undefined, null, {
    timeout: timeoutMs,
  });
  const error = await page.evaluate(() => device.startError);
  if (error !== undefined) throw new Error(`start() failed in the page: ${error}`);
}

/** Starts the client in the page and resolves once it is started (no approval needed: a stored registration). */
export async function startInPage(page: Page, options: Record<string, unknown>): Promise<void> {
  await beginStart(page, options);
  await started(page);
}

/** Approves the operation the page shows (by its verification code, as a technician would). */
export async function approveShown(page: Page, emulator: TestEmulator): Promise<string> {
  await page.waitForFunction(() => device.operations.length > 0, null, { timeout: 30_000 });
  const code = await page.evaluate(() => device.operations.at(-1)!.verificationCode);
  const pending = await operations(emulator, 'pending');
  const operation = pending.find((op) => op.verificationCode === code);
  if (operation === undefined) throw new Error(`no pending operation with the code ${code}`);
  const result = await emulator.api.approve(operation.provisioningOperationId);
  if (result.status !== 200) throw new Error(`approve: ${result.status}`);
  return code;
}

export async function pageConnected(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForFunction(() => device.client?.connected === true, null, { timeout: timeoutMs });
}

/** Enqueues `count` messages `{ n }` (n from `first`) with up to 64 in flight; returns their ids in order. */
export function enqueueMany(page: Page, count: number, first = 0, stream = 'telemetry'): Promise<string[]> {
  return page.evaluate(
    async ({ count, first, stream }) => {
      const ids: string[] = new Array(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const { id } = await device.client!.enqueueMessage({ n: first + i }, { stream });
          ids[i] = id;
          device.resolved.push(id);
        }
      };
      await Promise.all(Array.from({ length: 64 }, worker));
      return ids;
    },
    { count, first, stream },
  );
}

/** Waits until the emulator holds every id in `ids` for the device; returns all its messages. */
export async function emulatorHasAll(
  emulator: TestEmulator,
  deviceId: string,
  ids: readonly string[],
  timeoutMs = 60_000,
): Promise<{ mid: string; duplicate: boolean }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await emulator.api.allMessages(deviceId);
    const seen = new Set(messages.map((m) => m.mid));
    const missing = ids.filter((id) => !seen.has(id));
    if (missing.length === 0) return messages;
    if (Date.now() > deadline) {
      throw new Error(`${missing.length} of ${ids.length} messages never arrived (first: ${missing[0]})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** An emulator with its state in `dataDir`, so a test can stop it and start it again on the same port. */
export function startPersistentEmulator(dataDir: string, port = 0): Promise<TestEmulator> {
  return startTestEmulator({ memory: false, dataDir, port, settings: { autoApprove: true } });
}

export interface TestBed {
  readonly emulator: TestEmulator;
  readonly browser: Browser;
}

/** Starts an in-memory emulator and a browser before the file's tests, and stops both after them. */
export function emulatorAndBrowser(settings: { autoApprove: boolean } = { autoApprove: true }): TestBed {
  const bed = {} as { emulator: TestEmulator; browser: Browser };
  beforeAll(async () => {
    bed.emulator = await startTestEmulator({ settings });
    bed.browser = await launchBrowser();
  });
  afterAll(async () => {
    await bed.browser?.close();
    await bed.emulator?.close();
  });
  return bed;
}
