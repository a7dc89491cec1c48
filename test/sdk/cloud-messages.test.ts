import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../src/client.js';
import type { CloudMessage, MethodHandler } from '../../src/cloud-messages/cloud-messages.js';
import type { SpotflowError } from '../../src/errors.js';
import { startClient } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

const bed = emulatorPerFile('spotflow-c2d-');
const { dirs } = bed;

/** Sends a cloud-to-device message through the management API; returns the `$.mid` the emulator gave it. */
async function sendCloudMessage(deviceId: string, body: Uint8Array | string, query = '') {
  const result = await bed.emulator.api.request(
    'POST',
    `/devices/${deviceId}/c2d-messages${query}`,
    undefined,
    {
      body: typeof body === 'string' ? body : Buffer.from(body),
    },
  );
  expect(result.status).toBe(202);
  return result.body.mid as string;
}

/** Provisions the device, lets it subscribe to C2D once, and closes it: the hub now queues messages for it. */
async function provisionListeningDevice(database: string, deviceId: string): Promise<void> {
  const first = await startClient(bed.emulator, { database, deviceId });
  try {
    first.onCloudMessage(() => {});
    await waitFor(() => first.connected);
  } finally {
    await first.close();
  }
}

/** Invokes a direct method through the management API; returns the emulator's `{ status, payload }`. */
async function invoke(deviceId: string, name: string, payload?: unknown) {
  const result = await bed.emulator.api.request(
    'POST',
    `/devices/${deviceId}/methods/${encodeURIComponent(name)}?timeoutSeconds=5`,
    payload,
  );
  expect(result.status, JSON.stringify(result.body)).toBe(200);
  return result.body as { status: number; payload: unknown };
}

function errorsOf(client: DeviceClient): SpotflowError[] {
  const errors: SpotflowError[] = [];
  client.on('error', (error) => errors.push(error));
  return errors;
}

describe('cloud-to-device messages', () => {
  it('reach the handler with payload bytes, properties, message id and text', async () => {
    const client = await startClient(bed.emulator, { database: dirs.file('c1.db'), deviceId: 'c2d-live' });
    const received: CloudMessage[] = [];
    try {
      client.onCloudMessage((message) => {
        received.push(message);
      });
      await waitFor(() => client.connected);
      const binary = new Uint8Array([0, 1, 2, 253, 254, 255]);
      const mid1 = await sendCloudMessage('c2d-live', binary, '?prop=value&other=two%20words');
      const mid2 = await sendCloudMessage('c2d-live', 'grüße, world', '?kind=text');
      await waitFor(() => received.length === 2);

      const [first, second] = received as [CloudMessage, CloudMessage];
      expect([...first.payload]).toEqual([...binary]);
      expect(first.properties).toMatchObject({ prop: 'value', other: 'two words', '$.mid': mid1 });
      expect(first.messageId).toBe(mid1);
      expect(second.text()).toBe('grüße, world');
      expect(second.properties).toMatchObject({ kind: 'text', '$.mid': mid2 });
      expect(second.messageId).toBe(mid2);
    } finally {
      await client.close();
    }
  });

  it('messages queued while the client was closed arrive, in order, once it starts and registers a handler', async () => {
    const database = dirs.file('c2.db');
    const deviceId = 'c2d-queued';
    await provisionListeningDevice(database, deviceId);
    const mids = [
      await sendCloudMessage(deviceId, 'one', '?n=1'),
      await sendCloudMessage(deviceId, 'two', '?n=2'),
      await sendCloudMessage(deviceId, 'three', '?n=3'),
    ];

    const second = await startClient(bed.emulator, { database, deviceId });
    const received: CloudMessage[] = [];
    try {
      second.onCloudMessage((message) => {
        received.push(message);
      });
      await waitFor(() => received.length === 3);
      expect(received.map((message) => message.text())).toEqual(['one', 'two', 'three']);
      expect(received.map((message) => message.messageId)).toEqual(mids);
      expect(received.map((message) => message.properties.n)).toEqual(['1', '2', '3']);
    } finally {
      await second.close();
    }
  });

  it('messages sent after a restart but before the handler is registered are not lost, and come first', async () => {
    const database = dirs.file('c3.db');
    const deviceId = 'c2d-early';
    await provisionListeningDevice(database, deviceId);

    const second = await startClient(bed.emulator, { database, deviceId });
    const received: string[] = [];
    try {
      await waitFor(() => second.connected);
      // The emulator keeps the device's C2D subscription in its persistent MQTT session, so it delivers these
      // right away, before the application has registered a handler on this run.
      const early = [
        await sendCloudMessage(deviceId, 'early 1'),
        await sendCloudMessage(deviceId, 'early 2'),
      ];
      // The case: both were taken (acknowledged, so in the client's inbox) before there is a handler.
      await waitFor(
        async () =>
          (await bed.emulator.api.request('GET', `/devices/${deviceId}/c2d-messages`)).body.length === 0,
      );
      second.onCloudMessage((message) => {
        received.push(message.messageId ?? '');
      });
      const late = await sendCloudMessage(deviceId, 'late');
      await waitFor(() => received.length === 3, 3000);
      expect(received).toEqual([...early, late]);
    } finally {
      await second.close();
    }
  });

  it('a handler that throws: error event, the message is not redelivered, the client keeps working', async () => {
    const client = await startClient(bed.emulator, { database: dirs.file('c4.db'), deviceId: 'c2d-throws' });
    const errors = errorsOf(client);
    const calls: string[] = [];
    try {
      client.onCloudMessage(async (message) => {
        calls.push(message.text());
        if (message.text() === 'bad') throw new Error('handler bug');
        if (message.text() === 'bad later') {
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw new Error('async handler bug');
        }
      });
      await waitFor(() => client.connected);
      await sendCloudMessage('c2d-throws', 'bad');
      await sendCloudMessage('c2d-throws', 'bad later');
      await waitFor(() => errors.length === 2);
      expect(errors.map((error) => error.code)).toEqual(['INTERNAL', 'INTERNAL']);
      expect(errors.map((error) => (error.cause as Error).message)).toEqual([
        'handler bug',
        'async handler bug',
      ]);

      await sendCloudMessage('c2d-throws', 'good');
      await waitFor(() => calls.includes('good'));
      // The failed ones were taken (acknowledged), not redelivered again and again: the emulator delivers in order
      // and moves on only on an acknowledgement, so a redelivery would have come before 'good'.
      expect(calls).toEqual(['bad', 'bad later', 'good']);
      expect(errors).toHaveLength(2);
      expect(client.connected).toBe(true);

      // And the client as a whole still works.
      await client.sendMessage('after the bad handler');
      const { items } = await bed.emulator.api.messages('c2d-throws');
      expect(items).toHaveLength(1);
    } finally {
      await client.close();
    }
    // The emulator's queue is empty (both were acknowledged): a new run with a handler gets nothing.
    const again = await startClient(bed.emulator, { database: dirs.file('c4.db'), deviceId: 'c2d-throws' });
    const late: string[] = [];
    try {
      again.onCloudMessage((message) => {
        late.push(message.text());
      });
      await waitFor(() => again.connected);
      // Anything still queued would come before a message sent now.
      await sendCloudMessage('c2d-throws', 'fence');
      await waitFor(() => late.length > 0);
      expect(late).toEqual(['fence']);
    } finally {
      await again.close();
    }
  });

  it('a slow handler holds back neither telemetry nor methods (messages wait in the durable inbox)', async () => {
    const database = dirs.file('c-slow.db');
    const deviceId = 'c2d-slow';
    const client = await startClient(bed.emulator, { database, deviceId });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: string[] = [];
    try {
      client.onCloudMessage(async (message) => {
        await released;
        handled.push(message.text());
      });
      client.onMethod('ping', () => ({ status: 200, payload: 'pong' }));
      await waitFor(() => client.connected);
      await sendCloudMessage(deviceId, 'first');
      await sendCloudMessage(deviceId, 'second');
      // The handler is stuck on the first message, yet the connection keeps flowing both ways.
      await client.sendMessage('telemetry while a handler runs');
      expect(await invoke(deviceId, 'ping')).toEqual({ status: 200, payload: 'pong' });
      release();
      await waitFor(() => handled.length === 2);
      expect(handled).toEqual(['first', 'second']);
    } finally {
      release();
      await client.close();
    }
  });

  it('a message taken from the hub but not handled before close is handed over on the next start', async () => {
    const database = dirs.file('c-inbox.db');
    const deviceId = 'c2d-inbox';
    const first = await startClient(bed.emulator, { database, deviceId });
    let entered = false;
    try {
      first.onCloudMessage(async () => {
        entered = true;
        await new Promise(() => {}); // never finishes: the message stays in the inbox
      });
      await waitFor(() => first.connected);
      await sendCloudMessage(deviceId, 'kept across restarts');
      await waitFor(() => entered);
    } finally {
      await first.close(); // gives the stuck handler a moment, then closes anyway
    }
    const second = await startClient(bed.emulator, { database, deviceId });
    const received: string[] = [];
    try {
      second.onCloudMessage((message) => {
        received.push(message.text());
      });
      await waitFor(() => received.length === 1);
      expect(received).toEqual(['kept across restarts']);
    } finally {
      await second.close();
    }
  }, 20_000);

  it('onCloudMessage refuses a non-function', async () => {
    const client = await startClient(bed.emulator, { database: dirs.file('c5.db'), deviceId: 'c2d-args' });
    try {
      for (const bad of [undefined, null, 'handler', {}]) {
        expect(() => client.onCloudMessage(bad as never)).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
      }
    } finally {
      await client.close();
    }
  });
});

describe('direct methods', () => {
  let client: DeviceClient;
  let errors: SpotflowError[];
  const deviceId = 'methods';

  beforeAll(async () => {
    client = await startClient(bed.emulator, { database: dirs.file('m1.db'), deviceId });
    errors = errorsOf(client);
    await waitFor(() => client.connected);
  });
  afterAll(async () => {
    await client.close();
  });

  it('names with every allowed character round-trip', async () => {
    const name = 'ns:Reboot.v2-now_1';
    const off = client.onMethod(name, (_payload, request) => ({ status: 200, payload: request.name }));
    try {
      expect(await invoke(deviceId, name)).toEqual({ status: 200, payload: name });
    } finally {
      off();
    }
  });

  it('round trip: the handler gets the payload and its { status, payload } comes back', async () => {
    const calls: [unknown, { name: string }][] = [];
    const off = client.onMethod('reboot', (payload, request) => {
      calls.push([payload, request]);
      return { status: 201, payload: { rebooting: true, delay: (payload as { delay: number }).delay } };
    });
    try {
      expect(await invoke(deviceId, 'reboot', { delay: 3 })).toEqual({
        status: 201,
        payload: { rebooting: true, delay: 3 },
      });
      expect(calls).toEqual([[{ delay: 3 }, { name: 'reboot' }]]);
      // No body: the handler gets null.
      await invoke(deviceId, 'reboot', undefined).catch(() => {});
      expect(calls[1]?.[0]).toBeNull();
    } finally {
      off();
    }
  });

  it('a handler returning undefined answers 200 null; an async handler is awaited', async () => {
    const offs = [
      client.onMethod('noop', () => undefined),
      client.onMethod('slow', async (payload) => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { status: 200, payload: { echoed: payload } };
      }),
      client.onMethod('slowVoid', async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return undefined;
      }),
    ];
    try {
      expect(await invoke(deviceId, 'noop', { x: 1 })).toEqual({ status: 200, payload: null });
      expect(await invoke(deviceId, 'slow', [1, 'two'])).toEqual({
        status: 200,
        payload: { echoed: [1, 'two'] },
      });
      expect(await invoke(deviceId, 'slowVoid')).toEqual({ status: 200, payload: null });
    } finally {
      for (const off of offs) off();
    }
  });

  it('a handler that throws answers 500 with a generic message and reports an error event', async () => {
    const secret = 'db password is hunter2 at /etc/secret';
    const offs = [
      client.onMethod('explode', () => {
        throw new Error(secret);
      }),
      client.onMethod('explodeLater', async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error(secret);
      }),
    ];
    try {
      for (const name of ['explode', 'explodeLater']) {
        const before = errors.length;
        const result = await invoke(deviceId, name, { a: 1 });
        expect(result.status).toBe(500);
        expect(JSON.stringify(result.payload)).not.toContain('hunter2');
        expect(JSON.stringify(result.payload)).not.toContain('secret');
        expect(result.payload).toEqual({ message: expect.any(String) });
        await waitFor(() => errors.length === before + 1);
        expect(errors[before]).toMatchObject({ code: 'INTERNAL' });
        expect((errors[before]!.cause as Error).message).toBe(secret);
      }
      // Still connected and answering.
      expect(client.connected).toBe(true);
      expect((await invoke(deviceId, 'unknown-after-throw')).status).toBe(404);
    } finally {
      for (const off of offs) off();
    }
  });

  it('an unknown method answers 404', async () => {
    const result = await invoke(deviceId, 'doesNotExist', { a: 1 });
    expect(result.status).toBe(404);
  });

  it('a result that is not { status, payload } answers 500', async () => {
    const offs = [
      client.onMethod('wrongShape', () => ({ ok: true }) as never),
      client.onMethod('badStatus', () => ({ status: 42, payload: 'x' })),
    ];
    try {
      expect((await invoke(deviceId, 'wrongShape')).status).toBe(500);
      expect((await invoke(deviceId, 'badStatus')).status).toBe(500);
    } finally {
      for (const off of offs) off();
    }
  });

  it('a result payload that is not JSON answers 500 (not the handler status) and reports an error', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const offs = [
      client.onMethod('bigint', () => ({ status: 200, payload: { n: 1n } })),
      client.onMethod('circular', () => ({ status: 201, payload: circular })),
      client.onMethod('function', () => ({ status: 200, payload: () => 1 })),
    ];
    try {
      for (const name of ['bigint', 'circular', 'function']) {
        const before = errors.length;
        const result = await invoke(deviceId, name);
        expect(result.status, name).toBe(500);
        expect(result.payload).toEqual({ message: expect.any(String) });
        await waitFor(() => errors.length === before + 1);
        expect(errors[before]).toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    } finally {
      for (const off of offs) off();
    }
  });

  it('refuses invalid method names and non-function handlers with INVALID_ARGUMENT', async () => {
    const handler: MethodHandler = () => undefined;
    const badNames: unknown[] = [
      '',
      'has space',
      'a/b',
      'a+b',
      'a#b',
      'é',
      'x'.repeat(129),
      42,
      undefined,
      null,
    ];
    for (const name of badNames) {
      expect(() => client.onMethod(name as string, handler), String(name)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
    for (const bad of [undefined, null, 'fn', { status: 200 }]) {
      expect(() => client.onMethod('fine', bad as never)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
    // Nothing was registered by the refused calls.
    expect((await invoke(deviceId, 'fine')).status).toBe(404);
    // The longest valid name works.
    const longest = 'y'.repeat(128);
    const off = client.onMethod(longest, () => ({ status: 200, payload: 'long' }));
    try {
      expect(await invoke(deviceId, longest)).toEqual({ status: 200, payload: 'long' });
    } finally {
      off();
    }
  });

  it('removing a handler answers 404 afterwards; a stale remover leaves a newer handler alone', async () => {
    const off = client.onMethod('reboot', () => ({ status: 200, payload: 'first' }));
    expect(await invoke(deviceId, 'reboot')).toEqual({ status: 200, payload: 'first' });
    off();
    expect((await invoke(deviceId, 'reboot')).status).toBe(404);

    const offOld = client.onMethod('reboot', () => ({ status: 200, payload: 'old' }));
    const offNew = client.onMethod('reboot', () => ({ status: 200, payload: 'new' }));
    expect(await invoke(deviceId, 'reboot')).toEqual({ status: 200, payload: 'new' });
    offOld();
    expect(await invoke(deviceId, 'reboot')).toEqual({ status: 200, payload: 'new' });
    offNew();
    expect((await invoke(deviceId, 'reboot')).status).toBe(404);
  });
});
