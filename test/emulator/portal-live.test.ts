// The management API's live event stream (GET /workspaces/{ws}/events): what the portal shows without polling.
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBus, replayedEvents } from '../../emulator/live/event-bus.js';
import { type SseEvent, SseParser } from '../../emulator/portal/src/sse.js';
import { FakeClock } from '../helpers/clock.js';
import { connectDevice, nextMessage } from '../helpers/device-mqtt.js';
import {
  call,
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { type LiveReader, openLive, sendTelemetry, uploadFile } from './portal-support.js';

let emulator: TestEmulator;
const open: LiveReader[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterEach(async () => {
  for (const reader of open.splice(0)) reader.close();
  await Promise.all(clients.splice(0).map((client) => client.endAsync().catch(() => {})));
});
afterAll(() => emulator.close());

async function live(options: Parameters<typeof openLive>[1] = {}, target = emulator): Promise<LiveReader> {
  const reader = await openLive(target, options);
  open.push(reader);
  return reader;
}

async function device(id: string): Promise<{ device: ProvisionedDevice; client: MqttClient }> {
  const provisioned = await provisionDevice(emulator, id);
  const client = await connectDevice(emulator, provisioned);
  clients.push(client);
  return { device: provisioned, client };
}

const manage = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call(`http://localhost:${emulator.port}`, method, `/workspaces/${emulator.workspaceId}${path}`, {
    token: emulator.apiToken,
    ...options,
  });

describe('GET /workspaces/{ws}/events: authentication', () => {
  it('refuses a stream without a token, with a wrong one, and with the token in the query', async () => {
    const base = `http://localhost:${emulator.port}/workspaces/${emulator.workspaceId}/events`;
    expect((await fetch(base)).status).toBe(401);
    const wrong = await fetch(base, { headers: { authorization: 'Bearer api-wrong' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ title: 'Unauthorized' });
    // The token never rides in a URL: neither as a query parameter nor as a "ticket".
    expect((await fetch(`${base}?apiToken=${emulator.apiToken}`)).status).toBe(401);
    expect((await fetch(`${base}?ticket=${emulator.apiToken}`)).status).toBe(401);
    expect((await fetch(base, { headers: { authorization: `Basic ${emulator.apiToken}` } })).status).toBe(
      401,
    );
  });

  it('answers 404 for another workspace, even with the right token', async () => {
    const reader = await live({ workspaceId: 'another-workspace' });
    expect(reader.status).toBe(404);
  });

  it('opens with text/event-stream and a first ready event', async () => {
    const response = await fetch(
      `http://localhost:${emulator.port}/workspaces/${emulator.workspaceId}/events`,
      {
        headers: { authorization: `Bearer ${emulator.apiToken}` },
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe('event: ready\ndata: {"resumed":false}\n\n');
    await reader.cancel();
  });
});

describe('live events', () => {
  it('follow a device from provisioning to telemetry, twin, C2D, files and disconnection', async () => {
    const reader = await live();
    await reader.next('ready');
    const { device: pump, client } = await device('live-pump');
    const created = await reader.next('operation.created', (op) => op.deviceId === 'live-pump');
    expect(created).toMatchObject({
      status: 'pending',
      verificationCode: expect.stringMatching(/^\w{3}-\w{3}$/),
    });
    const approved = await reader.next('operation.approved', (op) => op.deviceId === 'live-pump');
    expect(approved.provisioningOperationId).toBe(created.provisioningOperationId);
    expect(await reader.next('device.registered', (d) => d.deviceId === 'live-pump')).toMatchObject({
      connected: false,
    });
    const connected = await reader.next('device.connected', (e) => e.device.deviceId === 'live-pump');
    expect(connected.device.connected).toBe(true);
    expect(connected.entry).toMatchObject({ event: 'connected', reason: 'MQTT over TCP' });

    await sendTelemetry(
      client,
      pump,
      { 'stream-name': 'telemetry', 'batch-id': 'b-1', '$.mid': 'm-1' },
      '{"t":1}',
    );
    const first = await reader.next('message.received', (m) => m.deviceId === 'live-pump');
    expect(first.message).toMatchObject({
      stream: 'telemetry',
      batchId: 'b-1',
      mid: 'm-1',
      payloadBase64: Buffer.from('{"t":1}').toString('base64'),
      payloadBytes: 7,
      payloadTruncated: false,
      duplicate: false,
    });
    expect(first.batch).toMatchObject({ batchId: 'b-1', messageCount: 1, completedAt: null });
    await sendTelemetry(
      client,
      pump,
      { 'stream-name': 'telemetry', 'batch-id': 'b-1', 'complete-batch': 'true' },
      '{"t":2}',
    );
    const second = await reader.next('message.received', (m) => m.deviceId === 'live-pump');
    expect(second.batch).toMatchObject({ batchId: 'b-1', messageCount: 2, completedAt: expect.any(String) });

    const big = Buffer.alloc(20_000, 'x');
    await sendTelemetry(client, pump, { 'stream-name': 'bulk' }, big);
    const cut = await reader.next('message.received', (m) => m.message.stream === 'bulk');
    expect(cut.message.payloadBytes).toBe(20_000);
    expect(cut.message.payloadTruncated).toBe(true);
    expect(Buffer.from(cut.message.payloadBase64, 'base64').length).toBe(8 * 1024);
    expect(cut.batch).toBeNull();

    expect((await manage('PATCH', '/devices/live-pump/twin/desired', { json: { interval: 5 } })).status).toBe(
      200,
    );
    expect(await reader.next('twin.changed', (t) => t.side === 'desired')).toEqual({
      deviceId: 'live-pump',
      side: 'desired',
      document: { interval: 5, $version: 2 },
    });
    await client.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=1', '{"interval":5}');
    expect(await reader.next('twin.changed', (t) => t.side === 'reported')).toEqual({
      deviceId: 'live-pump',
      side: 'reported',
      document: { interval: 5, $version: 2 },
    });

    await client.subscribeAsync(`devices/${pump.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
    const arrived = nextMessage(client, `devices/${pump.hubDeviceId}/messages/devicebound/`);
    await manage('POST', '/devices/live-pump/c2d-messages?command=blink', { body: 'hello' });
    const queued = await reader.next('c2d.queued');
    expect(queued).toMatchObject({
      deviceId: 'live-pump',
      message: { properties: { command: 'blink' }, payloadBase64: Buffer.from('hello').toString('base64') },
    });
    await arrived;
    const delivered = await reader.next('c2d.delivered');
    expect(delivered).toMatchObject({ deviceId: 'live-pump', mid: queued.message.mid });

    await uploadFile(emulator, pump, 'logs/today.txt', 'log line', false);
    expect(await reader.next('file.uploaded')).toMatchObject({
      deviceId: 'live-pump',
      file: { name: 'logs/today.txt', size: 8, notified: false, succeeded: null },
    });

    expect((await manage('DELETE', '/devices/live-pump/connection')).status).toBe(204);
    const dropped = await reader.next('device.disconnected', (e) => e.device.deviceId === 'live-pump');
    expect(dropped.device.connected).toBe(false);
    expect(dropped.entry).toMatchObject({
      event: 'disconnected',
      reason: 'dropped through the management API',
    });
  });

  it('announce a cancelled operation, and an operation that expires undecided', async () => {
    const reader = await live();
    await reader.next('ready');
    const init = (deviceId: string) =>
      call(`http://localhost:${emulator.port}`, 'POST', '/provisioning-operations/init', {
        token: emulator.provisioningToken,
        json: { deviceId },
      });
    const cancelled = (await init('live-cancel')).body.provisioningOperationId as string;
    await manage('PUT', '/provisioning-operations/cancel', { json: { provisioningOperationId: cancelled } });
    expect(await reader.next('operation.cancelled')).toMatchObject({
      provisioningOperationId: cancelled,
      status: 'cancelled',
    });

    // The expiry waits on the emulator's clock: an emulator of its own whose clock stands still until the test
    // moves it (the file's emulator keeps real time for the other tests). A lifetime far longer than the test may
    // take: only the emulator's clock can bring the expiry in time.
    const clock = new FakeClock(Date.now());
    const own = await startTestEmulator({ clock, settings: { provisioningOperationLifetimeSeconds: 600 } });
    try {
      const ownReader = await live({}, own);
      await ownReader.next('ready');
      const started = await call(`http://localhost:${own.port}`, 'POST', '/provisioning-operations/init', {
        token: own.provisioningToken,
        json: { deviceId: 'live-expire' },
      });
      const expiring = started.body.provisioningOperationId as string;
      const expiresAt = Date.parse(started.body.expirationTime as string);
      // Up to the last millisecond before its expiration time, the operation is pending and nothing is announced...
      await clock.advance(expiresAt - clock.now() - 1);
      const operation = await call(
        `http://localhost:${own.port}`,
        'GET',
        `/workspaces/${own.workspaceId}/provisioning-operations/${expiring}`,
        { token: own.apiToken },
      );
      expect(operation.body).toMatchObject({ provisioningOperationId: expiring, status: 'pending' });
      expect(ownReader.events.map((event) => event.type)).not.toContain('operation.expired');
      // ...and once it has passed, the stream hears of it without anyone asking.
      await clock.advance(11);
      const expired = await ownReader.next('operation.expired', undefined, 2000);
      expect(expired).toMatchObject({ provisioningOperationId: expiring, status: 'expired' });
    } finally {
      await own.close();
    }
  });

  it('resume after a drop with Last-Event-ID: the missed events first, then ready with resumed: true', async () => {
    const { device: panel, client } = await device('live-resume');
    const first = await live();
    await first.next('ready');
    await sendTelemetry(client, panel, { 'stream-name': 's' }, 'one');
    const one = await first.nextEvent('message.received');
    first.close();
    // Nobody listens while these two arrive.
    await sendTelemetry(client, panel, { 'stream-name': 's' }, 'two');
    await sendTelemetry(client, panel, { 'stream-name': 's' }, 'three');
    await manage('PATCH', '/devices/live-resume/twin/desired', { json: { mode: 'eco' } });

    const again = await live({ lastEventId: one.id! });
    // Telemetry arriving with no stream open is not kept (the hot path builds no event for nobody): the id is
    // then no longer resumable and the client reloads instead.
    expect(await again.next('ready')).toEqual({ resumed: false });

    const second = await live();
    await second.next('ready');
    await sendTelemetry(client, panel, { 'stream-name': 's' }, 'four');
    const four = await second.nextEvent('message.received');
    const third = await live();
    await third.next('ready');
    second.close();
    await manage('PATCH', '/devices/live-resume/twin/desired', { json: { mode: 'boost' } });
    await sendTelemetry(client, panel, { 'stream-name': 's' }, 'five');
    await third.next('message.received');
    const resumed = await live({ lastEventId: four.id! });
    const replayed = await resumed.next('twin.changed');
    expect(replayed.document).toMatchObject({ mode: 'boost' });
    const five = await resumed.next('message.received');
    expect(Buffer.from(five.message.payloadBase64, 'base64').toString()).toBe('five');
    await resumed.next('ready', (ready) => ready.resumed);
    expect(resumed.events.map((e) => e.type)).toEqual(['twin.changed', 'message.received', 'ready']);
  });

  it('do not resume from an unknown id', async () => {
    const reader = await live({ lastEventId: 'not-an-id' });
    expect(await reader.next('ready')).toMatchObject({ resumed: false });
  });

  it('close the streams when the emulator stops', async () => {
    const own = await startTestEmulator();
    const reader = await openLive(own);
    await reader.next('ready');
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(2000);
    reader.close();
  });
});

describe('EventBus', () => {
  it('replays what came after an id, and forgets beyond its window', () => {
    const bus = new EventBus();
    const ids: string[] = [];
    bus.subscribe((event) => ids.push(event.id));
    bus.emit('ready', { resumed: true });
    bus.emit('ready', { resumed: false });
    expect(bus.since(ids[0]!)?.map((event) => event.id)).toEqual([ids[1]]);
    expect(bus.since(ids[1]!)).toEqual([]);
    for (let i = 0; i < replayedEvents; i++) bus.emit('ready', { resumed: true });
    expect(bus.since(ids[0]!)).toBeUndefined();
    expect(bus.since(ids.at(-2)!)).toHaveLength(1);
  });

  it('skips building lazy events nobody listens to, and then cannot resume across them', () => {
    const bus = new EventBus();
    let built = 0;
    const seen: string[] = [];
    const stop = bus.subscribe((event) => seen.push(event.id));
    bus.emit('ready', { resumed: true });
    stop();
    bus.emitLazy('ready', () => {
      built++;
      return { resumed: true };
    });
    expect(built).toBe(0);
    expect(bus.since(seen[0]!)).toBeUndefined();
  });
});

describe('SseParser (the portal reads the stream with it)', () => {
  const parse = (chunks: string[]) => {
    const events: SseEvent[] = [];
    const parser = new SseParser((event) => events.push(event));
    for (const chunk of chunks) parser.push(chunk);
    return events;
  };
  const text = 'id: 1\nevent: a\ndata: {"x":1}\n\n: heartbeat\n\ndata: one\ndata: two\n\n';

  it('parses events, ids, multi-line data and skips comments', () => {
    expect(parse([text])).toEqual([
      { id: '1', type: 'a', data: '{"x":1}' },
      { type: 'message', data: 'one\ntwo' },
    ]);
  });

  it('gives the same events whatever the chunking and line endings', () => {
    const expected = parse([text]);
    for (let size = 1; size < 8; size++) {
      const chunks = text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
      expect(parse(chunks)).toEqual(expected);
    }
    const crlf = text.replaceAll('\n', '\r\n');
    expect(parse(crlf.split(''))).toEqual(expected);
    expect(parse([text.replaceAll('\n', '\r')])).toEqual(expected);
  });

  it('keeps an unfinished event until its blank line', () => {
    expect(parse(['event: a\ndata: 1\n'])).toEqual([]);
  });
});
