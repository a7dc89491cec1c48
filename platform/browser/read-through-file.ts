/**
 * A sql.js database file that is not held in memory (in the database worker, origin private file system only): SQLite
 * reads each page from the store's `pages` file as it asks for it, and only the chunks changed since the last fold
 * are in memory, until a fold has stored them there. So the worker's memory does not grow with the database (issue
 * 17: a whole file in memory cost the renderer ~80 MB at 200,000 messages), and opening reads nothing but the journal.
 * It needs synchronous reads, which only a sync access handle gives.
 *
 * sql.js keeps its file in Emscripten's in-memory file system (MEMFS) and exposes no file-system hook. MEMFS keeps a
 * file's bytes in `node.contents` and touches them only as `contents.subarray(start, end)` (a read, copied at once
 * into SQLite's memory), `contents.set(bytes, offset)` (a write) and `contents.length` (the room it has; it grows a
 * file only when that is too small). The file here is created with an object that answers those three from the
 * store and the changed chunks, handed to MEMFS the way page-file.ts hands it an image: as what `slice()` of the
 * image returns when MEMFS creates the file.
 *
 * MEMFS would copy the whole file into an array of its own only if the file were cut shorter (SQLite does that only
 * for VACUUM and auto-vacuum, which this database never runs): a read longer than any SQLite page then marks the
 * tracking lost, and `verify()` says so (the caller stores the whole file again from a copy in memory).
 */
import type { Database as SqlJsDatabase, SqlJsStatic } from 'sql.js';
import { emptyDatabaseImage, type TrackedFile } from './page-file.js';

/** The stored file, read synchronously. */
export interface PageSource {
  /** The stored file's size in bytes. */
  readonly pagesBytes: number;
  /** Reads the stored bytes at `at` into `into`; returns how many were read (fewer past the end). */
  readPages(into: Uint8Array, at: number): number;
}

/** Emscripten's code for an I/O error (EIO, as WASI numbers it). */
const EIO = 29;

/** SQLite's largest page: a longer read is MEMFS copying the whole file (see above). */
const LONGEST_PAGE = 64 * 1024;

/** What MEMFS sees as the file's bytes. */
interface FileContents {
  readonly length: number;
  subarray(start: number, end: number): Uint8Array;
  set(bytes: Uint8Array, offset?: number): void;
}

export class ReadThroughFile implements TrackedFile {
  readonly db: SqlJsDatabase;
  readonly chunkBytes: number;
  readonly #source: PageSource;
  /** The file's size as the writes seen made it. */
  #size: number;
  /** Chunks changed since the last fold, each a whole chunk (zeros past the file's end). */
  #changed = new Map<number, Uint8Array>();
  /** Chunks a fold took and has not yet said were stored; read from here until then. */
  #taken = new Map<number, Uint8Array>();
  #lost = false;
  /** Why the last read of the stored file failed, until `takeReadFailure`. */
  #readFailure: unknown;
  /** Where a read is assembled before MEMFS copies it into SQLite's memory. */
  #scratch = new Uint8Array(LONGEST_PAGE);

  private constructor(sql: SqlJsStatic, source: PageSource, chunkBytes: number) {
    this.#source = source;
    this.chunkBytes = chunkBytes;
    this.#size = source.pagesBytes;
    if (this.#size === 0) {
      // Nothing stored yet (a new database): an empty database's first page, stored by the next fold.
      const empty = emptyDatabaseImage(sql);
      const chunk = new Uint8Array(chunkBytes);
      chunk.set(empty);
      this.#changed.set(0, chunk);
      this.#size = empty.byteLength;
    }
    const contents: FileContents = {
      length: Number.MAX_SAFE_INTEGER,
      subarray: (start, end) => this.#read(start, end),
      set: (bytes, offset) => this.#write(bytes, offset ?? 0),
    };
    const size = this.#size;
    let taken = false;
    // MEMFS creates the file with `image.slice(0, length)` (keeping `length` as the file's size): this seed answers
    // with the contents above.
    const seed = {
      length: size,
      subarray: () => {
        throw new Error('sql.js read the seed of a read-through file');
      },
      slice: (start: number, end: number) => {
        if (start !== 0 || end !== size) throw new Error('sql.js sliced the seed of a read-through file');
        taken = true;
        return contents;
      },
    };
    this.db = new sql.Database(seed as unknown as Uint8Array);
    if (!taken) {
      this.db.close();
      throw new Error('sql.js did not create its file as expected: it cannot be read through');
    }
  }

  /** Opens the file `source` stores (an empty database when it stores nothing yet) as a sql.js database. */
  static open(sql: SqlJsStatic, source: PageSource, chunkBytes: number): ReadThroughFile {
    return new ReadThroughFile(sql, source, chunkBytes);
  }

  /** Reads every chunk into memory: the whole file is to be stored again. */
  markAllChanged(): void {
    for (let chunk = 0; chunk * this.chunkBytes < this.#size; chunk++) this.#changedChunk(chunk);
  }

  /** The changed chunks themselves (never written again: a later write copies them first), kept until `stored()`. */
  takeChanged(fileBytes: number): Map<number, Uint8Array> {
    const chunks = new Map<number, Uint8Array>();
    for (const chunk of [...this.#changed.keys()].sort((a, b) => a - b)) {
      const bytes = this.#changed.get(chunk)!;
      this.#taken.set(chunk, bytes);
      const start = chunk * this.chunkBytes;
      if (start < fileBytes)
        chunks.set(chunk, bytes.subarray(0, Math.min(this.chunkBytes, fileBytes - start)));
    }
    this.#changed.clear();
    return chunks;
  }

  restoreChanged(chunks: Iterable<number>): void {
    for (const chunk of chunks) {
      const bytes = this.#taken.get(chunk);
      // A write since the fold took it made a newer copy, which stays.
      if (bytes !== undefined && !this.#changed.has(chunk)) this.#changed.set(chunk, bytes);
    }
    this.#taken.clear();
  }

  /** The store now holds the chunks taken: they are read from it again. */
  stored(): void {
    this.#taken.clear();
  }

  /** Bytes of the file held in memory: the chunks changed since the last fold, and those a fold is storing. */
  get heldBytes(): number {
    return (this.#changed.size + this.#taken.size) * this.chunkBytes;
  }

  /** Why a read of the stored file failed since the last call (a statement then failed with a disk I/O error). */
  takeReadFailure(): unknown {
    const failure = this.#readFailure;
    this.#readFailure = undefined;
    return failure;
  }

  verify(fileBytes: number): boolean {
    return !this.#lost && this.#size === fileBytes;
  }

  close(): void {
    this.db.close();
    this.#changed.clear();
    this.#taken.clear();
  }

  /** Bytes `start` to `end` of the file; valid until the next read (MEMFS copies them at once). */
  #read(start: number, end: number): Uint8Array {
    const length = end - start;
    if (length > LONGEST_PAGE) this.#lost = true;
    const into =
      length > this.#scratch.byteLength ? new Uint8Array(length) : this.#scratch.subarray(0, length);
    for (const { chunk, from, to, within } of this.#pieces(start, end)) {
      const piece = into.subarray(from - start, to - start);
      const held = this.#changed.get(chunk) ?? this.#taken.get(chunk);
      if (held !== undefined) piece.set(held.subarray(within, within + piece.byteLength));
      else this.#readStored(piece, from);
    }
    return into;
  }

  /** MEMFS writes a view of SQLite's memory (a typed array) at `offset`. */
  #write(bytes: Uint8Array, offset: number): void {
    const end = offset + bytes.length;
    for (const { chunk, from, to, within } of this.#pieces(offset, end)) {
      this.#changedChunk(chunk).set(bytes.subarray(from - offset, to - offset), within);
    }
    if (end > this.#size) this.#size = end;
  }

  /** Bytes `start` to `end` cut at chunk boundaries: each piece's chunk, its range, and where it starts in its chunk. */
  *#pieces(
    start: number,
    end: number,
  ): Generator<{ chunk: number; from: number; to: number; within: number }> {
    for (let from = start; from < end; ) {
      const chunk = Math.floor(from / this.chunkBytes);
      const to = Math.min(end, (chunk + 1) * this.chunkBytes);
      yield { chunk, from, to, within: from - chunk * this.chunkBytes };
      from = to;
    }
  }

  /** The changed copy of `chunk`, made from the newest bytes of it (taken by a fold, or stored) if there is none. */
  #changedChunk(chunk: number): Uint8Array {
    let bytes = this.#changed.get(chunk);
    if (bytes !== undefined) return bytes;
    const taken = this.#taken.get(chunk);
    if (taken !== undefined) {
      bytes = taken.slice();
    } else {
      bytes = new Uint8Array(this.chunkBytes);
      this.#readStored(bytes, chunk * this.chunkBytes);
    }
    this.#changed.set(chunk, bytes);
    return bytes;
  }

  /** Stored bytes at `at` into `into`, zeros past the stored file's end. */
  #readStored(into: Uint8Array, at: number): void {
    let read = 0;
    try {
      if (at < this.#source.pagesBytes) read = this.#source.readPages(into, at);
    } catch (error) {
      this.#readFailure = error;
      // Thrown as the file system's own error, SQLite fails the statement ("disk I/O error") and stays whole;
      // anything else thrown here would unwind through SQLite's frames and leave it in an unknown state.
      throw Object.assign(new Error('The stored file could not be read'), { name: 'ErrnoError', errno: EIO });
    }
    if (read < into.byteLength) into.fill(0, read);
  }
}
