/**
 * The emulator faces untrusted clients: every case below sends something bad over a real socket and checks the
 * exact refusal (HTTP status + RFC 7807 problem details, or the MQTT outcome), then checks that the emulator
 * still serves well-behaved clients.
 */
import { request as httpRequest } from 'node:http';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  call,
  type HttpResult,
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { closedWithin, RawConnection } from '../helpers/mqtt.js';

let emulator: TestEmulator;
/** Misbehaves in the MQTT cases. */
let attacker: ProvisionedDevice;
/** Whose topics and messages the attacker goes after. */
let victim: ProvisionedDevice;
/** Checks after every case that a good device still gets through. */
let sentinel: ProvisionedDevice;
/** Holds a SAS token that has already expired. */
let expired: ProvisionedDevice;
let baselineSettings: unknown;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// HTTP helpers

const device = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call(emulator.instance, method, path, { token: emulator.provisioningToken, ...options });

const manage = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call(emulator.instance, method, `/workspaces/${emulator.workspaceId}${path}`, {
    token: emulator.apiToken,
    ...options,
  });

/** A JSON content type with a body that is sent exactly as given. */
const rawJson = (body: string) => ({ body, headers: { 'content-type': 'application/json' } });

/** A request through `node:http`, for chunked bodies (no content-length) that `fetch` will not stream simply. */
function chunkedRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  chunks: Buffer[],
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: emulator.port, method, path, headers }, (res) => {
      const body: Buffer[] = [];
      res.on('data', (chunk: Buffer) => body.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(body).toString('utf8');
        const responseHeaders = new Headers();
        for (const [key, value] of Object.entries(res.headers)) {
          if (typeof value === 'string') responseHeaders.set(key, value);
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: responseHeaders,
          body: text === '' ? undefined : JSON.parse(text),
        });
      });
    });
    req.on('error', reject);
    const writeNext = (i: number) => {
      if (i >= chunks.length) {
        req.end();
        return;
      }
      if (req.destroyed) return;
      req.write(chunks[i], () => writeNext(i + 1));
    };
    writeNext(0);
  });
}

/** Starts a file upload for a device (step 1 of SPEC §3 file upload). */
async function startUpload(who: ProvisionedDevice, name = 'file.bin') {
  const result = await call(
    emulator.instance,
    'POST',
    `/devices/${who.hubDeviceId}/files?api-version=2020-03-13`,
    {
      authorization: who.sasToken,
      json: { blobName: name },
    },
  );
  if (result.status !== 200) throw new Error(`file upload start: ${result.status}`);
  return result.body as {
    correlationId: string;
    containerName: string;
    blobName: string;
    sasToken: string;
  };
}

const blobPut = (path: string, headers: Record<string, string> = { 'x-ms-blob-type': 'BlockBlob' }) =>
  call(emulator.instance, 'PUT', path, { body: 'blob-bytes', headers });

/** A SAS token with its signature changed. */
const tamperedSas = (token: string) =>
  token.replace(/sig=[^&]+/, 'sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D');

/** `{"a":{"a":…1…}}`, `depth` levels deep. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

// ---------------------------------------------------------------------------------------------------------------
// MQTT helpers

const brokerUrl = () => `mqtt://localhost:${emulator.port}`;
const usernameOf = (who: ProvisionedDevice) =>
  `${who.iotHubHostName}/${who.hubDeviceId}/?api-version=2021-04-12`;
const eventsTopic = (who: ProvisionedDevice, bag = '') => `devices/${who.hubDeviceId}/messages/events/${bag}`;

function optionsFor(who: ProvisionedDevice, overrides: Partial<IClientOptions> = {}): IClientOptions {
  return {
    clientId: who.hubDeviceId,
    username: usernameOf(who),
    password: who.sasToken,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    ...overrides,
  };
}

async function connectAs(
  who: ProvisionedDevice,
  overrides: Partial<IClientOptions> = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(brokerUrl(), optionsFor(who, overrides));
  client.on('error', () => {});
  return client;
}

/** The CONNACK return code the broker answers these options with (0 = accepted; -1 = no CONNACK at all). */
async function connackFor(options: IClientOptions): Promise<number> {
  try {
    const client = await mqtt.connectAsync(brokerUrl(), {
      reconnectPeriod: 0,
      connectTimeout: 3000,
      ...options,
    });
    await client.endAsync(true);
    return 0;
  } catch (error) {
    return typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1;
  }
}

async function storedCount(who: ProvisionedDevice): Promise<number> {
  return (await emulator.api.messages(who.deviceId, '?limit=1000')).items.length;
}

interface MqttOutcome {
  connack?: number;
  granted?: number[];
  closed?: boolean;
  /** New messages stored for the attacker and the victim together. */
  stored?: number;
  twinStatus?: number;
  /** Messages that reached a client that should never have seen them. */
  leaked?: number;
  /** Whether the management API lists the device as connected afterwards. */
  deviceConnected?: boolean;
  /** The first bytes the server answered with on a raw connection, in hex. */
  reply?: string;
}

/** The attacker publishes once; reports whether the broker closed the connection and what got stored. */
async function attackerPublishes(
  topic: string,
  payload: Buffer | string,
  qos: 0 | 1 | 2 = 1,
): Promise<MqttOutcome> {
  const before = (await storedCount(attacker)) + (await storedCount(victim));
  const client = await connectAs(attacker);
  try {
    const closing = closedWithin(client, 2000);
    client.publish(topic, payload, { qos }, () => {});
    const closed = await closing;
    const after = (await storedCount(attacker)) + (await storedCount(victim));
    return { closed, stored: after - before };
  } finally {
    client.end(true);
  }
}

/** The SUBACK return codes carried by a refused `subscribeAsync` (mqtt.js rejects when any is 128). */
function grantedOf(error: unknown): number[] {
  const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
  if (!granted) throw error;
  return granted;
}

/** The attacker subscribes once; reports the granted QoS list (128 = refused). */
async function attackerSubscribes(topic: string): Promise<MqttOutcome> {
  const client = await connectAs(attacker);
  try {
    const granted = await client.subscribeAsync(topic, { qos: 1 });
    return { granted: granted.map((g) => g.qos) };
  } catch (error) {
    return { granted: grantedOf(error) };
  } finally {
    client.end(true);
  }
}

/** The attacker publishes a reported-properties patch; reports the twin response status and the connection state. */
async function attackerReports(payload: string): Promise<MqttOutcome> {
  const client = await connectAs(attacker);
  try {
    await client.subscribeAsync('$iothub/twin/res/#', { qos: 0 });
    const response = new Promise<number>((resolve) => {
      client.on('message', (topic) => {
        const match = /^\$iothub\/twin\/res\/(\d+)\/\?\$rid=bad-1/.exec(topic);
        if (match) resolve(Number(match[1]));
      });
      client.once('close', () => resolve(-1));
      setTimeout(() => resolve(-2), 2000);
    });
    client.publish('$iothub/twin/PATCH/properties/reported/?$rid=bad-1', payload, { qos: 0 }, () => {});
    const twinStatus = await response;
    return { twinStatus, closed: !client.connected };
  } finally {
    client.end(true);
  }
}

function connectPacket(who: ProvisionedDevice, overrides: Partial<mqttPacket.IConnectPacket> = {}): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 60,
    clientId: who.hubDeviceId,
    username: usernameOf(who),
    password: Buffer.from(who.sasToken),
    ...overrides,
  });
}

/** Writes bytes on a raw connection; reports whether the server closed it and the first bytes it answered. */
async function rawSend(chunks: (Buffer | string)[], replyBytes = 4, waitMs = 2000): Promise<MqttOutcome> {
  const connection = await RawConnection.open(emulator.port);
  try {
    for (const chunk of chunks) {
      connection.write(chunk);
      await connection.waitForBytes(replyBytes, 300);
    }
    const closed = await connection.waitForClose(waitMs);
    return { closed, reply: connection.received().subarray(0, replyBytes).toString('hex') };
  } finally {
    connection.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Health: after every case, good clients still get through and nothing changed that should not have.

async function expectHealthy(): Promise<void> {
  const settings = await manage('GET', '/settings');
  expect(settings.status).toBe(200);
  expect(settings.body).toEqual(baselineSettings);
  const init = await device('POST', '/provisioning-operations/init', { json: {} });
  expect(init.status).toBe(200);
  const client = await connectAs(sentinel);
  try {
    await client.publishAsync(eventsTopic(sentinel), 'still alive', { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

beforeAll(async () => {
  // The emulator's clock hook: the expired device is registered 2 s in the past, so its 1 s SAS token has expired
  // when the tests start, without waiting for it.
  let clockOffsetMs = 0;
  emulator = await startTestEmulator({ now: () => Date.now() + clockOffsetMs });
  baselineSettings = (await manage('GET', '/settings')).body;
  await emulator.api.settings({ sasTokenLifetimeSeconds: 1 });
  clockOffsetMs = -2000;
  try {
    expired = await provisionDevice(emulator, 'bad-input-expired');
  } finally {
    clockOffsetMs = 0;
    await emulator.api.settings({
      sasTokenLifetimeSeconds: (baselineSettings as any).sasTokenLifetimeSeconds,
    });
  }
  attacker = await provisionDevice(emulator, 'bad-input-attacker');
  victim = await provisionDevice(emulator, 'bad-input-victim');
  sentinel = await provisionDevice(emulator, 'bad-input-sentinel');
});
afterAll(() => emulator?.close());

// ---------------------------------------------------------------------------------------------------------------
// HTTP cases

interface HttpCase {
  name: string;
  run: () => Promise<HttpResult>;
  status: number;
  /**
   * The problem details `title` (`anyTitle` where the emulator has no behaviour to pin yet); the body must be
   * `application/problem+json` with `{ type, title, status }`.
   */
  title: unknown;
  /** The problem `type`; `about:blank` unless given. */
  type?: string;
  /** Further checks (for example that nothing was stored or changed). */
  check?: () => Promise<void>;
}

const anyTitle: unknown = expect.any(String);
const unauthorized = 'Unauthorized';
const malformedJson = 'Malformed JSON';
const unsupportedType = 'Unsupported Media Type';
const invalidBody = 'Invalid request body';
const tooLarge = 'Payload Too Large';

const httpCases: HttpCase[] = [
  // --- device API: bodies
  {
    name: 'init: malformed JSON',
    run: () => device('POST', '/provisioning-operations/init', rawJson('{"deviceId":')),
    status: 400,
    title: malformedJson,
  },
  {
    name: 'init: empty body declared as JSON',
    run: () => device('POST', '/provisioning-operations/init', rawJson('')),
    status: 400,
    title: malformedJson,
  },
  {
    name: 'init: text/plain content type',
    run: () =>
      device('POST', '/provisioning-operations/init', {
        body: '{"deviceId":"x"}',
        headers: { 'content-type': 'text/plain' },
      }),
    status: 415,
    title: unsupportedType,
  },
  {
    name: 'init: no content type at all',
    run: () => device('POST', '/provisioning-operations/init', { body: '{"deviceId":"x"}' }),
    status: 415,
    title: unsupportedType,
  },
  {
    name: 'init: JSON array body',
    run: () => device('POST', '/provisioning-operations/init', rawJson('[{"deviceId":"x"}]')),
    status: 400,
    title: invalidBody,
  },
  {
    name: 'init: JSON string body',
    run: () => device('POST', '/provisioning-operations/init', rawJson('"x"')),
    status: 400,
    title: invalidBody,
  },
  {
    name: 'init: JSON null body',
    run: () => device('POST', '/provisioning-operations/init', rawJson('null')),
    status: 400,
    title: invalidBody,
  },
  {
    name: 'init: JSON number body',
    run: () => device('POST', '/provisioning-operations/init', rawJson('42')),
    status: 400,
    title: invalidBody,
  },
  {
    name: 'init: body over 1 MB (content-length)',
    run: () =>
      device('POST', '/provisioning-operations/init', rawJson(`{"pad":"${'x'.repeat(1024 * 1024)}"}`)),
    status: 413,
    title: tooLarge,
  },
  {
    name: 'init: body over 1 MB (chunked, no content-length)',
    run: () =>
      chunkedRequest(
        'POST',
        '/provisioning-operations/init',
        { authorization: `Bearer ${emulator.provisioningToken}`, 'content-type': 'application/json' },
        Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, 0x20)),
      ),
    status: 413,
    title: tooLarge,
  },
  // --- device API: fields
  {
    name: 'init: deviceId is a number',
    run: () => device('POST', '/provisioning-operations/init', { json: { deviceId: 42 } }),
    status: 400,
    title: 'Invalid device ID',
  },
  {
    name: 'init: deviceId is an object',
    run: () => device('POST', '/provisioning-operations/init', { json: { deviceId: { id: 'x' } } }),
    status: 400,
    title: 'Invalid device ID',
  },
  ...['a/b', 'a#b', 'a+b', 'a%41', 'a b', 'dévice', 'a\nb', '', 'x'.repeat(129)].map(
    (deviceId): HttpCase => ({
      name: `init: invalid deviceId ${JSON.stringify(deviceId.length > 20 ? `${deviceId.slice(0, 5)}…(${deviceId.length})` : deviceId)}`,
      run: () => device('POST', '/provisioning-operations/init', { json: { deviceId } }),
      status: 400,
      title: 'Invalid device ID',
    }),
  ),
  {
    name: 'complete: provisioningOperationId is a number',
    run: () => device('PUT', '/provisioning-operations/complete', { json: { provisioningOperationId: 7 } }),
    status: 400,
    title: 'Invalid provisioningOperationId',
  },
  {
    name: 'complete: provisioningOperationId missing',
    run: () => device('PUT', '/provisioning-operations/complete', { json: {} }),
    status: 400,
    title: 'Invalid provisioningOperationId',
  },
  {
    name: 'complete: unknown operation id',
    run: () =>
      device('PUT', '/provisioning-operations/complete', {
        json: { provisioningOperationId: 'no-such-operation' },
      }),
    status: 404,
    title: 'Provisioning operation not found',
  },
  {
    name: 'refresh: registrationToken is an array',
    run: () => device('PUT', '/devices/registration-tokens/refresh', { json: { registrationToken: ['x'] } }),
    status: 400,
    title: 'Invalid registrationToken',
  },
  {
    name: 'register: connectionStringType is a number',
    run: () =>
      device('PUT', '/devices/register', {
        token: attacker.registrationToken,
        json: { connectionStringType: 1 },
      }),
    status: 400,
    title: 'Unsupported connection string type',
  },
  {
    name: 'register: malformed JSON with a valid registration token',
    run: () =>
      device('PUT', '/devices/register', {
        token: attacker.registrationToken,
        ...rawJson('{"connectionStr'),
      }),
    status: 400,
    title: malformedJson,
  },
  // --- device API: tokens
  {
    name: 'init: no Authorization header',
    run: () => device('POST', '/provisioning-operations/init', { token: undefined, json: {} }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'init: wrong provisioning token',
    run: () => device('POST', '/provisioning-operations/init', { token: 'pt-wrong', json: {} }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'init: empty bearer',
    run: () => device('POST', '/provisioning-operations/init', { authorization: 'Bearer ', json: {} }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'init: provisioning token sent as Basic credentials',
    run: () =>
      device('POST', '/provisioning-operations/init', {
        authorization: `Basic ${emulator.provisioningToken}`,
        json: {},
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'init: the API token instead of the provisioning token',
    run: () => device('POST', '/provisioning-operations/init', { token: emulator.apiToken, json: {} }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'complete: no Authorization header',
    run: () =>
      device('PUT', '/provisioning-operations/complete', {
        token: undefined,
        json: { provisioningOperationId: 'x' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'register: no Authorization header',
    run: () =>
      device('PUT', '/devices/register', {
        token: undefined,
        json: { connectionStringType: 'SharedAccessSignature' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'register: the provisioning token instead of a registration token',
    run: () =>
      device('PUT', '/devices/register', { json: { connectionStringType: 'SharedAccessSignature' } }),
    status: 401,
    title: unauthorized,
  },
  // --- routing
  {
    name: 'unknown path',
    run: () => device('GET', '/no/such/path'),
    status: 404,
    title: 'Not Found',
  },
  {
    name: 'unknown path under a device route',
    run: () => device('POST', '/provisioning-operations/init/extra', { json: {} }),
    status: 404,
    title: 'Not Found',
  },
  {
    name: 'wrong method: PUT on init',
    run: () => device('PUT', '/provisioning-operations/init', { json: {} }),
    status: 405,
    title: 'Method Not Allowed',
  },
  {
    name: 'wrong method: GET on register',
    run: () => device('GET', '/devices/register'),
    status: 405,
    title: 'Method Not Allowed',
  },
  {
    name: 'wrong method: DELETE on the management twin',
    run: () => manage('DELETE', `/devices/${victim.deviceId}/twin`),
    status: 405,
    title: 'Method Not Allowed',
  },
  {
    name: 'percent-encoding garbage in a management path',
    run: () => manage('GET', '/devices/%E0%A4%A/twin'),
    status: 400,
    title: 'Malformed URL',
  },
  {
    name: 'percent-encoding garbage in the workspace segment',
    run: () => call(emulator.instance, 'GET', '/workspaces/%zz/devices', { token: emulator.apiToken }),
    status: 400,
    title: 'Malformed URL',
  },
  {
    name: 'percent-encoding garbage in a hub file-upload path',
    run: () =>
      call(emulator.instance, 'POST', '/devices/%ff%/files', { authorization: attacker.sasToken, json: {} }),
    status: 400,
    title: 'Malformed URL',
  },
  {
    name: 'percent-encoding garbage in a blob path',
    run: () => blobPut('/uploads/%C0%zz'),
    status: 400,
    title: 'Malformed URL',
  },
  // --- management API: tokens and names
  {
    name: 'management: no Authorization header',
    run: () => manage('GET', '/devices', { token: undefined }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'management: wrong API token',
    run: () => manage('GET', '/devices', { token: 'api-wrong' }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'management: the provisioning token instead of the API token',
    run: () => manage('PATCH', '/settings', { token: emulator.provisioningToken, json: { disabled: true } }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'management: a device SAS token instead of the API token',
    run: () => manage('GET', '/devices', { token: undefined, authorization: attacker.sasToken }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'management: unknown workspace',
    run: () =>
      call(emulator.instance, 'GET', '/workspaces/no-such-workspace/devices', { token: emulator.apiToken }),
    status: 404,
    title: 'Workspace not found',
  },
  {
    name: 'management: unknown device (twin)',
    run: () => manage('GET', '/devices/no-such-device/twin'),
    status: 404,
    title: 'Device not found',
  },
  {
    name: 'management: unknown device (messages)',
    run: () => manage('GET', '/devices/no-such-device/messages'),
    status: 404,
    title: 'Device not found',
  },
  {
    name: 'management: unknown device (C2D)',
    run: () => manage('POST', '/devices/no-such-device/c2d-messages', { body: 'hi' }),
    status: 404,
    title: 'Device not found',
  },
  {
    name: 'management: device id with invalid characters',
    run: () => manage('GET', `/devices/${encodeURIComponent('a/b#c')}/twin`),
    status: 404,
    title: 'Device not found',
  },
  {
    name: 'approve: unknown operation id',
    run: () =>
      manage('PUT', '/provisioning-operations/approve', { json: { provisioningOperationId: 'no-such-op' } }),
    status: 404,
    title: 'Provisioning operation not found',
  },
  {
    name: 'approve: malformed JSON',
    run: () => manage('PUT', '/provisioning-operations/approve', rawJson('{provisioningOperationId: x}')),
    status: 400,
    title: malformedJson,
  },
  {
    name: 'approve: array body',
    run: () => manage('PUT', '/provisioning-operations/approve', { json: ['x'] }),
    status: 400,
    title: invalidBody,
  },
  {
    name: 'cancel: provisioningOperationId is a boolean',
    run: () => manage('PUT', '/provisioning-operations/cancel', { json: { provisioningOperationId: true } }),
    status: 400,
    title: 'Invalid provisioningOperationId',
  },
  {
    name: 'operations: unknown status filter',
    run: () => manage('GET', '/provisioning-operations?status=bogus'),
    status: 400,
    title: 'Invalid status',
  },
  // --- management API: query parameters
  ...(
    [
      ['limit=0', 'Invalid limit'],
      ['limit=abc', 'Invalid limit'],
      ['limit=1001', 'Invalid limit'],
      ['limit=-5', 'Invalid limit'],
      ['limit=2.5', 'Invalid limit'],
      ['after=-1', 'Invalid after'],
      ['after=abc', 'Invalid after'],
      ['after=1.5', 'Invalid after'],
      ['after=1e400', 'Invalid after'],
    ] as const
  ).map(
    ([query, title]): HttpCase => ({
      name: `messages: ${query}`,
      run: () => manage('GET', `/devices/${victim.deviceId}/messages?${query}`),
      status: 400,
      title,
    }),
  ),
  // --- management API: settings
  {
    name: 'settings: unknown key',
    run: () => manage('PATCH', '/settings', { json: { debug: true } }),
    status: 400,
    title: 'Unknown setting',
  },
  {
    name: 'settings: __proto__ key',
    run: () => manage('PATCH', '/settings', rawJson('{"__proto__":{"disabled":true}}')),
    status: 400,
    title: 'Unknown setting',
  },
  {
    name: 'settings: a valid key with an unknown one is refused as a whole',
    run: () => manage('PATCH', '/settings', { json: { autoApprove: true, bogus: 1 } }),
    status: 400,
    title: 'Unknown setting',
  },
  {
    name: 'settings: disabled is a string',
    run: () => manage('PATCH', '/settings', { json: { disabled: 'true' } }),
    status: 400,
    title: 'Invalid disabled',
  },
  {
    name: 'settings: autoApprove is null',
    run: () => manage('PATCH', '/settings', { json: { autoApprove: null } }),
    status: 400,
    title: 'Invalid autoApprove',
  },
  {
    name: 'settings: negative lifetime',
    run: () => manage('PATCH', '/settings', { json: { sasTokenLifetimeSeconds: -1 } }),
    status: 400,
    title: 'Invalid sasTokenLifetimeSeconds',
  },
  {
    name: 'settings: fractional lifetime',
    run: () => manage('PATCH', '/settings', { json: { registrationTokenLifetimeSeconds: 1.5 } }),
    status: 400,
    title: 'Invalid registrationTokenLifetimeSeconds',
  },
  {
    name: 'settings: lifetime as a string',
    run: () => manage('PATCH', '/settings', { json: { provisioningOperationLifetimeSeconds: '60' } }),
    status: 400,
    title: 'Invalid provisioningOperationLifetimeSeconds',
  },
  {
    name: 'settings: absurdly long lifetime',
    run: () => manage('PATCH', '/settings', { json: { sasTokenLifetimeSeconds: 1e12 } }),
    status: 400,
    title: 'Invalid sasTokenLifetimeSeconds',
  },
  {
    name: 'settings: array body',
    run: () => manage('PATCH', '/settings', { json: [{ disabled: true }] }),
    status: 400,
    title: invalidBody,
  },
  {
    name: 'settings: null body',
    run: () => manage('PATCH', '/settings', rawJson('null')),
    status: 400,
    title: invalidBody,
  },
  // --- management API: twin
  {
    name: 'desired patch: array',
    run: () => manage('PATCH', `/devices/${victim.deviceId}/twin/desired`, { json: [1, 2] }),
    status: 400,
    title: 'Invalid patch',
  },
  {
    name: 'desired patch: string',
    run: () => manage('PATCH', `/devices/${victim.deviceId}/twin/desired`, { json: 'x' }),
    status: 400,
    title: 'Invalid patch',
  },
  {
    name: 'desired patch: malformed JSON',
    run: () => manage('PATCH', `/devices/${victim.deviceId}/twin/desired`, rawJson('{"a":1,}')),
    status: 400,
    title: malformedJson,
  },
  {
    name: 'desired patch: text/plain',
    run: () =>
      manage('PATCH', `/devices/${victim.deviceId}/twin/desired`, {
        body: '{"a":1}',
        headers: { 'content-type': 'text/plain' },
      }),
    status: 415,
    title: unsupportedType,
  },
  {
    name: 'desired patch: nested 5,000 levels deep',
    run: () => manage('PATCH', `/devices/${victim.deviceId}/twin/desired`, rawJson(nested(5000))),
    status: 400,
    title: anyTitle,
    check: async () => {
      const twin = await manage('GET', `/devices/${victim.deviceId}/twin`);
      expect(twin.status).toBe(200);
      expect(twin.body.desired).toEqual({ $version: 1 });
    },
  },
  // --- management API: C2D
  {
    name: 'C2D: body over 64 KB (content-length)',
    run: () =>
      manage('POST', `/devices/${victim.deviceId}/c2d-messages`, { body: 'x'.repeat(64 * 1024 + 1) }),
    status: 413,
    title: tooLarge,
  },
  {
    name: 'C2D: body over 64 KB (chunked, no content-length)',
    run: () =>
      chunkedRequest(
        'POST',
        `/workspaces/${emulator.workspaceId}/devices/${victim.deviceId}/c2d-messages`,
        { authorization: `Bearer ${emulator.apiToken}` },
        Array.from({ length: 5 }, () => Buffer.alloc(16 * 1024 + 1, 0x61)),
      ),
    status: 413,
    title: tooLarge,
  },
  // --- management API: direct methods
  ...['0', 'abc', '-5', '301', '', 'Infinity'].map(
    (timeout): HttpCase => ({
      name: `method: timeoutSeconds=${JSON.stringify(timeout)}`,
      run: () =>
        manage('POST', `/devices/${victim.deviceId}/methods/reboot?timeoutSeconds=${timeout}`, { json: {} }),
      status: 400,
      title: 'Invalid timeoutSeconds',
    }),
  ),
  {
    name: 'method: device registered but offline',
    run: () => manage('POST', `/devices/${victim.deviceId}/methods/reboot?timeoutSeconds=5`, { json: {} }),
    status: 404,
    title: 'Device not connected',
  },
  {
    name: 'method: unknown device',
    run: () => manage('POST', '/devices/no-such-device/methods/reboot', { json: {} }),
    status: 404,
    title: 'Device not found',
  },
  {
    name: 'method: payload is not JSON',
    run: () =>
      manage('POST', `/devices/${victim.deviceId}/methods/reboot`, {
        body: 'now please',
        headers: { 'content-type': 'text/plain' },
      }),
    status: 415,
    title: unsupportedType,
  },
  {
    name: 'method: malformed JSON payload',
    run: () => manage('POST', `/devices/${victim.deviceId}/methods/reboot`, rawJson('{"delay":')),
    status: 400,
    title: malformedJson,
  },
  {
    name: 'method: payload over 128 KB',
    run: () =>
      manage('POST', `/devices/${victim.deviceId}/methods/reboot`, rawJson(`"${'x'.repeat(128 * 1024)}"`)),
    status: 413,
    title: tooLarge,
  },
  {
    name: 'drop connection: device offline',
    run: () => manage('DELETE', `/devices/${victim.deviceId}/connection`),
    status: 404,
    title: 'Device not connected',
  },
  // --- hub file upload: SAS in the Authorization header
  {
    name: 'file upload: no Authorization header',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files`, { json: { blobName: 'a' } }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'file upload: a bearer token instead of a SAS',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files`, {
        token: emulator.apiToken,
        json: { blobName: 'a' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'file upload: malformed SAS',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files`, {
        authorization: 'SharedAccessSignature sr=&sig',
        json: { blobName: 'a' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'file upload: tampered SAS signature',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files`, {
        authorization: tamperedSas(attacker.sasToken),
        json: { blobName: 'a' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: "file upload: another device's SAS",
    run: () =>
      call(emulator.instance, 'POST', `/devices/${victim.hubDeviceId}/files`, {
        authorization: attacker.sasToken,
        json: { blobName: 'a' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'file upload: expired SAS',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${expired.hubDeviceId}/files`, {
        authorization: expired.sasToken,
        json: { blobName: 'a' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'file upload: unknown device',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${emulator.workspaceId}:nobody/files`, {
        authorization: attacker.sasToken,
        json: { blobName: 'a' },
      }),
    status: 401,
    title: unauthorized,
  },
  {
    name: 'file upload: blobName climbing out with ..',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files`, {
        authorization: attacker.sasToken,
        json: { blobName: '../victim/file' },
      }),
    status: 400,
    title: 'Invalid blobName',
  },
  {
    name: 'file upload: blobName is a number',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files`, {
        authorization: attacker.sasToken,
        json: { blobName: 5 },
      }),
    status: 400,
    title: 'Invalid blobName',
  },
  {
    name: 'file notification: unknown correlationId',
    run: () =>
      call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files/notifications`, {
        authorization: attacker.sasToken,
        json: { correlationId: 'no-such-upload', isSuccess: true, statusCode: 200, statusDescription: 'ok' },
      }),
    status: 404,
    title: 'Unknown correlationId',
  },
  {
    name: 'file notification: isSuccess is a string',
    run: async () => {
      const upload = await startUpload(attacker);
      return call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files/notifications`, {
        authorization: attacker.sasToken,
        json: { correlationId: upload.correlationId, isSuccess: 'true' },
      });
    },
    status: 400,
    title: 'Invalid isSuccess',
  },
  {
    name: "file notification: closing another device's upload",
    run: async () => {
      const upload = await startUpload(victim);
      return call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files/notifications`, {
        authorization: attacker.sasToken,
        json: { correlationId: upload.correlationId, isSuccess: true },
      });
    },
    status: 404,
    title: 'Unknown correlationId',
  },
  // --- blob store: SAS in the query
  {
    name: 'blob PUT: no SAS token',
    run: async () => {
      const upload = await startUpload(attacker);
      return blobPut(`/${upload.containerName}/${upload.blobName}`);
    },
    status: 403,
    title: 'Forbidden',
  },
  {
    name: 'blob PUT: wrong SAS signature',
    run: async () => {
      const upload = await startUpload(attacker);
      return blobPut(`/${upload.containerName}/${upload.blobName}${tamperedSas(upload.sasToken)}`);
    },
    status: 403,
    title: 'Forbidden',
  },
  {
    name: "blob PUT: a valid SAS used for another device's blob",
    run: async () => {
      const upload = await startUpload(attacker, 'mine.bin');
      return blobPut(`/${upload.containerName}/${victim.hubDeviceId}/mine.bin${upload.sasToken}`);
    },
    status: 403,
    title: 'Forbidden',
  },
  {
    name: 'blob PUT: SAS of an upload already closed',
    run: async () => {
      const upload = await startUpload(attacker, 'closed.bin');
      await call(emulator.instance, 'POST', `/devices/${attacker.hubDeviceId}/files/notifications`, {
        authorization: attacker.sasToken,
        json: { correlationId: upload.correlationId, isSuccess: false },
      });
      return blobPut(`/${upload.containerName}/${upload.blobName}${upload.sasToken}`);
    },
    status: 403,
    title: 'Forbidden',
  },
  {
    name: 'blob PUT: valid SAS without x-ms-blob-type',
    run: async () => {
      const upload = await startUpload(attacker);
      return blobPut(`/${upload.containerName}/${upload.blobName}${upload.sasToken}`, {});
    },
    status: 400,
    title: 'Missing x-ms-blob-type',
  },
];

describe('bad HTTP input', () => {
  it.each(httpCases)('$name', async ({ run, status, title, type, check }) => {
    const result = await run();
    expect({ status: result.status, body: result.body }).toEqual({
      status,
      body: expect.objectContaining({ type: type ?? 'about:blank', title, status }),
    });
    expect(result.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    await check?.();
    await expectHealthy();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Raw HTTP cases: bytes `fetch` would never send.

interface RawHttpCase {
  name: string;
  send: () => (Buffer | string)[];
  /** The status line the server must answer with before closing the connection. */
  statusLine: string;
}

const rawHttpCases: RawHttpCase[] = [
  {
    name: 'garbage bytes that are neither HTTP, TLS nor MQTT',
    send: () => [Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a, 0x42])],
    statusLine: 'HTTP/1.1 400',
  },
  {
    name: 'a request line that is not HTTP',
    send: () => ['HELLO EMULATOR\r\n\r\n'],
    statusLine: 'HTTP/1.1 400',
  },
  {
    name: 'headers over the size limit',
    send: () => [`GET /portal HTTP/1.1\r\nhost: x\r\nx-pad: ${'a'.repeat(20_000)}\r\n\r\n`],
    statusLine: 'HTTP/1.1 431',
  },
  {
    name: 'WebSocket upgrade on a path that is not the MQTT one',
    send: () => [
      'GET /mqtt HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-protocol: mqtt\r\n\r\n',
    ],
    statusLine: 'HTTP/1.1 404',
  },
];

describe('bad raw HTTP input', () => {
  it.each(rawHttpCases)('$name', async ({ send, statusLine }) => {
    const connection = await RawConnection.open(emulator.port);
    try {
      for (const chunk of send()) connection.write(chunk);
      await connection.waitForBytes(statusLine.length);
      const answer = connection.received().toString('latin1');
      expect(answer.slice(0, statusLine.length)).toBe(statusLine);
      expect(await connection.waitForClose()).toBe(true);
    } finally {
      connection.destroy();
    }
    await expectHealthy();
  });

  it('a blob PUT declaring more than 64 MB with a valid SAS gets 413 before any body is sent', async () => {
    const upload = await startUpload(attacker, 'huge.bin');
    const connection = await RawConnection.open(emulator.port);
    try {
      connection.write(
        `PUT /${upload.containerName}/${upload.blobName}${upload.sasToken} HTTP/1.1\r\nhost: x\r\n` +
          `x-ms-blob-type: BlockBlob\r\ncontent-length: ${64 * 1024 * 1024 + 1}\r\n\r\n`,
      );
      await connection.waitForBytes(12);
      expect(connection.received().toString('latin1').slice(0, 12)).toBe('HTTP/1.1 413');
      expect(await connection.waitForClose()).toBe(true);
    } finally {
      connection.destroy();
    }
    await expectHealthy();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// MQTT cases

interface MqttCase {
  name: string;
  run: () => Promise<MqttOutcome>;
  expect: MqttOutcome;
  check?: () => Promise<void>;
}

const connackRefused = (code: number) => ({ connack: code });

const mqttCases: MqttCase[] = [
  // --- CONNECT
  {
    name: 'CONNECT with a wrong password (the connected device keeps its connection)',
    run: async () => {
      const legit = await connectAs(victim);
      try {
        const connack = await connackFor(optionsFor(victim, { password: 'not a SAS token' }));
        await sleep(100);
        return { connack, closed: !legit.connected };
      } finally {
        legit.end(true);
      }
    },
    expect: { connack: 4, closed: false },
  },
  {
    name: 'CONNECT with a malformed SAS',
    run: async () => ({
      connack: await connackFor(optionsFor(attacker, { password: 'SharedAccessSignature sr=&sig=&se=x' })),
    }),
    expect: connackRefused(4),
  },
  {
    name: 'CONNECT with a SAS whose signature was tampered with',
    run: async () => ({
      connack: await connackFor(optionsFor(attacker, { password: tamperedSas(attacker.sasToken) })),
    }),
    expect: connackRefused(4),
  },
  {
    name: "CONNECT with another device's SAS",
    run: async () => ({ connack: await connackFor(optionsFor(victim, { password: attacker.sasToken })) }),
    expect: connackRefused(4),
  },
  {
    name: 'CONNECT with an expired SAS',
    run: async () => ({ connack: await connackFor(optionsFor(expired)) }),
    expect: connackRefused(4),
  },
  {
    name: 'CONNECT without username and password',
    run: async () => ({
      connack: await connackFor({ ...optionsFor(attacker), username: undefined, password: undefined }),
    }),
    expect: connackRefused(4),
  },
  {
    name: 'CONNECT whose username names another device',
    run: async () => ({ connack: await connackFor(optionsFor(attacker, { username: usernameOf(victim) })) }),
    expect: connackRefused(4),
  },
  {
    name: 'CONNECT whose username has no api-version',
    run: async () => ({
      connack: await connackFor(
        optionsFor(attacker, { username: `${attacker.iotHubHostName}/${attacker.hubDeviceId}/` }),
      ),
    }),
    expect: connackRefused(4),
  },
  {
    name: 'CONNECT for an unknown device of the workspace',
    run: async () => {
      const nobody = { ...attacker, hubDeviceId: `${emulator.workspaceId}:nobody` };
      return { connack: await connackFor(optionsFor(nobody)) };
    },
    expect: connackRefused(5),
  },
  {
    name: 'CONNECT with a client id that is not of the workspace',
    run: async () => {
      const stranger = { ...attacker, hubDeviceId: 'other-workspace:bad-input-attacker' };
      return { connack: await connackFor(optionsFor(stranger)) };
    },
    expect: connackRefused(2),
  },
  {
    name: 'CONNECT with the workspace prefix and no device id',
    run: async () => {
      const empty = { ...attacker, hubDeviceId: `${emulator.workspaceId}:` };
      return { connack: await connackFor(optionsFor(empty)) };
    },
    expect: connackRefused(2),
  },
  {
    name: 'CONNECT while the workspace is disabled',
    run: async () => {
      await emulator.api.settings({ disabled: true });
      try {
        return { connack: await connackFor(optionsFor(attacker)) };
      } finally {
        await emulator.api.settings({ disabled: false });
      }
    },
    expect: connackRefused(5),
  },
  {
    name: 'CONNECT speaking MQTT 5 (unacceptable protocol version)',
    run: () => rawSend([connectPacket(attacker, { protocolVersion: 5 })]),
    expect: { closed: true, reply: '20020001' },
  },
  // --- raw bytes
  {
    name: 'garbage after an MQTT CONNECT first byte',
    run: () => rawSend([Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02])]),
    expect: { closed: true, reply: '' },
  },
  {
    name: 'a CONNECT whose protocol name is garbage',
    run: () =>
      rawSend([
        Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x58, 0x58, 0x58, 0x58, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]),
      ]),
    expect: { closed: true, reply: '' },
  },
  {
    name: 'half a CONNECT, then the client vanishes: the device stays connected on its real connection',
    run: async () => {
      const live = await connectAs(attacker);
      try {
        const connection = await RawConnection.open(emulator.port);
        const packet = connectPacket(attacker);
        connection.write(packet.subarray(0, Math.floor(packet.length / 2)));
        // A FIN behind the half packet: the emulator reads both, in order, before it closes its side.
        connection.end();
        const closed = await connection.waitForClose(5000);
        const devices = await manage('GET', '/devices');
        const entry = devices.body.find((d: any) => d.deviceId === attacker.deviceId);
        return { closed, deviceConnected: entry.connected };
      } finally {
        await live.endAsync(true);
      }
    },
    expect: { closed: true, deviceConnected: true },
  },
  {
    name: 'a second CONNECT on an open connection',
    run: () => rawSend([connectPacket(attacker), connectPacket(attacker)]),
    expect: { closed: true, reply: '20020000' },
  },
  {
    name: 'PUBLISH before CONNECT',
    run: () =>
      rawSend([
        mqttPacket.generate({
          cmd: 'publish',
          topic: eventsTopic(attacker),
          payload: 'x',
          qos: 0,
          dup: false,
          retain: false,
        }),
      ]),
    expect: { closed: true, reply: '48545450' }, // "HTTP": not MQTT, so the HTTP side refuses it
  },
  {
    name: 'garbage over the MQTT WebSocket',
    run: async () => {
      const socket = new WebSocket(`ws://localhost:${emulator.port}/$iothub/websocket`, 'mqtt');
      socket.on('error', () => {});
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      const closed = new Promise<boolean>((resolve) => {
        socket.once('close', () => resolve(true));
        setTimeout(() => resolve(false), 2000);
      });
      socket.send(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff]));
      const result = await closed;
      socket.terminate();
      return { closed: result };
    },
    expect: { closed: true },
  },
  // --- PUBLISH
  {
    name: "PUBLISH to another device's telemetry topic",
    run: () => attackerPublishes(eventsTopic(victim), 'spoofed'),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'PUBLISH to a topic outside devices/ and $iothub/',
    run: () => attackerPublishes('foo/bar', 'x'),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'PUBLISH to a service-side $iothub topic',
    run: () => attackerPublishes('$iothub/twin/res/200/?$rid=1', '{}'),
    expect: { closed: true, stored: 0 },
  },
  {
    name: "PUBLISH to another device's C2D topic",
    run: () => attackerPublishes(`devices/${victim.hubDeviceId}/messages/devicebound/%24.mid=x`, 'x'),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'PUBLISH with a wildcard in the topic',
    run: () => attackerPublishes(`devices/${attacker.hubDeviceId}/messages/events/#`, 'x'),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'telemetry over 256 KB',
    run: () => attackerPublishes(eventsTopic(attacker), Buffer.alloc(256 * 1024, 0x61)),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'telemetry with a malformed property bag (bad percent-encoding)',
    run: () => attackerPublishes(eventsTopic(attacker, 'stream-name=%zz'), 'x'),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'telemetry with a malformed property bag (empty key)',
    run: () => attackerPublishes(eventsTopic(attacker, '=value&a=b'), 'x'),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'telemetry at QoS 2 (IoT Hub supports QoS 0 and 1 only)',
    run: () => attackerPublishes(eventsTopic(attacker), 'x', 2),
    expect: { closed: true, stored: 0 },
  },
  {
    name: 'reported patch that is not JSON',
    run: () => attackerReports('{"temperature":'),
    expect: { twinStatus: 400, closed: false },
  },
  {
    name: 'reported patch that is a JSON array',
    run: () => attackerReports('[1,2,3]'),
    expect: { twinStatus: 400, closed: false },
  },
  {
    name: 'reported patch nested 5,000 levels deep',
    run: () => attackerReports(nested(5000)),
    expect: { twinStatus: 400, closed: false },
    check: async () => {
      const twin = await manage('GET', `/devices/${attacker.deviceId}/twin`);
      expect(twin.status).toBe(200);
    },
  },
  // --- SUBSCRIBE
  {
    name: "SUBSCRIBE to another device's C2D topic (and nothing of it arrives)",
    run: async () => {
      const client = await connectAs(attacker);
      try {
        let leaked = 0;
        client.on('message', () => leaked++);
        let granted: number[];
        try {
          granted = (
            await client.subscribeAsync(`devices/${victim.hubDeviceId}/messages/devicebound/#`, { qos: 1 })
          ).map((g) => g.qos);
        } catch (error) {
          granted = grantedOf(error);
        }
        await manage('POST', `/devices/${victim.deviceId}/c2d-messages`, { body: 'for the victim only' });
        await sleep(200);
        return { granted, leaked };
      } finally {
        client.end(true);
      }
    },
    expect: { granted: [128], leaked: 0 },
  },
  {
    name: "SUBSCRIBE to another device's telemetry topic",
    run: () => attackerSubscribes(`devices/${victim.hubDeviceId}/messages/events/#`),
    expect: { granted: [128] },
  },
  {
    name: 'SUBSCRIBE to #',
    run: () => attackerSubscribes('#'),
    expect: { granted: [128] },
  },
  {
    name: 'SUBSCRIBE to $iothub/#',
    run: () => attackerSubscribes('$iothub/#'),
    expect: { granted: [128] },
  },
  {
    name: "SUBSCRIBE to every device's C2D topic with +",
    run: () => attackerSubscribes('devices/+/messages/devicebound/#'),
    expect: { granted: [128] },
  },
];

describe('bad MQTT input', () => {
  it.each(mqttCases)('$name', async ({ run, expect: expected, check }) => {
    expect(await run()).toEqual(expected);
    await check?.();
    await expectHealthy();
  });
});
