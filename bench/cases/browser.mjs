// Case 5. The browser platform in Chromium (playwright-core, Debian's /usr/bin/chromium): durable enqueue throughput
// with 64 callers against one IndexedDB put per message (`durability: 'strict'`, 64 at once) in the same page;
// enqueue latency p50/p99 at 0 and at 100,000 pending; reload to the first message sent with 100,000 pending; the
// longest main-thread task meanwhile (thread CPU time, from a Chromium trace).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, rendererMemoryMb, serveStatic, traceMainThread, userApp } from '../lib/browser.mjs';
import { startEmulator } from '../lib/emulator.mjs';
import { alternate, repeat, row } from '../lib/harness.mjs';

export const name = 'browser';
export const description =
  'browser (Chromium): enqueue rate vs IndexedDB strict puts, latency at 0 / 100,000 pending, reload, main-thread tasks';

const page = (file) => readFileSync(new URL(`../browser/${file}`, import.meta.url), 'utf8');

export async function run({ smoke, runs, warmup, dir, log }) {
  const backlog = smoke ? 2_000 : 100_000;
  const burst = smoke ? 200 : 5_000;
  const baselineBurst = smoke ? 100 : 1_000;
  const samples = smoke ? 20 : 200;
  const dataDir = join(dir, 'emulator');
  let emulator = await startEmulator({ dataDir });
  const port = emulator.port;
  const build = userApp(join(dir, 'app'), { 'index.html': page('index.html'), 'main.js': page('page.js') });
  const outDir = join(dir, 'app', 'out');
  await build(outDir);
  const server = await serveStatic(outDir);
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const tab = await context.newPage();
    tab.on('pageerror', (error) => log(`page error: ${error.message}`));
    const open = async () => {
      await tab.goto(server.url, { waitUntil: 'load' });
      await tab.waitForFunction(() => globalThis.benchReady === true);
    };
    const options = {
      provisioningToken: emulator.provisioningToken,
      instance: `http://localhost:${port}`,
      database: 'bench',
      deviceId: 'bench-panel',
      provisioningPollIntervalMs: 200,
      // The SDK's reconnect delays, not 0.2–1 s: Chromium delays a renderer's WebSocket connects once many have failed
      // (up to 1–5 s, counting the last 2–4 minutes, across a reload), so a client retrying every second through the
      // offline fill made the reload's first connect wait 1.8–4.8 s. The reload's own first connect does not wait.
      // sql.js holds the database in memory; the browser's default limit (64 MiB of payload) would refuse the backlog
      // plus the bursts of 1 KiB.
      outboxLimits: { maxBytes: 256 * 1024 * 1024 },
      // The default store (OPFS where the worker has it), or `BENCH_STORAGE=indexeddb|opfs`.
      ...(process.env.BENCH_STORAGE ? { storage: process.env.BENCH_STORAGE } : {}),
    };
    const startInPage = () => tab.evaluate((options) => globalThis.bench.start(options), options);
    const goOffline = async () => {
      await emulator.stop();
      await tab.waitForFunction(() => globalThis.bench.state.client?.connected === false);
    };
    await open();
    await startInPage();
    await tab.waitForFunction(() => globalThis.bench.state.client?.connected === true, null, {
      timeout: 60_000,
    });
    await goOffline();

    const latencies = () => tab.evaluate((n) => globalThis.bench.latencies(n), samples);
    const memoryBefore = await rendererMemoryMb(browser);
    const lat0 = await collectLatencies(latencies, runs, warmup);

    const rates = await alternate({
      runs,
      warmup,
      measure: {
        ours: () => tab.evaluate((n) => globalThis.bench.enqueueRate(n, 64, 1024), burst),
        baseline: () => tab.evaluate((n) => globalThis.bench.idbRate(n, 64, 1024), baselineBurst),
      },
    });

    const stopTrace = await traceMainThread(browser, tab);
    const fillStarted = performance.now();
    const pending = await tab.evaluate((n) => globalThis.bench.fill(n), backlog);
    log(`filled to ${pending} pending in ${Math.round(performance.now() - fillStarted)} ms`);
    const latBacklog = await collectLatencies(latencies, runs, warmup);
    const mainThread = await stopTrace();
    const memoryAfter = await rendererMemoryMb(browser);

    // Reload with the backlog: the emulator comes back, the page reloads and starts; timed to the first PUBACK.
    const reloads = await repeat({
      runs,
      warmup,
      fn: async () => {
        await tab.evaluate((n) => globalThis.bench.fill(n), backlog);
        emulator = await startEmulator({ dataDir, port });
        const started = performance.now();
        await open();
        await startInPage();
        await tab.waitForFunction(() => globalThis.bench.state.sent > 0, null, { timeout: 60_000 });
        const ms = performance.now() - started;
        await goOffline();
        return ms;
      },
    });

    const common = { caseName: name };
    const pendingText = backlog.toLocaleString('en-US');
    return [
      row({
        ...common,
        name: 'durable enqueue 1 KiB, 64 callers',
        unit: 'msg/s',
        ours: rates.ours,
        baseline: rates.baseline,
        baselineName: "IndexedDB put per message, durability 'strict', 64 at once",
        target: { on: 'ratio', op: '>=', value: 5 },
      }),
      row({
        ...common,
        name: `enqueue p50 at ${pendingText} pending`,
        unit: 'ms',
        ours: latBacklog.p50,
        baseline: lat0.p50,
        baselineName: 'p50 at 0 pending (same page)',
        target: { on: 'ratio', op: '<=', value: 1.5 },
      }),
      row({
        ...common,
        name: `enqueue p99 at ${pendingText} pending`,
        unit: 'ms',
        ours: latBacklog.p99,
        baseline: lat0.p99,
        baselineName: 'p99 at 0 pending (same page)',
        target: { on: 'ratio', op: '<=', value: 1.5 },
      }),
      row({
        ...common,
        name: `reload to first message sent, ${pendingText} pending`,
        unit: 'ms',
        ours: reloads,
        target: { on: 'ours', op: '<=', value: 2000 },
      }),
      row({
        ...common,
        name: `longest main-thread task (CPU), filling to ${pendingText} and enqueueing`,
        unit: 'ms',
        ours: mainThread.longestCpuMs,
        target: { on: 'ours', op: '<=', value: 50 },
      }),
      row({
        ...common,
        name: 'longest main-thread task (wall, as a long-task observer sees it)',
        unit: 'ms',
        ours: mainThread.longestWallMs,
      }),
      row({
        ...common,
        name: `renderer memory growth, 0 → ${pendingText} pending`,
        unit: 'MB',
        ours: memoryAfter - memoryBefore,
        digits: 0,
      }),
    ];
  } finally {
    await browser.close();
    await server.close();
    await emulator.stop();
  }
}

/** `runs` rounds of latencies after `warmup`: the p50s and p99s of each round. */
async function collectLatencies(latencies, runs, warmup) {
  const p50 = [];
  const p99 = [];
  for (let i = 0; i < warmup + runs; i++) {
    const figures = await latencies();
    if (i < warmup) continue;
    p50.push(figures.p50);
    p99.push(figures.p99);
  }
  return { p50, p99 };
}
