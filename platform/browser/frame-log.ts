/**
 * An append-only log of checksummed frames in one file of the origin private file system, written through a
 * `FileSystemSyncAccessHandle` (the database worker's own file, outside IndexedDB's LevelDB: Chromium deletes an
 * origin's whole IndexedDB when a kill tore the last record of LevelDB's log, see test/browser/sdk-kill-folds.test.ts).
 *
 * Layout: a 16-byte header (magic, version, epoch), then frames. A frame is a 24-byte head (payload length, CRC-32 of
 * everything after the checksum, kind, epoch, sequence number) and its payload. A frame counts only if it is whole,
 * its checksum holds and it carries the header's epoch; reading stops at the first that does not.
 *
 * What LevelDB got wrong is the rule here: a torn tail (a kill in the middle of a write) is cut off when the log is
 * opened, before anything is appended after it, so a later frame can never be read as the torn one's remainder.
 * `reset` starts a new epoch with one header write: every frame before it stops counting at once, whatever a kill
 * leaves of the truncation after it.
 */
import { crc32 } from './crc32.js';

/** The synchronous file operations the log uses (a subset of `FileSystemSyncAccessHandle`). */
export interface SyncFile {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
}

export interface Frame {
  /** What the payload is, for the log's user (0–255). */
  kind: number;
  /** The user's sequence number (an integer up to 2^53). */
  seq: number;
  payload: Uint8Array;
}

/** "SFLG" */
const MAGIC = 0x53_46_4c_47;
const VERSION = 1;
const HEADER_BYTES = 16;
const FRAME_HEAD_BYTES = 24;
/** A frame claiming more than this is taken for damage, not read. */
const MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;

export class LogDamaged extends Error {}

export class FrameLog {
  readonly #file: SyncFile;
  #epoch: number;
  /** Where the next frame goes: the end of the last whole frame. */
  #end: number;
  /**
   * Set when a failure left it unknown what the file holds (a header written but not flushed, a cut that failed):
   * nothing more is written, so nothing is written where a later open would not read it. Reopening clears it.
   */
  #broken: unknown;

  private constructor(file: SyncFile, epoch: number, end: number) {
    this.#file = file;
    this.#epoch = epoch;
    this.#end = end;
  }

  /**
   * Opens the log in `file` (an empty file becomes a new log) and returns it with the frames it holds, in order. A
   * torn or damaged tail is cut off (and the cut flushed) before this returns. Throws `LogDamaged` when the file is
   * not a log of this version.
   */
  static open(file: SyncFile): { log: FrameLog; frames: Frame[] } {
    const size = file.getSize();
    if (size < HEADER_BYTES) {
      // Nothing whole was ever written (a kill during the first header write leaves less than a header).
      const log = new FrameLog(file, 1, HEADER_BYTES);
      writeHeader(file, 1);
      file.truncate(HEADER_BYTES);
      file.flush();
      return { log, frames: [] };
    }
    const header = readExactly(file, 0, HEADER_BYTES);
    const view = new DataView(header.buffer);
    if (view.getUint32(0) !== MAGIC || view.getUint32(4) !== VERSION) {
      throw new LogDamaged('the file is not a journal of this version');
    }
    const epoch = view.getUint32(8);
    const { frames, end } = scan(file, epoch, size);
    if (end < size) {
      file.truncate(end);
      file.flush();
    }
    return { log: new FrameLog(file, epoch, end), frames };
  }

  /** Where the next frame goes (the log's size in bytes). */
  get size(): number {
    return this.#end;
  }

  /** Appends `frames` with one write; durable only after `flush`. */
  append(frames: readonly Frame[]): void {
    this.#checkUsable();
    if (frames.length === 0) return;
    const total = frames.reduce((sum, frame) => sum + FRAME_HEAD_BYTES + frame.payload.byteLength, 0);
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const frame of frames) {
      encodeFrame(bytes, offset, frame, this.#epoch);
      offset += FRAME_HEAD_BYTES + frame.payload.byteLength;
    }
    try {
      writeExactly(this.#file, bytes, this.#end);
    } catch (error) {
      // Whatever part was written is not left for a later open to read past: the next frames go here anyway.
      try {
        this.#file.truncate(this.#end);
      } catch {
        // The next open cuts it (the checksum fails).
      }
      throw error;
    }
    this.#end += total;
  }

  /** Makes every frame appended so far durable. */
  flush(): void {
    this.#checkUsable();
    this.#file.flush();
  }

  /**
   * Removes the frames from `offset` on (appended after `size` said `offset`), durably: for frames whose flush
   * failed, which must not come back at the next open as if they had been stored.
   */
  cut(offset: number): void {
    this.#checkUsable();
    try {
      this.#file.truncate(offset);
      this.#file.flush();
      this.#end = Math.min(this.#end, offset);
    } catch (error) {
      this.#broken = error;
      throw error;
    }
  }

  /** Drops every frame: a new epoch, durable when this returns. */
  reset(): void {
    this.#checkUsable();
    const epoch = (this.#epoch % 0xffff_ffff) + 1;
    try {
      writeHeader(this.#file, epoch);
      this.#file.flush();
    } catch (error) {
      // Which epoch the file holds is not known now: frames written with either could be read as nothing.
      this.#broken = error;
      throw error;
    }
    this.#epoch = epoch;
    this.#end = HEADER_BYTES;
    try {
      // Space only: the old frames stopped counting with the header.
      this.#file.truncate(HEADER_BYTES);
    } catch {
      // Left for the next reset (or the next open's cut).
    }
  }

  #checkUsable(): void {
    if (this.#broken !== undefined) {
      throw new DOMException(
        `The journal cannot be written until it is opened again (${errorName(this.#broken)})`,
        'InvalidStateError',
      );
    }
  }
}

function writeHeader(file: SyncFile, epoch: number): void {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, VERSION);
  view.setUint32(8, epoch);
  writeExactly(file, header, 0);
}

function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : 'an error';
}

function encodeFrame(bytes: Uint8Array, offset: number, frame: Frame, epoch: number): void {
  const { kind, seq, payload } = frame;
  if (!Number.isInteger(kind) || kind < 0 || kind > 255) throw new RangeError(`frame kind ${kind}`);
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`frame seq ${seq}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_HEAD_BYTES);
  // Length (0), checksum (4), kind (8), 3 bytes unused, epoch (12), seq (16).
  view.setUint32(0, payload.byteLength);
  view.setUint8(8, kind);
  view.setUint32(12, epoch);
  view.setFloat64(16, seq);
  bytes.set(payload, offset + FRAME_HEAD_BYTES);
  view.setUint32(4, crc32(bytes.subarray(offset + 8, offset + FRAME_HEAD_BYTES + payload.byteLength)));
}

/** The whole frames of `epoch` from the header on, and where they end. */
function scan(file: SyncFile, epoch: number, size: number): { frames: Frame[]; end: number } {
  const frames: Frame[] = [];
  const reader = new WindowReader(file, size);
  let at = HEADER_BYTES;
  while (at + FRAME_HEAD_BYTES <= size) {
    const view = new DataView(reader.bytes(at, FRAME_HEAD_BYTES).slice().buffer);
    const length = view.getUint32(0);
    if (length > MAX_PAYLOAD_BYTES || at + FRAME_HEAD_BYTES + length > size) break;
    const whole = reader.bytes(at, FRAME_HEAD_BYTES + length);
    if (crc32(whole.subarray(8)) !== view.getUint32(4) || view.getUint32(12) !== epoch) break;
    frames.push({ kind: view.getUint8(8), seq: view.getFloat64(16), payload: whole.slice(FRAME_HEAD_BYTES) });
    at += FRAME_HEAD_BYTES + length;
  }
  return { frames, end: at };
}

/** Reads of a journal being scanned, served from windows of at least this size: one read, not two per frame. */
const SCAN_WINDOW_BYTES = 4 * 1024 * 1024;

class WindowReader {
  #start = 0;
  #bytes: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly file: SyncFile,
    private readonly size: number,
  ) {}

  /** `length` bytes at `at` (a view of the window: copy what is kept). */
  bytes(at: number, length: number): Uint8Array {
    if (at < this.#start || at + length > this.#start + this.#bytes.length) {
      this.#start = at;
      this.#bytes = readExactly(this.file, at, Math.min(Math.max(length, SCAN_WINDOW_BYTES), this.size - at));
    }
    return this.#bytes.subarray(at - this.#start, at - this.#start + length);
  }
}

function readExactly(file: SyncFile, at: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const read = file.read(bytes, { at });
  if (read !== length) throw new LogDamaged(`read ${read} of ${length} bytes at ${at}`);
  return bytes;
}

function writeExactly(file: SyncFile, bytes: Uint8Array, at: number): void {
  const written = file.write(bytes, { at });
  // A short write is what a full disk gives.
  if (written !== bytes.byteLength) {
    throw new DOMException(`wrote ${written} of ${bytes.byteLength} bytes`, 'QuotaExceededError');
  }
}
