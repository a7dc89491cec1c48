/**
 * A device that connects again while its old connection is still open (a half-open TCP link after a network drop,
 * a browser whose WebSocket close has not arrived yet): the new connection takes the session over, and a
 * cloud-to-device message the old one never acknowledged is written again on the new one.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, nextMessage } from '../helpers/device-mqtt.js';
import { provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;
const clients: MqttClient[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true).catch(() => {})));
});
afterAll(() => emulator.close());

describe('cloud-to-device messages across a connection takeover', () => {
  it('writes the unacknowledged message again on the connection that took over', async () => {
    const device = await provisionDevice(emulator, 'takeover');
    const inbox = `devices/${device.hubDeviceId}/messages/devicebound/`;
    const sent = await emulator.api.request('POST', '/devices/takeover/c2d-messages', undefined, {
      body: 'take me again',
    });
    expect(sent.status).toBe(202);

    // The first connection receives it and never acknowledges it (MQTT.js sends the PUBACK only once
    // handleMessage calls back), and stays open.
    const first = await connectDevice(emulator, device);
    first.on('error', () => {});
    clients.push(first);
    first.handleMessage = () => {};
    const firstCopy = nextMessage(first, inbox);
    await first.subscribeAsync(`${inbox}#`, { qos: 1 });
    expect((await firstCopy).payload.toString()).toBe('take me again');

    const second = await connectDevice(emulator, device);
    clients.push(second);
    const secondCopy = nextMessage(second, inbox, 10_000);
    await second.subscribeAsync(`${inbox}#`, { qos: 1 });
    expect((await secondCopy).payload.toString()).toBe('take me again');
  });
});
