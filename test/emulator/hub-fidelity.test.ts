/**
 * Where the emulator used to be laxer than IoT Hub (issue 10), checked with a raw MQTT client so every byte on the
 * wire is visible: twin error bodies, twin responses only to subscribers, C2D system properties, expiry and
 * delivery count, method responses with unusual statuses, and host names on the default HTTPS port.
 * Microsoft's own client checks the same paths in interop.test.ts.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, nextMessage } from '../helpers/device-mqtt.js';
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';

let emulator: TestEmulator;
const clients: MqttClient[] = [];

async function connect(who: ProvisionedDevice) {
  const client = await connectDevice(emulator, who);
  client.on('error', () => {});
  clients.push(client);
  return client;
}

/** Every message on topics starting with `prefix`, in arrival order. */
function collect(client: MqttClient, prefix: string): { topic: string; payload: Buffer }[] {
  const seen: { topic: string; payload: Buffer }[] = [];
  client.on('message', (topic, payload) => {
    if (topic.startsWith(prefix)) seen.push({ topic, payload });
  });
  return seen;
}

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
});
afterAll(() => emulator.close());

describe('twin responses', () => {
  it('refuses a reported patch with a $ key at the top with IoT Hub error body 400004, and stores nothing', async () => {
    const device = await provisionDevice(emulator, 'twin-dollar');
    const client = await connect(device);
    await client.subscribeAsync('$iothub/twin/res/#');
    const before = await emulator.api.twin('twin-dollar');
    const response = nextMessage(client, '$iothub/twin/res/');
    await client.publishAsync(
      '$iothub/twin/PATCH/properties/reported/?$rid=7',
      JSON.stringify({ $bad: 1, ok: 2 }),
    );
    const { topic, payload } = await response;
    expect(topic).toBe('$iothub/twin/res/400/?$rid=7');
    const body = JSON.parse(payload.toString());
    expect(Object.keys(body)).toEqual(['errorCode', 'trackingId', 'message', 'timestampUtc']);
    expect(body).toEqual({
      errorCode: 400004,
      trackingId: expect.stringMatching(/^[0-9a-f]{32}-G:\d+-TimeStamp:\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d$/),
      message: expect.stringContaining('property name'),
      timestampUtc: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/),
    });
    expect(await emulator.api.twin('twin-dollar')).toEqual(before);
  });

  it('answers malformed JSON and too deep a patch with errorCode 400004', async () => {
    const device = await provisionDevice(emulator, 'twin-bad-json');
    const client = await connect(device);
    await client.subscribeAsync('$iothub/twin/res/#');
    let deep: unknown = 1;
    for (let i = 0; i < 11; i++) deep = { a: deep };
    for (const [rid, body] of [
      ['1', '{"a":'],
      ['2', JSON.stringify({ root: deep })],
    ] as const) {
      const response = nextMessage(client, '$iothub/twin/res/');
      await client.publishAsync(`$iothub/twin/PATCH/properties/reported/?$rid=${rid}`, body);
      const got = await response;
      expect(got.topic).toBe(`$iothub/twin/res/400/?$rid=${rid}`);
      expect(JSON.parse(got.payload.toString()).errorCode).toBe(400004);
    }
  });

  it('sends nothing to a device not subscribed to $iothub/twin/res/#, and answers once it subscribes', async () => {
    const device = await provisionDevice(emulator, 'twin-unsubscribed');
    const client = await connect(device);
    // Subscribed to something else, so a stray response would reach the client and be seen.
    await client.subscribeAsync('$iothub/twin/PATCH/properties/desired/#');
    const seen = collect(client, '$iothub/twin/res/');
    await client.publishAsync('$iothub/twin/GET/?$rid=1', '', { qos: 1 });
    await client.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=2', '{"x":1}', { qos: 1 });
    await client.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=3', '{"$x":1}', { qos: 1 });

    // The emulator handles one connection's publishes in order: the answer to rid 4 comes after any to 1-3.
    await client.subscribeAsync('$iothub/twin/res/#');
    const answer = nextMessage(client, '$iothub/twin/res/');
    await client.publishAsync('$iothub/twin/GET/?$rid=4', '', { qos: 1 });
    expect((await answer).topic).toBe('$iothub/twin/res/200/?$rid=4');
    expect(seen.map((m) => m.topic)).toEqual(['$iothub/twin/res/200/?$rid=4']);
    // The unanswered patch was still applied, as IoT Hub applies it.
    expect((await emulator.api.twin('twin-unsubscribed')).reported).toMatchObject({ x: 1 });
  });
});

describe('direct method responses', () => {
  it.each([0, 1000, 42, -1])('relays status %i to the caller and keeps the connection', async (status) => {
    const device = await provisionDevice(emulator, `method-status-${status}`);
    const client = await connect(device);
    await client.subscribeAsync('$iothub/methods/POST/#');
    client.on('message', (topic) => {
      const rid = /\?\$rid=(.+)$/.exec(topic)?.[1];
      if (rid) client.publish(`$iothub/methods/res/${status}/?$rid=${rid}`, JSON.stringify({ status }));
    });
    const path = `/devices/${encodeURIComponent(device.deviceId)}/methods/check?timeoutSeconds=10`;
    for (let call = 0; call < 2; call++) {
      const result = await emulator.api.request('POST', path, {});
      expect(result).toMatchObject({ status: 200, body: { status, payload: { status } } });
    }
    expect(client.connected).toBe(true);
  });
});

describe('host names on the default HTTPS port', () => {
  it('leaves :443 out of iotHubHostName, the connection string and the SAS sr, and the device still connects', async () => {
    // Behind a port mapping 443 → the emulator's port, as a container would run it; the test reaches the real port.
    const mapped = await startTestEmulator({ publicPort: 443, tls: true });
    try {
      expect(mapped.instance).toBe('https://localhost');
      const direct = { ...mapped, instance: `http://localhost:${mapped.port}` };
      const device = await provisionDevice(direct, 'on-443');
      expect(device.iotHubHostName).toBe('localhost');
      expect(device.connectionString).toMatch(/^HostName=localhost;DeviceId=/);
      const sr = decodeURIComponent(/sr=([^&]+)/.exec(device.sasToken)?.[1] ?? '');
      expect(sr).toBe(`localhost/devices/${device.hubDeviceId}`);
      const client = await connectDevice(mapped, device, 'mqtts');
      clients.push(client);
      expect(client.connected).toBe(true);
    } finally {
      await mapped.close();
    }
  });

  it('keeps any other port in the names', async () => {
    const device = await provisionDevice(emulator, 'on-other-port');
    expect(device.iotHubHostName).toBe(`localhost:${emulator.port}`);
    expect(emulator.instance).toBe(`http://localhost:${emulator.port}`);
  });
});
