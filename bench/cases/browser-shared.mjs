// Case 7. A shared device in Chromium (`DeviceClient.start({ shared: true })`, issue 18): tabs of one origin on one
// `database`, the first owning it and the others relaying their calls over a BroadcastChannel.
//
// 1. Durable enqueue latency (256 B, one after another) in a tab that does not own the device, against the owner
//    tab's own, alternating in the same run, the device offline (the browser case's conditions).
// 2. Durable enqueue rate of three tabs at once (64 callers each, 1 KiB) against the owner tab alone (64 callers,
//    as many messages in all), alternating, offline; beside it Chromium's CPU time per message in those bursts (every
//    process, from CDP SystemInfo.getProcessInfo), which is what the rate follows on a machine of two cores.
// 3. Takeover, online: the owner tab closed (page.close()) or its renderer killed (CDP Page.crash) while the next two
//    tabs in the lock's queue enqueue one message after another; timed from just before the close or the kill to the
//    first enqueue the next tab (the new owner) has accepted since it was granted the database's lock (seen by the
//    third tab with navigator.locks.query() every 5 ms), and to its `connected` event. The log line of each takeover
//    also has when the lock was granted, when the new owner's database worker started and when the third tab's
//    relayed enqueue was accepted. Each takeover uses up the owner tab: a new tab joins the end of the queue.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, serveStatic, userApp } from '../lib/browser.mjs';
import { startEmulator } from '../lib/emulator.mjs';
import { alternate, row } from '../lib/harness.mjs';

export const name = 'browser-shared';
export const description =
  'browser (Chromium), shared: true: non-owner tab enqueue latency vs the owner tab, three tabs at once vs one, takeover after a close / a kill';

const page = (file) => readFileSync(new URL(`../browser/${file}`, import.meta.url), 'utf8');
const latencyBytes = 256;
const rateBytes = 1024;
const callers = 64;
const loopBytes = 256;
/** How long a takeover may take before the case gives up on it. */
const takeoverTimeoutMs = 30_000;

export async function run({ smoke, runs, warmup, dir, log }) {
  const samples = smoke ? 20 : 200;
  // Per tab of the three; the owner alone enqueues as many as the three together.
  const burst = smoke ? 100 : 2_000;
  let emulator = await startEmulator();
  const build = userApp(join(dir, 'app'), { 'index.html': page('index.html'), 'main.js': page('shared.js') });
  const outDir = join(dir, 'app', 'out');
  await build(outDir);
  const server = await serveStatic(outDir);
  const browser = await launchBrowser();
  try {
    const workerStarts = new Map();
    const open = async (context, label) => {
      const tab = await context.newPage();
      tab.on('pageerror', (error) => log(`page error (${label}): ${error.message}`));
      const report = (where) => (message) => {
        // Refused WebSocket connections are expected while the emulator is down.
        if (message.type() === 'error' && !message.text().includes('WebSocket connection to')) {
          log(`${where} console.error (${label}): ${message.text().slice(0, 300)}`);
        }
      };
      tab.on('console', report('page'));
      // When each worker of the tab started: a new owner's first is its database's.
      const workersAt = [];
      workerStarts.set(tab, workersAt);
      tab.on('worker', (worker) => {
        workersAt.push(Date.now());
        worker.on('console', report('worker'));
      });
      await tab.goto(server.url, { waitUntil: 'load' });
      await tab.waitForFunction(() => globalThis.benchReady === true);
      return tab;
    };
    const optionsFor = (emulator, database) => ({
      provisioningToken: emulator.provisioningToken,
      instance: `http://localhost:${emulator.port}`,
      database,
      deviceId: database,
      provisioningPollIntervalMs: 200,
      // The bursts of 1 KiB pile up offline: past the browser's default 64 MiB of payload at full size.
      outboxLimits: { maxBytes: 256 * 1024 * 1024 },
      // The default store (OPFS where the worker has it), or `BENCH_STORAGE=indexeddb|opfs`.
      ...(process.env.BENCH_STORAGE ? { storage: process.env.BENCH_STORAGE } : {}),
    });
    // One after another: each start returns once the tab owns the device or has heard from its owner, so the tabs
    // queue for the database's lock in this order.
    const startIn = (tab, options) => tab.evaluate((options) => globalThis.bench.start(options), options);
    const connected = (tab) =>
      tab.waitForFunction(() => globalThis.bench.state.client?.connected === true, null, { timeout: 60_000 });

    // 1 and 2: three tabs, the device offline.
    const steady = await browser.newContext();
    const options = optionsFor(emulator, 'bench-shared');
    const tabs = [];
    for (let i = 0; i < 3; i++) tabs.push(await open(steady, `tab ${i}`));
    for (const tab of tabs) await startIn(tab, options);
    await connected(tabs[0]);
    await emulator.stop();
    await tabs[0].waitForFunction(() => globalThis.bench.state.client?.connected === false);
    const [owner, other] = tabs;

    const latencies = (tab) =>
      tab.evaluate(({ n, size }) => globalThis.bench.latencies(n, size), { n: samples, size: latencyBytes });
    const lat = { owner: { p50: [], p99: [] }, other: { p50: [], p99: [] } };
    await alternate({
      runs,
      warmup,
      measure: {
        other: async (i) => keep(lat.other, i >= warmup, await latencies(other)),
        owner: async (i) => keep(lat.owner, i >= warmup, await latencies(owner)),
      },
    });

    const burstIn = (tab, count) =>
      tab.evaluate(({ count, callers, size }) => globalThis.bench.enqueueRate(count, callers, size), {
        count,
        callers,
        size: rateBytes,
      });
    // Chromium's CPU time (every process: the tabs' renderers, their workers, the browser process that carries
    // the BroadcastChannel's messages) per message of each burst, in the same rounds.
    const cpu = { three: [], alone: [] };
    const total = tabs.length * burst;
    const withCpu = async (key, i, burstOf) => {
      const before = await cpuSeconds(browser);
      const rate = await burstOf();
      const seconds = (await cpuSeconds(browser)) - before;
      if (i >= warmup) cpu[key].push((seconds * 1e6) / total);
      log(`${key}: ${Math.round(rate)} msg/s, Chromium CPU ${((seconds * rate) / total).toFixed(2)} cores`);
      return rate;
    };
    const rates = await alternate({
      runs,
      warmup,
      measure: {
        three: (i) =>
          withCpu('three', i, async () => {
            const bursts = await Promise.all(tabs.map((tab) => burstIn(tab, burst)));
            const ms = Math.max(...bursts.map((b) => b.ended)) - Math.min(...bursts.map((b) => b.began));
            log(`three tabs: ${bursts.map((b) => Math.round(b.rate)).join(' + ')} msg/s each, over ${ms} ms`);
            return total / (ms / 1000);
          }),
        alone: (i) => withCpu('alone', i, async () => (await burstIn(owner, total)).rate),
      },
    });
    await steady.close();

    // 3: takeovers, online, on a database of their own.
    emulator = await startEmulator();
    const context = await browser.newContext();
    const database = 'bench-takeover';
    const takeoverOptions = optionsFor(emulator, database);
    const queue = [];
    let opened = 0;
    const enlist = async () => {
      const tab = await open(context, `takeover tab ${opened++}`);
      await startIn(tab, takeoverOptions);
      queue.push(tab);
    };
    const taken = { close: [], kill: [] };
    const takeover = async (kind, measured) => {
      while (queue.length < 3) await enlist();
      const [owner, next, third] = queue;
      await connected(owner);
      if (!(await third.evaluate((database) => globalThis.bench.watchOwnerLock(database), database))) {
        throw new Error('nobody holds the database lock before the takeover');
      }
      for (const tab of [next, third])
        await tab.evaluate((size) => globalThis.bench.startLoop(size), loopBytes);
      // The relayed loops running before the owner goes.
      await next.waitForFunction(() => globalThis.bench.state.loop.resolvedAt.length >= 20, null, {
        timeout: takeoverTimeoutMs,
      });
      const began = Date.now();
      if (kind === 'close') {
        await owner.close();
      } else {
        const session = await context.newCDPSession(owner);
        const crashed = new Promise((resolve) => owner.once('crash', resolve));
        void session.send('Page.crash').catch(() => {}); // never answered: the session dies with the renderer
        await crashed;
      }
      const gone = Date.now();
      queue.shift();
      await third.waitForFunction(() => globalThis.bench.state.watch.grantedAt !== undefined, null, {
        timeout: takeoverTimeoutMs,
      });
      const { grantedAt } = await third.evaluate(() => globalThis.bench.stopWatch());
      const acceptedAfter = async (tab) => {
        await tab.waitForFunction(
          (grantedAt) => {
            const loop = globalThis.bench.state.loop;
            return loop.error !== undefined || loop.resolvedAt.some((at) => at > grantedAt);
          },
          grantedAt,
          { timeout: takeoverTimeoutMs },
        );
        const { resolvedAt, error } = await tab.evaluate(() => globalThis.bench.stopLoop());
        if (error !== undefined) throw new Error(`an enqueue failed during the takeover: ${error}`);
        return resolvedAt.find((at) => at > grantedAt);
      };
      const [nextAccepted, thirdAccepted] = await Promise.all([acceptedAfter(next), acceptedAfter(third)]);
      await next.waitForFunction(
        (began) => globalThis.bench.state.connectedAt.some((at) => at > began),
        began,
        { timeout: takeoverTimeoutMs },
      );
      const nextConnected = (await next.evaluate(() => globalThis.bench.state.connectedAt)).find(
        (at) => at > began,
      );
      const nextWorker = workerStarts.get(next).find((at) => at > began);
      if (kind === 'kill') await owner.close().catch(() => {});
      const figures = {
        gone: gone - began,
        granted: grantedAt - began,
        worker: nextWorker === undefined ? Number.NaN : nextWorker - began,
        accepted: nextAccepted - began,
        relayed: thirdAccepted - began,
        connected: nextConnected - began,
      };
      log(
        `${kind}${measured ? '' : ' (warm-up)'}: ${kind === 'close' ? 'closed' : 'crash seen'} +${figures.gone} ms, lock granted +${figures.granted}, its database worker started +${figures.worker}, first enqueue in the new owner +${figures.accepted}, in the relaying tab +${figures.relayed}, connected +${figures.connected}`,
      );
      if (measured) taken[kind].push(figures);
      return figures.accepted;
    };
    await alternate({
      runs,
      warmup,
      measure: {
        close: (i) => takeover('close', i >= warmup),
        kill: (i) => takeover('kill', i >= warmup),
      },
    });
    await context.close();

    const common = { caseName: name };
    const of = (kind, key) => taken[kind].map((figures) => figures[key]);
    return [
      row({
        ...common,
        name: `non-owner tab enqueue p50, ${latencyBytes} B one after another`,
        unit: 'ms',
        ours: lat.other.p50,
        baseline: lat.owner.p50,
        baselineName: "the owner tab's p50 (same device, same run)",
        target: { on: 'ratio', op: '<=', value: 2 },
      }),
      row({
        ...common,
        name: `non-owner tab enqueue p99, ${latencyBytes} B one after another`,
        unit: 'ms',
        ours: lat.other.p99,
        baseline: lat.owner.p99,
        baselineName: "the owner tab's p99 (same device, same run)",
      }),
      row({
        ...common,
        name: `durable enqueue 1 KiB, three tabs at once, ${callers} callers each`,
        unit: 'msg/s',
        ours: rates.three,
        baseline: rates.alone,
        baselineName: `the owner tab alone, ${callers} callers, as many messages`,
        target: { on: 'ratio', op: '>=', value: 0.8 },
      }),
      row({
        ...common,
        name: 'Chromium CPU per message of those bursts (all processes)',
        unit: 'µs/msg',
        ours: cpu.three,
        baseline: cpu.alone,
        baselineName: 'the same for the owner tab alone',
      }),
      row({
        ...common,
        name: 'owner tab closed → first enqueue accepted again (next tab)',
        unit: 'ms',
        ours: of('close', 'accepted'),
        target: { on: 'ours', op: '<=', value: 1000 },
        digits: 0,
      }),
      row({
        ...common,
        name: 'owner tab closed → connected again (next tab)',
        unit: 'ms',
        ours: of('close', 'connected'),
        digits: 0,
      }),
      row({
        ...common,
        name: "owner's renderer killed → first enqueue accepted again (next tab)",
        unit: 'ms',
        ours: of('kill', 'accepted'),
        target: { on: 'ours', op: '<=', value: 3000 },
        digits: 0,
      }),
      row({
        ...common,
        name: "owner's renderer killed → connected again (next tab)",
        unit: 'ms',
        ours: of('kill', 'connected'),
        digits: 0,
      }),
    ];
  } finally {
    await browser.close();
    await server.close();
    await emulator.stop();
  }
}

/** CPU time Chromium's live processes have used so far, seconds (CDP SystemInfo.getProcessInfo). */
async function cpuSeconds(browser) {
  const session = await browser.newBrowserCDPSession();
  const { processInfo } = await session.send('SystemInfo.getProcessInfo');
  await session.detach();
  return processInfo.reduce((sum, process) => sum + process.cpuTime, 0);
}

/** Adds a round's p50 and p99 to `into` (if `measured`); returns the p50. */
function keep(into, measured, figures) {
  if (measured) {
    into.p50.push(figures.p50);
    into.p99.push(figures.p99);
  }
  return figures.p50;
}
