// The segmented file against real files (node:fs behind the calls an origin private file system directory and its
// sync access handles answer), so that segment boundaries, growth and cuts are checked byte for byte.
import {
  closeSync,
  existsSync,
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
import { afterEach, describe, expect, it } from 'vitest';
import { SEGMENT_BYTES, SegmentedFile } from './segmented-file.js';

const dirs: string[] = [];
const opened: SegmentedFile[] = [];
afterEach(() => {
  for (const file of opened.splice(0)) file.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A directory as the origin private file system gives it: file handles, each with one sync access handle. */
function directory(room = Number.POSITIVE_INFINITY): FileSystemDirectoryHandle {
  const dir = mkdtempSync(join(tmpdir(), 'spotflow-segmented-'));
  dirs.push(dir);
  // What the files may still grow by in all (a full disk, made by the test: the one fault here).
  let left = room;
  const fileHandle = (path: string) => ({
    createSyncAccessHandle: async () => {
      const fd = openSync(path, 'r+');
      return {
        read: (into: Uint8Array, { at }: { at: number }) => readSync(fd, into, 0, into.byteLength, at),
        write: (bytes: Uint8Array, { at }: { at: number }) => {
          const size = fstatSync(fd).size;
          const growth = Math.max(0, at + bytes.byteLength - size);
          const length = bytes.byteLength - Math.max(0, growth - left);
          const written = length > 0 ? writeSync(fd, bytes, 0, length, at) : 0;
          left -= Math.max(0, at + written - size);
          return written;
        },
        truncate: (size: number) => ftruncateSync(fd, size),
        getSize: () => fstatSync(fd).size,
        flush: () => {},
        close: () => closeSync(fd),
      };
    },
  });
  return {
    getFileHandle: async (name: string, options?: { create?: boolean }) => {
      const path = join(dir, name);
      if (!existsSync(path)) {
        if (!options?.create) throw new DOMException(`${name} not found`, 'NotFoundError');
        closeSync(openSync(path, 'w'));
      }
      return fileHandle(path);
    },
  } as unknown as FileSystemDirectoryHandle;
}

async function open(dir: FileSystemDirectoryHandle): Promise<SegmentedFile> {
  const file = await SegmentedFile.open(dir, 'pages');
  opened.push(file);
  return file;
}

/** Where two byte arrays first differ (-1: nowhere): a diff of megabytes would be no help, and costly. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return Math.min(a.byteLength, b.byteLength);
  return a.findIndex((byte, i) => byte !== b[i]);
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

describe('a segmented file', () => {
  it('writes and reads across segment boundaries, and opens again as it was', async () => {
    const dir = directory();
    const file = await open(dir);
    expect(file.getSize()).toBe(0);
    const bytes = pattern(2 * SEGMENT_BYTES + 5_000, 7);
    // Nothing is written to a segment that is not open: the caller makes room first.
    expect(() => file.write(bytes, { at: 0 })).toThrow(/not open/);
    await file.ensure(bytes.byteLength);
    expect(file.write(bytes, { at: 0 })).toBe(bytes.byteLength);
    expect(file.getSize()).toBe(bytes.byteLength);
    // A read across the first boundary.
    const across = new Uint8Array(10_000);
    expect(file.read(across, { at: SEGMENT_BYTES - 4_000 })).toBe(10_000);
    expect(firstDifference(across, bytes.subarray(SEGMENT_BYTES - 4_000, SEGMENT_BYTES + 6_000))).toBe(-1);
    // Past the end: what there is.
    expect(file.read(new Uint8Array(10_000), { at: bytes.byteLength - 1_000 })).toBe(1_000);
    file.close();
    opened.pop();

    const again = await open(dir);
    expect(again.getSize()).toBe(bytes.byteLength);
    const whole = new Uint8Array(bytes.byteLength);
    expect(again.read(whole, { at: 0 })).toBe(bytes.byteLength);
    expect(firstDifference(whole, bytes)).toBe(-1);
  });

  it('cuts to a size: the segment it ends in cut there, later ones emptied but kept, earlier ones whole', async () => {
    const dir = directory();
    const file = await open(dir);
    await file.ensure(3 * SEGMENT_BYTES);
    file.write(pattern(3 * SEGMENT_BYTES, 1), { at: 0 });
    file.truncate(SEGMENT_BYTES + 4_096);
    file.flush();
    expect(file.getSize()).toBe(SEGMENT_BYTES + 4_096);
    // Grown again, the file reads zeros where it was cut.
    file.truncate(2 * SEGMENT_BYTES);
    const tail = new Uint8Array(8_192);
    expect(file.read(tail, { at: SEGMENT_BYTES + 4_096 - 4_096 })).toBe(8_192);
    expect(tail.subarray(0, 4_096)).toEqual(
      pattern(3 * SEGMENT_BYTES, 1).subarray(SEGMENT_BYTES, SEGMENT_BYTES + 4_096),
    );
    expect(tail.subarray(4_096).every((byte) => byte === 0)).toBe(true);
    file.close();
    opened.pop();
    expect((await open(dir)).getSize()).toBe(2 * SEGMENT_BYTES);
  });

  it('stops at a short write (a full disk) and says how much was written', async () => {
    // Room for the first segment and 100 bytes more: the next write is cut there, as a full disk cuts it.
    const dir = directory(SEGMENT_BYTES + 100);
    const file = await open(dir);
    await file.ensure(2 * SEGMENT_BYTES);
    const bytes = pattern(SEGMENT_BYTES + 1_000, 3);
    expect(file.write(bytes, { at: 0 })).toBe(SEGMENT_BYTES + 100);
    expect(file.getSize()).toBe(SEGMENT_BYTES + 100);
  });
});
