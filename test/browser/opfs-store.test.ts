// The OPFS store (platform/browser/opfs-store.ts) in real Chromium, in a dedicated worker: what a reopen gives back,
// and what it makes of the files a kill leaves at each step of a fold (the store is closed right after that step;
// every step flushes what it wrote, so the files are what a kill there leaves). Not yet the store the SDK uses.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, newContext, openPage } from './harness/index.js';
import './pages/globals.js';

let browser: Browser;
let page: Page;
let n = 0;
const fresh = () => `store-${Date.now()}-${++n}`;

beforeAll(async () => {
  browser = await launchBrowser();
  page = await openPage(await newContext(browser), 'opfs.html');
});
afterAll(async () => {
  await browser?.close();
});

interface Loaded {
  image: number[];
  baseSeq: number;
  groups: { seq: number; statements: { sql: string; params?: unknown[] }[] }[];
  journalBytes: number;
}

const call = (request: Record<string, unknown>) =>
  page.evaluate((request) => globalThis.__opfs!(request), request);
const open = async (name: string) => (await call({ op: 'open', name })) as Loaded | 'none';
const bytes = (length: number, fill: number) => new Array<number>(length).fill(fill);
const insert = (n: number) => [{ sql: 'INSERT INTO t VALUES (?, ?)', params: [n, `row ${n}`] }];

describe('OPFS store (Chromium, sync access handles in a worker)', () => {
  it('is available in a dedicated worker here', async () => {
    expect(await call({ op: 'available' })).toBe(true);
  });

  it('gives back the file and every group appended after it, in order', async () => {
    const name = fresh();
    expect(await open(name)).toBe('none');
    await call({ op: 'close' });
    await call({ op: 'create', name, image: bytes(100, 1), seq: 7 });
    await call({ op: 'append', seq: 8, statements: insert(8), durability: 'strict' });
    await call({ op: 'append', seq: 9, statements: insert(9), durability: 'relaxed' });
    await call({ op: 'append', seq: 10, statements: [{ sql: 'DELETE FROM t' }], durability: 'strict' });
    await call({ op: 'close' });
    const loaded = await open(name);
    if (loaded === 'none') throw new Error('no store');
    expect(loaded.image).toEqual(bytes(100, 1));
    expect(loaded.baseSeq).toBe(7);
    expect(loaded.groups).toEqual([
      { seq: 8, statements: insert(8) },
      { seq: 9, statements: insert(9) },
      { seq: 10, statements: [{ sql: 'DELETE FROM t' }] },
    ]);
    await call({ op: 'close' });
  });

  it('a fold writes the changed chunks in place, and the journal starts over from it', async () => {
    const name = fresh();
    await call({ op: 'create', name, image: bytes(64, 0), seq: 0 });
    await call({ op: 'append', seq: 1, statements: insert(1), durability: 'strict' });
    // Chunks of 16 bytes: chunk 1 changed, chunk 4 added (the file grows to 72 bytes).
    await call({
      op: 'fold',
      meta: { seq: 1, fileBytes: 72, chunkBytes: 16 },
      chunks: [
        [1, bytes(16, 5)],
        [4, bytes(16, 9)],
      ],
    });
    await call({ op: 'append', seq: 2, statements: insert(2), durability: 'strict' });
    await call({ op: 'close' });
    const loaded = await open(name);
    if (loaded === 'none') throw new Error('no store');
    expect(loaded.image).toEqual([...bytes(16, 0), ...bytes(16, 5), ...bytes(32, 0), ...bytes(8, 9)]);
    expect(loaded.baseSeq).toBe(1);
    expect(loaded.groups).toEqual([{ seq: 2, statements: insert(2) }]);
    await call({ op: 'close' });
  });

  it('killed after the fold reached the journal, before the file: the next open finishes it', async () => {
    const name = fresh();
    await call({ op: 'create', name, image: bytes(32, 0), seq: 0 });
    await call({ op: 'append', seq: 1, statements: insert(1), durability: 'strict' });
    await call({
      op: 'writeFold',
      meta: { seq: 1, fileBytes: 32, chunkBytes: 16 },
      chunks: [[0, bytes(16, 3)]],
    });
    await call({ op: 'close' });
    const loaded = await open(name);
    if (loaded === 'none') throw new Error('no store');
    expect(loaded.image).toEqual([...bytes(16, 3), ...bytes(16, 0)]);
    expect(loaded.baseSeq).toBe(1);
    expect(loaded.groups).toEqual([]);
    // And again (the finished fold is in the journal until the next fold): the same.
    await call({ op: 'append', seq: 2, statements: insert(2), durability: 'strict' });
    await call({ op: 'close' });
    const again = await open(name);
    if (again === 'none') throw new Error('no store');
    expect(again.image).toEqual([...bytes(16, 3), ...bytes(16, 0)]);
    expect(again.groups).toEqual([{ seq: 2, statements: insert(2) }]);
    await call({ op: 'close' });
  });

  it('a fold cut short leaves its chunks unused, also when the next fold is of the same position', async () => {
    const name = fresh();
    await call({ op: 'create', name, image: bytes(48, 0), seq: 0 });
    await call({ op: 'append', seq: 1, statements: insert(1), durability: 'strict' });
    // A kill during the fold's one write: its first chunk's frame whole (24 + 4 + 16 bytes), the second torn, no FOLD
    // frame (24 + 12 bytes). Made by cutting what the store wrote.
    await call({
      op: 'writeFold',
      meta: { seq: 1, fileBytes: 48, chunkBytes: 16 },
      chunks: [
        [2, bytes(16, 7)],
        [1, bytes(16, 8)],
      ],
    });
    await call({ op: 'close' });
    await call({ op: 'cutJournal', name, bytes: 36 + 10 });
    const reopened = await open(name);
    if (reopened === 'none') throw new Error('no store');
    expect(reopened.image).toEqual(bytes(48, 0));
    expect(reopened.groups.map((g) => g.seq)).toEqual([1]);
    // The next fold, of the same position, stores chunk 0 only, and is killed once it reached the journal: the open
    // that finishes it takes its chunk, not chunk 2 of the fold cut short.
    await call({
      op: 'writeFold',
      meta: { seq: 1, fileBytes: 48, chunkBytes: 16 },
      chunks: [[0, bytes(16, 4)]],
    });
    await call({ op: 'close' });
    const last = await open(name);
    if (last === 'none') throw new Error('no store');
    expect(last.image).toEqual([...bytes(16, 4), ...bytes(32, 0)]);
    await call({ op: 'close' });
  });

  it('garbage after the last frame (a torn write) is cut at open, and what is appended after it is read back', async () => {
    const name = fresh();
    await call({ op: 'create', name, image: bytes(16, 1), seq: 0 });
    await call({ op: 'append', seq: 1, statements: insert(1), durability: 'strict' });
    await call({ op: 'close' });
    // A frame head claiming 64 bytes with none after it: what a kill during an append leaves.
    await call({ op: 'appendToJournal', name, bytes: [0, 0, 0, 64, 1, 2, 3, 4, 1, 0, 0, 0, 0, 0, 0, 1] });
    const loaded = await open(name);
    if (loaded === 'none') throw new Error('no store');
    expect(loaded.groups.map((g) => g.seq)).toEqual([1]);
    await call({ op: 'append', seq: 2, statements: insert(2), durability: 'strict' });
    await call({ op: 'close' });
    const again = await open(name);
    if (again === 'none') throw new Error('no store');
    expect(again.groups.map((g) => g.seq)).toEqual([1, 2]);
    await call({ op: 'close' });
  });

  it('one owner: the files of an open store cannot be opened again meanwhile', async () => {
    const name = fresh();
    await call({ op: 'create', name, image: bytes(16, 1), seq: 0 });
    // Refused once the open has waited its while (5 s) for the holder to let go.
    expect(await call({ op: 'openTwice', name })).toBe('NoModificationAllowedError');
    // Let go within that while (a tab that died, its handles closed a moment after its lock): the open gets them.
    expect(await call({ op: 'openWhileHeld', name })).toBe('opened');
    await call({ op: 'close' });
    const loaded = await open(name);
    expect(loaded).not.toBe('none');
    await call({ op: 'close' });
    await call({ op: 'remove', name });
    expect(await open(name)).toBe('none');
    await call({ op: 'close' });
  });
});
