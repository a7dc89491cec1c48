import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { brotliCompressSync } from 'node:zlib';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../helpers/clock.js';
import { closed, connectDevice, nextMessage, type Transport, waitFor } from '../helpers/device-mqtt.js';
import {
  call,
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';

let emulator: TestEmulator;
let alice: ProvisionedDevice;
let bob: ProvisionedDevice;
const clients: MqttClient[] = [];

async function connect(device: ProvisionedDevice, transport: Transport = 'mqtt') {
  const client = await connectDevice(emulator, device, transport);
  clients.push(client);
  return client;
}

/**
 * The emulator's clock: it stands still until a test moves it, and its expiries (a SAS token, a method's timeout)
 * wait on its timers, so a lifetime passes when a test says, not after a sleep.
 */
const clock = new FakeClock(Date.now());

beforeAll(async () => {
  emulator = await startTestEmulator({ clock });
  alice = await provisionDevice(emulator, 'alice');
  bob = await provisionDevice(emulator, 'bob');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
});
afterAll(() => emulator.close());

describe('CONNECT', () => {
  it.each<Transport>(['mqtt', 'mqtts', 'ws', 'wss'])('accepts a valid SAS over %s', async (transport) => {
    const client = await connect(alice, transport);
    expect(client.connected).toBe(true);
    const devices = await emulator.api.request('GET', '/devices');
    expect(devices.body).toContainEqual(expect.objectContaining({ deviceId: 'alice', connected: true }));
  });

  it('refuses a SAS signed with the wrong key (CONNACK 4)', async () => {
    const forged = alice.sasToken.replace(/sig=[^&]+/, 'sig=AAAA');
    await expect(connectDevice(emulator, alice, 'mqtt', { password: forged })).rejects.toMatchObject({
      code: 4,
    });
  });

  it("refuses another device's SAS (CONNACK 4)", async () => {
    await expect(connectDevice(emulator, alice, 'mqtt', { password: bob.sasToken })).rejects.toMatchObject({
      code: 4,
    });
  });

  it('refuses an expired SAS (CONNACK 4)', async () => {
    await emulator.api.settings({ sasTokenLifetimeSeconds: 1 });
    try {
      const shortLived = await provisionDevice(emulator, 'short-lived');
      await clock.advance(1100);
      await expect(connectDevice(emulator, shortLived)).rejects.toMatchObject({ code: 4 });
    } finally {
      await emulator.api.settings({ sasTokenLifetimeSeconds: 3600 });
    }
  });

  it('closes a connection when the SAS token it authenticated with expires, as IoT Hub does', async () => {
    // A lifetime far longer than the test may take: only the emulator's clock can bring the close in time.
    await emulator.api.settings({ sasTokenLifetimeSeconds: 600 });
    try {
      const shortLived = await provisionDevice(emulator, 'expiring');
      const client = await connect(shortLived);
      const expiresAt = Number(/(?:^|&)se=(\d+)/.exec(shortLived.sasToken)![1]) * 1000;
      // Up to the last millisecond before the token's `se`, the connection stays open...
      await clock.advance(expiresAt - clock.now() - 1);
      const devices = await emulator.api.request('GET', '/devices');
      expect(devices.body).toContainEqual(expect.objectContaining({ deviceId: 'expiring', connected: true }));
      expect(client.connected).toBe(true);
      // ...and at `se` the hub closes it.
      await clock.advance(1);
      await closed(client, 2000);
    } finally {
      await emulator.api.settings({ sasTokenLifetimeSeconds: 3600 });
    }
  });

  it('refuses devices of a disabled workspace (CONNACK 5)', async () => {
    await emulator.api.settings({ disabled: true });
    try {
      await expect(connectDevice(emulator, alice)).rejects.toMatchObject({ code: 5 });
    } finally {
      await emulator.api.settings({ disabled: false });
    }
  });
});

describe('per-device topic rules', () => {
  it("closes the connection of a device publishing to another device's topic", async () => {
    const client = await connect(alice);
    const gone = closed(client);
    client.publish(`devices/${bob.hubDeviceId}/messages/events/`, 'spoofed', { qos: 1 });
    await gone;
    expect((await emulator.api.messages('bob')).items).toHaveLength(0);
  });

  it('closes the connection of a device publishing outside its topics', async () => {
    const client = await connect(alice);
    const gone = closed(client);
    client.publish('some/other/topic', 'x', { qos: 0 });
    await gone;
  });

  it.each([
    (d: ProvisionedDevice) => `devices/${d.hubDeviceId}/messages/devicebound/#`,
    () => '#',
    () => 'devices/#',
    () => '$iothub/#',
  ])("refuses subscriptions beyond the device's own topics (%#)", async (topicOf) => {
    const client = await connect(alice);
    const topic = topicOf(bob);
    await expect(client.subscribeAsync(topic, { qos: 1 })).rejects.toMatchObject({
      packet: { granted: [128] },
    });
  });

  it('grants the topics IoT Hub grants a device', async () => {
    const client = await connect(alice);
    const granted = await client.subscribeAsync([
      `devices/${alice.hubDeviceId}/messages/devicebound/#`,
      '$iothub/twin/res/#',
      '$iothub/twin/PATCH/properties/desired/#',
      '$iothub/methods/POST/#',
    ]);
    expect(granted.map((g) => g.qos)).toEqual([0, 0, 0, 0]);
  });
});

describe('telemetry', () => {
  it('stores messages with their property bag, batches and duplicates by $.mid', async () => {
    const client = await connect(alice);
    const base = `devices/${alice.hubDeviceId}/messages/events/`;
    const bag =
      'stream-group-name=sg&stream-name=temp&batch-id=b1&batch-slice-id=s1&message-id=m1&chunk-id=c1&site-id=x%20y&%24.mid=mid-1';
    await client.publishAsync(`${base}${bag}`, 'chunk-1', { qos: 1 });
    await client.publishAsync(`${base}${bag}`, 'chunk-1', { qos: 1 });
    await client.publishAsync(
      `${base}stream-group-name=sg&stream-name=temp&batch-id=b1&complete-batch=true&ignore-payload=true&%24.mid=mid-2`,
      '',
      { qos: 1 },
    );
    const { items } = await emulator.api.messages('alice', '?stream=temp');
    expect(items).toHaveLength(3);
    expect(items[0]).toMatchObject({
      mid: 'mid-1',
      streamGroup: 'sg',
      stream: 'temp',
      siteId: 'x y',
      batchId: 'b1',
      batchSliceId: 's1',
      messageId: 'm1',
      chunkId: 'c1',
      payloadBase64: Buffer.from('chunk-1').toString('base64'),
      duplicate: false,
    });
    expect(items[1]).toMatchObject({ mid: 'mid-1', duplicate: true });
    const batches = await emulator.api.request('GET', '/devices/alice/batches');
    expect(batches.body).toContainEqual(
      expect.objectContaining({ batchId: 'b1', messageCount: 1, completedAt: expect.any(String) }),
    );
  });

  it('decodes Brotli payloads', async () => {
    const client = await connect(bob);
    const text = 'compressible '.repeat(200);
    await client.publishAsync(
      `devices/${bob.hubDeviceId}/messages/events/stream-name=br&content-encoding=br`,
      brotliCompressSync(text),
      { qos: 1 },
    );
    const { items } = await emulator.api.messages('bob', '?stream=br');
    expect(Buffer.from(items[0].payloadBase64, 'base64').toString()).toBe(text);
  });

  it('pages results with after/limit/next', async () => {
    const client = await connect(bob);
    for (let i = 0; i < 5; i++) {
      await client.publishAsync(`devices/${bob.hubDeviceId}/messages/events/stream-name=paged`, `m${i}`, {
        qos: 1,
      });
    }
    const first = await emulator.api.messages('bob', '?stream=paged&limit=3');
    expect(first.items).toHaveLength(3);
    const second = await emulator.api.messages('bob', `?stream=paged&limit=3&after=${first.next}`);
    expect(second.items.map((m) => Buffer.from(m.payloadBase64, 'base64').toString())).toEqual(['m3', 'm4']);
    expect(second.next).toBeNull();
  });
});

describe('device twin', () => {
  it('answers GET with both sections and versions, and acknowledges reported patches with the new version', async () => {
    const client = await connect(alice);
    await client.subscribeAsync('$iothub/twin/res/#');
    await emulator.api.request('PATCH', '/devices/alice/twin/desired', { interval: 5 });
    const response = nextMessage(client, '$iothub/twin/res/');
    await client.publishAsync('$iothub/twin/GET/?$rid=1', '');
    const got = await response;
    expect(got.topic).toBe('$iothub/twin/res/200/?$rid=1');
    const twin = JSON.parse(got.payload.toString());
    expect(twin.desired).toMatchObject({ interval: 5, $version: expect.any(Number) });
    const reportedVersion = twin.reported.$version;

    const ack = nextMessage(client, '$iothub/twin/res/');
    await client.publishAsync(
      '$iothub/twin/PATCH/properties/reported/?$rid=2',
      JSON.stringify({ fw: '1.0', x: { y: 1 } }),
    );
    expect((await ack).topic).toBe(`$iothub/twin/res/204/?$rid=2&$version=${reportedVersion + 1}`);
    const stored = await emulator.api.twin('alice');
    expect(stored.reported).toEqual({ fw: '1.0', x: { y: 1 }, $version: reportedVersion + 1 });
  });

  it('answers 400 to a reported patch that is not a JSON object', async () => {
    const client = await connect(alice);
    await client.subscribeAsync('$iothub/twin/res/#');
    const ack = nextMessage(client, '$iothub/twin/res/');
    await client.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=9', '[1,2]');
    expect((await ack).topic).toBe('$iothub/twin/res/400/?$rid=9');
  });

  it('pushes desired patches with their version to a connected device', async () => {
    const client = await connect(bob);
    await client.subscribeAsync('$iothub/twin/PATCH/properties/desired/#');
    const before = (await emulator.api.twin('bob')).desired.$version;
    const pushed = nextMessage(client, '$iothub/twin/PATCH/properties/desired/');
    await emulator.api.request('PATCH', '/devices/bob/twin/desired', { mode: 'eco', old: null });
    const message = await pushed;
    expect(message.topic).toBe(`$iothub/twin/PATCH/properties/desired/?$version=${before + 1}`);
    expect(JSON.parse(message.payload.toString())).toEqual({ mode: 'eco', old: null, $version: before + 1 });
  });
});

describe('cloud-to-device messages', () => {
  it('queues messages while the device is offline and delivers them in order after it connects', async () => {
    for (const body of ['first', 'second']) {
      const sent = await emulator.api.request(
        'POST',
        `/devices/alice/c2d-messages?kind=${body}&x=a%20b`,
        undefined,
        {
          body,
        },
      );
      expect(sent.status).toBe(202);
    }
    const client = await connect(alice);
    const received: { topic: string; payload: string }[] = [];
    client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
    await client.subscribeAsync(`devices/${alice.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
    await waitFor(() => received.length === 2);
    expect(received.map((m) => m.payload)).toEqual(['first', 'second']);
    expect(received[0]!.topic).toMatch(
      new RegExp(
        `^devices/${alice.hubDeviceId}/messages/devicebound/%24.mid=[0-9a-f-]+&%24.to=%2Fdevices%2F${encodeURIComponent(alice.hubDeviceId)}%2Fmessages%2FdeviceBound&kind=first&x=a%20b$`,
      ),
    );
  });

  it('delivers at once to a listening device', async () => {
    const client = await connect(bob);
    await client.subscribeAsync(`devices/${bob.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
    const next = nextMessage(client, `devices/${bob.hubDeviceId}/messages/devicebound/`);
    await emulator.api.request('POST', '/devices/bob/c2d-messages', undefined, { body: 'now' });
    expect((await next).payload.toString()).toBe('now');
  });
});

describe('direct methods', () => {
  it('round-trips a call and its response', async () => {
    const client = await connect(alice);
    await client.subscribeAsync('$iothub/methods/POST/#');
    client.on('message', (topic, payload) => {
      const match = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
      if (!match) return;
      const body = JSON.stringify({ method: match[1], got: JSON.parse(payload.toString()) });
      client.publish(`$iothub/methods/res/201/?$rid=${match[2]}`, body);
    });
    const result = await emulator.api.request('POST', '/devices/alice/methods/reboot?timeoutSeconds=5', {
      delay: 3,
    });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ status: 201, payload: { method: 'reboot', got: { delay: 3 } } });
  });

  it('answers 504 when the device does not respond in time', async () => {
    const client = await connect(alice);
    await client.subscribeAsync('$iothub/methods/POST/#');
    const delivered = new Promise((resolve) => client.once('message', resolve));
    let answered = false;
    const invocation = emulator.api
      .request('POST', '/devices/alice/methods/slow?timeoutSeconds=30', {})
      .finally(() => (answered = true));
    await delivered;
    // The timeout runs on the emulator's clock: 1 ms short of it, the call still waits for the device...
    await clock.advance(29_999);
    await emulator.api.request('GET', '/devices');
    expect(answered).toBe(false);
    // ...and at 30 s it is answered 504.
    await clock.advance(1);
    expect((await invocation).status).toBe(504);
  }, 5000);

  it('answers 404 when the device is offline', async () => {
    const result = await emulator.api.request('POST', '/devices/bob/methods/reboot?timeoutSeconds=1', {});
    expect(result.status).toBe(404);
  });
});

describe('file upload', () => {
  it('runs the hub chain end to end and resolves the externalized payload', async () => {
    const authorization = alice.sasToken;
    const hub = `/devices/${encodeURIComponent(alice.hubDeviceId)}/files`;
    const started = await call(emulator.instance, 'POST', `${hub}?api-version=2020-03-13`, {
      authorization,
      json: { blobName: 'big.bin' },
    });
    expect(started.status).toBe(200);
    const { correlationId, hostName, containerName, blobName, sasToken } = started.body;
    expect(hostName).toBe(`localhost:${emulator.port}`);
    const content = Buffer.alloc(300_000, 7);
    const blobUrl = `http://${hostName}/${containerName}/${blobName.split('/').map(encodeURIComponent).join('/')}${sasToken}`;
    const put = await fetch(blobUrl, {
      method: 'PUT',
      headers: { 'x-ms-blob-type': 'BlockBlob' },
      body: content,
    });
    expect(put.status).toBe(201);
    const notified = await call(emulator.instance, 'POST', `${hub}/notifications?api-version=2020-03-13`, {
      authorization,
      json: { correlationId, isSuccess: true, statusCode: 200, statusDescription: 'ok' },
    });
    expect(notified.status).toBe(204);

    const client = await connect(alice);
    await client.publishAsync(
      `devices/${alice.hubDeviceId}/messages/events/stream-name=files&has-externalized-payload=true`,
      JSON.stringify({ link: blobName }),
      { qos: 1 },
    );
    const { items } = await emulator.api.messages('alice', '?stream=files');
    expect(Buffer.from(items[0].payloadBase64, 'base64').equals(content)).toBe(true);
  });

  it('serves the hub HTTPS calls over TLS on the same port, verified against the emulator CA', async () => {
    const path = `/devices/${encodeURIComponent(bob.hubDeviceId)}/files?api-version=2020-03-13`;
    const body = JSON.stringify({ blobName: 'tls.bin' });
    const headers = { authorization: bob.sasToken, 'content-type': 'application/json' };
    const trusted = await https('POST', path, body, headers, emulator.ca);
    expect(trusted.status).toBe(200);
    expect(JSON.parse(trusted.text)).toMatchObject({
      containerName: 'uploads',
      blobName: `${bob.hubDeviceId}/tls.bin`,
    });
    await expect(https('POST', path, body, headers, undefined)).rejects.toThrow(/certificate/);
  });

  it("reads a new TLS connection's first request whole when its body spans many TLS records", async () => {
    // Blocks uploaded side by side each open a connection of their own, whose first request is then a 1 MiB block:
    // 64 TLS records, which must reach the HTTP parser behind the request head (they once overtook it: 400).
    const hub = `/devices/${encodeURIComponent(bob.hubDeviceId)}/files?api-version=2020-03-13`;
    const headers = { authorization: bob.sasToken, 'content-type': 'application/json' };
    const session = JSON.parse(
      (await https('POST', hub, JSON.stringify({ blobName: 'records.bin' }), headers, emulator.ca)).text,
    ) as { containerName: string; blobName: string; sasToken: string };
    const blob = `/${session.containerName}/${session.blobName.split('/').map(encodeURIComponent).join('/')}`;
    const content = randomBytes(1024 * 1024);
    const put = await https(
      'PUT',
      `${blob}${session.sasToken}`,
      content,
      { 'x-ms-blob-type': 'BlockBlob' },
      emulator.ca,
    );
    expect(put).toEqual({ status: 201, text: '' });
    const stored = await fetch(
      `http://localhost:${emulator.port}/workspaces/${emulator.workspaceId}/devices/bob/files/records.bin`,
      { headers: { authorization: `Bearer ${emulator.apiToken}` } },
    );
    expect(Buffer.from(await stored.arrayBuffer()).equals(content)).toBe(true);
  });
});

/** One request over TLS on a connection of its own (no keep-alive agent), trusting `ca` if given. */
function https(
  method: string,
  path: string,
  body: string | Buffer,
  headers: Record<string, string>,
  ca: string | undefined,
) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = httpsRequest(
      { host: 'localhost', port: emulator.port, path, method, headers, agent: false, ...(ca ? { ca } : {}) },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
