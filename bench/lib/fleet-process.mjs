// One side of the fleet case, in a process of its own (so its CPU and memory are its clients' alone), forked by
// bench/cases/fleet.mjs: `n` clients (our SDK, or raw MQTT.js) connected to one emulator. Reports its setup time and
// memory growth once set up; then, each time the parent asks, runs a window of `seconds` in which every client sends
// one message a second (staggered over the second) and reports the delivery latencies (send → PUBACK), CPU of this
// process and of the emulator, and messages not acknowledged.
import { join } from 'node:path';
import mqtt from 'mqtt';
import { DeviceStore } from 'spotflow-device';
import { startDevice, waitConnected } from './device.mjs';
import { hubMqttOptions, processCpuMs, provision } from './emulator.mjs';
import { quantile } from './harness.mjs';

const { kind, n, seconds, emulator: info, dir, store: storeKind } = JSON.parse(process.argv[2]);
const emulator = { ...info, instanceFor: () => `http://localhost:${info.port}` };
const rssMb = () => process.memoryUsage().rss / 2 ** 20;
/** Closes the fleet's DeviceStore, if it has one, after its clients. */
let closeStore = () => {};

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

/** A sender per client: `send(seq)` resolves with the delivery latency (ms) at PUBACK. */
async function sdkSenders() {
  const store = storeKind === 'shared' ? await DeviceStore.open(join(dir, 'fleet-store.db')) : undefined;
  closeStore = () => store?.close();
  return pool(
    Array.from({ length: n }, (_, i) => i),
    20,
    async (i) => {
      const client = await startDevice(emulator, {
        dir,
        name: `fleet-${i}`,
        ...(store ? { store } : { database: join(dir, `fleet-${i}.db`) }),
      });
      await waitConnected(client, 120_000);
      const waiting = new Map();
      client.on('messageSent', ({ id }) => {
        const done = waiting.get(id);
        if (done) {
          waiting.delete(id);
          done();
        }
      });
      return {
        async send(seq) {
          const started = performance.now();
          const acked = new Promise((resolve) => {
            // The id is known only once the enqueue resolved; the PUBACK cannot come before.
            client
              .enqueueMessage({ seq, at: Date.now() }, { stream: 'fleet' })
              .then(({ id }) => waiting.set(id, resolve));
          });
          await acked;
          return performance.now() - started;
        },
        close: () => client.close(),
      };
    },
  );
}

async function rawSenders() {
  return pool(
    Array.from({ length: n }, (_, i) => i),
    20,
    async (i) => {
      const device = await provision(emulator, `raw-fleet-${i}`);
      const client = await mqtt.connectAsync(
        `mqtt://localhost:${emulator.port}`,
        hubMqttOptions(emulator, device),
      );
      // A lost connection leaves its publishes unacknowledged, which the window counts as lost.
      client.on('error', () => {});
      const topic = `devices/${device.hubDeviceId}/messages/events/stream-name=fleet`;
      return {
        async send(seq) {
          const started = performance.now();
          await client.publishAsync(topic, JSON.stringify({ seq, at: Date.now() }), { qos: 1 });
          return performance.now() - started;
        },
        close: () => client.endAsync(),
      };
    },
  );
}

const before = rssMb();
const setupStarted = performance.now();
const senders = kind === 'sdk' ? await sdkSenders() : await rawSenders();
const setupMs = performance.now() - setupStarted;
const growthMb = rssMb() - before;

let seq = 0;

/** One window: every client sends a message a second for `seconds`; its figures. */
async function runWindow() {
  const latencies = [];
  const deliveries = [];
  const timers = [];
  const cpu = process.cpuUsage();
  const emulatorCpu = processCpuMs(info.pid);
  const started = performance.now();
  senders.forEach((sender, i) => {
    const tick = () => deliveries.push(sender.send(++seq).then((ms) => latencies.push(ms)));
    timers.push(
      setTimeout(
        () => {
          tick();
          timers.push(setInterval(tick, 1000));
        },
        (i / n) * 1000,
      ),
    );
  });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  for (const timer of timers) clearTimeout(timer);
  const sent = deliveries.length;
  // Every message of the window gets up to 30 s to be acknowledged; what is not by then counts as lost.
  await Promise.race([Promise.all(deliveries), new Promise((resolve) => setTimeout(resolve, 30_000))]);
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    sent,
    lost: sent - latencies.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPct: ((used.user + used.system) / 1000 / wall) * 100,
    cpuUserPct: (used.user / 1000 / wall) * 100,
    emulatorCpuPct: ((processCpuMs(info.pid) - emulatorCpu) / wall) * 100,
    emulatorRssMb:
      Number(
        /VmRSS:\s+(\d+)/.exec(
          await import('node:fs').then((fs) => fs.readFileSync(`/proc/${info.pid}/status`, 'utf8')),
        )?.[1] ?? 0,
      ) / 1024,
  };
}

// The parent alternates the two sides' windows (ours, raw, ours, …) so that both see the same machine; between its
// windows a side's clients stay connected and idle.
process.send({ setupMs, growthMb });
process.on('message', async (message) => {
  if (message === 'window') {
    process.send({ window: await runWindow() });
    return;
  }
  await Promise.race([
    Promise.all(senders.map((s) => s.close())).then(() => closeStore()),
    new Promise((resolve) => setTimeout(resolve, 30_000)),
  ]);
  process.exit(0);
});
