#!/usr/bin/env node
// `npm run bench`: throughput of the Node SDK with baselines measured in the same run, against the same emulator
// (started in its own process, as a real broker would be).
//   durable enqueue:  SDK enqueueMessage with 64 concurrent callers  vs  raw better-sqlite3 (WAL, synchronous=FULL)
//   delivery:         SDK enqueue → hub PUBACK, end to end           vs  raw mqtt.js QoS 1, 64 in flight
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { DeviceClient } from 'spotflow-device';

const N = Number(process.env.BENCH_MESSAGES ?? 20_000);
const payload = Buffer.alloc(1024, 'x');
const dir = mkdtempSync(join(tmpdir(), 'spotflow-bench-'));
const results = [];
const rate = (count, ms) => Math.round(count / (ms / 1000));
function record(name, count, ms, baseline) {
  const value = rate(count, ms);
  results.push({ name, value, baseline });
  return value;
}

const emulator = spawn(
  process.execPath,
  ['dist/emulator/cli.js', '--memory', '--port', '0', '--json', '--auto-approve', '--log-level', 'error'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const ready = JSON.parse(
  await new Promise((resolve) => createInterface({ input: emulator.stdout }).once('line', resolve)),
);
const ca = readFileSync(ready.caFile, 'utf8');

async function rawDurableInserts(perTransaction, count) {
  const db = new Database(join(dir, `raw-${perTransaction}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)');
  const insert = db.prepare('INSERT INTO t (payload) VALUES (?)');
  const many = db.transaction((n) => {
    for (let i = 0; i < n; i++) insert.run(payload);
  });
  const started = performance.now();
  for (let done = 0; done < count; done += perTransaction) many(perTransaction);
  const elapsed = performance.now() - started;
  db.close();
  return elapsed;
}

async function startDevice(name) {
  return DeviceClient.start({
    provisioningToken: ready.provisioningToken,
    instance: ready.instance,
    database: join(dir, `${name}.db`),
    deviceId: name,
    ca,
    provisioningPollIntervalMs: 50,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
}

async function waitConnected(client) {
  if (client.connected) return;
  await new Promise((resolve) => client.once('connected', resolve));
}

try {
  // --- durable enqueue -------------------------------------------------------------------------------
  const one = rate(2000, await rawDurableInserts(1, 2000));
  const sixtyFour = rate(N, await rawDurableInserts(64, N));
  results.push({ name: 'raw better-sqlite3, 1 insert per fsync', value: one });
  results.push({ name: 'raw better-sqlite3, 64 inserts per fsync', value: sixtyFour });

  // Durable enqueue alone: the broker is frozen (SIGSTOP), so the client's sender sits on a full window.
  const offline = await startDevice('bench-enqueue');
  await waitConnected(offline);
  emulator.kill('SIGSTOP');
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next++ < N) await offline.enqueueMessage(payload);
    }),
  );
  record('SDK enqueueMessage, 64 concurrent callers (durable)', N, performance.now() - started, one);
  emulator.kill('SIGCONT');
  await offline.close();

  // --- delivery --------------------------------------------------------------------------------------
  const device = await startDevice('bench-raw');
  const registration = await registrationOf(device);
  await device.close();
  const raw = await mqtt.connectAsync(`mqtt://localhost:${new URL(ready.instance).port}`, {
    clientId: registration.hubDeviceId,
    username: `${registration.hostName}/${registration.hubDeviceId}/?api-version=2021-04-12`,
    password: registration.sasToken,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const topic = `devices/${registration.hubDeviceId}/messages/events/stream-name=bench`;
  let sent = 0;
  const rawStarted = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (sent++ < N) await raw.publishAsync(topic, payload, { qos: 1 });
    }),
  );
  const rawRate = record(
    'raw mqtt.js QoS 1, 64 in flight (same emulator)',
    N,
    performance.now() - rawStarted,
  );
  await raw.endAsync();

  // The same enqueues while the client sends: what a busy device sees.
  const client = await startDevice('bench-sdk');
  await waitConnected(client);
  const sdkStarted = performance.now();
  let queued = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (queued++ < N) await client.enqueueMessage(payload, { stream: 'bench' });
    }),
  );
  await client.waitEnqueuedMessagesSent();
  record('SDK enqueue → PUBACK end to end, 64 in flight', N, performance.now() - sdkStarted, rawRate);
  await client.close();
} finally {
  emulator.kill('SIGCONT');
  emulator.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `\nspotflow-device benchmark: ${N} messages of ${payload.length} bytes, Node ${process.version}\n`,
);
for (const { name, value, baseline } of results) {
  const ratio = baseline ? `  (${(value / baseline).toFixed(2)}x baseline)` : '';
  console.log(`${name.padEnd(56)} ${String(value).padStart(8)} msg/s${ratio}`);
}

/** The hub credentials of a provisioned device, read from its database (a baseline needs the same device). */
async function registrationOf(client) {
  void client;
  const db = new Database(join(dir, 'bench-raw.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT value FROM state WHERE key = 'registration'").get();
    return JSON.parse(row.value).hub;
  } finally {
    db.close();
  }
}
