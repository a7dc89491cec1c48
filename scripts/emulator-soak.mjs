#!/usr/bin/env node
// `npm run soak:emulator`: the emulator under a steady message load for 30 minutes (--minutes), with message
// retention, printing its resident memory every 10 s and at the end whether it stayed flat. Not run in CI.
//
//   npm run soak:emulator -- --minutes 5 --rate 1000 --devices 4 --retain-messages 10000
//
// The emulator runs from dist/ (the script builds first) in memory, in a process of its own; each device publishes
// 256-byte messages (with a stream and a fresh `$.mid`, as our client sends them) over MQTT, QoS 1, at an even share of
// --rate. Once every device has sent twice its retention limit (the oldest are being dropped), the RSS samples count:
// it stayed flat when the median of the last quarter of them exceeds that of the first quarter by at most 16 MB or
// 10 %, whichever is more. At the end each device must have kept exactly --retain-messages and counted the rest as
// dropped. Exits 1 otherwise.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { hubMqttOptions, provision, startEmulator } from '../bench/lib/emulator.mjs';
import { median } from '../bench/lib/harness.mjs';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '1000' },
    devices: { type: 'string', default: '4' },
    'retain-messages': { type: 'string', default: '10000' },
  },
});
const positive = (flag) => {
  const value = Number(values[flag]);
  if (!(value > 0) || !Number.isFinite(value)) {
    console.error(`emulator soak: --${flag} must be a positive number`);
    process.exit(2);
  }
  return value;
};
const minutes = positive('minutes');
const rate = positive('rate');
const deviceCount = Math.round(positive('devices'));
const retain = Math.round(positive('retain-messages'));
const sampleMs = 10_000;
const tickMs = 100;
const payload = Buffer.alloc(256, 's');

process.env.SPOTFLOW_EMULATOR_RETAIN_MESSAGES = String(retain);
const emulator = await startEmulator();
const management = async (path) => {
  const response = await fetch(
    `http://localhost:${emulator.port}/workspaces/${emulator.workspaceId}${path}`,
    {
      headers: { authorization: `Bearer ${emulator.apiToken}` },
    },
  );
  if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
  return response.json();
};

const devices = [];
for (let i = 0; i < deviceCount; i++) {
  const device = await provision(emulator, `soak-${i}`);
  const client = await mqtt.connectAsync(
    `mqtt://localhost:${emulator.port}`,
    hubMqttOptions(emulator, device),
  );
  client.on('error', (error) => console.error(`soak-${i}: ${error.message}`));
  devices.push({
    id: device.deviceId,
    topic: `devices/${device.hubDeviceId}/messages/events/stream-name=soak`,
    client,
    acked: 0,
    failed: 0,
  });
}

// Steady load: every 100 ms each device publishes its share, carrying over fractions so the rate is exact on average.
const perTick = (rate * tickMs) / 1000 / deviceCount;
let owed = 0;
const load = setInterval(() => {
  owed += perTick;
  const now = Math.floor(owed);
  owed -= now;
  for (const device of devices) {
    for (let k = 0; k < now; k++) {
      device.client.publishAsync(`${device.topic}&%24.mid=${randomUUID()}`, payload, { qos: 1 }).then(
        () => device.acked++,
        () => device.failed++,
      );
    }
  }
}, tickMs);

const started = Date.now();
const samples = [];
console.log(
  `emulator soak: ${minutes} min, ${rate} msg/s over ${deviceCount} devices, 256 B, --retain-messages ${retain}; ` +
    `emulator pid ${emulator.pid}`,
);
console.log('  time    RSS MB  acknowledged     dropped  counting');
while (Date.now() - started < minutes * 60_000) {
  await sleep(Math.min(sampleMs, minutes * 60_000 - (Date.now() - started)));
  const rss = emulator.rssMb();
  const acked = devices.reduce((sum, d) => sum + d.acked, 0);
  const dropped = (await management('/devices')).reduce((sum, d) => sum + d.droppedMessages, 0);
  // Samples count once every device is past twice its limit: the emulator is dropping and reusing what it freed.
  const counting = devices.every((d) => d.acked >= 2 * retain);
  if (counting) samples.push(rss);
  const elapsed = (Date.now() - started) / 1000;
  const clock = `${String(Math.floor(elapsed / 60)).padStart(3)}:${String(Math.floor(elapsed % 60)).padStart(2, '0')}`;
  console.log(
    `${clock}  ${rss.toFixed(1).padStart(8)}  ${String(acked).padStart(12)}  ${String(dropped).padStart(10)}  ${counting ? 'yes' : 'no'}`,
  );
}
clearInterval(load);
await sleep(2_000);

let ok = true;
const views = await management('/devices');
for (const device of devices) {
  let kept = 0;
  for (let after = 0; ; ) {
    const page = await management(`/devices/${device.id}/messages?limit=1000&after=${after}`);
    kept += page.items.length;
    if (page.next === null) break;
    after = page.next;
  }
  const dropped = views.find((v) => v.deviceId === device.id)?.droppedMessages ?? 0;
  const right =
    kept === Math.min(retain, device.acked) && kept + dropped === device.acked && device.failed === 0;
  if (!right) ok = false;
  console.log(
    `${device.id}: ${device.acked} acknowledged, ${device.failed} failed, ${kept} kept, ${dropped} dropped${right ? '' : '  WRONG'}`,
  );
  await device.client.endAsync();
}

if (samples.length < 8) {
  console.log(`RSS: only ${samples.length} samples past the limit; run longer (--minutes) to judge flatness`);
  ok = false;
} else {
  const quarter = Math.max(2, Math.floor(samples.length / 4));
  const first = median(samples.slice(0, quarter));
  const last = median(samples.slice(-quarter));
  const allowed = Math.max(16, first * 0.1);
  const flat = last - first <= allowed;
  if (!flat) ok = false;
  console.log(
    `RSS past the limit: ${samples.length} samples, min ${Math.min(...samples).toFixed(1)} MB, max ` +
      `${Math.max(...samples).toFixed(1)} MB; first quarter median ${first.toFixed(1)} MB, last quarter ` +
      `${last.toFixed(1)} MB (${last - first >= 0 ? '+' : ''}${(last - first).toFixed(1)} MB, allowed +${allowed.toFixed(1)}): ` +
      `${flat ? 'FLAT' : 'GROWING'}`,
  );
}
await emulator.stop();
console.log(ok ? 'emulator soak: passed' : 'emulator soak: FAILED');
process.exit(ok ? 0 : 1);
