/**
 * Where the emulator used to be laxer than IoT Hub (issue 10), checked with a raw MQTT client so every byte on the
 * wire is visible: twin error bodies, twin responses only to subscribers, C2D system properties, expiry and
 * delivery count, method responses with unusual statuses, and host names on the default HTTPS port.
 * Microsoft's own client checks the same paths in interop.test.ts.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { connectDevice, nextMessage } from '../helpers/device-mqtt.js';
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { emulatorWithDevices } from '../helpers/mqtt-devices.js';

const bed = emulatorWithDevices();
const { connect } = bed;

/** Every message on topics starting with `prefix`, in arrival order. */
function collect(client: MqttClient, prefix: string): { topic: string; payload: Buffer }[] {
  const seen: { topic: string; payload: Buffer }[] = [];
  client.on('message', (topic, payload) => {
    if (topic.startsWith(prefix)) seen.push({ topic, payload });
  });
  return seen;
}

describe('twin responses', () => {
  it('refuses a reported patch with a $ key at the top with IoT Hub error body 400004, and stores nothing', async () => {
    const device = await provisionDevice(bed.emulator, 'twin-dollar');
    const client = await connect(device);
    await client.subscribeAsync('$iothub/twin/res/#');
    const before = await bed.emulator.api.twin('twin-dollar');
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
    expect(await bed.emulator.api.twin('twin-dollar')).toEqual(before);
  });

  it('answers malformed JSON and too deep a patch with errorCode 400004', async () => {
    const device = await provisionDevice(bed.emulator, 'twin-bad-json');
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
    const device = await provisionDevice(bed.emulator, 'twin-unsubscribed');
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
    expect((await bed.emulator.api.twin('twin-unsubscribed')).reported).toMatchObject({ x: 1 });
  });
});

describe('direct method responses', () => {
  it.each([0, 1000, 42, -1])('relays status %i to the caller and keeps the connection', async (status) => {
    const device = await provisionDevice(bed.emulator, `method-status-${status}`);
    const client = await connect(device);
    await client.subscribeAsync('$iothub/methods/POST/#');
    client.on('message', (topic) => {
      const rid = /\?\$rid=(.+)$/.exec(topic)?.[1];
      if (rid) client.publish(`$iothub/methods/res/${status}/?$rid=${rid}`, JSON.stringify({ status }));
    });
    const path = `/devices/${encodeURIComponent(device.deviceId)}/methods/check?timeoutSeconds=10`;
    for (let call = 0; call < 2; call++) {
      const result = await bed.emulator.api.request('POST', path, {});
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
      bed.track(client);
      expect(client.connected).toBe(true);
    } finally {
      await mapped.close();
    }
  });

  it('keeps any other port in the names', async () => {
    const device = await provisionDevice(bed.emulator, 'on-other-port');
    expect(device.iotHubHostName).toBe(`localhost:${bed.emulator.port}`);
    expect(bed.emulator.instance).toBe(`http://localhost:${bed.emulator.port}`);
  });
});

/** Queues a C2D message through the management API; returns its `$.mid`. */
async function sendC2d(target: TestEmulator, deviceId: string, query: string, body = 'hi'): Promise<string> {
  const result = await target.api.request('POST', `/devices/${deviceId}/c2d-messages?${query}`, undefined, {
    body,
  });
  expect(result.status).toBe(202);
  return result.body.mid;
}

/**
 * A device connection made of raw MQTT packets that never acknowledges a PUBLISH, as a device that crashes before
 * taking a message. Resolves with the topic of the first C2D message written to it, then closes.
 */
async function receiveWithoutAck(target: TestEmulator, device: ProvisionedDevice): Promise<string> {
  const socket: Socket = netConnect(target.port, '127.0.0.1');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const write = (packet: mqttPacket.Packet) => socket.write(mqttPacket.generate(packet));
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no C2D message within 5 s')), 5000);
      socket.on('error', reject);
      socket.on('data', (chunk) => parser.parse(chunk));
      parser.on('packet', (packet) => {
        if (packet.cmd === 'connack') {
          write({
            cmd: 'subscribe',
            messageId: 1,
            subscriptions: [{ topic: `devices/${device.hubDeviceId}/messages/devicebound/#`, qos: 1 }],
          });
        } else if (packet.cmd === 'publish') {
          clearTimeout(timer);
          resolve(packet.topic);
        }
      });
      socket.on('connect', () =>
        write({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          clientId: device.hubDeviceId,
          keepalive: 60,
          username: `${device.iotHubHostName}/${device.hubDeviceId}/?api-version=2021-04-12`,
          password: Buffer.from(device.sasToken),
        }),
      );
    });
  } finally {
    socket.destroy();
  }
}

/** The property bag of a C2D topic, decoded, in order. */
function bagOf(topic: string): [string, string][] {
  const tail = topic.slice(topic.indexOf('/devicebound/') + '/devicebound/'.length);
  return tail.split('&').map((part) => part.split('=').map(decodeURIComponent) as [string, string]);
}

describe('cloud-to-device messages', () => {
  it("carry $.mid, $.to and the sender's system properties first, percent-encoded, then user properties", async () => {
    const device = await provisionDevice(bed.emulator, 'c2d-system');
    const client = await connect(device);
    await client.subscribeAsync(`devices/${device.hubDeviceId}/messages/devicebound/#`);
    const arrived = nextMessage(client, `devices/${device.hubDeviceId}/messages/devicebound/`);
    const mid = await sendC2d(
      bed.emulator,
      'c2d-system',
      'color=dark%20red&%24.ct=application%2Fjson&%24.ce=utf-8&%24.cid=c-1',
    );
    const { topic } = await arrived;
    expect(topic).toContain('/devicebound/%24.mid=');
    expect(bagOf(topic)).toEqual([
      ['$.mid', mid],
      ['$.to', `/devices/${device.hubDeviceId}/messages/deviceBound`],
      ['$.cid', 'c-1'],
      ['$.ct', 'application/json'],
      ['$.ce', 'utf-8'],
      ['color', 'dark red'],
    ]);
  });

  it('refuses system properties that only the hub sets', async () => {
    await provisionDevice(bed.emulator, 'c2d-to');
    for (const query of ['%24.to=%2Fdevices%2Fother', '%24.lockToken=1', '%24.exp=yesterday']) {
      const result = await bed.emulator.api.request(
        'POST',
        `/devices/c2d-to/c2d-messages?${query}`,
        undefined,
        {
          body: 'x',
        },
      );
      expect(result.status).toBe(400);
    }
  });

  it('drops a message written 10 times without an acknowledgement, then delivers the next', async () => {
    const device = await provisionDevice(bed.emulator, 'c2d-unacked');
    const first = await sendC2d(bed.emulator, 'c2d-unacked', 'n=1');
    const second = await sendC2d(bed.emulator, 'c2d-unacked', 'n=2');
    for (let delivery = 1; delivery <= 10; delivery++) {
      expect(bagOf(await receiveWithoutAck(bed.emulator, device))[0]).toEqual(['$.mid', first]);
    }
    expect(bagOf(await receiveWithoutAck(bed.emulator, device))[0]).toEqual(['$.mid', second]);
    const queued = await bed.emulator.api.request('GET', '/devices/c2d-unacked/c2d-messages');
    expect(queued.body.map((m: { mid: string }) => m.mid)).toEqual([second]);
    expect(queued.body[0].deliveryCount).toBe(1);
  });

  it('drops a message past its expiry (default one hour, or $.exp) before the device connects', async () => {
    let now = Date.UTC(2026, 0, 10, 8);
    const clocked = await startTestEmulator({
      now: () => now,
      settings: { sasTokenLifetimeSeconds: 7 * 86400 },
    });
    try {
      const device = await provisionDevice(clocked, 'c2d-expiry');
      const defaultTtl = await sendC2d(clocked, 'c2d-expiry', 'n=1');
      const expiry = new Date(now + 3 * 3600_000).toISOString();
      const explicit = await sendC2d(clocked, 'c2d-expiry', `n=2&%24.exp=${encodeURIComponent(expiry)}`);
      const listed = await clocked.api.request('GET', '/devices/c2d-expiry/c2d-messages');
      expect(listed.body.map((m: { expiresAt: string }) => m.expiresAt)).toEqual([
        new Date(now + 3600_000).toISOString(),
        expiry,
      ]);

      now += 3600_000 + 1;
      const client = await connectDevice(clocked, device);
      bed.track(client);
      const arrived = nextMessage(client, `devices/${device.hubDeviceId}/messages/devicebound/`);
      await client.subscribeAsync(`devices/${device.hubDeviceId}/messages/devicebound/#`);
      const { topic } = await arrived;
      expect(bagOf(topic).slice(0, 3)).toEqual([
        ['$.mid', explicit],
        ['$.to', `/devices/${device.hubDeviceId}/messages/deviceBound`],
        ['$.exp', expiry],
      ]);
      expect(defaultTtl).not.toBe(explicit);
    } finally {
      await clocked.close();
    }
  });
});
