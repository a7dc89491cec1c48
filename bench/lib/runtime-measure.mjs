// Run inside Bun or Deno by bench/cases/runtimes.mjs: measures one thing there and prints its figures as one JSON
// line, `{ ours: number[], baseline: number[] }` (alternating runs, as every case does).
//   enqueue: our durable enqueue, offline, 64 callers, vs the runtime's own SQLite (WAL, synchronous=FULL) in
//            transactions of 64, the best a hand-written store does;
//   e2e:     enqueue → PUBACK over TLS, 64 in flight, vs raw MQTT.js QoS 1 on the same runtime, no persistence.
// Usage: bun runtime-measure.mjs '<json: { mode, emulator: { port, provisioningToken, ca }, dir, count, runs,
//        warmup, template? }>'
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
    measure: { ours: () => ourEnqueue(config.count), baseline: () => rawStore(config.count) },
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
        ours: () => sdkSend(client, payload, config.count),
        baseline: async () => {
          const started = performance.now();
          await rawPublish(connection, topic, payload, config.count);
          return rate(config.count, performance.now() - started);
        },
      },
    });
  } finally {
    await client.close();
    await connection.endAsync();
  }
}

const figures = config.mode === 'enqueue' ? await measureEnqueue() : await measureE2e();
process.stdout.write(`${JSON.stringify(figures)}\n`);
process.exit(0);
