// The read-through file against real sql.js (Node's build: the same Emscripten file system as the browser's) and a
// real file behind the synchronous reads a FileSystemSyncAccessHandle gives (node:fs). A fold is played by writing
// the chunks taken into that file, as opfs-store.ts does.
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import initSqlJs, { type SqlJsStatic } from 'sql.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PageSource, ReadThroughFile } from './read-through-file.js';

const CHUNK = 32 * 1024;
let sql: SqlJsStatic;
beforeAll(async () => {
  sql = await initSqlJs();
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A stored file: what the OPFS store's `pages` is, with a count of the reads made of it. */
class StoredFile implements PageSource {
  readonly fd: number;
  reads = 0;
  bytesRead = 0;

  constructor() {
    const dir = mkdtempSync(join(tmpdir(), 'spotflow-read-through-'));
    this.fd = openSync(join(dir, 'pages'), 'w+');
    cleanups.push(() => {
      closeSync(this.fd);
      rmSync(dir, { recursive: true, force: true });
    });
  }

  get pagesBytes(): number {
    return fstatSync(this.fd).size;
  }

  readPages(into: Uint8Array, at: number): number {
    this.reads++;
    const read = readSync(this.fd, into, 0, into.byteLength, at);
    this.bytesRead += read;
    return read;
  }

  /** A fold: the chunks written in place and the file cut to `fileBytes`. */
  store(chunks: Map<number, Uint8Array>, fileBytes: number): void {
    for (const [chunk, bytes] of chunks) writeSync(this.fd, bytes, 0, bytes.byteLength, chunk * CHUNK);
    ftruncateSync(this.fd, fileBytes);
  }
}

function open(stored: StoredFile): ReadThroughFile {
  const file = ReadThroughFile.open(sql, stored, CHUNK);
  cleanups.push(() => file.close());
  return file;
}

function fileBytes(file: ReadThroughFile): number {
  const [pages] = file.db.exec('PRAGMA page_count')[0]!.values[0]!;
  const [size] = file.db.exec('PRAGMA page_size')[0]!.values[0]!;
  return Number(pages) * Number(size);
}

function fold(file: ReadThroughFile, stored: StoredFile): void {
  const bytes = fileBytes(file);
  expect(file.verify(bytes)).toBe(true);
  stored.store(file.takeChanged(bytes), bytes);
  file.stored();
}

function fill(file: ReadThroughFile, from: number, count: number): void {
  file.db.exec('BEGIN');
  const insert = file.db.prepare('INSERT INTO t (id, v) VALUES (?, ?)');
  for (let id = from; id < from + count; id++) insert.run([id, `row ${id} `.padEnd(500, '.')]);
  insert.free();
  file.db.exec('COMMIT');
}

function rows(file: ReadThroughFile): { count: number; sum: number; ok: string } {
  const [count, sum] = file.db.exec('SELECT count(*), sum(id) FROM t')[0]!.values[0]!;
  const [ok] = file.db.exec('PRAGMA integrity_check')[0]!.values[0]!;
  return { count: Number(count), sum: Number(sum), ok: String(ok) };
}

describe('a read-through file', () => {
  it('starts a new database from nothing stored, and opens again from what a fold stored', () => {
    const stored = new StoredFile();
    const file = open(stored);
    file.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    fill(file, 1, 10);
    fold(file, stored);
    expect(file.heldBytes).toBe(0);
    const again = open(stored);
    expect(rows(again)).toEqual({ count: 10, sum: 55, ok: 'ok' });
  });

  it('holds only what changed since the last fold, and reads the rest from the stored file', () => {
    const stored = new StoredFile();
    const file = open(stored);
    file.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    fill(file, 0, 20_000);
    fold(file, stored);
    const size = stored.pagesBytes;
    expect(size).toBeGreaterThan(10_000_000);
    expect(file.heldBytes).toBe(0);
    // A few more rows change a few chunks (the tail, the tree's path to it), not the file.
    fill(file, 20_000, 50);
    expect(file.heldBytes).toBeGreaterThan(0);
    expect(file.heldBytes).toBeLessThanOrEqual(8 * CHUNK);
    // Every row readable, the file whole, read from the stored file (SQLite's own cache holds 2 MB at most).
    const before = stored.bytesRead;
    expect(rows(file)).toEqual({ count: 20_050, sum: (20_050 * 20_049) / 2, ok: 'ok' });
    expect(stored.bytesRead - before).toBeGreaterThan(size / 2);
    fold(file, stored);
    expect(rows(open(stored))).toEqual({ count: 20_050, sum: (20_050 * 20_049) / 2, ok: 'ok' });
  });

  it('reads one row of a large stored file without reading the file', () => {
    const stored = new StoredFile();
    const file = open(stored);
    file.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    fill(file, 0, 20_000);
    fold(file, stored);
    file.close();
    stored.bytesRead = 0;
    const again = open(stored);
    const [value] = again.db.exec('SELECT v FROM t WHERE id = 12345')[0]!.values[0]!;
    expect(String(value)).toMatch(/^row 12345 \.+$/);
    // The header, the schema and the tree's path to the row: a handful of pages.
    expect(stored.bytesRead).toBeLessThan(16 * 4096);
  });

  it('keeps a failed fold’s chunks, and a write made meanwhile, for the next fold', () => {
    const stored = new StoredFile();
    const file = open(stored);
    file.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    fill(file, 0, 1_000);
    fold(file, stored);
    fill(file, 1_000, 1_000);
    const taken = file.takeChanged(fileBytes(file));
    // The fold has not stored them yet: they are still read from memory, and written over by copy.
    fill(file, 2_000, 10);
    expect(rows(file)).toEqual({ count: 2_010, sum: (2_010 * 2_009) / 2, ok: 'ok' });
    // It failed: the chunks come back (the newer copies stay), and the next fold stores everything.
    file.restoreChanged(taken.keys());
    fold(file, stored);
    expect(file.heldBytes).toBe(0);
    expect(rows(open(stored))).toEqual({ count: 2_010, sum: (2_010 * 2_009) / 2, ok: 'ok' });
  });

  it('says its tracking is lost when the file is cut shorter (VACUUM), so that the caller stores it whole', () => {
    const stored = new StoredFile();
    const file = open(stored);
    file.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    fill(file, 0, 2_000);
    fold(file, stored);
    file.db.exec('DELETE FROM t; VACUUM');
    expect(file.verify(fileBytes(file))).toBe(false);
  });
});
