// Case 7. A fleet in one Node process: 1,000 of our clients on one emulator, each sending one message a second for
// 60 s (5 windows of 12 s after a warm-up window), against 1,000 raw MQTT.js clients doing the same. Delivery latency
// (send → PUBACK), CPU of the clients' process and of the emulator, memory, and messages lost. Each side runs in a
// process of its own; both are set up, then their windows alternate, the other side's clients connected and idle
// meanwhile. The emulator is allowed more than its default 1,000 connections (both sides' and the provisioning
// calls). Our clients share one DeviceStore, as a gateway runs them (`--fleet-store own`: a database file each, as
// separate devices would).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../lib/emulator.mjs';
import { row } from '../lib/harness.mjs';

export const name = 'fleet';
export const description =
  '1,000 clients in one process, 1 msg/s each, 60 s: latency, CPU, memory, loss vs raw MQTT.js';

/** Each window's client CPU, with the part in user space: the rest is the kernel's (syscalls, fsync, loopback TCP). */
const cpuSplit = (result) =>
  result.windows.map((w) => `${w.cpuPct.toFixed(1)} (${w.cpuUserPct.toFixed(1)})`).join(', ');

const script = fileURLToPath(new URL('../lib/fleet-process.mjs', import.meta.url));

/**
 * Forks one side (bench/lib/fleet-process.mjs) and waits until its clients are set up; `window()` runs one window
 * there and resolves with its figures, `end()` closes its clients and waits for the process to exit.
 */
function startSide(spec, execArgv) {
  const child = fork(script, [JSON.stringify(spec)], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let answer;
  // A side that stops answering fails the case rather than hanging it (a window takes `seconds` plus up to 30 s).
  const next = () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the ${spec.kind} side did not answer`)), 900_000);
      answer = {
        resolve(value) {
          clearTimeout(timer);
          resolve(value);
        },
        reject(error) {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  child.on('message', (message) => answer?.resolve(message));
  child.on('exit', (code) => answer?.reject(new Error(`the ${spec.kind} side exited (${code})`)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return next().then((setup) => ({
    setup,
    windows: [],
    window: () => {
      const reply = next();
      child.send('window');
      return reply.then((message) => message.window);
    },
    end: async () => {
      answer = undefined;
      if (child.exitCode === null) child.send('end');
      await exited;
    },
  }));
}

export async function run({ smoke, runs, warmup, dir, options, log }) {
  const n = options.fleetClients ?? (smoke ? 5 : 1000);
  const total = options.fleetSeconds ?? (smoke ? 2 : 60);
  const seconds = total / runs;
  const store = options.fleetStore ?? 'shared';
  const emulator = await startEmulator({ maxConnections: 4 * n + 100 });
  try {
    // BENCH_FLEET_NODE_ARGS='--cpu-prof --cpu-prof-dir=DIR' profiles each side's client process.
    const execArgv = process.env.BENCH_FLEET_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const spec = (kind) => ({
      kind,
      n,
      seconds,
      store,
      dir,
      emulator: {
        provisioningToken: emulator.provisioningToken,
        port: emulator.port,
        ca: emulator.ca,
        pid: emulator.pid,
      },
    });
    // Both sides are set up one after the other, then their windows alternate (ours, raw, ours, …): run one after
    // the other, raw MQTT.js's CPU moved between 10 and 21 % of a core over runs of the same hour, more than the gap.
    const ours = await startSide(spec('sdk'), execArgv);
    log(`ours: ${n} clients started in ${Math.round(ours.setup.setupMs)} ms`);
    let raw;
    try {
      raw = await startSide(spec('raw'), execArgv);
      log(`raw: ${n} clients connected in ${Math.round(raw.setup.setupMs)} ms`);
      for (let w = 0; w < warmup + runs; w++) {
        ours.windows.push(await ours.window());
        raw.windows.push(await raw.window());
      }
    } finally {
      await Promise.all([ours.end(), raw?.end()]);
    }
    log(`ours: CPU % (of it user) per window: ${cpuSplit(ours)}`);
    log(`raw: CPU % (of it user) per window: ${cpuSplit(raw)}`);
    const pick = (result, key) => result.windows.slice(warmup).map((w) => w[key]);
    const fleet = `${n.toLocaleString('en-US')} clients${store === 'shared' ? ' on one DeviceStore' : ''} × 1 msg/s`;
    const common = {
      caseName: name,
      baselineName: `${n.toLocaleString('en-US')} raw MQTT.js clients, QoS 1, same emulator`,
    };
    return [
      row({
        ...common,
        name: `${fleet}: delivery latency p50 (send → PUBACK)`,
        unit: 'ms',
        ours: pick(ours, 'p50'),
        baseline: pick(raw, 'p50'),
      }),
      row({
        ...common,
        name: `${fleet}: delivery latency p99`,
        unit: 'ms',
        ours: pick(ours, 'p99'),
        baseline: pick(raw, 'p99'),
        // Issue 19's targets, here and below.
        target: { on: 'ours', op: '<=', value: 20 },
      }),
      row({
        ...common,
        name: `${fleet}: client process CPU`,
        unit: '% of a core',
        ours: pick(ours, 'cpuPct'),
        baseline: pick(raw, 'cpuPct'),
        target: { on: 'ratio', op: '<=', value: 2 },
      }),
      row({
        ...common,
        name: `${fleet}: emulator CPU`,
        unit: '% of a core',
        ours: pick(ours, 'emulatorCpuPct'),
        baseline: pick(raw, 'emulatorCpuPct'),
      }),
      row({
        ...common,
        name: `${fleet}: client process memory for the fleet`,
        unit: 'MB',
        ours: ours.setup.growthMb,
        baseline: raw.setup.growthMb,
        target: { on: 'ratio', op: '<=', value: 2.5 },
        digits: 0,
      }),
      row({
        ...common,
        name: `${fleet}: emulator memory`,
        unit: 'MB',
        ours: pick(ours, 'emulatorRssMb'),
        baseline: pick(raw, 'emulatorRssMb'),
        digits: 0,
      }),
      row({
        ...common,
        name: `${fleet}: messages not acknowledged within 30 s`,
        unit: 'messages',
        ours: pick(ours, 'lost'),
        baseline: pick(raw, 'lost'),
        target: { on: 'ours', op: '<=', value: 0 },
        digits: 0,
      }),
    ];
  } finally {
    await emulator.stop();
  }
}
