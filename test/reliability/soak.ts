/**
 * `npm run soak`: the reliability suite's faults, over and over, for 30 minutes (SPOTFLOW_SOAK_MINUTES), with a
 * running loss count. Not run in CI.
 *
 * Two emulator processes (plain and TLS), each behind a fault proxy; three devices send 50 messages a second: over
 * TCP to the plain one, over TLS and over WSS to the other. Each round picks a fault at random (the network faults
 * of faults.ts on both proxies, or a SIGKILL and restart of an emulator), then lets the link be healthy for 15 s.
 * Every 10 s one line: per device, what was enqueued, acknowledged, stored on the emulator, and lost (acknowledged by
 * the hub but not stored) and duplicates. At the end every device drains, and anything enqueued but not stored is lost
 * too. Exits 1 on any loss.
 *
 * Run: `npm run soak` (builds first: the emulators run from dist/).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceClient } from '../../src/client.js';
import type { FaultProxy } from './fault-proxy.js';
import { networkFaults, sleep } from './faults.js';
import {
  type EmulatorProcess,
  management,
  proxyFor,
  startDevice,
  startEmulatorProcess,
  stopEmulatorProcess,
  type Transport,
  until,
  Workload,
} from './harness.js';

const minutes = Number(process.env.SPOTFLOW_SOAK_MINUTES ?? 30);
const healthyMs = 15_000;
const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-soak-'));

interface Site {
  name: string;
  dataDir: string;
  tls: boolean;
  emulator: EmulatorProcess;
  proxy: FaultProxy;
}

interface Device {
  transport: Transport;
  site: Site;
  deviceId: string;
  client: DeviceClient;
  workload: Workload;
  /** Ids the hub acknowledged, in order. */
  acknowledged: string[];
  /** How many of them had been acknowledged when the emulator was last read (those must all be stored). */
  settled: number;
  /** Every `$.mid` the emulator stored, how many times, and where reading left off. */
  stored: Map<string, number>;
  after: number;
}

async function startSite(name: string, tls: boolean): Promise<Site> {
  const siteDir = join(dataDir, name);
  const emulator = await startEmulatorProcess({ dataDir: siteDir, tls });
  return { name, dataDir: siteDir, tls, emulator, proxy: await proxyFor(emulator) };
}

async function startSoakDevice(site: Site, transport: Transport): Promise<Device> {
  const deviceId = `soak-${transport}`;
  const client = await startDevice(site.emulator, transport, {
    database: join(dataDir, `${deviceId}.db`),
    deviceId,
  });
  const acknowledged: string[] = [];
  client.on('messageSent', ({ id }) => acknowledged.push(id));
  const workload = new Workload(client, 50, 256);
  workload.start();
  return {
    transport,
    site,
    deviceId,
    client,
    workload,
    acknowledged,
    settled: 0,
    stored: new Map(),
    after: 0,
  };
}

/** Reads what the emulator stored since the last read (skipped while the emulator is down). */
async function readStored(device: Device): Promise<void> {
  // Acknowledged before the read began: the emulator stores a message before it acknowledges it.
  const settled = device.acknowledged.length;
  for (;;) {
    const page = await management<{ items: { mid: string | null; sequence: number }[]; next: number | null }>(
      device.site.emulator,
      'GET',
      `/devices/${device.deviceId}/messages?limit=1000&after=${device.after}`,
    ).catch(() => undefined);
    if (!page) return; // the emulator is down: nothing settled
    for (const item of page.items) {
      if (item.mid !== null) device.stored.set(item.mid, (device.stored.get(item.mid) ?? 0) + 1);
      device.after = Math.max(device.after, item.sequence);
    }
    if (page.next === null) {
      device.settled = settled;
      return;
    }
  }
}

function figures(device: Device) {
  let lost = 0;
  for (const id of device.acknowledged.slice(0, device.settled)) if (!device.stored.has(id)) lost++;
  let duplicates = 0;
  for (const times of device.stored.values()) duplicates += times - 1;
  return {
    enqueued: device.workload.enqueued.length,
    acknowledged: device.acknowledged.length,
    stored: device.stored.size,
    lost,
    duplicates,
  };
}

async function restartEmulator(site: Site): Promise<void> {
  await stopEmulatorProcess(site.emulator, 'SIGKILL');
  await sleep(1000);
  site.emulator = await startEmulatorProcess({
    dataDir: site.dataDir,
    tls: site.tls,
    port: site.emulator.port,
  });
}

async function main(): Promise<number> {
  const plain = await startSite('plain', false);
  const secure = await startSite('tls', true);
  const sites = [plain, secure];
  const devices = [
    await startSoakDevice(plain, 'tcp'),
    await startSoakDevice(secure, 'tls'),
    await startSoakDevice(secure, 'wss'),
  ];
  const started = performance.now();
  const endAt = started + minutes * 60_000;
  let fault = 'none';
  let rounds = 0;
  const status = setInterval(() => {
    void (async () => {
      for (const device of devices) await readStored(device);
      const clock = new Date(performance.now() - started).toISOString().slice(11, 19);
      const parts = devices.map((device) => {
        const f = figures(device);
        return `${device.transport}: ${f.enqueued} enqueued, ${f.acknowledged} acked, ${f.stored} stored, ${f.lost} lost, ${f.duplicates} dup`;
      });
      console.log(`[soak ${clock}] round ${rounds} (${fault}) | ${parts.join(' | ')}`);
    })();
  }, 10_000);

  try {
    const choices = [...networkFaults.map((f) => f.name), 'emulator SIGKILL'];
    while (performance.now() < endAt) {
      rounds++;
      fault = choices[Math.floor(Math.random() * choices.length)]!;
      const network = networkFaults.find((f) => f.name === fault);
      if (network) await Promise.all(sites.map((site) => network.run(site.proxy)));
      else await restartEmulator(sites[Math.floor(Math.random() * sites.length)]!);
      fault = `healthy after ${fault}`;
      await sleep(healthyMs);
    }
    fault = 'draining';
    for (const device of devices) await device.workload.stop();
    for (const device of devices) {
      await until(() => device.workload.unacknowledged === 0, 120_000, `${device.transport} drained`).catch(
        (error: Error) => console.log(`[soak] ${error.message}`),
      );
    }
  } finally {
    clearInterval(status);
  }

  let totalLost = 0;
  for (const device of devices) {
    await readStored(device);
    const f = figures(device);
    const notStored = device.workload.enqueued.filter((e) => !device.stored.has(e.mid)).length;
    totalLost += Math.max(f.lost, notStored);
    console.log(
      `[soak] ${device.transport}: ${f.enqueued} enqueued, ${f.stored} stored, ${notStored} enqueued but not stored, ` +
        `${f.lost} acknowledged but not stored, ${f.duplicates} duplicates`,
    );
    device.workload.dispose();
    await device.client.close();
  }
  for (const site of sites) {
    await site.proxy.close();
    await stopEmulatorProcess(site.emulator);
  }
  console.log(`[soak] ${rounds} rounds in ${minutes} min: ${totalLost} lost`);
  return totalLost === 0 ? 0 : 1;
}

main()
  .then((code) => {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(code);
  })
  .catch((error: unknown) => {
    console.error('[soak] failed:', error);
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(1);
  });
