/**
 * How a group of statements becomes journal records, and back. Every stored value stays well below the size at
 * which Chromium moves an IndexedDB value out of LevelDB into a blob file of its own (64 KiB): blob files are what
 * a browser killed mid-write has been seen to lose together with the origin's whole IndexedDB, and each costs a file
 * write and delete. So statements are spread over records of at most RECORD_BYTES, and a parameter too large for
 * one (a big payload) is stored in `piece` records that its statement names.
 *
 * A group's records get consecutive sequence numbers and are written in one IndexedDB transaction: all of them are
 * stored or none. Replay applies each statement record in order; a piece is read only through its statement.
 *
 * Every byte of a record is paid several times on disk (Chromium's LevelDB log, its memtable flush, compaction), and
 * a durable enqueue is one record: so a statement record is a bare array, `[seq, sql, params, sql, params, …]`,
 * with no property names, and a SQL text used again and again is stored once (in the store's `meta`, see
 * `SqlTexts`) and named in records by its number. `params` is 0 for a statement without any. Records of the
 * earlier object form (`{ seq, statements }`) are still read.
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

/** A SQL text, inline or by its number in `SqlTexts`. */
type StoredSql = string | number;

/** `[seq, sql, params, sql, params, …]`: `params` is 0 for a statement without any. */
export type StatementRecord = [number, ...(StoredSql | readonly StoredValue[] | 0)[]];

/** The earlier form of a statement record (read, never written). */
interface ObjectStatementRecord {
  seq: number;
  statements: readonly { sql: string; params?: readonly StoredValue[] }[];
}

export interface PieceRecord {
  seq: number;
  piece: Uint8Array;
}

export type JournalRecord = StatementRecord | ObjectStatementRecord | PieceRecord;

/** A record's sequence number (its key in the journal). */
export function recordSeq(record: JournalRecord): number {
  return Array.isArray(record) ? record[0] : (record as ObjectStatementRecord | PieceRecord).seq;
}

/** Texts longer than this stay inline (a generated text, an IN list, is rarely used twice). */
const TEXT_MAX_CHARS = 1_024;
/** At most this many texts get numbers; later ones stay inline (texts built from data would grow it forever). */
const TEXTS_MAX = 512;

/**
 * The SQL texts records name by number. Each text's entry is written into `meta` in the same transaction as the
 * first record that names it (`unstored`, then `stored` once that transaction completed), so a record is never
 * stored without its text. Numbers are never reused: a text numbered in a failed append keeps its number and is
 * written with the next record that names it.
 */
export class SqlTexts {
  readonly #numbers = new Map<string, number>();
  readonly #texts = new Map<number, string>();
  /** Numbers whose entry is stored. */
  readonly #stored = new Set<number>();
  #next = 1;

  /** The texts stored (number → text), as loaded. */
  constructor(stored: ReadonlyMap<number, string> = new Map()) {
    for (const [number, text] of stored) {
      this.#numbers.set(text, number);
      this.#texts.set(number, text);
      this.#stored.add(number);
      this.#next = Math.max(this.#next, number + 1);
    }
  }

  /** The number naming `sql`, a new one if it has none; undefined when it is to stay inline. */
  numberOf(sql: string): number | undefined {
    const known = this.#numbers.get(sql);
    if (known !== undefined || sql.length > TEXT_MAX_CHARS || this.#numbers.size >= TEXTS_MAX) return known;
    const number = this.#next++;
    this.#numbers.set(sql, number);
    this.#texts.set(number, sql);
    return number;
  }

  text(number: number): string | undefined {
    return this.#texts.get(number);
  }

  /** The entries `records` name that are not stored yet: to be written in the records' transaction. */
  unstored(records: readonly JournalRecord[]): [number, string][] {
    const entries = new Map<number, string>();
    for (const record of records) {
      if (!Array.isArray(record)) continue;
      for (let i = 1; i < record.length; i += 2) {
        const sql = record[i];
        if (typeof sql === 'number' && !this.#stored.has(sql)) entries.set(sql, this.#texts.get(sql)!);
      }
    }
    return [...entries];
  }

  /** The entries of `unstored` are stored (their transaction completed). */
  stored(entries: readonly [number, string][]): void {
    for (const [number] of entries) this.#stored.add(number);
  }

  /** Nothing is known to be stored any more (the IndexedDB database was created again): write entries again. */
  forgetStored(): void {
    this.#stored.clear();
  }
}

/** Records for `statements`, numbered from `firstSeq` on; SQL texts named by their number in `texts`, if given. */
export function toRecords(
  firstSeq: number,
  statements: readonly SqlStatement[],
  texts?: SqlTexts,
): JournalRecord[] {
  const records: JournalRecord[] = [];
  let seq = firstSeq;
  let current: (StoredSql | readonly StoredValue[] | 0)[] = [];
  let currentBytes = 0;
  const flush = () => {
    if (current.length === 0) return;
    records.push([seq++, ...current]);
    current = [];
    currentBytes = 0;
  };
  for (const { sql, params } of statements) {
    const number = texts?.numberOf(sql);
    let bytes = number === undefined ? sql.length * 2 : 8;
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
    current.push(number ?? sql, stored === undefined || stored.length === 0 ? 0 : stored);
    currentBytes += bytes;
  }
  flush();
  return records;
}

/**
 * The statements to replay, one array per statement record, in order, with pieced parameters put together and SQL
 * texts named by number looked up in `texts`.
 */
export function fromRecords(records: readonly JournalRecord[], texts?: SqlTexts): SqlStatement[][] {
  const pieces = new Map<number, Uint8Array>();
  for (const record of records) if ('piece' in record) pieces.set(record.seq, record.piece);
  const groups: SqlStatement[][] = [];
  const statement = (sql: StoredSql, params: readonly StoredValue[] | 0 | undefined): SqlStatement => {
    const text = typeof sql === 'number' ? texts?.text(sql) : sql;
    if (text === undefined) throw new Error(`SQL text ${sql} is missing`);
    return params === undefined || params === 0
      ? { sql: text }
      : { sql: text, params: params.map((value) => joined(value, pieces)) };
  };
  for (const record of records) {
    if (Array.isArray(record)) {
      const group: SqlStatement[] = [];
      for (let i = 1; i < record.length; i += 2) {
        group.push(statement(record[i] as StoredSql, record[i + 1] as readonly StoredValue[] | 0));
      }
      groups.push(group);
    } else if ('statements' in record) {
      groups.push(record.statements.map(({ sql, params }) => statement(sql, params)));
    }
  }
  return groups;
}

/** About what a record costs to store (the journal's size is bounded by it). */
export function recordBytes(record: JournalRecord): number {
  if ('piece' in record) return record.piece.byteLength;
  let bytes = 0;
  const add = (sql: StoredSql, params: readonly StoredValue[] | 0 | undefined) => {
    bytes += typeof sql === 'string' ? sql.length : 8;
    for (const value of params || []) bytes += isPieced(value) ? 16 : valueBytes(value);
  };
  if (Array.isArray(record)) {
    for (let i = 1; i < record.length; i += 2) {
      add(record[i] as StoredSql, record[i + 1] as readonly StoredValue[] | 0);
    }
  } else {
    for (const { sql, params } of record.statements) add(sql, params);
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
