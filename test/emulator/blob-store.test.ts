import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStore, uploadContainer } from '../../emulator/state/blobs.js';
import { type EmulatorDatabase, migrations, openEmulatorDatabase } from '../../emulator/state/database.js';
import { MessageStore, type NewMessage, type StoredPayload } from '../../emulator/state/messages.js';
import { midHash } from '../../emulator/state/mid-hash.js';
import { connectDevice } from '../helpers/device-mqtt.js';
import { call, type ProvisionedDevice, provisionDevice, startTestEmulator } from '../helpers/emulator.js';
import { type LiveReader, openLive, sendTelemetry } from './portal-support.js';

const dirs: string[] = [];
const readers: LiveReader[] = [];
afterEach(() => {
  for (const reader of readers.splice(0)) reader.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emulator-blobs-'));
  dirs.push(dir);
  return dir;
}

const rows = (db: EmulatorDatabase, table: string) =>
  (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

function externalized(payload: StoredPayload): NewMessage {
  return {
    mid: null,
    streamGroup: null,
    stream: 'files',
    siteId: null,
    batchId: null,
    batchSliceId: null,
    messageId: null,
    chunkId: null,
    properties: { 'has-externalized-payload': 'true' },
    payload,
  };
}
const noClose = { batch: false, message: false };

describe('blob store (SQLite in memory)', () => {
  it('commits staged blocks in the listed order, a block listed twice and a block staged again included', () => {
    const db = openEmulatorDatabase(null);
    try {
      const blobs = new BlobStore(db, Date.now);
      blobs.stageBlock(uploadContainer, 'd/x', 'a', Buffer.from('first '));
      blobs.stageBlock(uploadContainer, 'd/x', 'b', Buffer.from('stale'));
      blobs.stageBlock(uploadContainer, 'd/x', 'b', Buffer.from('second '));
      blobs.stageBlock(uploadContainer, 'd/x', 'unused', Buffer.from('left out'));
      expect(blobs.staged(uploadContainer, 'd/x', 'none')).toEqual({ blocks: 3, bytes: 21 });
      expect(blobs.commitBlocks(uploadContainer, 'd/x', ['b', 'a', 'b'])).toBe('committed');
      expect(blobs.get(uploadContainer, 'd/x')?.toString()).toBe('second first second ');
      expect(blobs.file(uploadContainer, 'd/x')?.size).toBe(20);
      expect(blobs.read(blobs.content(uploadContainer, 'd/x')!.id, 9)?.toString()).toBe('second fi');
      // Only the chunks of 'a' and the second 'b' are left: the stale and the unused ones went with their staging.
      expect(rows(db, 'blob_chunks')).toBe(2);
      expect(rows(db, 'blob_staged')).toBe(0);
    } finally {
      db.close();
    }
  });

  it("keeps an externalized message's bytes when the blob is written again, and frees them with the message", () => {
    const db = openEmulatorDatabase(null);
    try {
      const blobs = new BlobStore(db, Date.now);
      const messages = new MessageStore(db, Date.now, 1);
      blobs.put(uploadContainer, 'd/payload.bin', Buffer.from('as sent'));
      messages.add('d', externalized(blobs.content(uploadContainer, 'd/payload.bin')!), noClose);
      blobs.stageBlock(uploadContainer, 'd/payload.bin', 'a', Buffer.from('written '));
      blobs.stageBlock(uploadContainer, 'd/payload.bin', 'b', Buffer.from('again'));
      blobs.commitBlocks(uploadContainer, 'd/payload.bin', ['a', 'b']);

      expect(blobs.get(uploadContainer, 'd/payload.bin')?.toString()).toBe('written again');
      const [stored] = messages.list('d', { limit: 10 }).items;
      expect(stored?.payload.toString()).toBe('as sent');
      expect(rows(db, 'blob_contents')).toBe(2);

      // Retention (1 message) drops it: what only it referred to is deleted, the blob's content stays.
      messages.add('d', externalized(Buffer.from('plain')), noClose);
      expect(rows(db, 'blob_contents')).toBe(1);
      expect(rows(db, 'blob_chunks')).toBe(2);
      expect(blobs.get(uploadContainer, 'd/payload.bin')?.toString()).toBe('written again');
    } finally {
      db.close();
    }
  });

  it('migrates blobs and staged blocks of a data dir of schema 6', () => {
    const dir = dataDir();
    const old = new Database(join(dir, 'emulator.db'));
    old.function('mid_hash', (deviceId, mid) => midHash(String(deviceId), String(mid)));
    for (const [version, sql] of migrations.slice(0, 6).entries()) {
      old.exec(sql);
      old.pragma(`user_version = ${version + 1}`);
    }
    const insertBlob = old.prepare(
      "INSERT INTO blobs (container, name, content, uploaded_at) VALUES ('uploads', ?, ?, ?)",
    );
    insertBlob.run('d/older.bin', Buffer.from('older'), 1);
    insertBlob.run('d/newer.bin', Buffer.from('newer!'), 2);
    const stage = old.prepare(
      "INSERT INTO blob_blocks (container, name, block_id, content) VALUES ('uploads', 'd/staged.bin', ?, ?)",
    );
    stage.run('a', Buffer.from('half '));
    stage.run('b', Buffer.from('done'));
    old.close();

    const db = openEmulatorDatabase(dir);
    try {
      const blobs = new BlobStore(db, Date.now);
      expect(blobs.files(uploadContainer, 'd/').map((f) => [f.name, f.size])).toEqual([
        ['d/newer.bin', 6],
        ['d/older.bin', 5],
      ]);
      expect(blobs.get(uploadContainer, 'd/older.bin')?.toString()).toBe('older');
      expect(blobs.commitBlocks(uploadContainer, 'd/staged.bin', ['a', 'b'])).toBe('committed');
      expect(blobs.get(uploadContainer, 'd/staged.bin')?.toString()).toBe('half done');
    } finally {
      db.close();
    }
  });
});

/** Uploads `content` in blocks of `blockBytes`, side by side, as @azure/storage-blob and the SDK do; then notifies. */
async function uploadInBlocks(
  base: string,
  device: ProvisionedDevice,
  name: string,
  content: Buffer,
  blockBytes: number,
): Promise<string> {
  const hub = `/devices/${encodeURIComponent(device.hubDeviceId)}/files`;
  const started = await call(base, 'POST', `${hub}?api-version=2020-03-13`, {
    authorization: device.sasToken,
    json: { blobName: name },
  });
  expect(started.status).toBe(200);
  const { correlationId, containerName, blobName, sasToken } = started.body;
  const url = `${base}/${containerName}/${blobName.split('/').map(encodeURIComponent).join('/')}${sasToken}`;
  const ids: string[] = [];
  for (let offset = 0; offset < content.length; offset += blockBytes) {
    ids.push(Buffer.from(`block-${String(ids.length).padStart(5, '0')}`).toString('base64'));
  }
  const staged = await Promise.all(
    ids.map((id, n) =>
      fetch(`${url}&comp=block&blockid=${encodeURIComponent(id)}`, {
        method: 'PUT',
        body: content.subarray(n * blockBytes, (n + 1) * blockBytes),
      }),
    ),
  );
  expect(staged.map((response) => response.status)).toEqual(ids.map(() => 201));
  const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
  expect((await fetch(`${url}&comp=blocklist`, { method: 'PUT', body: list })).status).toBe(201);
  const notified = await call(base, 'POST', `${hub}/notifications?api-version=2020-03-13`, {
    authorization: device.sasToken,
    json: { correlationId, isSuccess: true, statusCode: 200, statusDescription: 'ok' },
  });
  expect(notified.status).toBe(204);
  return blobName as string;
}

describe('an upload in blocks and its externalized message', () => {
  it('read back whole after a restart on the same data dir: the file, its size and the message payload', async () => {
    const dir = dataDir();
    const content = randomBytes(3 * 256 * 1024 + 1000);
    const first = await startTestEmulator({ memory: false, dataDir: dir });
    const device = await provisionDevice(first, 'uploader');
    const live = await openLive(first);
    readers.push(live);
    const blobName = await uploadInBlocks(first.instance, device, 'big.bin', content, 256 * 1024);
    const client = await connectDevice(first, device);
    await sendTelemetry(
      client,
      device,
      { 'stream-name': 'files', 'has-externalized-payload': 'true' },
      JSON.stringify({ link: blobName }),
    );
    // The live event carries the size of the uploaded payload and its first bytes, as for any large message.
    const event = await live.next('message.received', (m) => m.message.stream === 'files');
    expect(event.message).toMatchObject({ payloadBytes: content.length, payloadTruncated: true });
    expect(Buffer.from(event.message.payloadBase64, 'base64').equals(content.subarray(0, 8 * 1024))).toBe(
      true,
    );
    await client.endAsync();
    await first.close();

    const second = await startTestEmulator({ memory: false, dataDir: dir });
    try {
      const files = await second.api.request('GET', '/devices/uploader/files');
      expect(files.body).toEqual([expect.objectContaining({ name: 'big.bin', size: content.length })]);
      const download = await fetch(
        `http://localhost:${second.port}/workspaces/${second.workspaceId}/devices/uploader/files/big.bin`,
        { headers: { authorization: `Bearer ${second.apiToken}` } },
      );
      expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
      const { items } = await second.api.messages('uploader', '?stream=files');
      expect(items).toHaveLength(1);
      expect(Buffer.from(items[0].payloadBase64, 'base64').equals(content)).toBe(true);
    } finally {
      await second.close();
    }
  });
});
