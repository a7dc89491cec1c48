/**
 * How a group of statements becomes journal records, and back. Every stored value stays well below the size at
 * which Chromium moves an IndexedDB value out of LevelDB into a blob file of its own (64 KiB): blob files are what
 * a browser killed mid-write has been seen to lose together with the origin's whole IndexedDB, and each costs a file
 * write and delete. So statements are spread over records of at most RECORD_BYTES, and a parameter too large for
 * one (a big payload) is stored in `piece` records that its statement names.
 *
 * A group's records get consecutive sequence numbers and are written in one IndexedDB transaction: all of them are
 * stored or none. Replay applies each statement record in order; a piece is read only through its statement.
 */
import type { SqlStatement, SqlValue } from '../../src/ports.js';

/** What a record may hold (a margin below Chromium's 64 KiB for the structured clone's own bytes). */
export const RECORD_BYTES = 48 * 1024;

/** A parameter stored elsewhere: the pieces (by sequence number) that concatenated make it. */
interface PiecedValue {
  pieces: number[];
  /** A string, stored as its UTF-8 bytes. */
  text: boolean;
}

type StoredValue = SqlValue | PiecedValue;

export interface StatementRecord {
  seq: number;
  statements: readonly { sql: string; params?: readonly StoredValue[] }[];
}

export interface PieceRecord {
  seq: number;
  piece: Uint8Array;
}

export type JournalRecord = StatementRecord | PieceRecord;

/** Records for `statements`, numbered from `firstSeq` on. */
export function toRecords(firstSeq: number, statements: readonly SqlStatement[]): JournalRecord[] {
  const records: JournalRecord[] = [];
  let seq = firstSeq;
  let current: { sql: string; params?: readonly StoredValue[] }[] = [];
  let currentBytes = 0;
  const flush = () => {
    if (current.length === 0) return;
    records.push({ seq: seq++, statements: current });
    current = [];
    currentBytes = 0;
  };
  for (const { sql, params } of statements) {
    let bytes = sql.length * 2;
    const stored = params?.map((value): StoredValue => {
      const size = valueBytes(value);
      if (size <= RECORD_BYTES / 4) {
        bytes += size;
        return value;
      }
      // Pieces go before the statement that names them (and before any statement still being gathered, which
      // is harmless: pieces are only read through their statement).
      const text = typeof value === 'string';
      const all = text ? new TextEncoder().encode(value) : (value as Uint8Array);
      const pieces: number[] = [];
      for (let offset = 0; offset < all.length; offset += RECORD_BYTES) {
        pieces.push(seq);
        records.push({ seq: seq++, piece: all.slice(offset, offset + RECORD_BYTES) });
      }
      bytes += 16 * pieces.length;
      return { pieces, text };
    });
    if (currentBytes + bytes > RECORD_BYTES) flush();
    current.push(stored === undefined ? { sql } : { sql, params: stored });
    currentBytes += bytes;
  }
  flush();
  return records;
}

/** The statements to replay, one array per statement record, in order, with pieced parameters put together. */
export function fromRecords(records: readonly JournalRecord[]): SqlStatement[][] {
  const pieces = new Map<number, Uint8Array>();
  for (const record of records) if ('piece' in record) pieces.set(record.seq, record.piece);
  const groups: SqlStatement[][] = [];
  for (const record of records) {
    if ('piece' in record) continue;
    groups.push(
      record.statements.map(({ sql, params }) =>
        params === undefined ? { sql } : { sql, params: params.map((value) => joined(value, pieces)) },
      ),
    );
  }
  return groups;
}

/** About what a record costs to store (the journal's size is bounded by it). */
export function recordBytes(record: JournalRecord): number {
  if ('piece' in record) return record.piece.byteLength;
  let bytes = 0;
  for (const { sql, params } of record.statements) {
    bytes += sql.length;
    for (const value of params ?? []) bytes += isPieced(value) ? 16 : valueBytes(value);
  }
  return bytes;
}

function joined(value: StoredValue, pieces: ReadonlyMap<number, Uint8Array>): SqlValue {
  if (!isPieced(value)) return value;
  const parts = value.pieces.map((seq) => {
    const piece = pieces.get(seq);
    if (piece === undefined) throw new Error(`Journal piece ${seq} is missing`);
    return piece;
  });
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return value.text ? new TextDecoder().decode(bytes) : bytes;
}

function isPieced(value: StoredValue): value is PiecedValue {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array);
}

function valueBytes(value: SqlValue): number {
  if (value instanceof Uint8Array) return value.byteLength;
  // A string may take up to two bytes a character in the structured clone.
  if (typeof value === 'string') return value.length * 2;
  return 8;
}
