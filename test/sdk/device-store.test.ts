/**
 * DeviceStore (a gateway's one database for many devices), end to end: real clients on one SQLite file against a
 * real emulator whose state persists, so it can go away and come back. Each device must send under its own
 * identity, keep its own backlog, twin and registration, and the store must refuse what would mix them up.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNodePlatform, DeviceStore } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import { isSpotflowError, type SpotflowErrorCode } from '../../src/errors.js';
import type { SqlStatement } from '../../src/ports.js';
import { startClient, tempDir } from '../helpers/client.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

const dirs = tempDir('spotflow-device-store-');
const dataDir = dirs.file('emulator');
let emulator: TestEmulator;
let port = 0;
let down = false;
const clients: DeviceClient[] = [];
const stores: DeviceStore[] = [];

function startPersistentEmulator(onPort: number): Promise<TestEmulator> {
  return startTestEmulator({ memory: false, dataDir, port: onPort, settings: { autoApprove: true } });
}

beforeAll(async () => {
  emulator = await startPersistentEmulator(0);
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const store of stores.splice(0)) await store.close();
  if (down) {
    emulator = await startPersistentEmulator(port);
    down = false;
  }
});
afterAll(async () => {
  await emulator.close();
  dirs.cleanup();
});

let files = 0;
async function openStore(path = dirs.file(`gateway-${++files}.db`)): Promise<DeviceStore> {
  const store = await DeviceStore.open(path);
  stores.push(store);
  return store;
}

/** A client of `deviceId` on `store`, trusting the emulator. */
async function startOn(store: DeviceStore, deviceId: string): Promise<DeviceClient> {
  const client = await startClient(emulator, { store, deviceId });
  clients.push(client);
  return client;
}

async function closeClient(client: DeviceClient): Promise<void> {
  clients.splice(clients.indexOf(client), 1);
  await client.close();
}

/** `promise` rejects with a SpotflowError of `code` (and a message matching `message`). */
async function expectSpotflowError(promise: Promise<unknown>, code: SpotflowErrorCode, message?: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSpotflowError(error) && error.code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

/** The `from` field of each JSON message the emulator stored for `deviceId`, in arrival order. */
async function senders(deviceId: string): Promise<string[]> {
  const messages = await emulator.api.allMessages(deviceId);
  return messages.map((m) => JSON.parse(Buffer.from(m.payloadBase64, 'base64').toString()).from as string);
}

describe('DeviceStore: many devices in one database', () => {
  it('each device sends under its own identity and keeps its own twin', async () => {
    const store = await openStore();
    const ids = ['store-pump-1', 'store-valve-1', 'store-fan-1'];
    const devices = await Promise.all(ids.map((id) => startOn(store, id)));
    expect(devices.map((d) => d.deviceId)).toEqual(ids);
    // Enqueued at once, interleaved in the one outbox table.
    await Promise.all(
      devices.flatMap((device) =>
        Array.from({ length: 40 }, (_, n) =>
          device.enqueueMessage({ from: device.deviceId, n }, { stream: 's' }),
        ),
      ),
    );
    await Promise.all(devices.map((device) => device.updateReportedProperties({ role: device.deviceId })));
    await Promise.all(devices.map((device) => device.waitEnqueuedMessagesSent()));
    await Promise.all(devices.map((device) => device.waitReportedPropertiesSent()));
    for (const [d, id] of ids.entries()) {
      expect(await senders(id)).toEqual(Array(40).fill(id));
      expect((await emulator.api.twin(id)).reported.role).toBe(id);
      expect(await devices[d]!.pendingMessagesCount()).toBe(0);
    }
    expect(await store.devices()).toEqual([...ids].sort());
  });

  it("a device's backlog survives the store's close and reopen, and goes to that device only", async () => {
    const path = dirs.file('backlog.db');
    let store = await openStore(path);
    const [a, b] = await Promise.all([startOn(store, 'store-backlog-a'), startOn(store, 'store-backlog-b')]);
    port = emulator.port;
    down = true;
    await emulator.close();
    await Promise.all([
      ...Array.from({ length: 30 }, (_, n) => a.enqueueMessage({ from: 'store-backlog-a', n })),
      ...Array.from({ length: 12 }, (_, n) => b.enqueueMessage({ from: 'store-backlog-b', n })),
    ]);
    expect([await a.pendingMessagesCount(), await b.pendingMessagesCount()]).toEqual([30, 12]);
    await closeClient(a);
    await closeClient(b);
    await store.close();
    stores.splice(stores.indexOf(store), 1);

    emulator = await startPersistentEmulator(port);
    down = false;
    store = await openStore(path);
    // Only b comes back first: a's rows must stay where they are.
    const b2 = await startOn(store, 'store-backlog-b');
    expect(await b2.pendingMessagesCount()).toBe(12);
    await b2.waitEnqueuedMessagesSent();
    expect(await senders('store-backlog-b')).toEqual(Array(12).fill('store-backlog-b'));
    expect(await senders('store-backlog-a')).toEqual([]);
    const a2 = await startOn(store, 'store-backlog-a');
    expect(await a2.pendingMessagesCount()).toBe(30);
    await a2.waitEnqueuedMessagesSent();
    expect(await senders('store-backlog-a')).toEqual(Array(30).fill('store-backlog-a'));
  });

  it("commits many devices' enqueues in one transaction", async () => {
    const writes: SqlStatement[][] = [];
    const { database, lock, clock } = createNodePlatform();
    const store = await DeviceStore.openOn(
      {
        // The real database, with each transaction's statements written down.
        database: {
          open: async (name) => {
            const db = await database.open(name);
            return {
              ...db,
              write: (statements, options) => {
                writes.push([...statements]);
                return db.write(statements, options);
              },
              query: (sql, params) => db.query(sql, params),
              close: () => db.close(),
            };
          },
        },
        lock,
        clock,
      },
      dirs.file('rounds.db'),
    );
    stores.push(store);
    const devices = await Promise.all(
      Array.from({ length: 12 }, (_, i) => startOn(store, `store-round-${i}`)),
    );
    await Promise.all(devices.map((device) => device.waitEnqueuedMessagesSent()));
    writes.length = 0;
    await Promise.all(devices.map((device, i) => device.enqueueMessage({ from: `store-round-${i}` })));
    const inserts = writes.filter((statements) =>
      statements.some((s) => s.sql.includes('INSERT INTO outbox ')),
    );
    // Twelve messages of twelve devices: one round (a second at most if a delete round was under way).
    expect(inserts.length).toBeLessThanOrEqual(2);
    expect(inserts.flat().filter((s) => s.sql.includes('INSERT INTO outbox ')).length).toBe(12);
    await Promise.all(devices.map((device) => device.waitEnqueuedMessagesSent()));
  });

  it('refuses a second holder: another store on the file, a second client of a device, closing while in use', async () => {
    const path = dirs.file('locked.db');
    const store = await openStore(path);
    await expectSpotflowError(DeviceStore.open(path), 'DATABASE_LOCKED');
    const pump = await startOn(store, 'store-lock-pump');
    await expectSpotflowError(startOn(store, 'store-lock-pump'), 'DATABASE_LOCKED');
    await expectSpotflowError(store.close(), 'DATABASE_LOCKED');
    // A finished client's late release does not free the device a new client of it holds.
    const held = store.attach('store-lock-valve');
    await held.db.close();
    const valve = store.attach('store-lock-valve');
    await held.lock.release();
    expect(() => store.attach('store-lock-valve')).toThrow(/already started/);
    await valve.lock.release();
    await expectSpotflowError(store.remove('store-lock-pump'), 'DATABASE_LOCKED');
    expect(await store.devices()).toEqual(['store-lock-pump']);
    await closeClient(pump);
    await store.remove('store-lock-pump');
    expect(await store.devices()).toEqual([]);
    // Its rows gone, the device starts afresh (a new registration) and works.
    const again = await startOn(store, 'store-lock-pump');
    await again.enqueueMessage({ from: 'store-lock-pump' });
    await again.waitEnqueuedMessagesSent();
  });

  it('refuses options that would mix up storage, at the call', async () => {
    const store = await openStore();
    const base = { provisioningToken: emulator.provisioningToken, instance: emulator.instance };
    const platform = createNodePlatform({ ca: emulator.ca });
    await expectSpotflowError(
      DeviceClient.startOn(platform, { ...base, store, deviceId: 'x', database: dirs.file('x.db') } as never),
      'INVALID_ARGUMENT',
      /exclusive/,
    );
    await expectSpotflowError(
      DeviceClient.startOn(platform, { ...base, store } as never),
      'INVALID_ARGUMENT',
      /deviceId is required/,
    );
    await expectSpotflowError(
      DeviceClient.startOn(platform, { ...base, store: { path: 'x' }, deviceId: 'x' } as never),
      'INVALID_ARGUMENT',
      /DeviceStore/,
    );
    await expectSpotflowError(DeviceStore.open(''), 'INVALID_ARGUMENT');
    await expectSpotflowError(store.remove('no/slash'), 'INVALID_ARGUMENT');
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    await expectSpotflowError(startOn(store, 'store-after-close'), 'CLIENT_CLOSED');
  });
});
