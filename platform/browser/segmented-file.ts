/**
 * One long file kept as segment files of `SEGMENT_BYTES` each (`<prefix>-0`, `<prefix>-1`, …) in an origin private
 * file system directory, read and written synchronously through one sync access handle per segment.
 *
 * Why not one file: Chromium grants a sync access handle room to grow in doubling steps of the file's size (1 MiB,
 * 2, 4, … up to 128 MiB, then steps of 128 MiB), and refuses the write when the origin's usage plus that step would
 * pass its quota. A 64 MB database in one file needs 64 MB of quota to spare before it can grow by one page; near a
 * full disk it then refuses every fold for good, even once some space is freed. A segment asks for at most its size.
 *
 * Segments after the last one in use are kept, empty, rather than deleted (a file cannot be removed while a handle
 * holds it); `ensure` opens (creating) the segments a size needs before anything is written there.
 */
import type { SyncFile } from './frame-log.js';

/** A segment's size: a multiple of every chunk size used to store the file (32 KiB). */
export const SEGMENT_BYTES = 8 * 1024 * 1024;

export interface SyncHandle extends SyncFile {
  close(): void;
}

interface FileHandle {
  createSyncAccessHandle(): Promise<SyncHandle>;
}

export class SegmentedFile implements SyncFile {
  readonly #directory: FileSystemDirectoryHandle;
  readonly #prefix: string;
  readonly #segments: SyncHandle[];
  /** Segments written or cut since the last flush. */
  readonly #unflushed = new Set<number>();

  private constructor(directory: FileSystemDirectoryHandle, prefix: string, segments: SyncHandle[]) {
    this.#directory = directory;
    this.#prefix = prefix;
    this.#segments = segments;
  }

  /** Opens the segments `directory` holds (`<prefix>-0` on, up to the first missing one). */
  static async open(directory: FileSystemDirectoryHandle, prefix: string): Promise<SegmentedFile> {
    const segments: SyncHandle[] = [];
    try {
      for (;;) {
        let handle: FileSystemFileHandle;
        try {
          handle = await directory.getFileHandle(`${prefix}-${segments.length}`);
        } catch (error) {
          if ((error as { name?: unknown } | null)?.name === 'NotFoundError') break;
          throw error;
        }
        segments.push(await (handle as unknown as FileHandle).createSyncAccessHandle());
      }
    } catch (error) {
      closeAll(segments);
      throw error;
    }
    return new SegmentedFile(directory, prefix, segments);
  }

  /** Whether every segment a file of `bytes` needs is open. */
  opensUpTo(bytes: number): boolean {
    return this.#segments.length >= Math.ceil(bytes / SEGMENT_BYTES);
  }

  /** Opens (creating) every segment a file of `bytes` needs. */
  async ensure(bytes: number): Promise<void> {
    const needed = Math.ceil(bytes / SEGMENT_BYTES);
    while (this.#segments.length < needed) {
      const handle = await this.#directory.getFileHandle(`${this.#prefix}-${this.#segments.length}`, {
        create: true,
      });
      this.#segments.push(await (handle as unknown as FileHandle).createSyncAccessHandle());
    }
  }

  getSize(): number {
    let size = 0;
    for (const segment of this.#segments) {
      const bytes = segment.getSize();
      if (bytes === 0) break;
      size += bytes;
      if (bytes < SEGMENT_BYTES) break;
    }
    return size;
  }

  read(into: Uint8Array, options: { at: number }): number {
    let done = 0;
    while (done < into.byteLength) {
      const { segment, offset, length } = this.#piece(options.at + done, into.byteLength - done);
      const handle = this.#segments[segment];
      if (handle === undefined) break;
      const read = handle.read(into.subarray(done, done + length), { at: offset });
      done += read;
      if (read < length) break;
    }
    return done;
  }

  /** Writes `bytes` at `at`; returns how many were written (fewer when the disk is full). */
  write(bytes: Uint8Array, options: { at: number }): number {
    let done = 0;
    while (done < bytes.byteLength) {
      const { segment, offset, length } = this.#piece(options.at + done, bytes.byteLength - done);
      const handle = this.#open(segment);
      this.#unflushed.add(segment);
      const written = handle.write(bytes.subarray(done, done + length), { at: offset });
      done += written;
      if (written !== length) break;
    }
    return done;
  }

  /**
   * Makes the file `size` long: the segment it ends in cut (or grown) there, always (one cheap call, and where a
   * fold's test finds it), those before it full, those after it empty.
   */
  truncate(size: number): void {
    const last = Math.ceil(size / SEGMENT_BYTES) - 1;
    for (let segment = 0; segment < Math.max(this.#segments.length, last + 1); segment++) {
      const want = Math.min(Math.max(size - segment * SEGMENT_BYTES, 0), SEGMENT_BYTES);
      const handle = want > 0 ? this.#open(segment) : this.#segments[segment];
      if (handle === undefined || (segment !== last && handle.getSize() === want)) continue;
      this.#unflushed.add(segment);
      handle.truncate(want);
    }
  }

  flush(): void {
    for (const segment of [...this.#unflushed].sort((a, b) => a - b)) {
      this.#segments[segment]?.flush();
      this.#unflushed.delete(segment);
    }
  }

  close(): void {
    closeAll(this.#segments);
    this.#segments.length = 0;
  }

  #piece(at: number, length: number): { segment: number; offset: number; length: number } {
    const segment = Math.floor(at / SEGMENT_BYTES);
    const offset = at - segment * SEGMENT_BYTES;
    return { segment, offset, length: Math.min(length, SEGMENT_BYTES - offset) };
  }

  #open(segment: number): SyncHandle {
    const handle = this.#segments[segment];
    if (handle === undefined) {
      throw new DOMException(
        `Segment ${segment} of ${this.#prefix} is not open (ensure() first)`,
        'InvalidStateError',
      );
    }
    return handle;
  }
}

export function closeAll(handles: readonly SyncHandle[]): void {
  for (const handle of handles) {
    try {
      handle.close();
    } catch {
      // already closed
    }
  }
}
