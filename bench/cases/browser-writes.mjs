// Case 6. What the browser store costs the disk and the memory, measured from outside Chromium: bytes written to disk
// per sequential 256 B enqueue (the link offline, everything pending) at 10,000 and at 200,000 pending, against the
// floor of a durable write per message (one IndexedDB put of the same 256 B in its own `durability: 'strict'`
// transaction, sequential) in the same browser and run; the browser's resident memory growth from 0 to 200,000
// pending beside the database's size on disk.
//
// Chromium is started here as our own child (its own process group) on an on-disk profile, so the bytes are
// `write_bytes` of `/proc/<pid>/io` summed over every process of the browser, read before and after each window. The
// floor runs in a second tab of another origin (its own IndexedDB database), between the windows of ours.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  browserProcesses,
  filesystemOf,
  ioBetween,
  lastBlobNumber,
  readIo,
  residentMb,
  serveStatic,
  startOwnBrowser,
  treeBytes,
  userApp,
} from '../lib/browser.mjs';
import { startEmulator } from '../lib/emulator.mjs';
import { median, row } from '../lib/harness.mjs';

export const name = 'browser-writes';
export const description =
  'browser (Chromium, on-disk profile): disk bytes per sequential 256 B enqueue at 10,000 / 200,000 pending vs a strict IndexedDB put; RSS growth, database size';

const page = (file) => readFileSync(new URL(`../browser/${file}`, import.meta.url), 'utf8');
/** The browser platform's default `outboxLimits.maxMessages` (the default 64 MiB of payload holds 200,000 × 256 B). */
const defaultMaxMessages = 200_000;
const payloadBytes = 256;
/**
 * The payloads: `random` (incompressible: Chromium compresses the values it stores, so repeated bytes make the
 * database and what it writes look far smaller than a device's encrypted or packed readings would), or `repeated`
 * (every byte the same) with `BENCH_WRITES_PAYLOAD=repeated`.
 */
const payloadKind = process.env.BENCH_WRITES_PAYLOAD === 'repeated' ? 'repeated' : 'random';
const random = payloadKind === 'random';
/**
 * Where the client keeps its database: IndexedDB or, with `BENCH_STORAGE=opfs`, the origin private file system.
 * Always passed as `storage` (the SDK's own default is OPFS where a worker has it), so that each figure is of the
 * store it names.
 */
const storage = process.env.BENCH_STORAGE === 'opfs' ? 'opfs' : 'indexeddb';
/** Names the storage in the figures, so that the two do not replace each other in results.json. */
const onStorage = storage === 'opfs' ? ', storage opfs' : '';
const number = (n) => Math.round(n).toLocaleString('en-US');

export async function run({ smoke, runs, dir, log }) {
  // A window of ours is this many sequential enqueues: 6,000 hold three of today's folds (one per 2,000 journal
  // records) whatever the phase. The floor has no folds (its figure varies by a few % between windows): half as
  // many puts. `rounds` windows of each per level, alternating ours and the floor; at most 2, since each adds to
  // the backlog the level is about.
  // BENCH_WRITES_LEVELS=200000 measures one level (a quicker A/B of a change that only shows at one).
  const levels = smoke
    ? [100, 300]
    : process.env.BENCH_WRITES_LEVELS
      ? process.env.BENCH_WRITES_LEVELS.split(',').map(Number)
      : [10_000, 200_000];
  const window = smoke ? 100 : 6_000;
  const floorWindow = smoke ? 100 : 3_000;
  const rounds = smoke ? 1 : Math.min(runs, 2);
  const span = rounds * window;
  /**
   * Where a level's windows start: centred on the level (the middle window, the median, spans it), but never past
   * the default limit, where they end instead.
   */
  const startOf = (level) => Math.max(0, Math.min(level - span / 2, defaultMaxMessages - span));

  const profile = join(dir, 'profile');
  const filesystem = filesystemOf(dir);
  log(`profile on ${filesystem.type} (${filesystem.mount})`);
  if (['tmpfs', 'ramfs'].includes(filesystem.type) && !smoke) {
    throw new Error(`the profile must be on a disk to count its writes; ${dir} is on ${filesystem.type}`);
  }

  const emulator = await startEmulator();
  let emulatorUp = true;
  const build = userApp(join(dir, 'app'), { 'index.html': page('index.html'), 'main.js': page('page.js') });
  const outDir = join(dir, 'app', 'out');
  await build(outDir);
  const server = await serveStatic(outDir);
  // The floor's page: the same page from another origin, so its IndexedDB database is not in ours' directory.
  const floorUrl = server.url.replace('127.0.0.1', 'localhost');
  // Without the optimization guide Chromium does not start its on-device model service mid-run (+43 MB of RSS that
  // is not the page's).
  const browser = await startOwnBrowser(profile, [
    '--js-flags=--expose-gc',
    '--disable-features=OptimizationHints,OptimizationGuideOnDeviceModel',
  ]);
  try {
    const processes = () => browserProcesses(browser.pid);
    const origin = new URL(server.url).host.replace(':', '_');
    const indexedDbDir = join(profile, 'Default', 'IndexedDB');
    const ourBlobs = join(indexedDbDir, `http_${origin}.indexeddb.blob`);
    const open = async (url) => {
      const tab = await browser.context.newPage();
      tab.on('pageerror', (error) => log(`page error (${url}): ${error.message}`));
      // What the page and its workers (the database's) report: a fold that fails says so only there, if at all.
      const report = (where) => (message) => {
        // The link is down on purpose: its refused WebSocket connections are expected.
        const offline = message.text().includes('WebSocket connection to');
        if ((message.type() === 'error' || message.type() === 'warning') && !offline) {
          log(`${where} console.${message.type()} (${url}): ${message.text().slice(0, 300)}`);
        }
      };
      tab.on('console', report('page'));
      tab.on('worker', (worker) => worker.on('console', report('worker')));
      await tab.goto(url, { waitUntil: 'load' });
      await tab.waitForFunction(() => globalThis.benchReady === true);
      return tab;
    };
    const tab = await open(server.url);
    const floorTab = await open(floorUrl);
    const options = {
      provisioningToken: emulator.provisioningToken,
      instance: `http://localhost:${emulator.port}`,
      database: 'bench-writes',
      deviceId: 'bench-writes-panel',
      provisioningPollIntervalMs: 200,
      reconnectInitialDelayMs: 200,
      reconnectMaxDelayMs: 1_000,
      // The default outbox limits: 200,000 messages, 64 MiB of payload.
      storage,
    };
    const start = () => tab.evaluate((options) => globalThis.bench.start(options), options);
    const stop = () => tab.evaluate(() => globalThis.bench.stop());
    const pending = () => tab.evaluate(() => globalThis.bench.state.client.pendingMessagesCount());
    /**
     * The resident memory of every process of the browser after a full GC in both pages and every worker (the
     * database's among them); the reading before the GC is logged beside it.
     */
    const memory = async (label) => {
      const unCollected = residentMb(processes()).total;
      const targets = [tab, floorTab, ...tab.workers(), ...floorTab.workers()];
      let collected = 0;
      for (const target of targets) {
        const done = await target
          .evaluate(() => {
            if (typeof globalThis.gc !== 'function') return false;
            globalThis.gc();
            return true;
          })
          .catch(() => false);
        if (done) collected++;
      }
      const reading = residentMb(processes());
      log(
        `  ${label}: browser RSS ${number(reading.total)} MB after a GC in ${collected} of ${targets.length} pages and workers (${number(unCollected)} MB before it)`,
      );
      return reading;
    };
    /** Growth from `before` to `after` (readings of `memory`) by process type, for the log. */
    const growthByType = (before, after) =>
      Object.entries(after.byType)
        .map(([type, mb]) => [type, mb - (before.byType[type] ?? 0)])
        .filter(([, mb]) => Math.abs(mb) >= 1)
        .sort((a, b) => b[1] - a[1])
        .map(([type, mb]) => `${type} ${mb > 0 ? '+' : ''}${number(mb)}`)
        .join(', ');
    /** Runs `fn` between two readings of every process's disk writes; logs which processes wrote. */
    const measured = async (label, count, fn) => {
      const blobsBefore = lastBlobNumber(ourBlobs);
      const before = readIo(processes());
      const ms = await fn();
      const after = readIo(processes());
      const io = ioBetween(before, after);
      const blobs = lastBlobNumber(ourBlobs) - blobsBefore;
      const byType = Object.entries(io.byType)
        .sort((a, b) => b[1] - a[1])
        .map(([type, bytes]) => `${type} ${number(bytes)}`)
        .join(', ');
      const gone = io.gone.length === 0 ? '' : `; exited meanwhile: ${io.gone.map((p) => p.type).join(', ')}`;
      const large = label.includes('floor')
        ? ''
        : `; ${blobs} values of 64 KiB or more stored (blob files: snapshots or chunks)`;
      log(
        `${label}: ${number(count)} in ${number(ms)} ms, ${number(io.written)} B written (${number(io.written / count)} B each; ${byType}; cancelled ${number(io.cancelled)})${large}${gone}`,
      );
      return { perWrite: io.written / count, msEach: ms / count };
    };

    // Provisioned with the platform up, then offline for good: everything enqueued stays pending.
    await start();
    await tab.waitForFunction(() => globalThis.bench.state.client?.connected === true, null, {
      timeout: 60_000,
    });
    await emulator.stop();
    emulatorUp = false;
    await tab.waitForFunction(() => globalThis.bench.state.client?.connected === false);
    // The floor's database exists before its first window (its creation is not a put).
    await floorTab.evaluate(() => globalThis.bench.idbSequential(1, 256, false));
    const memoryBefore = await memory(`before the fill (${processes().length} processes)`);

    const results = [];
    let memoryAtTop;
    let memoryAfterFill;
    for (const [index, level] of levels.entries()) {
      const first = startOf(level);
      const fillStarted = performance.now();
      const filled = await tab.evaluate(([n, random]) => globalThis.bench.fill(n, random), [first, random]);
      log(
        `level ${number(level)}: filled to ${number(filled)} pending in ${number(performance.now() - fillStarted)} ms`,
      );
      if (index === levels.length - 1) {
        // The client that filled (open since the level before): the memory of a kiosk that piled its backlog up.
        memoryAfterFill = { pending: filled, ...(await memory(`after the fill to ${number(filled)}`)) };
      }
      // Closing waits for every write and fold in flight: each window starts with the store at rest, and ends with
      // the close, so it holds the folds its own enqueues caused and nothing before them.
      await stop();
      await start();
      const ours = [];
      const floor = [];
      for (let round = 0; round < rounds; round++) {
        await traceWrites(tab, 'start', log);
        const from = await pending();
        ours.push(
          await measured(`  ours ${number(from)} → ${number(from + window)} pending`, window, async () => {
            const ms = await tab.evaluate(
              ([n, random]) => globalThis.bench.enqueueSequential(n, 256, random),
              [window, random],
            );
            if (index === levels.length - 1 && round === rounds - 1) {
              memoryAtTop = await memory(`at ${number(from + window)}, after the window`);
            }
            await traceWrites(tab, 'print', log);
            await stop();
            return ms;
          }),
        );
        floor.push(
          await measured('  floor', floorWindow, () =>
            floorTab.evaluate(
              ([n, random]) => globalThis.bench.idbSequential(n, 256, random),
              [floorWindow, random],
            ),
          ),
        );
        await start();
      }
      results.push({ level, from: first, to: await pending(), ours, floor });
    }
    const top = levels.at(-1);
    await stop();
    const leveldb = treeBytes(join(indexedDbDir, `http_${origin}.indexeddb.leveldb`));
    const blobs = treeBytes(ourBlobs);
    // The origin private file system's files (every origin's: the floor's tab keeps nothing there).
    const opfsFiles = treeBytes(join(profile, 'Default', 'File System'));
    const onDisk = storage === 'opfs' ? opfsFiles : leveldb + blobs;
    const usage = await tab.evaluate(() => globalThis.bench.storageUsage());
    log(
      `browser RSS growth: +${number(memoryAfterFill.total - memoryBefore.total)} MB after the fill to ${number(memoryAfterFill.pending)} (${growthByType(memoryBefore, memoryAfterFill)}); +${number(memoryAtTop.total - memoryBefore.total)} MB at ${number(results.at(-1).to)} after the last window (${growthByType(memoryBefore, memoryAtTop)})`,
    );
    log(
      `IndexedDB of the origin on disk: ${number((leveldb + blobs) / 1e6)} MB (LevelDB ${number(leveldb / 1e6)} MB, blob files ${number(blobs / 1e6)} MB); origin private file system ${number(opfsFiles / 1e6)} MB; storage.estimate() ${number(usage / 1e6)} MB`,
    );

    const common = { caseName: name };
    const rows = [];
    for (const { level, from, to, ours, floor } of results) {
      const at = `at ${number(level)} pending (${number(from)}–${number(to)})`;
      rows.push(
        row({
          ...common,
          name: `disk bytes per sequential 256 B enqueue (${payloadKind} bytes${onStorage}) ${at}`,
          unit: 'B/msg',
          ours: ours.map((w) => w.perWrite),
          baseline: floor.map((w) => w.perWrite),
          baselineName: "IndexedDB put of the same 256 B, own 'strict' transaction, sequential (the floor)",
          target: { on: 'ratio', op: '<=', value: 1.5 },
          digits: 0,
        }),
        row({
          ...common,
          name: `sequential 256 B enqueue (${payloadKind} bytes${onStorage}) ${at}`,
          unit: 'ms',
          ours: ours.map((w) => w.msEach),
          baseline: floor.map((w) => w.msEach),
          baselineName: "IndexedDB put of the same 256 B, own 'strict' transaction, sequential (the floor)",
          digits: 2,
        }),
      );
    }
    const lastWindowFrom = results.at(-1).to - window;
    rows.push(
      row({
        ...common,
        name: `browser RSS growth (every Chromium process${onStorage}), 0 → ${number(memoryAfterFill.pending)} pending, filled by one client`,
        unit: 'MB',
        ours: memoryAfterFill.total - memoryBefore.total,
        target: { on: 'ours', op: '<=', value: 150 },
        digits: 0,
      }),
      row({
        ...common,
        name: `browser RSS growth${onStorage}, 0 → ${number(top)} pending (client reopened at ${number(lastWindowFrom)}, then sequential)`,
        unit: 'MB',
        ours: memoryAtTop.total - memoryBefore.total,
        target: { on: 'ours', op: '<=', value: 150 },
        digits: 0,
      }),
      row({
        ...common,
        name: `${storage === 'opfs' ? 'OPFS' : 'IndexedDB'} on disk at ${number(top)} pending`,
        unit: 'MB',
        ours: onDisk / 1e6,
        baseline: (top * payloadBytes) / 1e6,
        baselineName: `the payload (${number(top)} × 256 B)`,
        digits: 1,
      }),
    );
    log(
      `median ratio to the floor: ${results.map((r) => `${number(r.level)}: ${(median(r.ours.map((w) => w.perWrite)) / median(r.floor.map((w) => w.perWrite))).toFixed(2)}×`).join(', ')}`,
    );
    return rows;
  } finally {
    await browser.close();
    await server.close();
    if (emulatorUp) await emulator.stop();
  }
}

/**
 * With `BENCH_WRITES_TRACE=1`, what the database worker writes through each OPFS sync access handle in a window
 * (bytes, writes, flushes, the file's size at the end), to tell the journal's share from the file's segments'.
 */
async function traceWrites(tab, what, log) {
  if (process.env.BENCH_WRITES_TRACE !== '1') return;
  for (const worker of tab.workers()) {
    const lines = await worker
      .evaluate((what) => {
        const proto = globalThis.FileSystemSyncAccessHandle?.prototype;
        if (!proto) return [];
        if (!globalThis.__benchTrace) {
          const counts = new Map();
          globalThis.__benchTrace = counts;
          const entry = (handle) => {
            const found = counts.get(handle) ?? { bytes: 0, writes: 0, flushes: 0, truncates: 0 };
            counts.set(handle, found);
            return found;
          };
          const { write, flush, truncate } = proto;
          proto.write = function (buffer, options) {
            const written = write.call(this, buffer, options);
            const counted = entry(this);
            counted.bytes += written;
            counted.writes++;
            return written;
          };
          proto.flush = function () {
            entry(this).flushes++;
            return flush.call(this);
          };
          proto.truncate = function (size) {
            entry(this).truncates++;
            return truncate.call(this, size);
          };
        }
        const counts = globalThis.__benchTrace;
        if (what === 'start') {
          counts.clear();
          return [];
        }
        return [...counts]
          .sort(([, a], [, b]) => b.bytes - a.bytes)
          .slice(0, 6)
          .map(([handle, c]) => {
            let size = '?';
            try {
              size = handle.getSize();
            } catch {}
            return `${c.bytes} B in ${c.writes} writes, ${c.flushes} flushes, ${c.truncates} truncates (file ${size} B)`;
          });
      }, what)
      .catch(() => []);
    for (const line of lines) log(`    trace: ${line}`);
  }
}
