// Case 2. End to end in Node: 50,000 × 1 KiB from enqueue to PUBACK against the emulator (its own process), over
// TCP and over TLS, against raw MQTT.js QoS 1 publishing the same payloads with the same window (64 in flight) to the
// same emulator, with no persistence at all. A second baseline sends what our client sends (the same topic, with a
// fresh `$.mid` per message, which makes the emulator look for duplicates): on this 2-core machine the emulator
// shares the CPU, and its per-`$.mid` work is part of what the end-to-end figure pays.
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { enqueueMany, rate, startDevice, waitConnected } from '../lib/device.mjs';
import { hubMqttOptions, provision, startEmulator } from '../lib/emulator.mjs';
import { alternate, row } from '../lib/harness.mjs';

export const name = 'e2e';
export const description =
  'end to end, Node, 1 KiB enqueue → PUBACK over TCP and TLS vs raw MQTT.js QoS 1 (64 in flight)';

const window = 64;

/** The topic our client sends a `stream: 'bench'` message on, as raw MQTT.js sends it: a fresh `$.mid` each call. */
export function ourTopic(hubDeviceId) {
  const topic = `devices/${hubDeviceId}/messages/events/stream-name=bench`;
  return () => `${topic}&%24.mid=${randomUUID()}`;
}

/** Publishes `count` messages with `window` QoS 1 publishes outstanding; resolves at the last PUBACK. */
export async function rawPublish(client, topic, payload, count) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(window, count) }, async () => {
      while (next < count) {
        next++;
        await client.publishAsync(typeof topic === 'function' ? topic() : topic, payload, { qos: 1 });
      }
    }),
  );
}

/** Times `count` enqueues (64 callers) until the hub acknowledged every one. */
export async function sdkSend(client, payload, count) {
  const started = performance.now();
  await enqueueMany(client, count, payload, window, { stream: 'bench' });
  await client.waitEnqueuedMessagesSent();
  return rate(count, performance.now() - started);
}

export async function run({ smoke, runs, warmup, dir }) {
  const count = smoke ? 300 : 50_000;
  const payload = Buffer.alloc(1024, 'x');
  const emulator = await startEmulator();
  const rows = [];
  try {
    for (const tls of [false, true]) {
      const transport = tls ? 'TLS' : 'TCP';
      const device = await provision(emulator, `raw-${transport.toLowerCase()}`);
      const connection = await mqtt.connectAsync(
        `${tls ? 'mqtts' : 'mqtt'}://localhost:${emulator.port}`,
        hubMqttOptions(emulator, device),
      );
      const topic = `devices/${device.hubDeviceId}/messages/events/stream-name=bench`;
      const sameTopic = ourTopic(device.hubDeviceId);
      const raw = (to) => async () => {
        const started = performance.now();
        await rawPublish(connection, to, payload, count);
        return rate(count, performance.now() - started);
      };
      const client = await startDevice(emulator, { dir, name: `sdk-${transport.toLowerCase()}`, tls });
      // CPU per message on each side, beside each figure: on this machine the two processes share two cores, so
      // what each spends per message bounds the rate. (The bench process hosts both clients; one sends at a time.)
      const cpu = { ours: [], baseline: [], same: [] };
      const emulatorCpu = { ours: [], baseline: [], same: [] };
      const withCpu = (key, fn) => async (i) => {
        const started = process.cpuUsage();
        const emulatorStarted = emulator.cpuMs();
        const figure = await fn();
        const used = process.cpuUsage(started);
        if (i >= warmup) {
          cpu[key].push((used.user + used.system) / count);
          emulatorCpu[key].push(((emulator.cpuMs() - emulatorStarted) * 1000) / count);
        }
        return figure;
      };
      try {
        await waitConnected(client);
        const figures = await alternate({
          runs,
          warmup,
          measure: {
            ours: withCpu('ours', () => sdkSend(client, payload, count)),
            baseline: withCpu('baseline', raw(topic)),
            same: withCpu('same', raw(sameTopic)),
          },
        });
        rows.push(
          row({
            caseName: name,
            name: `end to end 1 KiB over ${transport}, 64 in flight`,
            unit: 'msg/s',
            ours: figures.ours,
            baseline: figures.baseline,
            baselineName: 'raw MQTT.js QoS 1, 64 in flight, no persistence',
          }),
          // Issue 19's targets are on the baseline that sends what we send (a `$.mid` each), so both cost the
          // emulator the same; the plain-topic rows stay for comparison with earlier runs.
          row({
            caseName: name,
            name: `end to end 1 KiB over ${transport}, 64 in flight`,
            unit: 'msg/s',
            ours: figures.ours,
            baseline: figures.same,
            baselineName: 'raw MQTT.js sending our topic (stream + a $.mid each), no persistence',
            target: { on: 'ratio', op: '>=', value: 0.85 },
          }),
          row({
            caseName: name,
            name: `device process CPU per message over ${transport} (all threads)`,
            unit: 'µs/msg',
            ours: cpu.ours,
            baseline: cpu.baseline,
            baselineName: 'raw MQTT.js QoS 1, no persistence',
          }),
          row({
            caseName: name,
            name: `device process CPU per message over ${transport} (all threads)`,
            unit: 'µs/msg',
            ours: cpu.ours,
            baseline: cpu.same,
            baselineName: 'raw MQTT.js sending our topic, no persistence',
            target: { on: 'ratio', op: '<=', value: 2 },
          }),
          row({
            caseName: name,
            name: `emulator CPU per message over ${transport}`,
            unit: 'µs/msg',
            ours: emulatorCpu.ours,
            baseline: emulatorCpu.baseline,
            baselineName: 'the same for raw MQTT.js QoS 1 (plain topic)',
          }),
          row({
            caseName: name,
            name: `emulator CPU per message over ${transport}`,
            unit: 'µs/msg',
            ours: emulatorCpu.ours,
            baseline: emulatorCpu.same,
            baselineName: 'the same for raw MQTT.js sending our topic',
          }),
        );
      } finally {
        await client.close();
        await connection.endAsync();
      }
    }
  } finally {
    await emulator.stop();
  }
  return rows;
}
