import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { migrations, openEmulatorDatabase } from '../../emulator/state/database.js';
import { MessageStore, type NewMessage } from '../../emulator/state/messages.js';
import { midHash } from '../../emulator/state/mid-hash.js';
import { connectDevice } from '../helpers/device-mqtt.js';
import { provisionDevice, startTestEmulator } from '../helpers/emulator.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emulator-duplicates-'));
  dirs.push(dir);
  return dir;
}

function message(mid: string): NewMessage {
  return {
    mid,
    streamGroup: null,
    stream: 's',
    siteId: null,
    batchId: null,
    batchSliceId: null,
    messageId: null,
    chunkId: null,
    properties: { '$.mid': mid },
    payload: Buffer.from('x'),
  };
}
const noClose = { batch: false, message: false };

describe('duplicate $.mid', () => {
  it('is flagged when the device sends it again after the emulator restarted on the same data dir', async () => {
    const dir = dataDir();
    const first = await startTestEmulator({ memory: false, dataDir: dir });
    const device = await provisionDevice(first, 'resender');
    const topic = `devices/${device.hubDeviceId}/messages/events/stream-name=s&%24.mid=`;
    const before = await connectDevice(first, device);
    await before.publishAsync(`${topic}m1`, 'first', { qos: 1 });
    await before.endAsync();
    await first.close();

    const second = await startTestEmulator({ memory: false, dataDir: dir });
    try {
      const after = await connectDevice(second, device);
      await after.publishAsync(`${topic}m1`, 'again', { qos: 1 });
      await after.publishAsync(`${topic}m2`, 'new', { qos: 1 });
      await after.endAsync();
      const { items } = await second.api.messages('resender');
      expect(items.map((m: { mid: string; duplicate: boolean }) => [m.mid, m.duplicate])).toEqual([
        ['m1', false],
        ['m1', true],
        ['m2', false],
      ]);
    } finally {
      await second.close();
    }
  });

  it('is flagged for messages stored before the hashed index existed (a data dir of schema 4)', () => {
    const dir = dataDir();
    const old = new Database(join(dir, 'emulator.db'));
    for (const [version, sql] of migrations.slice(0, 4).entries()) {
      old.exec(sql);
      old.pragma(`user_version = ${version + 1}`);
    }
    old
      .prepare(
        `INSERT INTO messages (device_id, mid, properties, payload, received_at, duplicate)
         VALUES ('d1', 'old-mid', '{}', x'00', 0, 0)`,
      )
      .run();
    old.close();

    const db = openEmulatorDatabase(dir);
    try {
      const store = new MessageStore(db, Date.now);
      expect(store.add('d1', message('old-mid'), noClose).duplicate).toBe(true);
      expect(store.add('d2', message('old-mid'), noClose).duplicate).toBe(false);
    } finally {
      db.close();
    }
  });

  it('is told apart from another mid whose hash is the same (the row is checked, not only the hash)', () => {
    const db = openEmulatorDatabase(null);
    try {
      // A row whose hash is that of 'wanted' but whose mid is not: what a hash collision looks like.
      db.prepare(
        `INSERT INTO messages (device_id, mid, mid_hash, properties, payload, received_at, duplicate)
         VALUES ('d1', 'other', ?, '{}', x'00', 0, 0)`,
      ).run(midHash('d1', 'wanted'));
      const store = new MessageStore(db, Date.now);
      expect(store.add('d1', message('wanted'), noClose).duplicate).toBe(false);
      expect(store.add('d1', message('wanted'), noClose).duplicate).toBe(true);
    } finally {
      db.close();
    }
  });

  it('is looked up through the hash index, not by scanning the device’s messages', () => {
    const db = openEmulatorDatabase(null);
    try {
      const plan = db
        .prepare(
          'EXPLAIN QUERY PLAN SELECT 1 FROM messages WHERE mid_hash = ? AND device_id = ? AND mid = ? LIMIT 1',
        )
        .all(1, 'd1', 'm') as { detail: string }[];
      expect(plan.map((step) => step.detail)).toEqual([
        'SEARCH messages USING INDEX messages_mid_hash (mid_hash=?)',
      ]);
    } finally {
      db.close();
    }
  });
});
