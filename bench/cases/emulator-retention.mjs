// Emulator retention: what one retained message costs the emulator in memory, and what dropping the oldest one per
// message costs in ingest rate. One device publishes 100,000 messages of 256 B (each with a stream and a fresh `$.mid`,
// as our client sends them) with raw MQTT.js, QoS 1, 64 in flight, to an emulator of its own (in memory) that keeps
// every message (`--retain-messages 0`, as before retention existed) and, alternately, to one that keeps 1,000 of
// them (dropping one per message once there). The emulator's RSS is read before and after, past 20,000 messages of
// warm-up (its JavaScript heap has grown to what this load needs); the difference between the two growths, per
// message kept, is the memory per retained message.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { rate } from '../lib/device.mjs';
import { hubMqttOptions, provision, startEmulator } from '../lib/emulator.mjs';
import { alternate, row } from '../lib/harness.mjs';
import { rawPublish } from './e2e.mjs';

export const name = 'emulator-retention';
export const description =
  'emulator memory per retained message (256 B) and ingest rate at the retention limit vs keeping every message';

/** Starts an emulator keeping `retain` messages per device, set through the CLI's environment variable. */
async function emulatorKeeping(retain) {
  const variable = 'SPOTFLOW_EMULATOR_RETAIN_MESSAGES';
  const previous = process.env[variable];
  process.env[variable] = String(retain);
  try {
    return await startEmulator();
  } finally {
    if (previous === undefined) delete process.env[variable];
    else process.env[variable] = previous;
  }
}

/** Sends `count` messages through a fresh emulator keeping `retain`; its RSS growth (MB) and the rate. */
async function measure(retain, count, warmupCount, payload) {
  const emulator = await emulatorKeeping(retain);
  try {
    const device = await provision(emulator, 'retention');
    const connection = await mqtt.connectAsync(
      `mqtt://localhost:${emulator.port}`,
      hubMqttOptions(emulator, device),
    );
    try {
      const topic = `devices/${device.hubDeviceId}/messages/events/stream-name=bench`;
      const next = () => `${topic}&%24.mid=${randomUUID()}`;
      await rawPublish(connection, next, payload, warmupCount);
      await sleep(500);
      const before = emulator.rssMb();
      const started = performance.now();
      await rawPublish(connection, next, payload, count);
      const ms = performance.now() - started;
      await sleep(500);
      return { mb: emulator.rssMb() - before, rate: rate(count, ms) };
    } finally {
      await connection.endAsync();
    }
  } finally {
    await emulator.stop();
  }
}

export async function run({ smoke, runs, warmup, log }) {
  const count = smoke ? 2_000 : 100_000;
  const kept = smoke ? 100 : 1_000;
  const warmupCount = smoke ? 200 : 20_000;
  const payload = Buffer.alloc(256, 'r');
  const figures = { all: [], limited: [] };
  const measured = await alternate({
    runs,
    warmup,
    measure: {
      all: async () => {
        const figure = await measure(0, count, warmupCount, payload);
        figures.all.push(figure);
        return figure.mb;
      },
      limited: async () => {
        const figure = await measure(kept, count, warmupCount, payload);
        figures.limited.push(figure);
        return figure.mb;
      },
    },
  });
  // Each measured round's pair (the same machine state) gives one figure per message kept.
  const rounds = figures.all.slice(warmup);
  const perMessage = rounds.map((all, i) => ((all.mb - figures.limited[warmup + i].mb) * 2 ** 20) / count);
  log(`RSS growth, every message kept: ${measured.all.map((mb) => mb.toFixed(1)).join(', ')} MB`);
  log(`RSS growth, ${kept} kept: ${measured.limited.map((mb) => mb.toFixed(1)).join(', ')} MB`);
  const per100k = (values) => values.map((mb) => (mb * 100_000) / count);
  return [
    row({
      caseName: name,
      name: `emulator RSS growth per 100,000 messages of 256 B, --retain-messages ${kept}`,
      unit: 'MB',
      ours: per100k(measured.limited),
      baseline: per100k(measured.all),
      baselineName: '--retain-messages 0: every message kept (the emulator before retention)',
      target: smoke ? null : { on: 'ours', op: '<', value: 10 },
      digits: 1,
    }),
    row({
      caseName: name,
      name: 'emulator memory per retained message (256 B payload, a stream and a $.mid)',
      unit: 'B',
      ours: perMessage,
      digits: 0,
    }),
    row({
      caseName: name,
      name: `emulator ingest, 256 B, at its limit of ${kept} (one drop per message)`,
      unit: 'msg/s',
      ours: figures.limited.slice(warmup).map((f) => f.rate),
      baseline: rounds.map((f) => f.rate),
      baselineName: '--retain-messages 0: nothing dropped',
      target: smoke ? null : { on: 'ratio', op: '>=', value: 0.8 },
    }),
  ];
}
