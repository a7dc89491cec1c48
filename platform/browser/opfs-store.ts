/**
 * The database's durable copy in the origin private file system (in the database worker), outside IndexedDB: Chromium
 * deletes an origin's whole IndexedDB when a kill tore the last record of its LevelDB log (issue 17), and a file
 * written through a sync access handle is not kept in LevelDB. Two files, each held by one `FileSystemSyncAccessHandle`
 * for as long as the store is open (a handle is exclusive: another context cannot open them meanwhile):
 *
 * - `pages-0`, `pages-1`, …: the SQLite file as of the last fold, byte for byte, in segments of 8 MiB
 *   (segmented-file.ts says why), called `pages` below.
 * - `journal`: a frame log (frame-log.ts). It starts with a BASE frame (the journal position `pages` holds), then
 *   holds STATEMENTS frames (each group of statements committed since) and, while a fold is being stored, that
 *   fold's CHUNK frames and its FOLD frame, all under the fold's journal position.
 *
 * A fold never writes `pages` before its chunks are durable in the journal: (1) the changed chunks and a FOLD frame
 * are appended with one write and flushed; (2) the chunks are written into `pages` in place, the file cut to its new
 * length, and flushed; (3) the journal starts a new epoch holding only the new BASE. A kill before (1) is flushed
 * leaves at most some of the fold's chunks (whole frames before a torn one) and no FOLD: ignored, and marked
 * ABANDONED at open, as a FOLD takes only the chunks right before it (of its own journal position). A kill after (1) is finished at
 * open: the last FOLD's chunks are written into `pages` again (the same bytes: harmless), and the groups it holds are
 * skipped. A kill inside (3) leaves a journal with no BASE: `pages` holds everything, the position starts over.
 *
 * The store exists once `journal` has a header: `pages` is written and flushed before it, so a kill while a store is
 * first written (a new database, or one moved here from IndexedDB) leaves no store, and the next open starts again.
 */
import type { SqlStatement } from '../../src/ports.js';
import { type Frame, FrameLog, type SyncFile } from './frame-log.js';
import { closeFiles, openHandles } from './opfs-files.js';
import {
  ABANDONED,
  BASE,
  baseFrame,
  CHUNK,
  chunkPayload,
  FOLD,
  type FoldMeta,
  foldPayload,
  readChunkPayload,
  readFoldPayload,
  STATEMENTS,
} from './opfs-frames.js';
import type { PageSource } from './read-through-file.js';
import type { SegmentedFile, SyncHandle } from './segmented-file.js';
import { decodeStatements, encodeStatements } from './statement-codec.js';

/** A journal shorter than its header holds no store (see frame-log.ts). */
const JOURNAL_HEADER_BYTES = 16;
/**
 * The journal is kept small: a fold is due at 2 MiB of groups, and durable writes are refused past 8 MiB while folds
 * keep failing. Chromium grants a sync access handle room in doubling steps of its file's size (segmented-file.ts),
 * so a file that must grow near a full disk asks for as much again as it holds: a small journal keeps that step
 * small, and a fold needs little free space to succeed. (Room once granted stays the handle's after the journal is
 * cut: keeping the old bytes in the file instead, to spare the requests, doubled the bytes written per enqueue at
 * 200,000 pending, measured with `BENCH_WRITES_TRACE=1`.)
 */
export const JOURNAL_FOLD_BYTES = 2 * 1024 * 1024;
export const JOURNAL_LIMIT_BYTES = 8 * 1024 * 1024;

export interface OpfsLoaded {
  /** The journal position the stored file (`pages`, read with `readPages`) holds. */
  baseSeq: number;
  /** The groups of statements committed after it, in order, each with its journal position. */
  groups: { seq: number; statements: SqlStatement[] }[];
}

export type { FoldMeta } from './opfs-frames.js';

export class OpfsStore implements PageSource {
  readonly #name: string;
  #pages: SegmentedFile;
  /** `pages`' size, known without asking the file each time. */
  #pagesBytes: number;
  #journalFile: SyncHandle;
  #journal: FrameLog;
  #closed = false;
  /** A write failed: the handles are opened again before the next one (see `reopen`). */
  #failed = false;
  /** The journal position of the last group appended (a fold must hold it: see `fold`). */
  #lastSeq = 0;

  private constructor(name: string, pages: SegmentedFile, journalFile: SyncHandle, journal: FrameLog) {
    this.#name = name;
    this.#pages = pages;
    this.#pagesBytes = pages.getSize();
    this.#journalFile = journalFile;
    this.#journal = journal;
  }

  /**
   * Opens the store of database `name`, finishing a fold a kill interrupted. Undefined when there is none yet (see
   * `create`). Rejects with the browser's error when the files cannot be opened (`NoModificationAllowedError`:
   * another context holds them).
   */
  static async open(name: string): Promise<{ store: OpfsStore; loaded: OpfsLoaded } | undefined> {
    const { pages, journalFile } = await openHandles(name);
    try {
      // No header: no store (never created, or its first store was cut short).
      if (journalFile.getSize() < JOURNAL_HEADER_BYTES) {
        closeFiles(pages, journalFile);
        return undefined;
      }
      const { log, frames } = FrameLog.open(journalFile);
      // A fold to finish writes as far as its file reaches.
      const folds = frames.filter((frame) => frame.kind === FOLD).map(readFoldPayload);
      await pages.ensure(Math.max(0, ...folds.map((fold) => fold.fileBytes)));
      const store = new OpfsStore(name, pages, journalFile, log);
      return { store, loaded: store.#recover(frames) };
    } catch (error) {
      closeFiles(pages, journalFile);
      throw error;
    }
  }

  /** Creates the store of database `name` (replacing whatever is there) holding `image` at journal position `seq`. */
  static async create(name: string, image: Uint8Array, seq: number): Promise<OpfsStore> {
    const { pages, journalFile } = await openHandles(name);
    try {
      // The journal goes first: while it is empty, no half-written `pages` can pass for a store.
      journalFile.truncate(0);
      journalFile.flush();
      await pages.ensure(image.byteLength);
      writeAll(pages, image, 0);
      pages.truncate(image.byteLength);
      pages.flush();
      const { log } = FrameLog.open(journalFile);
      log.append([baseFrame(seq, image.byteLength)]);
      log.flush();
      return new OpfsStore(name, pages, journalFile, log);
    } catch (error) {
      closeFiles(pages, journalFile);
      throw error;
    }
  }

  /** Stores a committed group; with `strict`, durable (flushed) when this returns. Returns the bytes it took. */
  append(seq: number, statements: readonly SqlStatement[], durability: 'strict' | 'relaxed'): number {
    this.#checkWritable();
    const payload = encodeStatements(statements);
    const before = this.#journal.size;
    return this.#failingMarked(() => {
      this.#journal.append([{ kind: STATEMENTS, seq, payload }]);
      if (durability === 'strict') {
        try {
          this.#journal.flush();
        } catch (error) {
          // The group is refused: it must not be found stored at the next open either.
          this.#journal.cut(before);
          throw error;
        }
      }
      this.#lastSeq = Math.max(this.#lastSeq, seq);
      return this.#journal.size - before;
    });
  }

  /** Whether a fold of a file of `fileBytes` can be written now (the segments it reaches are open). */
  hasRoomFor(fileBytes: number): boolean {
    return this.#pages.opensUpTo(fileBytes);
  }

  /** Opens what a fold of a file of `fileBytes` writes to (the segments it reaches); before `fold`. */
  async prepareFold(fileBytes: number): Promise<void> {
    this.#checkWritable();
    await this.#pages.ensure(fileBytes);
  }

  /**
   * Stores a fold: `chunks` (chunk number → bytes) changed since the last one; `meta` the file they make. Refused if a
   * group after the fold's position was stored meanwhile: starting the journal over would drop it.
   */
  fold(meta: FoldMeta, chunks: ReadonlyMap<number, Uint8Array>): void {
    this.#checkWritable();
    if (this.#lastSeq > meta.seq) {
      throw new Error(`A fold of journal position ${meta.seq} came after group ${this.#lastSeq} was stored`);
    }
    this.#failingMarked(() => {
      this.writeFold(meta, chunks);
      this.applyFold(meta, chunks);
      this.finishFold(meta);
    });
  }

  /**
   * Whether a write failed since the files were opened. Chromium keeps failing writes through a handle that once
   * met a full disk or quota (QuotaExceededError) even after space is freed, so the store takes no more writes
   * until `reopen` has opened its files again.
   */
  get needsReopen(): boolean {
    return this.#failed;
  }

  /**
   * Opens the files again after a failed write, keeping what they hold: a torn frame at the journal's end is cut,
   * and the chunks of a fold cut short are marked abandoned. Nothing may read or write the store meanwhile (its
   * files are closed for a moment). If this fails, the store stays closed-for-writes and may be reopened again.
   */
  async reopen(): Promise<void> {
    if (this.#closed) throw new DOMException('The store is closed', 'InvalidStateError');
    closeFiles(this.#pages, this.#journalFile);
    const { pages, journalFile } = await openHandles(this.#name);
    try {
      await pages.ensure(this.#pagesBytes);
      const { log, frames } = FrameLog.open(journalFile);
      this.#pages = pages;
      this.#journalFile = journalFile;
      this.#journal = log;
      this.#pagesBytes = pages.getSize();
      this.#abandonCutFold(frames);
      this.#failed = false;
    } catch (error) {
      closeFiles(pages, journalFile);
      throw error;
    }
  }

  /** Step (1) of a fold, apart only so that a test can stop after it: the chunks and the FOLD frame, flushed. */
  writeFold(meta: FoldMeta, chunks: ReadonlyMap<number, Uint8Array>): void {
    this.#checkOpen();
    const frames: Frame[] = [...chunks].map(([chunk, bytes]) => ({
      kind: CHUNK,
      seq: meta.seq,
      payload: chunkPayload(chunk, bytes),
    }));
    frames.push({ kind: FOLD, seq: meta.seq, payload: foldPayload(meta) });
    this.#journal.append(frames);
    this.#journal.flush();
  }

  /** Step (2): the chunks written into `pages` in place, the file cut to its length, flushed. */
  applyFold(meta: FoldMeta, chunks: ReadonlyMap<number, Uint8Array>): void {
    this.#checkOpen();
    for (const [chunk, bytes] of chunks) {
      const at = chunk * meta.chunkBytes;
      if (at < meta.fileBytes) writeAll(this.#pages, bytes.subarray(0, meta.fileBytes - at), at);
    }
    this.#pages.truncate(meta.fileBytes);
    this.#pagesBytes = meta.fileBytes;
    this.#pages.flush();
  }

  /** Step (3): the journal starts over from the fold. */
  finishFold(meta: FoldMeta): void {
    this.#checkOpen();
    this.#journal.reset();
    this.#journal.append([baseFrame(meta.seq, meta.fileBytes)]);
    this.#journal.flush();
  }

  /** The stored file's size in bytes (as of the last fold). */
  get pagesBytes(): number {
    return this.#pagesBytes;
  }

  /** Reads the stored file at `at` into `into`; returns how many bytes were read (fewer past its end). */
  readPages(into: Uint8Array, at: number): number {
    this.#checkOpen();
    return this.#pages.read(into, { at });
  }

  /** The journal's size in bytes (what a fold would make room of). */
  get journalBytes(): number {
    return this.#journal.size;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFiles(this.#pages, this.#journalFile);
  }

  /** The image and the groups after it, from the journal's frames; a fold a kill left after step (1) is finished. */
  #recover(frames: readonly Frame[]): OpfsLoaded {
    const first = frames[0];
    let baseSeq = first?.kind === BASE ? first.seq : 0;
    const groups: OpfsLoaded['groups'] = [];
    // The chunks of the fold being read (CHUNK frames of one journal position, in a row, then its FOLD).
    let chunks = new Map<number, Uint8Array>();
    let chunksSeq = -1;
    let completed: { meta: FoldMeta; chunks: Map<number, Uint8Array> } | undefined;
    for (const frame of frames) {
      if (frame.kind === CHUNK) {
        if (frame.seq !== chunksSeq) {
          chunks = new Map();
          chunksSeq = frame.seq;
        }
        const [chunk, bytes] = readChunkPayload(frame);
        chunks.set(chunk, bytes);
        continue;
      }
      if (frame.kind === STATEMENTS) {
        groups.push({ seq: frame.seq, statements: decodeStatements(frame.payload) });
      } else if (frame.kind === FOLD) {
        completed = { meta: readFoldPayload(frame), chunks: frame.seq === chunksSeq ? chunks : new Map() };
      }
      // Any frame but a CHUNK ends a fold's run of chunks.
      chunks = new Map();
      chunksSeq = -1;
    }
    this.#abandonCutFold(frames);
    if (completed !== undefined) {
      // Killed during step (2) or (3): step (2) again; the journal is started over by the next fold.
      this.applyFold(completed.meta, completed.chunks);
      baseSeq = completed.meta.seq;
    }
    return { baseSeq, groups: groups.filter((group) => group.seq > baseSeq) };
  }

  /** Marks the chunks of a fold cut short at the journal's end, before anything else is appended after them. */
  #abandonCutFold(frames: readonly Frame[]): void {
    let at = frames.length;
    while (at > 0 && frames[at - 1]!.kind === CHUNK) at--;
    const seq = frames[frames.length - 1]?.seq;
    if (at === frames.length || seq === undefined) return;
    this.#journal.append([{ kind: ABANDONED, seq, payload: new Uint8Array(0) }]);
    this.#journal.flush();
  }

  /** Runs `write`; if it throws, the store takes no more writes until reopened. */
  #failingMarked<T>(write: () => T): T {
    try {
      return write();
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (this.#failed) {
      throw new DOMException('A write failed: the store must be opened again first', 'InvalidStateError');
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new DOMException('The store is closed', 'InvalidStateError');
  }
}

function writeAll(file: SyncFile, bytes: Uint8Array, at: number): void {
  const written = file.write(bytes, { at });
  if (written !== bytes.byteLength) {
    throw new DOMException(`wrote ${written} of ${bytes.byteLength} bytes`, 'QuotaExceededError');
  }
}
