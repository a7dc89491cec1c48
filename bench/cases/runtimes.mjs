// Case: Bun and Deno (devDependencies `bun`, `deno`), each measured inside the runtime by bench/lib/runtime-measure.mjs
// against the emulator in its own Node process: durable enqueue with 64 callers (offline) against the runtime's own
// SQLite in transactions of 64, and end to end over TLS against raw MQTT.js on the same runtime.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEmulator } from '../lib/emulator.mjs';
import { row } from '../lib/harness.mjs';
import { offlineTemplate } from '../lib/offline.mjs';

export const name = 'runtimes';
export const description =
  'Bun and Deno: durable enqueue (64 callers) vs their own SQLite, end to end over TLS vs raw MQTT.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const script = fileURLToPath(new URL('../lib/runtime-measure.mjs', import.meta.url));

/** Runs the measuring script inside `runtime`; its figures. */
async function measure(runtime, config) {
  const bin = join(repo, 'node_modules', '.bin', runtime);
  const args = runtime === 'deno' ? ['run', '-A', script] : [script];
  const { stdout } = await promisify(execFile)(bin, [...args, JSON.stringify({ ...config, runtime })], {
    cwd: repo,
    timeout: 600_000,
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

export async function run({ smoke, runs, warmup, dir }) {
  // Provisioned once (by Node), then that emulator goes: each runtime's client starts from a copy of the stored
  // registration, offline, so that only the durable store is measured. The end-to-end runs use a second one.
  const template = join(dir, 'runtimes-enqueue-template.db');
  await offlineTemplate(dir, 'enqueue', template);
  const emulator = await startEmulator();
  const rows = [];
  try {
    for (const runtime of ['bun', 'deno']) {
      const { enqueue, e2e } = await measure(runtime, {
        dir,
        runs,
        warmup,
        template,
        enqueueCount: smoke ? 500 : 20_000,
        e2eCount: smoke ? 300 : 50_000,
        emulator: { port: emulator.port, provisioningToken: emulator.provisioningToken, ca: emulator.ca },
      });
      const unit = 'msg/s';
      rows.push(
        row({
          caseName: name,
          name: `${runtime}: durable enqueue 1 KiB, 64 callers`,
          unit,
          ours: enqueue.ours,
          baseline: enqueue.baseline,
          baselineName: `${runtime === 'bun' ? 'bun:sqlite' : 'node:sqlite'} FULL, transactions of 64`,
        }),
        row({
          caseName: name,
          name: `${runtime}: end to end 1 KiB over TLS, 64 in flight`,
          unit,
          ours: e2e.ours,
          baseline: e2e.baseline,
          baselineName: `raw MQTT.js QoS 1 on ${runtime}, 64 in flight, no persistence`,
        }),
      );
    }
  } finally {
    await emulator.stop();
  }
  return rows;
}
