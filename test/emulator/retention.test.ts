/**
 * Message retention (`retainMessages`, `--retain-messages`, SPOTFLOW_EMULATOR_RETAIN_MESSAGES): each device keeps its
 * newest n messages, the oldest dropped first and counted in the device's `droppedMessages`; paging goes on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../emulator/http/wire.js';
import { startEmulator } from '../../emulator/index.js';
import { connectDevice } from '../helpers/device-mqtt.js';
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { openLive } from './portal-support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'emulator-retention-'));
const running: TestEmulator[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  await Promise.all(running.splice(0).map((emulator) => emulator.close()));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function emulatorKeeping(retainMessages: number, options: { dataDir?: string } = {}) {
  const emulator = await startTestEmulator(
    options.dataDir ? { retainMessages, memory: false, dataDir: options.dataDir } : { retainMessages },
  );
  running.push(emulator);
  return emulator;
}

/** Provisions `deviceId` (unless given) and publishes messages `n=from` … `n=to` one after the other (QoS 1). */
async function send(emulator: TestEmulator, who: string | ProvisionedDevice, from: number, to: number) {
  const device = typeof who === 'string' ? await provisionDevice(emulator, who) : who;
  const client = await connectDevice(emulator, device);
  clients.push(client);
  for (let n = from; n <= to; n++) {
    await client.publishAsync(`devices/${device.hubDeviceId}/messages/events/n=${n}`, `m${n}`, { qos: 1 });
  }
  await client.endAsync();
  return device;
}

async function stop(emulator: TestEmulator) {
  running.splice(running.indexOf(emulator), 1);
  await emulator.close();
}

const numbers = (items: { properties: { n: string } }[]) => items.map((m) => Number(m.properties.n));

async function deviceView(emulator: TestEmulator, deviceId: string): Promise<DeviceView | undefined> {
  const { body } = await emulator.api.request<DeviceView[]>('GET', '/devices');
  return body.find((d) => d.deviceId === deviceId);
}

describe('message retention', () => {
  it('keeps the newest n messages of a device, drops the oldest first and counts them in the device view', async () => {
    const emulator = await emulatorKeeping(5);
    await send(emulator, 'keeper', 1, 8);
    await send(emulator, 'quiet', 1, 2);

    const kept = await emulator.api.allMessages('keeper');
    expect(numbers(kept)).toEqual([4, 5, 6, 7, 8]);
    const sequences = kept.map((m) => m.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(await deviceView(emulator, 'keeper')).toMatchObject({ deviceId: 'keeper', droppedMessages: 3 });
    // Per device: the other one keeps all of its two.
    expect(numbers(await emulator.api.allMessages('quiet'))).toEqual([1, 2]);
    expect(await deviceView(emulator, 'quiet')).toMatchObject({ droppedMessages: 0 });
  });

  it('pages on from where a reader left off while messages are dropped under it, with no repeats', async () => {
    const emulator = await emulatorKeeping(4);
    const device = await send(emulator, 'pager', 1, 6);
    const first = await emulator.api.messages('pager', '?limit=2');
    expect(numbers(first.items)).toEqual([3, 4]);
    expect(first.next).toBe(first.items[1].sequence);

    // 7 … 10 arrive: 3 … 6 are dropped, so the reader's next page starts at the oldest still kept.
    await send(emulator, device, 7, 10);
    const second = await emulator.api.messages('pager', `?limit=2&after=${first.next}`);
    expect(numbers(second.items)).toEqual([7, 8]);
    const third = await emulator.api.messages('pager', `?limit=2&after=${second.next}`);
    expect(numbers(third.items)).toEqual([9, 10]);
    expect(third.next).toBeNull();
    expect(second.items[0].sequence).toBeGreaterThan(first.items[1].sequence);

    // `last` and `after=0` see only what is kept.
    expect(numbers((await emulator.api.messages('pager', '?last=3')).items)).toEqual([8, 9, 10]);
    expect(numbers((await emulator.api.messages('pager', '?last=100')).items)).toEqual([7, 8, 9, 10]);
    expect(await deviceView(emulator, 'pager')).toMatchObject({ droppedMessages: 6 });
  });

  it('tells the live stream how many messages the device has dropped with each message', async () => {
    const emulator = await emulatorKeeping(1);
    const live = await openLive(emulator);
    try {
      await send(emulator, 'streamer', 1, 3);
      const seen = [];
      for (let i = 0; i < 3; i++) {
        const event = await live.next('message.received', (e) => e.deviceId === 'streamer');
        seen.push([event.message.properties.n, event.droppedMessages]);
      }
      expect(seen).toEqual([
        ['1', 0],
        ['2', 1],
        ['3', 2],
      ]);
      const connected = await live.next('device.disconnected', (e) => e.device.deviceId === 'streamer');
      expect(connected.device.droppedMessages).toBe(2);
    } finally {
      live.close();
    }
  });

  it('keeps the count across restarts, and trims a data directory to a smaller limit at start', async () => {
    const directory = join(dataDir, 'restart');
    const first = await emulatorKeeping(6, { dataDir: directory });
    await send(first, 'restarter', 1, 8);
    expect(await deviceView(first, 'restarter')).toMatchObject({ droppedMessages: 2 });
    await stop(first);

    const second = await emulatorKeeping(3, { dataDir: directory });
    expect(numbers(await second.api.allMessages('restarter'))).toEqual([6, 7, 8]);
    expect(await deviceView(second, 'restarter')).toMatchObject({ droppedMessages: 5 });
    await stop(second);

    // 0 keeps every message: nothing more is dropped.
    const third = await emulatorKeeping(0, { dataDir: directory });
    const device = await provisionDevice(third, 'restarter');
    await send(third, device, 9, 12);
    expect(numbers(await third.api.allMessages('restarter'))).toEqual([6, 7, 8, 9, 10, 11, 12]);
    expect(await deviceView(third, 'restarter')).toMatchObject({ droppedMessages: 5 });
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses retainMessages %s',
    async (retainMessages) => {
      await expect(startEmulator({ memory: true, port: 0, retainMessages })).rejects.toThrow(
        /retainMessages/,
      );
    },
  );
});
