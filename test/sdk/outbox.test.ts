/**
 * The outbox and its delivery, end to end: a real DeviceClient (Node platform, SQLite) against a real emulator whose
 * state persists in a data directory, so that the emulator can be stopped and restarted on the same port to
 * simulate a broker outage. Every assertion is about what the emulator stored.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../src/client.js';
import { isSpotflowError } from '../../src/errors.js';
import type { StartOptions } from '../../src/options.js';
import type { UploadProgress } from '../../src/outbox/upload.js';
import { startClient, tempDir } from '../helpers/client.js';
import { StillClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

interface Stored {
  sequence: number;
  mid: string;
  streamGroup: string | null;
  stream: string | null;
  batchId: string | null;
  batchSliceId: string | null;
  messageId: string | null;
  chunkId: string | null;
  properties: Record<string, string>;
  payloadBase64: string;
  duplicate: boolean;
}

const dirs = tempDir('spotflow-outbox-');
const dataDir = dirs.file('emulator');
let emulator: TestEmulator;
let port = 0;
let down = false;
const clients: DeviceClient[] = [];

function startPersistentEmulator(onPort: number): Promise<TestEmulator> {
  return startTestEmulator({ memory: false, dataDir, port: onPort, settings: { autoApprove: true } });
}

/** The broker outage: the emulator goes away entirely (listener and all), its state stays on disk. */
async function stopEmulator(): Promise<void> {
  port = emulator.port;
  down = true;
  await emulator.close();
}

async function restartEmulator(): Promise<void> {
  emulator = await startPersistentEmulator(port);
  down = false;
}

beforeAll(async () => {
  emulator = await startPersistentEmulator(0);
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  if (down) await restartEmulator();
});
afterAll(async () => {
  await emulator?.close();
  dirs.cleanup();
});

/** A started client (closed after the test), provisioned and connected. */
async function online(
  deviceId: string,
  options: Partial<StartOptions> & { clock?: StillClock } = {},
): Promise<DeviceClient> {
  const client = await startClient(emulator, { database: dirs.file(`${deviceId}.db`), deviceId, ...options });
  clients.push(client);
  await waitFor(() => client.connected);
  return client;
}

/** A provisioned client whose emulator is then stopped: everything it enqueues waits in the outbox. */
async function offline(
  deviceId: string,
  options: Partial<StartOptions> & { clock?: StillClock } = {},
): Promise<DeviceClient> {
  const client = await online(deviceId, options);
  await stopEmulator();
  await waitFor(() => !client.connected);
  return client;
}

async function stored(deviceId: string): Promise<Stored[]> {
  return (await emulator.api.allMessages(deviceId)) as Stored[];
}

/** Waits until the emulator holds a first delivery of each of `ids`; returns everything it stored. */
async function arrived(deviceId: string, ids: readonly string[], timeoutMs = 10_000): Promise<Stored[]> {
  const wanted = new Set(ids);
  return waitFor(async () => {
    const items = await stored(deviceId);
    const have = new Set(items.filter((m) => !m.duplicate).map((m) => m.mid));
    return [...wanted].every((id) => have.has(id)) ? items : undefined;
  }, timeoutMs);
}

/**
 * At-least-once, in order: the first deliveries are exactly `ids` in enqueue order, each once; anything else the
 * emulator holds is a resend of one of them, flagged as a duplicate.
 */
function expectDeliveredInOrder(items: readonly Stored[], ids: readonly string[]): void {
  const first = items.filter((m) => !m.duplicate).map((m) => m.mid);
  expect(first).toEqual(ids);
  const known = new Set(ids);
  for (const duplicate of items.filter((m) => m.duplicate)) expect(known.has(duplicate.mid)).toBe(true);
}

function payloadOf(message: Stored): Buffer {
  return Buffer.from(message.payloadBase64, 'base64');
}

/** ~2 MB of JSON lines: Brotli shrinks it to a few hundred bytes at any quality. */
function compressibleText(bytes: number): Buffer {
  const line = '{"sensor":"pump-7","temperature":21.5,"pressure":1013}\n';
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}

async function enqueueMany(client: DeviceClient, count: number, stream: string): Promise<string[]> {
  // Concurrent calls share transactions (group commit); their rows keep the order of the calls.
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => client.enqueueMessage({ i }, { stream })),
  );
  return results.map((r) => r.id);
}

describe('delivery across outages', () => {
  it('accepts 200 messages while the emulator is down and delivers them all, in order, once it is back', async () => {
    const client = await offline('outage-200');
    const sent: string[] = [];
    client.on('messageSent', ({ id }) => sent.push(id));
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      // Each call resolves while the broker is unreachable: durable locally is all it waits for.
      ids.push((await client.enqueueMessage({ i }, { stream: 'offline' })).id);
    }
    expect(new Set(ids).size).toBe(200);
    expect(await client.pendingMessagesCount()).toBe(200);
    expect(sent).toEqual([]);

    await restartEmulator();
    const items = await arrived('outage-200', ids);
    expectDeliveredInOrder(items, ids);
    expect(items.filter((m) => !m.duplicate).map((m) => JSON.parse(payloadOf(m).toString()).i)).toEqual(
      ids.map((_, i) => i),
    );
    await waitFor(() => sent.length >= 200);
    // One messageSent per message, with the id enqueueMessage returned, in PUBACK (= enqueue) order.
    expect(sent).toEqual(ids);
    await client.waitEnqueuedMessagesSent();
    expect(await client.pendingMessagesCount()).toBe(0);
  });

  it('delivers all of 2,000 messages when the connection is dropped twice mid-stream', async () => {
    const deviceId = 'dropped-2000';
    const client = await online(deviceId);
    let disconnects = 0;
    client.on('disconnected', () => disconnects++);
    const drops: Promise<{ status: number; sentBefore: number }>[] = [];
    let sentCount = 0;
    client.on('messageSent', () => {
      sentCount++;
      // Fault injection by the emulator: it closes the device's MQTT connection, as a broker would.
      if (sentCount === 250 || sentCount === 1130) {
        drops.push(
          emulator.api
            .request('DELETE', `/devices/${deviceId}/connection`)
            .then((r) => ({ status: r.status, sentBefore: sentCount })),
        );
      }
    });
    const ids = await enqueueMany(client, 2000, 'dropped');

    await client.waitEnqueuedMessagesSent();
    const done = await Promise.all(drops);
    expect(done.map((d) => d.status)).toEqual([204, 204]);
    // Both drops cut the stream: messages were still to go when the connection closed.
    for (const drop of done) expect(drop.sentBefore).toBeLessThan(2000);
    expect(disconnects).toBeGreaterThanOrEqual(2);
    expect(sentCount).toBe(2000);
    const items = await arrived(deviceId, ids);
    expectDeliveredInOrder(items, ids);
    expect(new Set(items.map((m) => m.mid))).toEqual(new Set(ids));
  });

  it('keeps FIFO order for first deliveries when the broker goes away mid-stream', async () => {
    const deviceId = 'fifo-outage';
    // A small in-flight window, so that the stream is still going when the broker stops.
    const client = await online(deviceId, { maxInFlight: 8 });
    const stoppedMidStream = new Promise<void>((resolve) => {
      let count = 0;
      const off = client.on('messageSent', () => {
        if (++count === 150) {
          off();
          resolve(stopEmulator());
        }
      });
    });
    const ids: string[] = [];
    for (let round = 0; round < 8; round++) ids.push(...(await enqueueMany(client, 100, 'fifo')));
    await stoppedMidStream;
    await waitFor(() => !client.connected);
    const pending = await client.pendingMessagesCount();
    // The outage really cut the stream short.
    expect(pending).toBeGreaterThan(0);
    ids.push(...(await enqueueMany(client, 100, 'fifo')));

    await restartEmulator();
    await client.waitEnqueuedMessagesSent();
    expectDeliveredInOrder(await arrived(deviceId, ids), ids);
  });
});

describe('sending while the application enqueues', () => {
  it('delivers during a tight loop of awaited enqueues (an enqueue yields to network I/O)', async () => {
    const client = await online('tight-loop');
    let sent = 0;
    client.on('messageSent', () => sent++);
    // A producer that does nothing but enqueue, as a sensor loop might: the SDK's own I/O must still get turns.
    let enqueued = 0;
    while (sent === 0 && enqueued < 3000) {
      await client.enqueueMessage({ n: enqueued }, { stream: 'busy' });
      enqueued++;
    }
    expect(sent).toBeGreaterThan(0);
    expect(enqueued).toBeLessThan(3000);
  });
});

describe('message properties', () => {
  it('sends batches, slices, chunks and their completions with the right properties', async () => {
    const deviceId = 'batcher';
    const client = await online(deviceId);
    const where = { streamGroup: 'plant', stream: 'lines' };
    const ids: string[] = [];
    const push = async (result: Promise<{ id: string }>) => ids.push((await result).id);
    await push(client.enqueueMessage('s1-a', { ...where, batchId: 'b1', batchSliceId: 's1' }));
    await push(client.enqueueMessage('s1-b', { ...where, batchId: 'b1', batchSliceId: 's1' }));
    await push(
      client.enqueueMessage('m1-c1', {
        ...where,
        batchId: 'b1',
        batchSliceId: 's2',
        messageId: 'm1',
        chunkId: 'c1',
      }),
    );
    await push(
      client.enqueueMessage('m1-c2', {
        ...where,
        batchId: 'b1',
        batchSliceId: 's2',
        messageId: 'm1',
        chunkId: 'c2',
      }),
    );
    await push(client.enqueueMessageCompletion({ ...where, batchId: 'b1', messageId: 'm1' }));
    await push(client.enqueueBatchCompletion({ ...where, batchId: 'b1' }));
    await push(client.enqueueMessage('open', { ...where, batchId: 'b2' }));
    await client.waitEnqueuedMessagesSent();

    const items = await arrived(deviceId, ids);
    expectDeliveredInOrder(items, ids);
    const byId = new Map(items.map((m) => [m.mid, m]));
    const at = (i: number) => byId.get(ids[i]!)!;
    expect(at(0)).toMatchObject({
      ...where,
      batchId: 'b1',
      batchSliceId: 's1',
      messageId: null,
      chunkId: null,
    });
    expect(payloadOf(at(1)).toString()).toBe('s1-b');
    expect(at(3)).toMatchObject({ batchId: 'b1', batchSliceId: 's2', messageId: 'm1', chunkId: 'c2' });
    expect(at(3).properties).toMatchObject({
      'stream-group-name': 'plant',
      'stream-name': 'lines',
      'batch-id': 'b1',
      'batch-slice-id': 's2',
      'message-id': 'm1',
      'chunk-id': 'c2',
      '$.mid': ids[3],
    });
    for (const key of ['complete-batch', 'complete-message', 'ignore-payload', 'content-encoding']) {
      expect(at(3).properties).not.toHaveProperty(key);
    }
    // enqueueMessageCompletion: closes m1, carries no payload, does not close the batch.
    expect(at(4).properties).toMatchObject({
      'batch-id': 'b1',
      'message-id': 'm1',
      'complete-message': 'true',
      'ignore-payload': 'true',
    });
    expect(at(4).properties).not.toHaveProperty('complete-batch');
    expect(at(4).properties).not.toHaveProperty('chunk-id');
    expect(payloadOf(at(4)).length).toBe(0);
    // enqueueBatchCompletion: closes b1 alone.
    expect(at(5).properties).toMatchObject({
      'batch-id': 'b1',
      'complete-batch': 'true',
      'ignore-payload': 'true',
    });
    expect(at(5).properties).not.toHaveProperty('complete-message');
    expect(at(5).properties).not.toHaveProperty('message-id');

    const batches = await emulator.api.request('GET', `/devices/${deviceId}/batches`);
    expect(batches.status).toBe(200);
    expect(batches.body).toHaveLength(2);
    // Completion markers carry no data: b1 counts its four data messages.
    expect(batches.body[0]).toMatchObject({ ...where, batchId: 'b1', messageCount: 4 });
    expect(batches.body[0].completedAt).toEqual(expect.any(String));
    expect(batches.body[1]).toMatchObject({ ...where, batchId: 'b2', messageCount: 1, completedAt: null });
  });
});

describe('compression', () => {
  for (const level of ['fastest', 'smallest'] as const) {
    it(`'${level}' compresses compressible data: content-encoding=br, decoded payload equal`, async () => {
      const deviceId = `compress-${level}`;
      const client = await online(deviceId);
      const original = compressibleText(100_000);
      const { id } = await client.sendMessage(original, { compression: level });
      const [message] = await arrived(deviceId, [id]);
      expect(message!.properties['content-encoding']).toBe('br');
      expect(message!.properties).not.toHaveProperty('x-emulator-decode-error');
      expect(payloadOf(message!).equals(original)).toBe(true);
    });
  }

  it('sends incompressible data uncompressed (Brotli would not make it smaller), and none means none', async () => {
    const deviceId = 'compress-random';
    const client = await online(deviceId);
    const random = randomBytes(20_000);
    const text = compressibleText(20_000);
    const ids = [
      (await client.enqueueMessage(random, { compression: 'fastest' })).id,
      (await client.enqueueMessage(random, { compression: 'smallest' })).id,
      (await client.enqueueMessage(text, { compression: 'none' })).id,
      (await client.enqueueMessage(text)).id,
    ];
    await client.waitEnqueuedMessagesSent();
    const items = await arrived(deviceId, ids);
    expectDeliveredInOrder(items, ids);
    for (const [i, message] of items.entries()) {
      expect(message.properties).not.toHaveProperty('content-encoding');
      expect(payloadOf(message).equals(i < 2 ? random : text)).toBe(true);
    }
  });
});

describe('file upload', () => {
  it('uploads a 3 MB payload, reports progress from 0 to the total in order, and the emulator resolves it', async () => {
    const deviceId = 'uploader';
    const client = await online(deviceId);
    const original = randomBytes(3_000_000);
    const progress: UploadProgress[] = [];
    client.on('uploadProgress', (p) => progress.push(p));
    const { id } = await client.sendMessage(original, { stream: 'files', compression: 'fastest' });

    const [message] = await arrived(deviceId, [id]);
    expect(message!.properties['has-externalized-payload']).toBe('true');
    // Random bytes do not compress, so the upload holds them as they are.
    expect(message!.properties).not.toHaveProperty('content-encoding');
    expect(message!.properties).not.toHaveProperty('x-emulator-decode-error');
    expect(payloadOf(message!).equals(original)).toBe(true);

    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((p) => p.mid === id && p.totalBytes === original.length)).toBe(true);
    expect(progress[0]!.sentBytes).toBe(0);
    expect(progress.at(-1)!.sentBytes).toBe(original.length);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.sentBytes).toBeGreaterThan(progress[i - 1]!.sentBytes);
    }
  });

  it('sends a 2 MB payload inline when compression brings it under 250,000 bytes', async () => {
    const deviceId = 'inline-2mb';
    const client = await online(deviceId);
    const original = compressibleText(2_000_000);
    let uploads = 0;
    client.on('uploadProgress', () => uploads++);
    const { id } = await client.sendMessage(original, { compression: 'smallest' });
    const [message] = await arrived(deviceId, [id]);
    expect(message!.properties['content-encoding']).toBe('br');
    expect(message!.properties).not.toHaveProperty('has-externalized-payload');
    expect(payloadOf(message!).equals(original)).toBe(true);
    expect(uploads).toBe(0);
  });

  it('uploads a payload that is still over 250,000 bytes after compression, with content-encoding=br', async () => {
    const deviceId = 'upload-br';
    const client = await online(deviceId);
    // 300 kB of noise in 2 MB of zeros: Brotli keeps about 300 kB.
    const original = Buffer.concat([randomBytes(300_000), Buffer.alloc(1_700_000)]);
    const progress: UploadProgress[] = [];
    client.on('uploadProgress', (p) => progress.push(p));
    const { id } = await client.sendMessage(original, { compression: 'fastest' });
    const [message] = await arrived(deviceId, [id]);
    expect(message!.properties).toMatchObject({
      'has-externalized-payload': 'true',
      'content-encoding': 'br',
    });
    expect(message!.properties).not.toHaveProperty('x-emulator-decode-error');
    expect(payloadOf(message!).equals(original)).toBe(true);
    // What was uploaded is the compressed form: smaller than the original, above the inline limit.
    const total = progress.at(-1)!.totalBytes;
    expect(total).toBeGreaterThan(250_000);
    expect(total).toBeLessThan(original.length);
  });

  it('draws the line at 250,000 bytes: exactly that is inline, one byte more is uploaded', async () => {
    const deviceId = 'upload-threshold';
    const client = await online(deviceId);
    const atLimit = randomBytes(250_000);
    const overLimit = randomBytes(250_001);
    const ids = [(await client.enqueueMessage(atLimit)).id, (await client.enqueueMessage(overLimit)).id];
    await client.waitEnqueuedMessagesSent();
    const [inline, uploaded] = await arrived(deviceId, ids);
    expect(inline!.properties).not.toHaveProperty('has-externalized-payload');
    expect(payloadOf(inline!).equals(atLimit)).toBe(true);
    expect(uploaded!.properties['has-externalized-payload']).toBe('true');
    expect(payloadOf(uploaded!).equals(overLimit)).toBe(true);
  });
});

describe('sendMessage and waits', () => {
  it('sendMessage resolves only once the hub has the message', async () => {
    const deviceId = 'sender';
    const client = await online(deviceId);
    for (let i = 0; i < 5; i++) {
      const { id } = await client.sendMessage({ i }, { stream: 'acked' });
      // No waiting here: at the moment sendMessage resolved, the emulator had stored it.
      const items = await stored(deviceId);
      expect(items.map((m) => m.mid)).toContain(id);
    }
  });

  it('sendMessage aborted while offline rejects ABORTED, but the message stays queued and goes later', async () => {
    const deviceId = 'abort-send';
    const client = await offline(deviceId);
    const controller = new AbortController();
    const sending = client.sendMessage('still wanted', { signal: controller.signal });
    // Stored before the abort: the message is durable whatever happens to the wait.
    await waitFor(async () => (await client.pendingMessagesCount()) === 1);
    controller.abort();
    const error = await sending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSpotflowError(error, 'ABORTED')).toBe(true);
    expect(await client.pendingMessagesCount()).toBe(1);

    const sent = new Promise<string>((resolve) => client.once('messageSent', ({ id }) => resolve(id)));
    await restartEmulator();
    const id = await sent;
    const [message] = await arrived(deviceId, [id]);
    expect(payloadOf(message!).toString()).toBe('still wanted');
  });

  it('waitEnqueuedMessagesSent resolves only after everything enqueued before it was delivered', async () => {
    const deviceId = 'waiter';
    const client = await offline(deviceId);
    const ids = await enqueueMany(client, 50, 'wait');
    let settled = false;
    const waiting = client.waitEnqueuedMessagesSent().finally(() => {
      settled = true;
    });
    // Several database round trips later, still offline: still waiting.
    for (let i = 0; i < 5; i++) expect(await client.pendingMessagesCount()).toBe(50);
    expect(settled).toBe(false);

    await restartEmulator();
    await waiting;
    // No polling: when the wait resolved, the emulator had them all.
    const items = await stored(deviceId);
    expectDeliveredInOrder(items, ids);
    expect(await client.pendingMessagesCount()).toBe(0);
  });

  it('waitEnqueuedMessagesSent also covers an enqueue that was called but not yet awaited', async () => {
    const deviceId = 'waiter-unawaited';
    const client = await online(deviceId);
    const first = client.enqueueMessage('fire and forget');
    await client.waitEnqueuedMessagesSent();
    const { id } = await first;
    const items = await stored(deviceId);
    expect(items.map((m) => m.mid)).toEqual([id]);
  });

  it('waitEnqueuedMessagesSent rejects ABORTED on its signal, and nothing is lost', async () => {
    const deviceId = 'waiter-abort';
    const client = await offline(deviceId);
    const ids = await enqueueMany(client, 10, 'wait');
    const controller = new AbortController();
    const waiting = client.waitEnqueuedMessagesSent({ signal: controller.signal });
    controller.abort();
    const error = await waiting.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSpotflowError(error, 'ABORTED')).toBe(true);
    // An already aborted signal rejects as well.
    await expect(client.waitEnqueuedMessagesSent({ signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    expect(await client.pendingMessagesCount()).toBe(10);

    await restartEmulator();
    await client.waitEnqueuedMessagesSent();
    expectDeliveredInOrder(await arrived(deviceId, ids), ids);
  });
});

describe('outbox limits', () => {
  it("policy 'reject': the 6th message of 5 allowed fails OUTBOX_FULL and is not stored", async () => {
    const deviceId = 'limit-reject';
    const client = await offline(deviceId, { outboxLimits: { maxMessages: 5, policy: 'reject' } });
    const ids = await enqueueMany(client, 5, 'limited');
    const error = await client.enqueueMessage('sixth', { stream: 'limited' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSpotflowError(error, 'OUTBOX_FULL')).toBe(true);
    expect(await client.pendingMessagesCount()).toBe(5);

    await restartEmulator();
    await client.waitEnqueuedMessagesSent();
    const items = await arrived(deviceId, ids);
    expectDeliveredInOrder(items, ids);
    expect(items.some((m) => payloadOf(m).toString() === 'sixth')).toBe(false);
    // Room again once the outbox drained.
    const { id } = await client.sendMessage('after', { stream: 'limited' });
    expect((await arrived(deviceId, [id])).length).toBe(6);
  });

  it("policy 'dropOldest': the oldest go, each drop is reported by outboxFull, the newest 5 arrive", async () => {
    const deviceId = 'limit-drop';
    const client = await offline(deviceId, { outboxLimits: { maxMessages: 5, policy: 'dropOldest' } });
    const full: unknown[] = [];
    client.on('outboxFull', (dropped) => full.push(dropped));
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await client.enqueueMessage({ i }, { stream: 'limited' })).id);
    expect(full).toEqual([
      { messages: 1, reason: 'maxMessages' },
      { messages: 1, reason: 'maxMessages' },
      { messages: 1, reason: 'maxMessages' },
    ]);
    expect(await client.pendingMessagesCount()).toBe(5);

    await restartEmulator();
    await client.waitEnqueuedMessagesSent();
    const items = await stored(deviceId);
    expectDeliveredInOrder(items, ids.slice(3));
    expect(items.map((m) => JSON.parse(payloadOf(m).toString()).i)).toEqual([3, 4, 5, 6, 7]);
  });

  it("policy 'dropOldest' under 20 concurrent enqueues keeps exactly the newest 5", async () => {
    const deviceId = 'limit-drop-burst';
    const client = await offline(deviceId, { outboxLimits: { maxMessages: 5, policy: 'dropOldest' } });
    let droppedTotal = 0;
    client.on('outboxFull', ({ messages }) => {
      droppedTotal += messages;
    });
    const ids = await enqueueMany(client, 20, 'limited');
    expect(await client.pendingMessagesCount()).toBe(5);
    expect(droppedTotal).toBe(15);

    await restartEmulator();
    await client.waitEnqueuedMessagesSent();
    const items = await stored(deviceId);
    expectDeliveredInOrder(items, ids.slice(15));
  });

  it("policy 'dropOldest' with maxAgeMs drops only the expired message when a burst arrives", async () => {
    const deviceId = 'limit-age-burst';
    // The limit under test is an age: the client's clock moves only when the test says, so the first message is
    // 350 ms old and the burst 0 ms old however long the machine takes to write them.
    const clock = new StillClock();
    const client = await offline(deviceId, { outboxLimits: { maxAgeMs: 300, policy: 'dropOldest' }, clock });
    await client.enqueueMessage('expired', { stream: 'aged' });
    await clock.advance(250);
    const kept = (await client.enqueueMessage('younger', { stream: 'aged' })).id;
    expect(await client.pendingMessagesCount()).toBe(2);
    await clock.advance(100);
    const ids = [kept, ...(await enqueueMany(client, 5, 'aged'))];
    expect(await client.pendingMessagesCount()).toBe(6);

    await restartEmulator();
    await client.waitEnqueuedMessagesSent();
    expectDeliveredInOrder(await stored(deviceId), ids);
  });
});
