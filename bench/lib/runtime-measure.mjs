// Run inside Bun or Deno by bench/cases/runtimes.mjs: measures there and prints one JSON line,
// `{ enqueue: { ours, baseline }, e2e: { ours, baseline } }`, each a list of figures (alternating runs, as every case
// does):
//   enqueue: our durable enqueue, offline (a copy of `template`, provisioned against an emulator that is gone),
//            64 callers, vs the runtime's own SQLite (WAL, synchronous=FULL) in transactions of 64, the best a
//            hand-written store does;
//   e2e:     enqueue → PUBACK over TLS, 64 in flight, vs raw MQTT.js QoS 1 on the same runtime, no persistence.
// Usage: bun runtime-measure.mjs '<json: { runtime, emulator: { port, provisioningToken, ca }, dir, template,
//        enqueueCount, e2eCount, runs, warmup }>'
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import mqtt from 'mqtt';
import { rawPublish, sdkSend } from '../cases/e2e.mjs';
import { enqueueMany, rate, startDevice, waitConnected } from './device.mjs';
import { hubMqttOptions, provision } from './emulator.mjs';
import { alternate } from './harness.mjs';

const config = JSON.parse(process.argv[2]);
const emulator = {
  ...config.emulator,
  instanceFor: (tls) => `${tls ? 'https' : 'http'}://localhost:${config.emulator.port}`,
};
const payload = new Uint8Array(1024).fill(120);
let n = 0;

/** The runtime's own SQLite binding, as a hand-written store would use it. */
async function openRaw(path) {
  if (globalThis.Bun) {
    const { Database } = await import('bun:sqlite');
    return new Database(path);
  }
  const { DatabaseSync } = await import('node:sqlite');
  return new DatabaseSync(path);
}

async function rawStore(count) {
  const db = await openRaw(join(config.dir, `${config.runtime}-raw-${++n}.db`));
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO t (payload) VALUES (?)');
    const started = performance.now();
    for (let done = 0; done < count; done += 64) {
      db.exec('BEGIN');
      for (let i = 0; i < 64; i++) insert.run(payload);
      db.exec('COMMIT');
    }
    return rate(count, performance.now() - started);
  } finally {
    db.close();
  }
}

async function ourEnqueue(count) {
  const database = join(config.dir, `${config.runtime}-enqueue-${++n}.db`);
  copyFileSync(config.template, database);
  const client = await startDevice(emulator, { dir: config.dir, name: 'enqueue', database });
  try {
    const started = performance.now();
    await enqueueMany(client, count, payload, 64);
    return rate(count, performance.now() - started);
  } finally {
    await client.close();
  }
}

async function measureEnqueue() {
  return alternate({
    runs: config.runs,
    warmup: config.warmup,
    measure: { ours: () => ourEnqueue(config.enqueueCount), baseline: () => rawStore(config.enqueueCount) },
  });
}

async function measureE2e() {
  const device = await provision(emulator, `raw-${config.runtime}`);
  const connection = await mqtt.connectAsync(
    `mqtts://localhost:${emulator.port}`,
    hubMqttOptions(emulator, device),
  );
  const topic = `devices/${device.hubDeviceId}/messages/events/stream-name=bench`;
  const client = await startDevice(emulator, { dir: config.dir, name: `sdk-${config.runtime}`, tls: true });
  try {
    await waitConnected(client);
    return await alternate({
      runs: config.runs,
      warmup: config.warmup,
      measure: {
        ours: () => sdkSend(client, payload, config.e2eCount),
        baseline: async () => {
          const started = performance.now();
          await rawPublish(connection, topic, payload, config.e2eCount);
          return rate(config.e2eCount, performance.now() - started);
        },
      },
    });
  } finally {
    await client.close();
    await connection.endAsync();
  }
}

const enqueue = await measureEnqueue();
const e2e = await measureE2e();
process.stdout.write(`${JSON.stringify({ enqueue, e2e })}\n`);
process.exit(0);
