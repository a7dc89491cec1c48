// The frame log against a real file (node:fs behind the same synchronous calls a FileSystemSyncAccessHandle has).
// What a kill leaves is made by cutting or appending to that file: the one fault here made by editing the file.
import {
  closeSync,
  fstatSync,
  fsyncSync,
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
import { type Frame, FrameLog, LogDamaged, type SyncFile } from './frame-log.js';

const dirs: string[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spotflow-frame-log-'));
  dirs.push(dir);
  return join(dir, 'log');
}

/** A file opened as a sync access handle would be: read, write at offsets, truncate, size, flush. */
function syncFile(path: string): SyncFile & { flushes: number } {
  const fd = openSync(path, 'a+');
  fds.push(fd);
  const file = {
    flushes: 0,
    read: (buffer: Uint8Array, { at }: { at: number }) => readSync(fd, buffer, 0, buffer.length, at),
    write: (buffer: Uint8Array, { at }: { at: number }) => {
      // 'a+' appends whatever the position: write through a second descriptor that honours it.
      const w = openSync(path, 'r+');
      try {
        return writeSync(w, buffer, 0, buffer.length, at);
      } finally {
        closeSync(w);
      }
    },
    truncate: (size: number) => ftruncateSync(fd, size),
    getSize: () => fstatSync(fd).size,
    flush: () => {
      fsyncSync(fd);
      file.flushes++;
    },
  };
  return file;
}

const frame = (seq: number, text: string, kind = 1): Frame => ({
  kind,
  seq,
  payload: new TextEncoder().encode(text),
});
const texts = (frames: Frame[]) =>
  frames.map((f) => `${f.kind}:${f.seq}:${new TextDecoder().decode(f.payload)}`);

describe('frame log', () => {
  it('gives back what was appended, in order, after reopening', () => {
    const path = tempFile();
    const { log, frames } = FrameLog.open(syncFile(path));
    expect(frames).toEqual([]);
    log.append([frame(1, 'one'), frame(2, ''), frame(2 ** 40, 'big seq', 255)]);
    log.append([frame(4, 'x'.repeat(100_000))]);
    log.flush();
    const reopened = FrameLog.open(syncFile(path));
    expect(texts(reopened.frames)).toEqual([
      '1:1:one',
      '1:2:',
      `255:${2 ** 40}:big seq`,
      `1:4:${'x'.repeat(100_000)}`,
    ]);
    expect(reopened.log.size).toBe(log.size);
  });

  it('cuts a torn tail before appending, so the next open reads everything after it (what LevelDB does not)', () => {
    const path = tempFile();
    const { log } = FrameLog.open(syncFile(path));
    log.append([frame(1, 'kept')]);
    log.append([frame(2, 'torn by a kill')]);
    log.flush();
    const whole = syncFile(path).getSize();
    // The kill: the last frame's head is written, most of its payload is not.
    const cut = openSync(path, 'r+');
    fds.push(cut);
    ftruncateSync(cut, whole - 10);
    const after = FrameLog.open(syncFile(path));
    expect(texts(after.frames)).toEqual(['1:1:kept']);
    expect(syncFile(path).getSize()).toBe(after.log.size);
    after.log.append([frame(2, 'written after the restart'), frame(3, 'and more')]);
    after.log.flush();
    expect(texts(FrameLog.open(syncFile(path)).frames)).toEqual([
      '1:1:kept',
      '1:2:written after the restart',
      '1:3:and more',
    ]);
  });

  it('stops at a frame whose bytes changed, and at a head that claims more than the file holds', () => {
    const path = tempFile();
    const { log } = FrameLog.open(syncFile(path));
    log.append([frame(1, 'a'), frame(2, 'b'), frame(3, 'c')]);
    log.flush();
    const file = syncFile(path);
    const secondPayloadAt = 16 + 24 + 1 + 24;
    file.write(new TextEncoder().encode('X'), { at: secondPayloadAt });
    expect(texts(FrameLog.open(syncFile(path)).frames)).toEqual(['1:1:a']);

    const other = tempFile();
    const second = FrameLog.open(syncFile(other)).log;
    second.append([frame(1, 'a')]);
    second.flush();
    // A head of 24 bytes claiming a 1 MB payload, nothing after it.
    const head = new Uint8Array(24);
    new DataView(head.buffer).setUint32(0, 1_000_000);
    syncFile(other).write(head, { at: second.size });
    const reopened = FrameLog.open(syncFile(other));
    expect(texts(reopened.frames)).toEqual(['1:1:a']);
    expect(syncFile(other).getSize()).toBe(16 + 24 + 1);
  });

  it('reset drops every frame at once (a new epoch), also when a kill leaves the old frames in the file', () => {
    const path = tempFile();
    const { log } = FrameLog.open(syncFile(path));
    log.append([frame(1, 'old'), frame(2, 'old too')]);
    log.flush();
    const before = syncFile(path).getSize();
    log.reset();
    log.append([frame(3, 'new')]);
    log.flush();
    expect(texts(FrameLog.open(syncFile(path)).frames)).toEqual(['1:3:new']);

    // A kill after the new header but before the truncation: the old frames are still in the file, and do not count.
    const killed = tempFile();
    const first = FrameLog.open(syncFile(killed)).log;
    first.append([frame(1, 'old'), frame(2, 'old too')]);
    first.flush();
    const header = new Uint8Array(16);
    syncFile(killed).read(header, { at: 0 });
    new DataView(header.buffer).setUint32(8, new DataView(header.buffer).getUint32(8) + 1);
    syncFile(killed).write(header, { at: 0 });
    expect(syncFile(killed).getSize()).toBe(before);
    const reopened = FrameLog.open(syncFile(killed));
    expect(reopened.frames).toEqual([]);
    expect(syncFile(killed).getSize()).toBe(16);
  });

  it('a file cut inside its header is a new log; a file of something else is refused', () => {
    const path = tempFile();
    syncFile(path).write(new Uint8Array([1, 2, 3]), { at: 0 });
    const { log, frames } = FrameLog.open(syncFile(path));
    expect(frames).toEqual([]);
    log.append([frame(1, 'a')]);
    log.flush();
    expect(texts(FrameLog.open(syncFile(path)).frames)).toEqual(['1:1:a']);

    const other = tempFile();
    syncFile(other).write(new TextEncoder().encode('SQLite format 3\0 and more bytes'), { at: 0 });
    expect(() => FrameLog.open(syncFile(other))).toThrow(LogDamaged);
  });

  it('a short write (a full disk) fails the append and leaves nothing for the next open to misread', () => {
    const path = tempFile();
    const real = syncFile(path);
    const { log } = FrameLog.open(real);
    log.append([frame(1, 'stored')]);
    log.flush();
    // The disk takes only part of the next write: the only fault here a file cannot show by itself.
    const full: SyncFile = {
      ...real,
      write: (buffer, options) => real.write(buffer.subarray(0, 30), options),
    };
    const onFullDisk = FrameLog.open(full).log;
    expect(() => onFullDisk.append([frame(2, 'refused '.repeat(10))])).toThrow(
      expect.objectContaining({ name: 'QuotaExceededError' }),
    );
    expect(syncFile(path).getSize()).toBe(onFullDisk.size);
    expect(texts(FrameLog.open(syncFile(path)).frames)).toEqual(['1:1:stored']);
  });

  it('cut removes frames whose flush failed, so that the next open does not find them', () => {
    const path = tempFile();
    const { log } = FrameLog.open(syncFile(path));
    log.append([frame(1, 'stored')]);
    log.flush();
    const before = log.size;
    log.append([frame(2, 'refused')]);
    log.cut(before);
    log.append([frame(3, 'next')]);
    log.flush();
    expect(texts(FrameLog.open(syncFile(path)).frames)).toEqual(['1:1:stored', '1:3:next']);
  });

  it('a reset that fails leaves the log unwritable until reopened, and the reopened log as it was', () => {
    const path = tempFile();
    const real = syncFile(path);
    const { log } = FrameLog.open(real);
    log.append([frame(1, 'kept')]);
    log.flush();
    // The header's flush fails (an I/O error): whether the new epoch reached the disk is not known.
    const failing: SyncFile = {
      ...real,
      flush: () => {
        throw new DOMException('injected by the test', 'InvalidStateError');
      },
    };
    const onFailingDisk = FrameLog.open(failing).log;
    expect(() => onFailingDisk.reset()).toThrow('injected by the test');
    expect(() => onFailingDisk.append([frame(2, 'lost if written')])).toThrow(
      /cannot be written until it is opened again/,
    );
    // Here the header did reach the file: the reopened log holds nothing, and takes frames again.
    const reopened = FrameLog.open(syncFile(path));
    expect(reopened.frames).toEqual([]);
    reopened.log.append([frame(2, 'after')]);
    reopened.log.flush();
    expect(texts(FrameLog.open(syncFile(path)).frames)).toEqual(['1:2:after']);
  });

  it('refuses a kind or a sequence number it cannot store', () => {
    const { log } = FrameLog.open(syncFile(tempFile()));
    expect(() => log.append([frame(1, 'a', 256)])).toThrow(RangeError);
    expect(() => log.append([frame(-1, 'a')])).toThrow(RangeError);
    expect(() => log.append([frame(1.5, 'a')])).toThrow(RangeError);
  });
});
