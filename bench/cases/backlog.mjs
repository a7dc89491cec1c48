// Case 4. A device offline for weeks (256 B payloads): at 100,000, 1,000,000 and 10,000,000 pending (about 4.5
// minutes and 3.7 GB of temporary disk here; `--backlog-levels` picks others): offline enqueue latency p50/p99, then, with the
// platform back, `DeviceClient.start` to the first message sent, the send rate, the client process's resident memory,
// and the database size per message. The baseline of each figure is the same figure on a fresh copy of the same
// provisioned database (nothing pending), measured alternately with it in the same run.
import { execFile } from 'node:child_process';
import { copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enqueueMany, startDevice } from '../lib/device.mjs';
import { startEmulator } from '../lib/emulator.mjs';
import { alternate, median, quantile, row } from '../lib/harness.mjs';

export const name = 'backlog';
export const description =
  'offline backlog, 256 B: enqueue p50/p99, start → first sent, send rate, RSS, size per message at 100,000 … 10,000,000 pending';

const deviceScript = fileURLToPath(new URL('../lib/backlog-device.mjs', import.meta.url));

export async function run({ smoke, runs, warmup, dir, options, log }) {
  const levels = (options.backlogLevels ?? (smoke ? [500] : [100_000, 1_000_000, 10_000_000])).filter(
    (level) => level > 0,
  );
  const samples = smoke ? 20 : 200;
  const sendCount = smoke ? 50 : 20_000;
  const payload = Buffer.alloc(256, 'b');
  const template = join(dir, 'template.db');
  const backlog = join(dir, 'backlog.db');
  const deviceName = 'backlog';
  let copies = 0;
  const freshCopy = () => {
    const database = join(dir, `empty-${++copies}.db`);
    copyFileSync(template, database);
    return database;
  };
  const emulator = await startEmulator();
  try {
    // Provisioned once, with the platform up; every database here is a copy of this one (the same device).
    await (await startDevice(emulator, { dir, name: deviceName, database: template })).close();
    copyFileSync(template, backlog);

    /** Opens the client on `database` with the emulator frozen (it cannot connect: offline). */
    const openOffline = (database) => startDevice(emulator, { dir, name: deviceName, database });
    const offline = async (fn) => {
      emulator.pause();
      try {
        return await fn();
      } finally {
        emulator.resume();
      }
    };
    const topUp = (database, level) =>
      offline(async () => {
        const client = await openOffline(database);
        try {
          const pending = await client.pendingMessagesCount();
          const started = performance.now();
          if (pending < level) await enqueueMany(client, level - pending, payload, 64, { stream: 'backlog' });
          return { added: Math.max(0, level - pending), ms: performance.now() - started };
        } finally {
          await client.close();
        }
      });
    const latencies = async (client) => {
      const times = [];
      for (let k = 0; k < samples; k++) {
        const started = performance.now();
        await client.enqueueMessage(payload, { stream: 'latency' });
        times.push(performance.now() - started);
      }
      return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
    };
    /** Starts the client in a process of its own on `database` and lets it send `sendCount` + 1 messages. */
    const online = (database) =>
      new Promise((resolve, reject) => {
        const target = {
          provisioningToken: emulator.provisioningToken,
          port: emulator.port,
          ca: emulator.ca,
        };
        execFile(
          process.execPath,
          [deviceScript, JSON.stringify({ emulator: target, database, name: deviceName, count: sendCount })],
          { timeout: 300_000 },
          (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout.trim().split('\n').pop()))),
        );
      });

    const rows = [];
    for (const level of levels) {
      const at = `at ${level.toLocaleString('en-US')} pending`;
      const fill = await topUp(backlog, level);
      log(`${at}: filled at ${Math.round(fill.added / (fill.ms / 1000))} msg/s`);

      // Offline enqueue latency, alternately on the backlog and on a fresh database.
      const lat = { ours: { p50: [], p99: [] }, baseline: { p50: [], p99: [] } };
      await offline(async () => {
        const full = await openOffline(backlog);
        const empty = await openOffline(freshCopy());
        try {
          const keep = (into) => async (i) => {
            const figures = await latencies(into === 'ours' ? full : empty);
            if (i >= warmup) for (const q of ['p50', 'p99']) lat[into][q].push(figures[q]);
            return figures.p50;
          };
          await alternate({ runs, warmup, measure: { ours: keep('ours'), baseline: keep('baseline') } });
        } finally {
          await full.close();
          await empty.close();
        }
      });
      const files = ['', '-wal'].reduce((sum, suffix) => {
        try {
          return sum + statSync(backlog + suffix).size;
        } catch {
          return sum;
        }
      }, 0);
      const sizePerMessage = files / level;

      // With the platform back: a device process on the backlog, and one on a fresh database holding only the
      // messages it sends while measured.
      const device = {
        ours: { startMs: [], sendRate: [], rssMb: [] },
        baseline: { startMs: [], sendRate: [], rssMb: [] },
      };
      const onlineRun = (into) => async (i) => {
        let database = backlog;
        if (into === 'baseline') database = freshCopy();
        await topUp(database, (into === 'ours' ? level : 0) + sendCount + 1);
        const figures = await online(database);
        if (i >= warmup) for (const key of Object.keys(figures)) device[into][key].push(figures[key]);
        return figures.startMs;
      };
      await alternate({
        runs,
        warmup,
        measure: { ours: onlineRun('ours'), baseline: onlineRun('baseline') },
      });
      log(
        `${at}: p50 ${median(lat.ours.p50).toFixed(2)} ms, start → first sent ${Math.round(median(device.ours.startMs))} ms`,
      );

      const common = { caseName: name };
      const fresh = (what) => `${what} with 0 pending (fresh copy, same run)`;
      rows.push(
        row({
          ...common,
          name: `offline enqueue p50 ${at}`,
          unit: 'ms',
          ours: lat.ours.p50,
          baseline: lat.baseline.p50,
          baselineName: fresh('p50'),
          target: { on: 'ratio', op: '<=', value: 1.5 },
        }),
        row({
          ...common,
          name: `offline enqueue p99 ${at}`,
          unit: 'ms',
          ours: lat.ours.p99,
          baseline: lat.baseline.p99,
          baselineName: fresh('p99'),
        }),
        row({
          ...common,
          name: `start → first message sent ${at}`,
          unit: 'ms',
          ours: device.ours.startMs,
          baseline: device.baseline.startMs,
          baselineName: fresh('the same'),
          target: { on: 'ours', op: '<', value: 1000 },
        }),
        row({
          ...common,
          name: `send rate ${at}`,
          unit: 'msg/s',
          ours: device.ours.sendRate,
          baseline: device.baseline.sendRate,
          baselineName: fresh('send rate'),
        }),
        row({
          ...common,
          name: `client RSS growth ${at}`,
          unit: 'MB',
          ours: device.ours.rssMb.map((mb, i) => mb - device.baseline.rssMb[i]),
          target: { on: 'ours', op: '<', value: 100 },
        }),
        row({
          ...common,
          name: `database size per message ${at}`,
          unit: 'B/msg',
          ours: sizePerMessage,
          baseline: payload.length,
          baselineName: 'the payload (256 B)',
        }),
      );
    }
    return rows;
  } finally {
    await emulator.stop();
  }
}
