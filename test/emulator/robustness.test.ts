/**
 * The emulator faces untrusted devices and clients and must stay up for everyone else: payloads that cannot be
 * written back out, Brotli bombs, connections that stop talking, too many connections, blob uploads beyond the
 * cap, and per-connection timers that must go away with the connection. Real sockets, real emulator.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { problem } from '../../emulator/http/problem.js';
import { createHttpApp, createRequestListener } from '../../emulator/http/server.js';
import { silentLogger } from '../../emulator/log.js';
import { within } from '../contract/assert.js';
import { FakeClock } from '../helpers/clock.js';
import { connectDevice, waitFor } from '../helpers/device-mqtt.js';
import {
  call,
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { RawConnection } from '../helpers/mqtt.js';
import { watchTimers } from '../helpers/timers.js';

let emulator: TestEmulator;
let device: ProvisionedDevice;
const clients: MqttClient[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function connect(who: ProvisionedDevice, overrides = {}) {
  const client = await connectDevice(emulator, who, 'mqtt', overrides);
  client.on('error', () => {});
  clients.push(client);
  return client;
}

/** A management call that gives up after a few seconds (a hung emulator must fail the test, not time it out). */
async function manage(method: string, path: string, body?: unknown) {
  const response = await fetch(`${emulator.instance}/workspaces/${emulator.workspaceId}${path}`, {
    method,
    headers: { authorization: `Bearer ${emulator.apiToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** The emulator still answers HTTP and takes a device's telemetry. */
async function expectServing(target = emulator) {
  expect((await call(target.instance, 'GET', '/favicon.ico')).status).toBe(204);
}

beforeAll(async () => {
  emulator = await startTestEmulator();
  device = await provisionDevice(emulator, 'robust');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
});
afterAll(() => emulator.close());

describe('answers that cannot be written out', () => {
  it('refuses a method response nested 100,000 deep with 502 and keeps running', async () => {
    const client = await connect(device);
    await client.subscribeAsync('$iothub/methods/POST/#', { qos: 0 });
    client.on('message', (topic) => {
      const rid = new URLSearchParams(topic.split('?')[1]).get('$rid');
      const depth = 100_000;
      client.publish(`$iothub/methods/res/200/?$rid=${rid}`, `${'['.repeat(depth)}${']'.repeat(depth)}`);
    });
    const result = await manage('POST', '/devices/robust/methods/deep?timeoutSeconds=5', {});
    expect(result).toEqual({
      status: 502,
      body: expect.objectContaining({ title: 'Invalid method response', status: 502 }),
    });
    await expectServing();
  });

  it('refuses a method request payload nested too deep with 400', async () => {
    const depth = 1000;
    const result = await manage(
      'POST',
      '/devices/robust/methods/deep?timeoutSeconds=1',
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
    );
    expect(result).toEqual({ status: 400, body: expect.objectContaining({ title: 'Payload too deep' }) });
  });

  it('turns a reply whose body cannot be serialised into a 500, never an unhandled rejection', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const app = createHttpApp(silentLogger)
      .get('/cyclic', (c) => c.json(cyclic))
      .get('/fine', () => problem(418, 'Still fine'));
    const server: Server = createServer(createRequestListener(app));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const broken = await fetch(`${base}/cyclic`, { signal: AbortSignal.timeout(3000) });
      expect(broken.status).toBe(500);
      expect(await broken.json()).toMatchObject({ title: 'Internal Server Error', status: 500 });
      expect((await fetch(`${base}/fine`, { signal: AbortSignal.timeout(3000) })).status).toBe(418);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('Brotli bombs and huge pages', () => {
  const events = (bag: string) => `devices/${device.hubDeviceId}/messages/events/${bag}`;
  const compress = (bytes: number) =>
    brotliCompressSync(Buffer.alloc(bytes), { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 5 } });

  it('stores a payload that would decode beyond 8 MiB as sent, with a decode error', async () => {
    const bomb = compress(16 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(2000);
    const client = await connect(device);
    await client.publishAsync(events('stream-name=bombs&content-encoding=br'), bomb, { qos: 1 });
    const { items } = await emulator.api.messages('robust', '?stream=bombs');
    expect(items).toHaveLength(1);
    expect(items[0].properties['x-emulator-decode-error']).toMatch(/more than 8388608 bytes/);
    expect(Buffer.from(items[0].payloadBase64, 'base64').equals(bomb)).toBe(true);
  });

  it('stores messages in arrival order although Brotli is decoded off the event loop', async () => {
    const client = await connect(device);
    const sizes = [4 * 1024 * 1024, 0, 1024 * 1024, 0];
    for (const [n, size] of sizes.entries()) {
      const bag = size > 0 ? `stream-name=order&content-encoding=br&n=${n}` : `stream-name=order&n=${n}`;
      client.publish(events(bag), size > 0 ? compress(size) : 'plain', { qos: 0 });
    }
    await client.publishAsync(events('stream-name=order&n=4'), 'marker', { qos: 1 });
    const { items } = await emulator.api.messages('robust', '?stream=order');
    expect(items.map((m: any) => m.properties.n)).toEqual(['0', '1', '2', '3', '4']);
  });

  it('pages large payloads by size: a page stops at 16 MiB of payload and `next` continues', async () => {
    const client = await connect(device);
    const big = compress(7 * 1024 * 1024);
    for (let i = 0; i < 3; i++) {
      await client.publishAsync(events(`stream-name=big&content-encoding=br&n=${i}`), big, { qos: 1 });
    }
    const first = await emulator.api.messages('robust', '?stream=big&limit=10');
    expect(first.items.map((m: any) => m.properties.n)).toEqual(['0', '1']);
    expect(Buffer.from(first.items[0].payloadBase64, 'base64').length).toBe(7 * 1024 * 1024);
    expect(first.next).toBe(first.items[1].sequence);
    const rest = await emulator.api.messages('robust', `?stream=big&limit=10&after=${first.next}`);
    expect(rest.items.map((m: any) => m.properties.n)).toEqual(['2']);
    expect(rest.next).toBeNull();
  });
});

describe('per-connection timers', () => {
  it('clears the SAS-expiry timer of each connection when it closes', async () => {
    const timers = watchTimers();
    try {
      const before = timers.pendingLong();
      for (let i = 0; i < 10; i++) {
        const client = await connectDevice(emulator, device);
        await client.endAsync();
      }
      await waitFor(async () => {
        const devices = await emulator.api.request('GET', '/devices');
        return devices.body.every((d: any) => !d.connected);
      });
      expect(timers.pendingLong() - before).toBe(0);
    } finally {
      timers.stop();
    }
  });

  it('serves a keep-alive above 1177 s as 1177 s (IoT Hub), without refusing the connection', async () => {
    const timers = watchTimers();
    try {
      await connect(device, { keepalive: 2000 });
    } finally {
      timers.stop();
    }
    // aedes drops a silent connection after 1.5 keep-alive periods.
    expect(timers.delays).toContain(1177 * 1500 + 1);
    expect(timers.delays).not.toContain(2000 * 1500 + 1);
  });
});

describe('connections that stop talking', () => {
  let short: TestEmulator;
  /**
   * The emulator's clock, for the direct method's timeout; the connection deadlines run on real timers, so the
   * other cases here (raw sockets only) do not notice it.
   */
  const clock = new FakeClock(Date.now());
  beforeAll(async () => {
    short = await startTestEmulator({
      clock,
      connectionTimeouts: { firstByteMs: 400, tlsHandshakeMs: 400, httpIdleMs: 600, httpBodyMs: 600 },
    });
  });
  afterAll(() => short.close());

  async function closedAfterSending(bytes: (Buffer | string)[], drip?: string) {
    const connection = await RawConnection.open(short.port);
    try {
      for (const chunk of bytes) connection.write(chunk);
      const dripping = drip ? setInterval(() => connection.write(drip), 100) : undefined;
      const closed = await connection.waitForClose(2500);
      clearInterval(dripping);
      return closed;
    } finally {
      connection.destroy();
    }
  }

  it('drops a connection that sends nothing', async () => {
    expect(await closedAfterSending([])).toBe(true);
  });

  it('drops a TLS connection whose handshake stalls after its first byte', async () => {
    expect(await closedAfterSending([Buffer.from([0x16])])).toBe(true);
  });

  it('drops a TLS connection whose ClientHello stops halfway', async () => {
    expect(await closedAfterSending([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])])).toBe(true);
  });

  it('drops an HTTP connection that drips headers and never completes them', async () => {
    expect(await closedAfterSending(['GET /portal HTTP/1.1\r\nhost: x\r\n'], 'x-drip: 1\r\n')).toBe(true);
  });

  it('drops an HTTP connection whose body stops arriving', async () => {
    const head =
      'POST /provisioning-operations/init HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
      'content-length: 100\r\n\r\n{"deviceId":';
    expect(await closedAfterSending([head])).toBe(true);
  });

  it('does not cut a request the emulator itself takes long to answer', async () => {
    const slow = await provisionDevice(short, 'slow-answerer');
    const client = await connectDevice(short, slow);
    try {
      await client.subscribeAsync('$iothub/methods/POST/#', { qos: 0 });
      const delivered = new Promise((resolve) => client.once('message', resolve));
      let answered = false;
      const invocation = call(
        short.instance,
        'POST',
        `/workspaces/${short.workspaceId}/devices/slow-answerer/methods/wait?timeoutSeconds=30`,
        { token: short.apiToken, json: {} },
      ).finally(() => (answered = true));
      await delivered;
      // The connection deadlines (600 ms) run on real time: the request waits on real time past them...
      await sleep(700);
      // ...and its method's timeout on the emulator's clock: 1 ms short of it, still unanswered and not cut...
      await clock.advance(29_999);
      await expectServing(short);
      expect(answered).toBe(false);
      // ...and at 30 s it is answered 504 on the same connection.
      await clock.advance(1);
      expect((await within(invocation, 2000, 'the 504 answer')).status).toBe(504);
    } finally {
      await client.endAsync(true);
    }
    await expectServing(short);
  });
});

describe('too many connections', () => {
  let capped: TestEmulator;
  beforeAll(async () => {
    capped = await startTestEmulator({ maxConnections: 5 });
  });
  afterAll(() => capped.close());

  it('closes connections beyond maxConnections at once, and accepts again when some close', async () => {
    const held = await Promise.all(Array.from({ length: 5 }, () => RawConnection.open(capped.port)));
    try {
      await sleep(100);
      const extra = await RawConnection.open(capped.port);
      expect(await extra.waitForClose(1000)).toBe(true);
      extra.destroy();
      for (const connection of held) expect(await connection.waitForClose(50)).toBe(false);
    } finally {
      for (const connection of held) connection.destroy();
    }
    // Served again once the emulator has seen the closes (on its own time: waited for, bounded).
    await waitFor(() =>
      call(capped.instance, 'GET', '/favicon.ico').then(
        (result) => result.status === 204,
        () => false,
      ),
    );
  });
});

describe('blob uploads', () => {
  let clockOffset = 0;
  let timed: TestEmulator;
  let uploader: ProvisionedDevice;
  beforeAll(async () => {
    timed = await startTestEmulator({ now: () => Date.now() + clockOffset });
    uploader = await provisionDevice(timed, 'uploader');
  });
  afterAll(() => timed.close());

  async function startUpload(name: string) {
    const result = await call(
      timed.instance,
      'POST',
      `/devices/${encodeURIComponent(uploader.hubDeviceId)}/files?api-version=2020-03-13`,
      { authorization: uploader.sasToken, json: { blobName: name } },
    );
    expect(result.status).toBe(200);
    const { containerName, blobName, sasToken } = result.body;
    const path = `/${containerName}/${blobName.split('/').map(encodeURIComponent).join('/')}${sasToken}`;
    return (query = '', body: Buffer | string = '', headers: Record<string, string> = {}) =>
      call(timed.instance, 'PUT', `${path}${query}`, { body, headers });
  }
  const blockId = (n: number) => encodeURIComponent(Buffer.from(`block-${n}`).toString('base64'));
  const blockList = (ids: string[]) =>
    `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;

  it('counts staged blocks against the 64 MiB blob cap (413 beyond it)', async () => {
    const put = await startUpload('staged.bin');
    const block = Buffer.alloc(22 * 1024 * 1024, 1);
    expect((await put(`&comp=block&blockid=${blockId(1)}`, block)).status).toBe(201);
    expect((await put(`&comp=block&blockid=${blockId(2)}`, block)).status).toBe(201);
    const third = await put(`&comp=block&blockid=${blockId(3)}`, block);
    expect(third).toMatchObject({ status: 413, body: { title: 'Payload Too Large' } });
    // Staging a block again replaces it: that still fits.
    expect((await put(`&comp=block&blockid=${blockId(2)}`, block)).status).toBe(201);
  });

  it('refuses a block list that repeats blocks beyond 64 MiB', async () => {
    const put = await startUpload('repeated.bin');
    expect((await put(`&comp=block&blockid=${blockId(1)}`, Buffer.alloc(1024 * 1024, 2))).status).toBe(201);
    const id = Buffer.from('block-1').toString('base64');
    const commit = await put('&comp=blocklist', blockList(Array.from({ length: 70 }, () => id)));
    expect(commit).toMatchObject({ status: 413, body: { title: 'Payload Too Large' } });
  });

  it('refuses a block list of more than 50,000 blocks', async () => {
    const put = await startUpload('many.bin');
    const commit = await put('&comp=blocklist', blockList(Array.from({ length: 50_001 }, () => 'AA==')));
    expect(commit).toMatchObject({ status: 409, body: { title: 'Block count exceeds limit' } });
  });

  it('refuses a PUT once the blob SAS token has expired (403)', async () => {
    const put = await startUpload('late.bin');
    clockOffset = 2 * 3600_000;
    try {
      const late = await put('', 'too late', { 'x-ms-blob-type': 'BlockBlob' });
      expect(late).toMatchObject({ status: 403, body: { detail: 'the SAS token has expired' } });
    } finally {
      clockOffset = 0;
    }
    expect((await put('', 'in time', { 'x-ms-blob-type': 'BlockBlob' })).status).toBe(201);
  });
});
