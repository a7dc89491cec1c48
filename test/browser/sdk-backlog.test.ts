// A kiosk offline for a long time: enqueue latency at 0 and at 100,000 pending messages of 256 B, the longest
// main-thread task the SDK causes meanwhile (snapshot folds included), the page's memory, and the time from a
// reload to the first message sent with the backlog. Generous bounds; the figures are printed for the notes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { TestEmulator } from '../helpers/emulator.js';
import { deviceOptions, pageConnected, startInPage, startPersistentEmulator } from './device-page.js';
import {
  collectLongTasks,
  gotoPage,
  launchBrowser,
  newContext,
  openPage,
  traceMainThread,
} from './harness/index.js';
import { memoryBreakdown, rendererMemoryMb, sampleRendererPeak } from './memory-breakdown.js';

const BACKLOG = 100_000;
const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-browser-backlog-'));
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
});

/** Enqueue latencies (ms) of `count` enqueues of 256 B made one after another, as p50 and p99. */
function latencies(page: Page, count: number): Promise<{ p50: number; p99: number }> {
  return page.evaluate(async (count) => {
    const payload = new Uint8Array(256).fill(7);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await device.client!.enqueueMessage(payload, { stream: 'latency' });
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    return { p50: at(0.5), p99: at(0.99) };
  }, count);
}

/** Fills the outbox to `total` with 256 B messages, 64 enqueues in flight. */
function fill(page: Page, total: number): Promise<number> {
  return page.evaluate(async (total) => {
    const payload = new Uint8Array(256).fill(1);
    let next = await device.client!.pendingMessagesCount();
    const started = performance.now();
    const worker = async () => {
      while (next < total) {
        next++;
        await device.client!.enqueueMessage(payload, { stream: 'backlog' });
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    return performance.now() - started;
  }, total);
}

describe('a long offline backlog in a page', () => {
  it('keeps enqueue latency, main-thread tasks and reload time in bounds at 100,000 pending', async () => {
    let emulator: TestEmulator = await startPersistentEmulator(dataDir);
    cleanups.push(() => emulator.close());
    const port = emulator.port;
    const browser = await launchBrowser();
    cleanups.push(() => browser.close());
    const page = await openPage(await newContext(browser), 'device.html');
    const longTasks = await collectLongTasks(page);
    const options = deviceOptions(emulator, { database: 'backlog', deviceId: 'backlog-panel' });
    await startInPage(page, options);
    await pageConnected(page);
    await emulator.close();
    await page.waitForFunction(() => device.client!.connected === false);

    const memoryAt0 = await rendererMemoryMb(browser);
    // Long tasks from here on: page load and start-up are not the SDK's steady state.
    const before = (await longTasks()).length;
    const stopTrace = await traceMainThread(browser, page);
    const empty = await latencies(page, 300);
    const stopSampling = await sampleRendererPeak(browser);
    const fillMs = await fill(page, BACKLOG);
    const pendingNow = await page.evaluate(() => device.client!.pendingMessagesCount());
    expect(pendingNow).toBeGreaterThanOrEqual(BACKLOG);
    // p99 of 300 samples is their third-largest: one stretch of the OS giving the core to other processes moves it.
    // A real stall at 100,000 pending (a scan, a copy of the database) shows in every window; a busy machine does
    // not. So up to three windows, and the first one in bounds counts (all are logged).
    const p99Bound = Math.max(1.5 * empty.p99, empty.p99 + 50);
    const windows = [await latencies(page, 300)];
    while (windows.at(-1)!.p99 > p99Bound && windows.length < 3) windows.push(await latencies(page, 300));
    const full = windows.at(-1)!;
    const tasks = (await longTasks()).slice(before);
    const longest = Math.max(0, ...tasks);
    const mainThread = await stopTrace();
    const memoryAtBacklog = await rendererMemoryMb(browser);
    const memoryPeak = stopSampling();
    const breakdown = await memoryBreakdown(browser, page);

    emulator = await startPersistentEmulator(dataDir, port);
    cleanups.push(() => emulator.close());
    const memoryBeforeReload = await rendererMemoryMb(browser);
    const stopReloadSampling = await sampleRendererPeak(browser);
    const reloadStarted = Date.now();
    await gotoPage(page, 'device.html');
    await startInPage(page, options);
    await page.waitForFunction(() => device.events.some((e) => e.name === 'messageSent'), null, {
      timeout: 60_000,
    });
    const reloadToFirstMs = Date.now() - reloadStarted;
    const memoryPeakReload = stopReloadSampling();

    const figures = {
      fillMsgPerS: Math.round(BACKLOG / (fillMs / 1000)),
      p50At0: empty.p50.toFixed(2),
      p99At0: empty.p99.toFixed(2),
      p50AtBacklog: full.p50.toFixed(2),
      p99AtBacklog: full.p99.toFixed(2),
      p99Windows: windows.map((window) => window.p99.toFixed(2)),
      longestTaskMs: Math.round(longest),
      longestTaskCpuMs: mainThread.longestCpuMs,
      longestTaskWallMsInTrace: mainThread.longestWallMs,
      reloadToFirstMessageMs: reloadToFirstMs,
      longTasks: tasks.length,
      rendererMemoryMbAt0: memoryAt0,
      rendererMemoryMbAtBacklog: memoryAtBacklog,
      rendererMemoryMbPeak: memoryPeak,
      rendererMemoryMbBeforeReload: memoryBeforeReload,
      rendererMemoryMbPeakAtReload: memoryPeakReload,
    };
    console.log(`browser backlog figures: ${JSON.stringify(figures)}`);
    console.log(`browser backlog memory at 100,000 pending: ${JSON.stringify(breakdown)}`);
    // Within 1.5×, with an absolute slack for timer granularity.
    expect(full.p50).toBeLessThanOrEqual(Math.max(1.5 * empty.p50, empty.p50 + 2));
    // p99 is a handful of samples: on a machine busy with other tests, generous.
    expect(full.p99).toBeLessThanOrEqual(p99Bound);
    // The long-task observer reports wall time, which on a machine shared with other tests includes time the OS
    // gave to other processes; the thread's CPU time per task (from the trace) is what the SDK itself costs.
    expect(mainThread.longestCpuMs).toBeLessThanOrEqual(50);
    expect(reloadToFirstMs).toBeLessThan(15_000);
  }, 240_000);
});
