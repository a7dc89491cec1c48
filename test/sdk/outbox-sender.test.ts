// The outbox sender and store on a real SQLite file. The one fake is the MQTT connection, for a fault the emulator
// cannot cause on demand: a connection whose publishes are already refused (lost) while its end is not reported yet.
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeClock } from '../../platform/node/clock.js';
import { createNodeCompressor } from '../../platform/node/compression.js';
import { createNodeDatabaseOpener } from '../../platform/node/database.js';
import { SpotflowError } from '../../src/errors.js';
import type { HubCredentials } from '../../src/iothub/connection-string.js';
import type { OutboxLimits } from '../../src/options.js';
import { type OutboxScope, outboxCommit } from '../../src/outbox/outbox-commit.js';
import { OutboxSender } from '../../src/outbox/sender.js';
import { inlinePayloadMaxBytes, OutboxStore } from '../../src/outbox/store.js';
import { FileUploader } from '../../src/outbox/upload.js';
import type { Database, MqttConnection } from '../../src/ports.js';
import { migrate, migrations } from '../../src/store/schema.js';
import { StateStore } from '../../src/store/state.js';
import { memoryLogger, tempDir } from '../helpers/client.js';

const clock = createNodeClock();
const unlimited = {
  maxMessages: Number.MAX_SAFE_INTEGER,
  maxBytes: Number.MAX_SAFE_INTEGER,
  maxAgeMs: Number.MAX_SAFE_INTEGER,
};
const credentials: HubCredentials = {
  hostName: 'localhost:1',
  hubDeviceId: 'ws:sender',
  workspaceId: 'ws',
  deviceId: 'sender',
  sasToken: 'SharedAccessSignature sr=x&sig=y&se=1',
  sasExpiresAt: new Date(0),
};
const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openDatabase(): Promise<Database> {
  const dir = tempDir('spotflow-sender-');
  cleanups.push(dir.cleanup);
  const db = await createNodeDatabaseOpener().open(dir.file('outbox.sqlite'));
  cleanups.push(() => db.close());
  return db;
}

async function rowCount(db: Database): Promise<{ messages: number; bytes: number }> {
  const [row] = await db.query<{ messages: number; bytes: number | null }>(
    'SELECT COUNT(*) AS messages, SUM(size) AS bytes FROM outbox',
  );
  return { messages: Number(row!.messages), bytes: Number(row!.bytes ?? 0) };
}

async function totals(db: Database): Promise<{ messages: number; bytes: number }> {
  const [row] = await db.query<{ messages: number; bytes: number }>(
    'SELECT messages, bytes FROM outbox_totals',
  );
  return { messages: Number(row!.messages), bytes: Number(row!.bytes) };
}

/** A database as an older SDK left it: the schema up to `version`. */
async function databaseAtVersion(version: number): Promise<Database> {
  const db = await openDatabase();
  for (const [index, statements] of migrations.slice(0, version).entries()) {
    await db.write([...statements.map((sql) => ({ sql })), { sql: `PRAGMA user_version = ${index + 1}` }]);
  }
  return db;
}

/** The rows of a database of one device, as a client keeps them. */
function ownRows(db: Database): OutboxScope {
  return { device: '', commit: outboxCommit(db, clock) };
}

async function openStore(
  limits: Required<OutboxLimits> = { ...unlimited, policy: 'reject' },
): Promise<{ db: Database; store: OutboxStore }> {
  const db = await openDatabase();
  await migrate(db);
  return { db, store: await OutboxStore.open(db, clock, limits, ownRows(db)) };
}

async function fill(store: OutboxStore, count: number, size = 64): Promise<void> {
  const payload = new Uint8Array(size).fill(1);
  for (let i = 0; i < count; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, () =>
      store.add({ properties: {}, compression: 'none', payload }),
    );
    await Promise.all(batch);
  }
}

/** A connection that has been lost: every publish is refused at once, and its end has not been reported yet. */
function lostConnection(): MqttConnection & { publishes: number } {
  const connection = {
    publishes: 0,
    publish() {
      connection.publishes++;
      return Promise.reject(new SpotflowError('NETWORK', 'The connection was lost'));
    },
    subscribe: () => Promise.resolve(),
    setMessageHandler() {},
    onPacket() {},
    onClose() {},
    end: () => Promise.resolve(),
  };
  return connection;
}

describe('the outbox sender', () => {
  it('stops at the first refused publish instead of reading the rest of the backlog', async () => {
    const { store } = await openStore();
    await fill(store, 3_000);
    const sender = new OutboxSender(
      store,
      createNodeCompressor(),
      new FileUploader('http://localhost:1', fetch, clock),
      64,
      clock,
      { sent() {}, removed() {}, removalAwaited: () => false, uploadProgress() {}, error() {} },
      memoryLogger(),
    );
    const connection = lostConnection();
    const neverReported = new Promise<void>(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      sender.run(connection, credentials, neverReported).then(() => 'returned'),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve('still running after 10 s'), 10_000);
      }),
    ]);
    clearTimeout(timer);
    expect(outcome).toBe('returned');
    // At most the publishes started before the first refusal settled: one window, never the backlog.
    expect(connection.publishes).toBeGreaterThan(0);
    expect(connection.publishes).toBeLessThanOrEqual(64);
    expect(await store.countStored()).toBe(3_000);
  });
});

/** Bytes as a plain Uint8Array (the driver returns Buffers), so they compare by content. */
function plain(bytes: Uint8Array | null | undefined): Uint8Array | null | undefined {
  return bytes ? new Uint8Array(bytes) : bytes;
}

describe('the outbox store', () => {
  it('carries small payloads with a page read from the database and reads large ones on demand', async () => {
    const { db, store } = await openStore();
    await store.add({ properties: {}, compression: 'none', payload: new Uint8Array(10).fill(2) });
    const large = new Uint8Array(inlinePayloadMaxBytes + 1).fill(3);
    await store.add({ properties: {}, compression: 'none', payload: large });
    // A store opened on the same database (as after a restart) has nothing in memory: the page is read.
    const reopened = await OutboxStore.open(db, clock, { ...unlimited, policy: 'reject' }, ownRows(db));
    const [small, big] = await reopened.page(0, 10);
    expect(plain(small!.inlinePayload)).toEqual(new Uint8Array(10).fill(2));
    expect(big!.inlinePayload).toBeNull();
    expect(plain(await reopened.payloadOf(small!))).toEqual(new Uint8Array(10).fill(2));
    expect(plain(await reopened.payloadOf(big!))).toEqual(large);
  });

  it('hands what it has just committed to the next page without reading it back, large payloads included', async () => {
    const { store } = await openStore();
    const small = new Uint8Array(10).fill(2);
    const large = new Uint8Array(inlinePayloadMaxBytes + 1).fill(3);
    await store.add({ properties: {}, compression: 'none', payload: small });
    await store.add({ properties: {}, compression: 'none', payload: large });
    const [first, second] = await store.page(0, 10);
    // The very arrays the store was given (the client's private copies), not bytes read back from SQLite.
    expect(first!.inlinePayload).toBe(small);
    expect(second!.inlinePayload).toBe(large);
    expect(await store.payloadOf(second!)).toBe(large);
  });

  it('gives every entry once, in order, when pages move from the database to what is in memory', async () => {
    const { store } = await openStore();
    await fill(store, 5_000, 16); // more than the 4,096 kept in memory: the oldest are read from the database
    const ids: number[] = [];
    let added = 5_000;
    let cursor = 0;
    for (let page = await store.page(cursor, 256); page.length > 0; page = await store.page(cursor, 256)) {
      ids.push(...page.map((entry) => entry.id));
      cursor = page.at(-1)!.id;
      // Enqueues meanwhile, as while a backlog drains: they must come after, none skipped.
      if (ids.length < 6_000) {
        await fill(store, 50, 16);
        added += 50;
      }
    }
    expect(ids.length).toBe(added);
    expect(ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1)).toBe(true);
    expect(await store.countStored()).toBe(ids.length);
  });

  it('reads from the database again after an outbox limit dropped entries it held in memory', async () => {
    const { store } = await openStore({ ...unlimited, maxMessages: 3, policy: 'dropOldest' });
    await fill(store, 3, 8);
    const before = (await store.page(0, 10)).map((entry) => entry.id);
    await store.add({ properties: {}, compression: 'none', payload: new Uint8Array(8) });
    const after = (await store.page(0, 10)).map((entry) => entry.id);
    expect(after).toEqual([...before.slice(1), before[2]! + 1]);
    expect((await store.page(before[0]!, 10)).map((entry) => entry.id)).toEqual(after);
  });

  it('hands out a finished upload as a link after a page in memory carried its payload', async () => {
    const { store } = await openStore();
    const large = new Uint8Array(inlinePayloadMaxBytes + 1).fill(3);
    const { id } = await store.add({ properties: {}, compression: 'none', payload: large });
    expect((await store.page(0, 1))[0]!.inlinePayload).toBe(large);
    await store.rememberUpload(id, { blobName: 'blob-1', compressed: false });
    const [entry] = await store.page(0, 1);
    expect(entry!.upload).toEqual({ blobName: 'blob-1', compressed: false });
    expect(entry!.inlinePayload).toBeNull();
  });

  it('stores an entry under an id the caller chose once, however often it is retried', async () => {
    const { db, store } = await openStore();
    const entry = { properties: {}, compression: 'none' as const, payload: new Uint8Array(5).fill(7) };
    const first = await store.add(entry, { mid: 'chosen-1', retry: false });
    await fill(store, 3, 4);
    // A retry after a takeover: the dead owner stored it already.
    const again = await store.add(entry, { mid: 'chosen-1', retry: true });
    expect(again).toEqual({ id: first.id, mid: 'chosen-1', dropped: undefined });
    // A retry of one the dead owner never stored is stored.
    const fresh = await store.add(entry, { mid: 'chosen-2', retry: true });
    expect(fresh.mid).toBe('chosen-2');
    // Retries asked for together (a new owner re-runs every waiting call at once) share one read of the table.
    const retried = await Promise.all(
      ['chosen-1', 'chosen-2', 'chosen-3'].map((mid) => store.add(entry, { mid, retry: true })),
    );
    expect(retried.map((added) => added.id)).toEqual([first.id, fresh.id, retried[2]!.id]);
    expect(retried[2]!.id).toBeGreaterThan(fresh.id);
    const mids = await db.query<{ mid: string }>('SELECT mid FROM outbox ORDER BY id');
    expect(mids.filter((row) => row.mid.startsWith('chosen-')).map((row) => row.mid)).toEqual([
      'chosen-1',
      'chosen-2',
      'chosen-3',
    ]);
    expect(await store.countStored()).toBe(6);
  });

  it('lets go of a payload once it is uploaded, still counting what was enqueued', async () => {
    const { db, store } = await openStore();
    const payload = new Uint8Array(300_000).fill(4);
    const { id } = await store.add({ properties: {}, compression: 'none', payload });
    await store.rememberUpload(id, { blobName: 'dev/m.bin', compressed: false });
    const [entry] = await store.page(0, 10);
    expect(entry!.upload).toEqual({ blobName: 'dev/m.bin', compressed: false });
    const [row] = await db.query<{ stored: number }>('SELECT length(payload) AS stored FROM outbox');
    expect(Number(row!.stored)).toBe(0);
    expect(await totals(db)).toEqual({ messages: 1, bytes: 300_000 });
  });

  it('does not hand out the payload of an entry an outbox limit dropped after its page was read', async () => {
    const { store } = await openStore({ ...unlimited, maxMessages: 3, policy: 'dropOldest' });
    await fill(store, 3, 8);
    const [oldest, second] = await store.page(0, 10);
    const { dropped } = await store.add({ properties: {}, compression: 'none', payload: new Uint8Array(8) });
    expect(dropped?.messages).toBe(1);
    expect(await store.payloadOf(oldest!)).toBeUndefined();
    expect(plain(await store.payloadOf(second!))).toEqual(new Uint8Array(8).fill(1));
  });

  it('keeps its totals in the database as rows come and go, so a start reads them instead of counting', async () => {
    const { db, store } = await openStore({ ...unlimited, maxMessages: 50, policy: 'dropOldest' });
    await fill(store, 60, 10); // ten dropped by the limit
    await store.remove((await store.page(0, 5)).map(({ id, size }) => ({ id, size })));
    expect(await rowCount(db)).toEqual({ messages: 45, bytes: 450 });
    expect(await totals(db)).toEqual({ messages: 45, bytes: 450 });
    expect(await store.countStored()).toBe(45);
  });

  it('keeps its totals when acknowledged entries are removed after a limit dropped some of them', async () => {
    const { db, store } = await openStore({ ...unlimited, maxMessages: 20, policy: 'dropOldest' });
    await fill(store, 20, 10);
    const read = await store.page(0, 20);
    await fill(store, 5, 10); // drops the five oldest, which the page still holds
    // Acknowledged out of order, with gaps: ranges, single ids and rows already gone in one removal.
    const acknowledged = [...read.slice(0, 8), ...read.slice(10, 12), read[15]!].reverse();
    await store.remove(acknowledged.map(({ id, size }) => ({ id, size })));
    // 25 enqueued, 5 dropped, 6 of the 11 acknowledged still there and removed.
    expect(await rowCount(db)).toEqual({ messages: 14, bytes: 140 });
    expect(await totals(db)).toEqual({ messages: 14, bytes: 140 });
    expect(await store.countStored()).toBe(14);
  });

  it('creates a new database at the same schema as the migrations build step by step', async () => {
    const describe = async (db: Database) => {
      const tables = await db.query<{ name: string; type: string }>(
        "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
      );
      const columns = [];
      for (const { name } of tables.filter((t) => t.type === 'table')) {
        columns.push(
          name,
          await db.query(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('${name}')`),
        );
        columns.push(
          await db.query(`SELECT COUNT(*) AS wr FROM pragma_table_list WHERE name = '${name}' AND wr = 1`),
        );
      }
      return {
        tables,
        columns,
        totals: await db.query('SELECT * FROM outbox_totals'),
        version: await db.query('PRAGMA user_version'),
      };
    };
    const fresh = await openDatabase();
    await migrate(fresh);
    const stepped = await databaseAtVersion(migrations.length);
    expect(await describe(fresh)).toEqual(await describe(stepped));
  });

  it('keeps every row of a database from before devices had a column, as the rows of its one device', async () => {
    const db = await databaseAtVersion(5);
    await db.write([
      { sql: `INSERT INTO state (key, value) VALUES ('registration', '{"kept":true}')` },
      { sql: `INSERT INTO reported_patches (patch) VALUES ('{"a":1}')` },
      ...Array.from({ length: 5 }, (_, i) => ({
        sql: `INSERT INTO outbox (mid, properties, compression, payload, size, enqueued_at)
              VALUES (?, '{}', 'none', zeroblob(?), ?, 0)`,
        params: [`m${i}`, 3, 3],
      })),
      { sql: 'UPDATE outbox_totals SET messages = 5, bytes = 15' },
    ]);
    await migrate(db);
    expect(await totals(db)).toEqual({ messages: 5, bytes: 15 });
    expect(await new StateStore(db, '').get('registration')).toEqual({ kept: true });
    expect(await db.query("SELECT COUNT(*) AS n FROM reported_patches WHERE device = ''")).toEqual([
      { n: 1 },
    ]);
    const store = await OutboxStore.open(db, clock, { ...unlimited, policy: 'reject' }, ownRows(db));
    expect(await store.countStored()).toBe(5);
    expect((await store.page(0, 10)).map((entry) => entry.mid)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(await store.lastId()).toBe(5);
  });

  it('counts what a database from before the totals already holds when it is migrated', async () => {
    const db = await databaseAtVersion(2);
    await db.write(
      Array.from({ length: 7 }, (_, i) => ({
        sql: `INSERT INTO outbox (mid, properties, compression, payload, size, enqueued_at)
              VALUES (?, '{}', 'none', zeroblob(?), ?, 0)`,
        params: [`m${i}`, i, i],
      })),
    );
    await migrate(db);
    expect(await totals(db)).toEqual({ messages: 7, bytes: 21 });
    const store = await OutboxStore.open(db, clock, { ...unlimited, policy: 'reject' }, ownRows(db));
    expect(await store.countStored()).toBe(7);
  });
});
