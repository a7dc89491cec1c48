// Management routes the portal needs beyond SPEC §6: one operation, the newest messages, queued C2D messages,
// uploaded files (list and download) and the connection history.
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionLog, keptConnectionEntries } from '../../emulator/state/connections.js';
import { openEmulatorDatabase } from '../../emulator/state/database.js';
import { FakeClock } from '../helpers/clock.js';
import { closed, connectDevice, waitFor } from '../helpers/device-mqtt.js';
import {
  call,
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { sendTelemetry, uploadFile } from './portal-support.js';

let emulator: TestEmulator;
let pump: ProvisionedDevice;
let other: ProvisionedDevice;
const clients: MqttClient[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator();
  pump = await provisionDevice(emulator, 'routes-pump');
  other = await provisionDevice(emulator, 'routes-other');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync().catch(() => {})));
});
afterAll(() => emulator.close());

const base = () => `http://localhost:${emulator.port}`;
const manage = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call(base(), method, `/workspaces/${emulator.workspaceId}${path}`, {
    token: emulator.apiToken,
    ...options,
  });

async function connect(device: ProvisionedDevice, overrides = {}): Promise<MqttClient> {
  const client = await connectDevice(emulator, device, 'mqtt', overrides);
  clients.push(client);
  return client;
}

/** Every route of this file answers 401 without the token and 404 for an unknown device. */
const deviceRoutes = [
  '/devices/{id}/connections',
  '/devices/{id}/files',
  '/devices/{id}/files/a.txt',
  '/devices/{id}/c2d-messages',
];

describe('authentication and unknown devices', () => {
  it.each(deviceRoutes)(
    'GET %s: 401 without the API token, with a wrong one, 404 for an unknown device',
    async (route) => {
      const path = `/workspaces/${emulator.workspaceId}${route.replace('{id}', 'routes-pump')}`;
      expect((await call(base(), 'GET', path)).status).toBe(401);
      expect((await call(base(), 'GET', path, { token: 'api-wrong' })).status).toBe(401);
      const unknown = await manage('GET', route.replace('{id}', 'no-such-device'));
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ title: 'Device not found' });
      const otherWorkspace = await call(
        base(),
        'GET',
        `/workspaces/nope${route.replace('{id}', 'routes-pump')}`,
        {
          token: emulator.apiToken,
        },
      );
      expect(otherWorkspace.status).toBe(404);
    },
  );

  it('GET /provisioning-operations/{id}: 401 without the token, 404 for an unknown id', async () => {
    const path = `/workspaces/${emulator.workspaceId}/provisioning-operations/x`;
    expect((await call(base(), 'GET', path)).status).toBe(401);
    expect(await manage('GET', '/provisioning-operations/no-such-operation')).toMatchObject({
      status: 404,
      body: { title: 'Provisioning operation not found' },
    });
  });
});

describe('GET /provisioning-operations/{id}', () => {
  it('answers one operation, whatever its status', async () => {
    const init = await call(base(), 'POST', '/provisioning-operations/init', {
      token: emulator.provisioningToken,
      json: { deviceId: 'routes-one' },
    });
    const id = init.body.provisioningOperationId as string;
    expect((await manage('GET', `/provisioning-operations/${id}`)).body).toEqual({
      provisioningOperationId: id,
      deviceId: 'routes-one',
      verificationCode: init.body.verificationCode,
      expirationTime: init.body.expirationTime,
      status: 'pending',
    });
    await manage('PUT', '/provisioning-operations/approve', { json: { provisioningOperationId: id } });
    expect((await manage('GET', `/provisioning-operations/${id}`)).body).toMatchObject({
      status: 'approved',
    });
  });
});

describe('GET /devices/{id}/messages?last=', () => {
  it('gives the newest messages (of one stream), oldest first', async () => {
    const client = await connect(pump);
    for (let i = 1; i <= 6; i++) {
      await sendTelemetry(client, pump, { 'stream-name': i % 2 ? 'odd' : 'even' }, `m${i}`);
    }
    const text = (page: { items: { payloadBase64: string }[] }) =>
      page.items.map((item) => Buffer.from(item.payloadBase64, 'base64').toString());
    const last = await manage('GET', '/devices/routes-pump/messages?last=4');
    expect(text(last.body)).toEqual(['m3', 'm4', 'm5', 'm6']);
    expect(last.body.next).toBeNull();
    expect(text((await manage('GET', '/devices/routes-pump/messages?last=2&stream=odd')).body)).toEqual([
      'm3',
      'm5',
    ]);
    expect(text((await manage('GET', '/devices/routes-pump/messages?last=100')).body)).toHaveLength(6);
    for (const bad of ['0', '1001', 'x', '-1']) {
      expect((await manage('GET', `/devices/routes-pump/messages?last=${bad}`)).status).toBe(400);
    }
  });
});

describe('GET /devices/{id}/c2d-messages', () => {
  it('lists the messages waiting for the device, oldest first', async () => {
    await manage('POST', '/devices/routes-other/c2d-messages?command=a', { body: 'first' });
    await manage('POST', '/devices/routes-other/c2d-messages', { body: 'second' });
    const queued = await manage('GET', '/devices/routes-other/c2d-messages');
    expect(queued.status).toBe(200);
    expect(queued.body).toEqual([
      {
        mid: expect.any(String),
        properties: { command: 'a' },
        payloadBase64: Buffer.from('first').toString('base64'),
        enqueuedAt: expect.any(String),
        expiresAt: expect.any(String),
        deliveryCount: 0,
      },
      expect.objectContaining({ properties: {}, payloadBase64: Buffer.from('second').toString('base64') }),
    ]);
  });
});

describe('files', () => {
  it('lists uploaded files newest first, with their notification', async () => {
    await uploadFile(emulator, pump, 'first.txt', 'one');
    await uploadFile(emulator, pump, 'logs/2026/second.log', 'two two', false);
    await uploadFile(emulator, other, 'theirs.txt', 'not yours');
    const files = await manage('GET', '/devices/routes-pump/files');
    expect(files.status).toBe(200);
    expect(files.body).toEqual([
      {
        name: 'logs/2026/second.log',
        size: 7,
        uploadedAt: expect.any(String),
        notified: false,
        succeeded: null,
      },
      { name: 'first.txt', size: 3, uploadedAt: expect.any(String), notified: true, succeeded: true },
    ]);
  });

  it('downloads a file as an attachment, never as a page', async () => {
    const name = 'report <img src=x onerror=alert(1)> "q" ünï.txt';
    await uploadFile(emulator, pump, name, 'report body');
    const response = await fetch(
      `${base()}/workspaces/${emulator.workspaceId}/devices/routes-pump/files/${encodeURIComponent(name)}`,
      { headers: { authorization: `Bearer ${emulator.apiToken}` } },
    );
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('report body');
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    const disposition = response.headers.get('content-disposition')!;
    expect(disposition).toMatch(
      /^attachment; filename="report <img src=x onerror=alert\(1\)> _q_ _n_.txt"; filename\*=UTF-8''/,
    );
    expect(disposition.split("UTF-8''")[1]).toMatch(/^[A-Za-z0-9%._~!-]+$/);
    expect(decodeURIComponent(disposition.split("UTF-8''")[1]!)).toBe(name);
  });

  it('downloads a file in a folder by its path', async () => {
    const result = await manage('GET', '/devices/routes-pump/files/logs/2026/second.log');
    expect(result).toMatchObject({ status: 200, body: 'two two' });
  });

  it("answers 404 for a file that does not exist or is another device's", async () => {
    expect(await manage('GET', '/devices/routes-pump/files/nothing.txt')).toMatchObject({
      status: 404,
      body: { title: 'File not found' },
    });
    expect((await manage('GET', '/devices/routes-pump/files/theirs.txt')).status).toBe(404);
    expect(
      (await manage('GET', `/devices/routes-pump/files/..%2F${other.hubDeviceId}%2Ftheirs.txt`)).status,
    ).toBe(404);
    expect((await manage('GET', '/devices/routes-other/files/theirs.txt')).body).toBe('not yours');
  });
});

describe('GET /devices/{id}/connections', () => {
  const history = async (id: string) =>
    (await manage('GET', `/devices/${id}/connections`)).body as {
      at: string;
      event: string;
      reason: string;
    }[];

  it('records connects with their transport and disconnects with their reason, oldest first', async () => {
    const device = await provisionDevice(emulator, 'routes-history');
    expect(await history('routes-history')).toEqual([]);

    const tcp = await connectDevice(emulator, device);
    await tcp.endAsync(); // sends DISCONNECT
    const ws = await connectDevice(emulator, device, 'ws');
    await manage('DELETE', '/devices/routes-history/connection');
    await closed(ws);
    const tls = await connectDevice(emulator, device, 'mqtts');
    // A second connection with the same client id takes over (the first is closed).
    const taker = await connectDevice(emulator, device);
    await closed(tls);
    taker.stream.destroy(); // the network goes away: no DISCONNECT
    const entries = await waitFor(async () => {
      const found = await history('routes-history');
      return found.length === 8 ? found : undefined;
    });
    expect(entries.map(({ event, reason }) => [event, reason])).toEqual([
      ['connected', 'MQTT over TCP'],
      ['disconnected', 'the device sent DISCONNECT'],
      ['connected', 'MQTT over WebSocket'],
      ['disconnected', 'dropped through the management API'],
      ['connected', 'MQTT over TLS'],
      ['disconnected', 'replaced by a new connection of the same device'],
      ['connected', 'MQTT over TCP'],
      expect.arrayContaining(['disconnected']),
    ]);
    expect(entries[7]!.reason).toMatch(/^(the connection closed without DISCONNECT|connection error: )/);
    for (const entry of entries) expect(Date.parse(entry.at)).not.toBeNaN();
  });

  it('records why the emulator closed a connection: SAS expiry, a refused publish, a disabled workspace', async () => {
    // The SAS expiry waits on the emulator's clock: an emulator of its own whose clock stands still until the test
    // moves it (the file's emulator keeps real time for the other tests).
    const clock = new FakeClock(Date.now());
    const own = await startTestEmulator({ clock });
    const ownHistory = async (id: string) =>
      (await own.api.request('GET', `/devices/${id}/connections`)).body as {
        event: string;
        reason: string;
      }[];
    try {
      const device = await provisionDevice(own, 'routes-reasons');
      const bad = await connectDevice(own, device);
      bad.publish('devices/someone-else/messages/events/', 'x', { qos: 1 });
      await closed(bad);
      const disabled = await connectDevice(own, device);
      await own.api.settings({ disabled: true });
      await closed(disabled);
      // A lifetime far longer than the test may take: only the emulator's clock can bring the close in time.
      await own.api.settings({ disabled: false, sasTokenLifetimeSeconds: 600 });
      const shortLived = await provisionDevice(own, 'routes-reasons');
      const expiring = await connectDevice(own, shortLived);
      const expiresAt = Number(/(?:^|&)se=(\d+)/.exec(shortLived.sasToken)![1]) * 1000;
      // Up to the last millisecond before the token's `se`, the connection stays open...
      await clock.advance(expiresAt - clock.now() - 1);
      const before = (await ownHistory('routes-reasons')).filter((e) => e.event === 'disconnected');
      expect(before).toHaveLength(2);
      expect(expiring.connected).toBe(true);
      // ...and at `se` the emulator closes it, and says why.
      await clock.advance(1);
      await closed(expiring, 2000);
      const reasons = await waitFor(async () => {
        const found = (await ownHistory('routes-reasons')).filter((e) => e.event === 'disconnected');
        return found.length === 3 ? found.map((e) => e.reason) : undefined;
      }, 2000);
      expect(reasons[0]).toMatch(/^publish refused: device may not publish to devices\/someone-else/);
      expect(reasons[1]).toBe('the workspace was disabled');
      expect(reasons[2]).toBe('the SAS token expired');
    } finally {
      await own.close();
    }
  });

  it('keeps the newest entries of each device only', () => {
    const db = openEmulatorDatabase(null);
    let now = 0;
    const log = new ConnectionLog(db, () => ++now);
    for (let i = 0; i < keptConnectionEntries + 30; i++)
      log.record('a', i % 2 ? 'disconnected' : 'connected', `#${i}`);
    log.record('b', 'connected', 'only');
    const kept = log.list('a');
    expect(kept).toHaveLength(keptConnectionEntries);
    expect(kept[0]!.reason).toBe('#30');
    expect(kept.at(-1)!.reason).toBe(`#${keptConnectionEntries + 29}`);
    expect(log.list('b')).toEqual([{ at: expect.any(String), event: 'connected', reason: 'only' }]);
    expect(log.record('a', 'connected', 'x'.repeat(2000)).reason).toHaveLength(500);
    db.close();
  });
});
