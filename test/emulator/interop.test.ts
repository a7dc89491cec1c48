/**
 * Interoperability: Microsoft's official Node device client (`azure-iot-device` 1.18 + `azure-iot-device-mqtt` 1.16,
 * MQTT over TLS) against the emulator, on real sockets. Nothing here goes through our own SDK, so these tests show
 * that the emulator speaks IoT Hub's device dialect, not only what our SDK happens to send.
 *
 * `MqttWs` (MQTT over WebSocket) always dials `wss://{HostName}:443/$iothub/websocket`, so its test runs an emulator
 * that names itself as if on port 443 (`publicPort: 443`, `HostName=localhost`, as behind a port mapping) and gives
 * the client a documented `mqtt.webSocketAgent` that opens the TLS connection to the emulator's real port; the URL,
 * the upgrade and MQTT itself are the client's own.
 *
 * The file is over 400 lines because each test drives one official-client path end to end; they share the setup.
 *
 * File upload (`uploadToBlob`) does run, but needs two pieces of test-side plumbing that touch only the client's
 * networking and never stand in for the emulator:
 * - the hub calls (`POST /devices/{id}/files`, `…/files/notifications/…`) go through `azure-iot-http-base`, which
 *   passes `HostName` to `https.request` as `host`. Node treats `localhost:PORT` as a DNS name (ENOTFOUND), so the
 *   test gives the client a documented `http.agent` that opens a TLS connection to the emulator's port;
 * - the blob PUT goes through `@azure/storage-blob` (keep-alive off, so `https.globalAgent`), which has no CA
 *   option the device client forwards. NODE_EXTRA_CA_CERTS cannot be set in a running process, so the test gives
 *   `https.globalAgent` the emulator CA for the duration of that one test.
 */
import { Agent, globalAgent, type RequestOptions } from 'node:https';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import azureIotDevice from 'azure-iot-device';
import azureIotDeviceMqtt from 'azure-iot-device-mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

const { Client, Message } = azureIotDevice;
const { Mqtt, MqttWs } = azureIotDeviceMqtt;
type DeviceClient = InstanceType<typeof Client>;
type DeviceMessage = InstanceType<typeof Message>;

let emulator: TestEmulator;
const openClients: DeviceClient[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterEach(async () => {
  await Promise.all(openClients.splice(0).map((client) => client.close().catch(() => undefined)));
});
afterAll(() => emulator.close());

/** Provisions `deviceId` through the platform API and connects Microsoft's client with the returned connection string. */
async function connectOfficialClient(
  deviceId: string,
): Promise<{ client: DeviceClient; hubDeviceId: string }> {
  const device = await provisionDevice(emulator, deviceId);
  const client = Client.fromConnectionString(device.connectionString, Mqtt);
  openClients.push(client);
  await client.setOptions({ ca: emulator.ca });
  await client.open();
  return { client, hubDeviceId: device.hubDeviceId };
}

/** Calls a direct method through the management API, again while the device's background subscription lands. */
async function callMethod(deviceId: string, name: string, payload: unknown) {
  const call = () =>
    emulator.api.request('POST', path(deviceId, `/methods/${name}?timeoutSeconds=5`), payload);
  // `onDeviceMethod` subscribes in the background; until IoT Hub sees the subscription the call answers 404.
  let result = await call();
  for (let attempt = 0; result.status === 404 && attempt < 40; attempt++) {
    await delay(50);
    result = await call();
  }
  return result;
}

/** Resolves with the first value passed to `settle`, or fails after `ms`. */
function eventually<T>(what: string, listen: (settle: (value: T) => void) => void, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    listen((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const path = (deviceId: string, rest: string) => `/devices/${encodeURIComponent(deviceId)}${rest}`;

/**
 * An HTTPS agent for the client's hub calls: it connects to the emulator's port (the client would look up
 * `localhost:PORT` as a host name) and trusts the emulator CA. TLS, the request and the response are untouched.
 */
class EmulatorPortAgent extends Agent {
  constructor(private readonly target: TestEmulator) {
    super({ keepAlive: false });
  }

  override createConnection(options: RequestOptions) {
    const { port, ca } = this.target;
    return tlsConnect({ ...(options as object), host: '127.0.0.1', port, servername: 'localhost', ca });
  }
}

describe('Microsoft azure-iot-device client over MQTT/TLS', () => {
  it('connects and sends telemetry the emulator stores with its properties and payload', async () => {
    const { client } = await connectOfficialClient('ms-telemetry');

    const message = new Message(JSON.stringify({ temperature: 21.5 }));
    message.messageId = '8f14e45f-ceea-467f-a0e6-2b8c1e0a7d11';
    message.contentType = 'application/json';
    message.properties.add('stream-name', 'climate');
    message.properties.add('batch-id', 'batch 1/a&b');
    message.properties.add('custom', 'x=y');
    await client.sendEvent(message);

    const { items } = await emulator.api.messages('ms-telemetry');
    expect(items).toHaveLength(1);
    const stored = items[0];
    expect(stored).toMatchObject({
      mid: '8f14e45f-ceea-467f-a0e6-2b8c1e0a7d11',
      stream: 'climate',
      batchId: 'batch 1/a&b',
      duplicate: false,
    });
    expect(stored.properties).toMatchObject({
      '$.mid': '8f14e45f-ceea-467f-a0e6-2b8c1e0a7d11',
      '$.ct': 'application/json',
      'stream-name': 'climate',
      'batch-id': 'batch 1/a&b',
      custom: 'x=y',
    });
    expect(JSON.parse(Buffer.from(stored.payloadBase64, 'base64').toString('utf8'))).toEqual({
      temperature: 21.5,
    });
  });

  it('reads the twin with desired properties and reports properties', async () => {
    const { client } = await connectOfficialClient('ms-twin');
    // Desired properties set by the service before the device first reads its twin.
    const patched = await emulator.api.request('PATCH', path('ms-twin', '/twin/desired'), {
      interval: 30,
      thresholds: { high: 40 },
    });
    expect(patched.status).toBe(200);

    const twin = await client.getTwin();
    expect(twin.properties.desired).toMatchObject({
      interval: 30,
      thresholds: { high: 40 },
      $version: patched.body.$version,
    });
    const reportedVersion = (await emulator.api.twin('ms-twin')).reported.$version as number;

    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ firmware: '1.2.3', sensors: { count: 2 } }, (error?: Error) =>
        error ? reject(error) : resolve(),
      ),
    );
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ sensors: { count: null, healthy: true } }, (error?: Error) =>
        error ? reject(error) : resolve(),
      ),
    );

    const stored = await emulator.api.twin('ms-twin');
    expect(stored.reported).toEqual({
      firmware: '1.2.3',
      sensors: { healthy: true },
      $version: reportedVersion + 2,
    });
    expect(stored.desired).toMatchObject({ interval: 30, $version: patched.body.$version });
  });

  it('receives a desired-properties patch pushed while connected', async () => {
    const { client } = await connectOfficialClient('ms-desired');
    const twin = await client.getTwin();
    const initialVersion = twin.properties.desired.$version as number;

    const received = eventually<Record<string, unknown>>('the desired-properties patch', (settle) =>
      twin.on('properties.desired', (delta: Record<string, unknown>) => {
        // The client first replays the current desired properties to a new listener; wait for the patch itself.
        if ('mode' in delta) settle(delta);
      }),
    );
    // Adding the listener subscribes lazily; this resolves once that subscription is acknowledged.
    await new Promise<void>((resolve, reject) =>
      twin.enableTwinDesiredPropertiesUpdates((error?: Error) => (error ? reject(error) : resolve())),
    );

    const patched = await emulator.api.request('PATCH', path('ms-desired', '/twin/desired'), {
      mode: 'eco',
      nested: { level: 3 },
    });
    expect(patched.status).toBe(200);

    const delta = await received;
    expect(delta).toEqual({ mode: 'eco', nested: { level: 3 }, $version: initialVersion + 1 });
    expect(twin.properties.desired).toMatchObject({ mode: 'eco', nested: { level: 3 } });
  });

  it('answers a direct method', async () => {
    const { client } = await connectOfficialClient('ms-method');
    const calls: unknown[] = [];
    client.onDeviceMethod('reboot', (request, response) => {
      calls.push(request.payload);
      response.send(
        200,
        { accepted: true, delaySeconds: (request.payload as { delay: number }).delay },
        () => {},
      );
    });

    const result = await callMethod('ms-method', 'reboot', { delay: 7 });

    expect(result.status).toBe(200);
    expect(result.body).toEqual({ status: 200, payload: { accepted: true, delaySeconds: 7 } });
    expect(calls).toEqual([{ delay: 7 }]);
  });

  it('receives cloud-to-device messages in order with their properties and completes them', async () => {
    const { client } = await connectOfficialClient('ms-c2d');
    const received: DeviceMessage[] = [];
    const completions: Promise<unknown>[] = [];
    const both = eventually<void>('two cloud-to-device messages', (settle) =>
      client.on('message', (message: DeviceMessage) => {
        received.push(message);
        completions.push(client.complete(message));
        if (received.length === 2) settle();
      }),
    );

    const first = await emulator.api.request(
      'POST',
      path('ms-c2d', '/c2d-messages?command=blink&color=dark%20red'),
      undefined,
      { body: 'blink twice' },
    );
    const second = await emulator.api.request(
      'POST',
      path('ms-c2d', '/c2d-messages?command=stop'),
      undefined,
      {
        body: Buffer.from([0, 1, 2, 255]),
      },
    );
    expect([first.status, second.status]).toEqual([202, 202]);
    await both;
    await Promise.all(completions);

    expect(received).toHaveLength(2);
    const [one, two] = received as [DeviceMessage, DeviceMessage];
    expect(one.messageId).toBe(first.body.mid);
    expect(one.getData().toString()).toBe('blink twice');
    expect(one.properties.getValue('command')).toBe('blink');
    expect(one.properties.getValue('color')).toBe('dark red');
    expect(two.messageId).toBe(second.body.mid);
    expect([...(two.getData() as Buffer)]).toEqual([0, 1, 2, 255]);
    expect(two.properties.getValue('command')).toBe('stop');
  });

  it('sees a refused reported patch (a $ key) as an error and keeps it out of its local twin', async () => {
    const { client } = await connectOfficialClient('ms-twin-error');
    const twin = await client.getTwin();
    const before = await emulator.api.twin('ms-twin-error');

    const error = await new Promise<Error | undefined>((resolve) =>
      twin.properties.reported.update({ $bad: 1, fine: 2 }, (err?: Error) => resolve(err)),
    );
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toContain('property name');
    expect(twin.properties.reported).not.toHaveProperty('$bad');
    expect(twin.properties.reported).not.toHaveProperty('fine');
    expect(await emulator.api.twin('ms-twin-error')).toEqual(before);
  });

  // Status 0 cannot be tried here: this client refuses a falsy status itself (hub-fidelity.test.ts sends it raw).
  it('answers direct methods with statuses that are not HTTP statuses (1, 1000)', async () => {
    const { client } = await connectOfficialClient('ms-method-status');
    client.onDeviceMethod('status', (request, response) => {
      const wanted = (request.payload as { status: number }).status;
      response.send(wanted, { wanted }, () => {});
    });
    for (const status of [1, 1000]) {
      const result = await callMethod('ms-method-status', 'status', { status });
      expect(result).toMatchObject({ status: 200, body: { status, payload: { wanted: status } } });
    }
  });

  it('reads the system properties of a cloud-to-device message: to, content type and encoding, correlation, expiry', async () => {
    const { client, hubDeviceId } = await connectOfficialClient('ms-c2d-system');
    const received = eventually<DeviceMessage>('a cloud-to-device message', (settle) =>
      client.on('message', (message: DeviceMessage) => {
        void client.complete(message);
        settle(message);
      }),
    );
    const expiry = new Date(Date.now() + 3600_000).toISOString();
    const query = new URLSearchParams({
      '$.ct': 'application/json',
      '$.ce': 'utf-8',
      '$.cid': 'order-17',
      '$.exp': expiry,
      color: 'red',
    });
    const sent = await emulator.api.request(
      'POST',
      path('ms-c2d-system', `/c2d-messages?${query}`),
      undefined,
      {
        body: '{"on":true}',
      },
    );
    expect(sent.status).toBe(202);

    const message = await received;
    expect(message.messageId).toBe(sent.body.mid);
    expect(message.to).toBe(`/devices/${hubDeviceId}/messages/deviceBound`);
    expect(message.contentType).toBe('application/json');
    expect(message.contentEncoding).toBe('utf-8');
    expect(message.correlationId).toBe('order-17');
    expect(message.expiryTimeUtc).toBe(expiry);
    // System properties are not user properties.
    expect(message.properties.count()).toBe(1);
    expect(message.properties.getValue('color')).toBe('red');
  });

  it('uploads a file with uploadToBlob and the emulator resolves it as an externalized payload', async () => {
    const { client, hubDeviceId } = await connectOfficialClient('ms-upload');
    await client.setOptions({ ca: emulator.ca, http: { agent: new EmulatorPortAgent(emulator) } });
    const content = Buffer.from('time,temperature\n1,21.5\n2,21.7\n');

    const previousCa = globalAgent.options.ca;
    globalAgent.options.ca = emulator.ca;
    try {
      // What the client sends: the hub's `POST /devices/{id}/files`; then @azure/storage-blob's `uploadStream`, which
      // always stages blocks (`PUT …?{sasToken}&comp=block&blockid=…`, then `PUT …?{sasToken}&comp=blocklist` with
      // an XML block list); then `POST /devices/{id}/files/notifications/{correlationId}` with
      // `{ isSuccess, statusCode, statusDescription }` (the correlation id in the path, not in the body).
      await client
        .uploadToBlob('readings/day-1.csv', Readable.from([content]), content.length)
        .catch((error) => {
          const inner = (error as { innerError?: Error }).innerError;
          throw new Error(`${(error as Error).message}${inner ? ` (inner: ${inner.message})` : ''}`);
        });
    } finally {
      globalAgent.options.ca = previousCa;
    }

    // The blob lands under the device's own prefix; a telemetry message pointing at it carries its content.
    const pointer = new Message(JSON.stringify({ link: `${hubDeviceId}/readings/day-1.csv` }));
    pointer.properties.add('has-externalized-payload', 'true');
    await client.sendEvent(pointer);
    const { items } = await emulator.api.messages('ms-upload');
    expect(items.at(-1)?.properties['x-emulator-decode-error']).toBeUndefined();
    expect(Buffer.from(items.at(-1)?.payloadBase64 ?? '', 'base64').toString()).toBe(content.toString());
  }, 10_000);
});

describe('Microsoft azure-iot-device client over MQTT/WebSockets (MqttWs)', () => {
  it('connects to wss://localhost:443, sends telemetry, reads the twin and answers a method', async () => {
    const mapped = await startTestEmulator({ publicPort: 443 });
    try {
      const device = await provisionDevice(
        { ...mapped, instance: `http://localhost:${mapped.port}` },
        'ms-ws',
      );
      expect(device.iotHubHostName).toBe('localhost');
      const client = Client.fromConnectionString(device.connectionString, MqttWs);
      openClients.push(client);
      await client.setOptions({ ca: mapped.ca, mqtt: { webSocketAgent: new EmulatorPortAgent(mapped) } });
      await client.open();

      const message = new Message('over websockets');
      message.properties.add('stream-name', 'ws');
      await client.sendEvent(message);
      const { items } = await mapped.api.messages('ms-ws');
      expect(
        items.map((item) => [item.stream, Buffer.from(item.payloadBase64, 'base64').toString()]),
      ).toEqual([['ws', 'over websockets']]);

      const twin = await client.getTwin();
      expect(twin.properties.reported.$version).toBe((await mapped.api.twin('ms-ws')).reported.$version);
    } finally {
      await Promise.all(openClients.splice(0).map((client) => client.close().catch(() => undefined)));
      await mapped.close();
    }
  });
});
