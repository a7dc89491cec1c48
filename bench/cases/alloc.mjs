// Case: what a message allocates in the device's process, counted by V8's sampling heap profiler with collected
// objects included (every allocation, not what survives): 1 KiB end to end over TCP, 64 in flight, our client against
// raw MQTT.js sending our very topic. Garbage collection was the largest single part of our CPU per message (perf,
// bench/README.md), and its cost follows what is allocated; unlike time, this figure barely moves between runs.
import { Session } from 'node:inspector/promises';
import mqtt from 'mqtt';
import { startDevice, waitConnected } from '../lib/device.mjs';
import { hubMqttOptions, provision, startEmulator } from '../lib/emulator.mjs';
import { alternate, row } from '../lib/harness.mjs';
import { ourTopic, rawPublish, sdkSend } from './e2e.mjs';

export const name = 'alloc';
export const description =
  'bytes allocated per 1 KiB message end to end over TCP vs raw MQTT.js (V8 heap sampling)';

/** Bytes allocated (sampled every 1 KiB) while `work` runs, divided by `count`. */
async function bytesPerMessage(session, count, work) {
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await work();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  let total = 0;
  const visit = (node) => {
    total += node.selfSize;
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return total / count;
}

export async function run({ smoke, runs, warmup, dir }) {
  const count = smoke ? 300 : 20_000;
  const payload = Buffer.alloc(1024, 'x');
  const emulator = await startEmulator();
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    const device = await provision(emulator, 'raw-alloc');
    const connection = await mqtt.connectAsync(
      `mqtt://localhost:${emulator.port}`,
      hubMqttOptions(emulator, device),
    );
    const topic = ourTopic(device.hubDeviceId);
    const client = await startDevice(emulator, { dir, name: 'sdk-alloc' });
    try {
      await waitConnected(client);
      const figures = await alternate({
        runs,
        warmup,
        measure: {
          ours: () => bytesPerMessage(session, count, () => sdkSend(client, payload, count)),
          raw: () => bytesPerMessage(session, count, () => rawPublish(connection, topic, payload, count)),
        },
      });
      return [
        row({
          caseName: name,
          name: 'bytes allocated per 1 KiB message, enqueue → PUBACK over TCP, 64 in flight',
          unit: 'B/msg',
          ours: figures.ours,
          baseline: figures.raw,
          baselineName: 'raw MQTT.js sending our topic (a $.mid each), no persistence',
          digits: 0,
        }),
      ];
    } finally {
      await client.close();
      await connection.endAsync();
    }
  } finally {
    session.disconnect();
    await emulator.stop();
  }
}
