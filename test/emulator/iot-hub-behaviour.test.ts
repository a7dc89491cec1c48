/**
 * Where the emulator must behave as IoT Hub does (SPEC §3 and IoT Hub's documented MQTT support): no retained
 * messages, SUBACK grants at most QoS 1, persistent sessions get their queued C2D, at most 50 queued C2D messages
 * per device, and a disabled workspace keeps no device connected. Plus management API details.
 */
import { request as httpRequest } from 'node:http';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { brokerUrl, closed, waitFor } from '../helpers/device-mqtt.js';
import { call, provisionDevice } from '../helpers/emulator.js';
import { emulatorWithDevices } from '../helpers/mqtt-devices.js';

const bed = emulatorWithDevices();
const { connect } = bed;

describe('MQTT as IoT Hub does it', () => {
  it('keeps no retained message and marks it mqtt-retain=true', async () => {
    const device = await provisionDevice(bed.emulator, 'retainer');
    const client = await connect(device);
    await client.publishAsync(`devices/${device.hubDeviceId}/messages/events/n=1`, 'kept?', {
      qos: 1,
      retain: true,
    });
    const { items } = await bed.emulator.api.messages('retainer');
    expect(items).toHaveLength(1);
    expect(items[0].properties).toEqual({ n: '1', 'mqtt-retain': 'true' });
  });

  it('grants QoS 1 to a subscription asking for QoS 2', async () => {
    const device = await provisionDevice(bed.emulator, 'qos2-subscriber');
    const client = await connect(device);
    const granted = await client.subscribeAsync(
      [`devices/${device.hubDeviceId}/messages/devicebound/#`, '$iothub/twin/res/#'],
      { qos: 2 },
    );
    expect(granted.map((g) => g.qos)).toEqual([1, 1]);
  });

  it('delivers queued C2D to a persistent session that comes back without subscribing again', async () => {
    const device = await provisionDevice(bed.emulator, 'persistent');
    const first = await connect(device, { clean: false });
    await first.subscribeAsync(`devices/${device.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
    await first.endAsync();
    const sent = await bed.emulator.api.request('POST', '/devices/persistent/c2d-messages', undefined, {
      body: 'while away',
    });
    expect(sent.status).toBe(202);

    // The listener goes in before CONNECT: the message may come right behind the CONNACK.
    const received: string[] = [];
    const again = mqtt.connect(brokerUrl(bed.emulator, 'mqtt'), {
      clientId: device.hubDeviceId,
      username: `${device.iotHubHostName}/${device.hubDeviceId}/?api-version=2021-04-12`,
      password: device.sasToken,
      protocolVersion: 4,
      reconnectPeriod: 0,
      clean: false,
      resubscribe: false,
    });
    bed.track(again);
    again.on('message', (_topic, payload) => received.push(payload.toString()));
    await waitFor(() => received.length === 1);
    expect(received).toEqual(['while away']);
  });

  it('closes every device connection when the workspace is disabled', async () => {
    const device = await provisionDevice(bed.emulator, 'disabled-live');
    const client = await connect(device);
    const gone = closed(client, 3000);
    try {
      expect((await bed.emulator.api.settings({ disabled: true })).status).toBe(200);
      await gone;
    } finally {
      await bed.emulator.api.settings({ disabled: false });
    }
    expect((await bed.emulator.api.messages('disabled-live')).items).toHaveLength(0);
    const devices = await bed.emulator.api.request('GET', '/devices');
    expect(devices.body).toContainEqual(
      expect.objectContaining({ deviceId: 'disabled-live', connected: false }),
    );
  });
});

describe('cloud-to-device queue', () => {
  it('holds at most 50 messages per device and refuses more with 403 problem details', async () => {
    await provisionDevice(bed.emulator, 'queue-full');
    for (let i = 0; i < 50; i++) {
      const sent = await bed.emulator.api.request('POST', '/devices/queue-full/c2d-messages', undefined, {
        body: `m${i}`,
      });
      expect(sent.status).toBe(202);
    }
    const refused = await bed.emulator.api.request('POST', '/devices/queue-full/c2d-messages', undefined, {
      body: 'one too many',
    });
    expect(refused).toMatchObject({ status: 403, body: { title: 'Device queue full', status: 403 } });
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('management API', () => {
  it('passes a method payload sent with a chunked body (no content-length) to the device', async () => {
    const device = await provisionDevice(bed.emulator, 'chunked');
    const client = await connect(device);
    await client.subscribeAsync('$iothub/methods/POST/#', { qos: 0 });
    const got: unknown[] = [];
    client.on('message', (topic, payload) => {
      got.push(JSON.parse(payload.toString()));
      const rid = new URLSearchParams(topic.split('?')[1]).get('$rid');
      client.publish(`$iothub/methods/res/200/?$rid=${rid}`, '{"ok":true}');
    });
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: bed.emulator.port,
          method: 'POST',
          path: `/workspaces/${bed.emulator.workspaceId}/devices/chunked/methods/go?timeoutSeconds=5`,
          headers: { authorization: `Bearer ${bed.emulator.apiToken}`, 'content-type': 'application/json' },
        },
        (response) => {
          let body = '';
          response.on('data', (chunk) => {
            body += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      request.write('{"speed"');
      request.end(':5}');
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ status: 200, payload: { ok: true } });
    expect(got).toEqual([{ speed: 5 }]);
  });

  it('keeps a desired property named __proto__ as a plain property (no prototype games)', async () => {
    await provisionDevice(bed.emulator, 'proto-twin');
    const patched = await call(
      `http://localhost:${bed.emulator.port}`,
      'PATCH',
      `/workspaces/${bed.emulator.workspaceId}/devices/proto-twin/twin/desired`,
      {
        token: bed.emulator.apiToken,
        body: '{"__proto__": {"polluted": true}, "plain": 1}',
        headers: { 'content-type': 'application/json' },
      },
    );
    expect(patched.status).toBe(200);
    const twin = await bed.emulator.api.twin('proto-twin');
    expect(Object.keys(twin.desired).sort()).toEqual(['$version', '__proto__', 'plain']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('sends a null payload when the method call has no body', async () => {
    const device = await provisionDevice(bed.emulator, 'no-body');
    const client = await connect(device);
    await client.subscribeAsync('$iothub/methods/POST/#', { qos: 0 });
    const got: string[] = [];
    client.on('message', (topic, payload) => {
      got.push(payload.toString());
      const rid = new URLSearchParams(topic.split('?')[1]).get('$rid');
      client.publish(`$iothub/methods/res/200/?$rid=${rid}`, '');
    });
    const result = await bed.emulator.api.request('POST', '/devices/no-body/methods/ping?timeoutSeconds=5');
    expect(result).toMatchObject({ status: 200, body: { status: 200, payload: null } });
    expect(got).toEqual(['null']);
  });

  it.each([
    ['sasTokenLifetimeSeconds', 0],
    ['provisioningOperationLifetimeSeconds', 0],
    ['sasTokenLifetimeSeconds', -1],
    ['sasTokenLifetimeSeconds', 1.5],
  ])('refuses %s = %s with 400', async (key, value) => {
    const before = (await bed.emulator.api.request('GET', '/settings')).body;
    const result = await bed.emulator.api.settings({ [key]: value });
    expect(result).toMatchObject({ status: 400, body: { title: `Invalid ${key}` } });
    expect((await bed.emulator.api.request('GET', '/settings')).body).toEqual(before);
  });

  it('accepts registrationTokenLifetimeSeconds = 0 (tokens that do not expire) and a 1 s SAS', async () => {
    const before = (await bed.emulator.api.request('GET', '/settings')).body;
    try {
      const result = await bed.emulator.api.settings({
        registrationTokenLifetimeSeconds: 0,
        sasTokenLifetimeSeconds: 1,
      });
      expect(result.status).toBe(200);
    } finally {
      await bed.emulator.api.settings({
        registrationTokenLifetimeSeconds: before.registrationTokenLifetimeSeconds,
        sasTokenLifetimeSeconds: before.sasTokenLifetimeSeconds,
      });
    }
  });
});
