/**
 * Which parts of sql.js's database file changed, so that a fold stores only those (runs in the database worker).
 *
 * sql.js keeps its file in Emscripten's in-memory file system (MEMFS), which holds a file as one Uint8Array and
 * writes into it with `set()`: a page written at its offset, or, when the file grows or shrinks, the old content
 * copied into a new array from offset 0. sql.js exposes no file-system hook, so this module watches `set()` itself:
 * a write into the file's array marks the chunks it covers as changed; a copy of the whole file into a new array
 * makes that array the file's. The array itself is found at open: sql.js copies the image it is given with
 * `slice()`, which the image here answers with itself, extended over the room its buffer has after it. So opening
 * copies nothing, and the file grows into that room before MEMFS copies it into a larger array (see `fileImage`).
 *
 * If MEMFS ever wrote another way, the tracked size would stop matching SQLite's page count: `verify()` then says
 * the tracking is lost, and the caller stores the whole file again (and opens a tracked copy).
 */
import type { Database as SqlJsDatabase, SqlJsStatic } from 'sql.js';

type Watcher = (target: Uint8Array, source: ArrayLike<number>, offset: number) => void;

let watcher: Watcher | undefined;
const nativeSet = Uint8Array.prototype.set;

/** Installed once per worker: one extra comparison per `Uint8Array.set` call while a file is watched. */
function installSetHook(): void {
  if (Uint8Array.prototype.set !== nativeSet) return;
  Uint8Array.prototype.set = function set(this: Uint8Array, source: ArrayLike<number>, offset?: number) {
    nativeSet.call(this, source, offset);
    watcher?.(this, source, offset ?? 0);
  } as typeof nativeSet;
}

/**
 * Room an image is given to grow into: what MEMFS itself adds when a file of over 1 MiB outgrows its array. Without
 * it, the first write that grows a loaded file copies all of it, which took 0.2–0.8 s at 44 MB on a busy machine.
 */
const GROWTH_ROOM = 1 / 8;

/** An empty (zeroed) image of `bytes`, over a buffer with room after it for the file to grow into. */
export function fileImage(bytes: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(bytes + Math.ceil(bytes * GROWTH_ROOM)), 0, bytes);
}

/**
 * A sql.js database file whose changed chunks a fold stores: held whole in memory (`PageFile`, for IndexedDB) or
 * read from the stored file as SQLite asks for it (`ReadThroughFile`, read-through-file.ts, for the origin private
 * file system).
 */
export interface TrackedFile {
  readonly db: SqlJsDatabase;
  readonly chunkBytes: number;
  /** Marks every chunk changed (the whole file is to be stored again). */
  markAllChanged(): void;
  /**
   * The chunks changed since the last call, cut at `fileBytes` (SQLite's page count times page size), chunks past
   * the end left out. Each is a copy the caller may keep, or a buffer the file no longer writes to.
   */
  takeChanged(fileBytes: number): Map<number, Uint8Array>;
  /** Gives chunks back after a fold that failed to store them, so the next fold stores them again. */
  restoreChanged(chunks: Iterable<number>): void;
  /** The chunks taken last were stored: the file may let go of what it kept of them. */
  stored(): void;
  /** Whether the writes seen account for the file SQLite describes (`fileBytes`: page count × page size). */
  verify(fileBytes: number): boolean;
  /** Why reading the stored file failed since the last call, if the file reads it (undefined for one in memory). */
  takeReadFailure(): unknown;
  /** Stops watching and closes the database (closing twice is harmless). */
  close(): void;
}

export class PageFile implements TrackedFile {
  readonly db: SqlJsDatabase;
  readonly chunkBytes: number;
  #bytes: Uint8Array;
  /** The file's size as the writes seen made it. */
  #size: number;
  #changed = new Set<number>();
  readonly #watcher: Watcher = (target, source, offset) => this.#observe(target, source, offset);

  private constructor(db: SqlJsDatabase, bytes: Uint8Array, size: number, chunkBytes: number) {
    this.db = db;
    this.#bytes = bytes;
    this.#size = size;
    this.chunkBytes = chunkBytes;
  }

  /**
   * Opens `image` (a whole SQLite file; empty for a new database) as a sql.js database whose file is watched.
   * The image's buffer becomes the file's storage: the caller must not use it again.
   */
  static open(sql: SqlJsStatic, image: Uint8Array, chunkBytes: number): PageFile {
    installSetHook();
    const seed = image.length > 0 ? image : emptyDatabaseImage(sql);
    let storage: Uint8Array | undefined;
    // MEMFS creates the file with `image.slice(0, length)` (keeping `length` as the file's size): the image itself,
    // with the room after it, is the file's array from then on.
    Object.defineProperty(seed, 'slice', {
      configurable: true,
      value(this: Uint8Array, start?: number, end?: number) {
        if (start !== 0 || end !== this.length) return Uint8Array.prototype.slice.call(this, start, end);
        storage = new Uint8Array(this.buffer, this.byteOffset, this.buffer.byteLength - this.byteOffset);
        return storage;
      },
    });
    const db = new sql.Database(seed);
    delete (seed as { slice?: unknown }).slice;
    if (storage === undefined) {
      db.close();
      throw new Error('sql.js did not take the image as expected: its file cannot be watched');
    }
    const file = new PageFile(db, storage, seed.length, chunkBytes);
    watcher = file.#watcher;
    return file;
  }

  /** The file's size in bytes. */
  get size(): number {
    return this.#size;
  }

  /** Marks every chunk changed (the whole file is to be stored again). */
  markAllChanged(): void {
    for (let chunk = 0; chunk * this.chunkBytes < this.#size; chunk++) this.#changed.add(chunk);
  }

  /**
   * The chunks changed since the last call, each as an independent copy of its bytes, as of now, cut at
   * `fileBytes` (SQLite's page count times page size). Chunks past the end are left out.
   */
  takeChanged(fileBytes: number): Map<number, Uint8Array> {
    const chunks = new Map<number, Uint8Array>();
    for (const chunk of [...this.#changed].sort((a, b) => a - b)) {
      const start = chunk * this.chunkBytes;
      if (start >= fileBytes) continue;
      chunks.set(chunk, this.#bytes.slice(start, Math.min(start + this.chunkBytes, fileBytes)));
    }
    this.#changed.clear();
    return chunks;
  }

  /** Gives chunks back after a fold that failed to store them, so the next fold stores them again. */
  restoreChanged(chunks: Iterable<number>): void {
    for (const chunk of chunks) this.#changed.add(chunk);
  }

  /** Nothing to let go: the chunks taken were copies. */
  stored(): void {}

  /** Never: the whole file is in memory. */
  takeReadFailure(): unknown {
    return undefined;
  }

  /** Whether the writes seen account for the file SQLite describes (`fileBytes`: page count × page size). */
  verify(fileBytes: number): boolean {
    return this.#size === fileBytes && this.#bytes.length >= fileBytes;
  }

  /** Stops watching and closes the database (closing twice is harmless). */
  close(): void {
    if (watcher === this.#watcher) watcher = undefined;
    this.db.close();
  }

  #observe(target: Uint8Array, source: ArrayLike<number>, offset: number): void {
    if (target === this.#bytes) {
      const end = offset + source.length;
      if (end <= offset) return;
      for (let chunk = Math.floor(offset / this.chunkBytes); chunk * this.chunkBytes < end; chunk++) {
        this.#changed.add(chunk);
      }
      if (end > this.#size) this.#size = end;
      return;
    }
    // MEMFS growing or truncating the file: the whole content (or its head) copied into a fresh array at 0.
    if (
      offset === 0 &&
      ArrayBuffer.isView(source) &&
      source.buffer === this.#bytes.buffer &&
      source.byteOffset === this.#bytes.byteOffset &&
      target.buffer !== this.#bytes.buffer &&
      target.byteOffset === 0 &&
      (source.byteLength === this.#size || target.length < this.#size)
    ) {
      if (target.length < this.#size) {
        // Truncated: the tail chunks go (stored ones past the new end are deleted by the fold).
        this.#size = target.length;
        const lastChunk = Math.floor((this.#size - 1) / this.chunkBytes);
        this.#changed.add(Math.max(lastChunk, 0));
      }
      this.#bytes = target;
    }
  }
}

/** A valid SQLite file with no tables (one page), so that even a new database starts from an image sql.js copies. */
export function emptyDatabaseImage(sql: SqlJsStatic): Uint8Array {
  const watching = watcher;
  watcher = undefined;
  const scratch = new sql.Database();
  try {
    // Any write makes SQLite create page 1; setting the version back leaves an empty database.
    scratch.exec('PRAGMA user_version = 1; PRAGMA user_version = 0');
    return scratch.export();
  } finally {
    scratch.close();
    watcher = watching;
  }
}
