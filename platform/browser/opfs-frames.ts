/**
 * The frames of the OPFS store's journal (opfs-store.ts says what each does) and their payloads: what a fold stores,
 * and the chunks it stores them with.
 */
import type { Frame } from './frame-log.js';

export const STATEMENTS = 1;
export const CHUNK = 2;
export const FOLD = 3;
export const BASE = 4;
/** Ends a fold cut short: written at open after its chunks, so that no later FOLD takes them for its own. */
export const ABANDONED = 5;

/** What a fold stores: the file's length and chunk size, and the journal position it holds. */
export interface FoldMeta {
  seq: number;
  fileBytes: number;
  chunkBytes: number;
}

export function baseFrame(seq: number, fileBytes: number): Frame {
  const payload = new Uint8Array(8);
  new DataView(payload.buffer).setFloat64(0, fileBytes);
  return { kind: BASE, seq, payload };
}

export function chunkPayload(chunk: number, bytes: Uint8Array): Uint8Array {
  const payload = new Uint8Array(4 + bytes.byteLength);
  new DataView(payload.buffer).setUint32(0, chunk);
  payload.set(bytes, 4);
  return payload;
}

export function readChunkPayload(frame: Frame): [number, Uint8Array] {
  const view = new DataView(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
  return [view.getUint32(0), frame.payload.subarray(4)];
}

export function foldPayload(meta: FoldMeta): Uint8Array {
  const payload = new Uint8Array(12);
  const view = new DataView(payload.buffer);
  view.setFloat64(0, meta.fileBytes);
  view.setUint32(8, meta.chunkBytes);
  return payload;
}

export function readFoldPayload(frame: Frame): FoldMeta {
  const view = new DataView(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
  return { seq: frame.seq, fileBytes: view.getFloat64(0), chunkBytes: view.getUint32(8) };
}
