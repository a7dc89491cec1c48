/**
 * A group of SQL statements as bytes and back, for journal frames in a file (frame-log.ts): the statement count,
 * then each statement's text and parameters. A parameter is a tag byte and its value: null; a number as a float64
 * (every JS number exactly); a bigint as a signed 64-bit integer (SQLite's integer range); a string or bytes as a
 * length and the UTF-8 or raw bytes. Lengths and counts are unsigned LEB128 varints.
 */
import type { SqlStatement, SqlValue } from '../../src/ports.js';

const NULL = 0;
const NUMBER = 1;
const BIGINT = 2;
const TEXT = 3;
const BYTES = 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeStatements(statements: readonly SqlStatement[]): Uint8Array {
  const out = new ByteWriter();
  out.varint(statements.length);
  for (const { sql, params = [] } of statements) {
    out.bytes(encoder.encode(sql));
    out.varint(params.length);
    for (const value of params) writeValue(out, value);
  }
  return out.done();
}

/** The statements `bytes` holds; throws a RangeError when they are not what `encodeStatements` wrote. */
export function decodeStatements(bytes: Uint8Array): SqlStatement[] {
  const input = new ByteReader(bytes);
  const count = input.varint();
  const statements: SqlStatement[] = [];
  for (let i = 0; i < count; i++) {
    const sql = decoder.decode(input.bytes());
    const paramCount = input.varint();
    if (paramCount === 0) {
      statements.push({ sql });
      continue;
    }
    const params: SqlValue[] = [];
    for (let p = 0; p < paramCount; p++) params.push(readValue(input));
    statements.push({ sql, params });
  }
  if (!input.atEnd) throw new RangeError('bytes after the last statement');
  return statements;
}

function writeValue(out: ByteWriter, value: SqlValue): void {
  if (value === null) out.byte(NULL);
  else if (typeof value === 'number') {
    out.byte(NUMBER);
    out.view(8).setFloat64(0, value);
  } else if (typeof value === 'bigint') {
    out.byte(BIGINT);
    out.view(8).setBigInt64(0, value);
  } else if (typeof value === 'string') {
    out.byte(TEXT);
    out.bytes(encoder.encode(value));
  } else if (value instanceof Uint8Array) {
    out.byte(BYTES);
    out.bytes(value);
  } else {
    throw new TypeError(`not a SQL value: ${typeof value}`);
  }
}

function readValue(input: ByteReader): SqlValue {
  const tag = input.byte();
  switch (tag) {
    case NULL:
      return null;
    case NUMBER:
      return input.view(8).getFloat64(0);
    case BIGINT:
      return input.view(8).getBigInt64(0);
    case TEXT:
      return decoder.decode(input.bytes());
    case BYTES:
      return input.bytes().slice();
    default:
      throw new RangeError(`unknown value tag ${tag}`);
  }
}

/** Appends to a buffer that doubles as it fills. */
class ByteWriter {
  #buffer = new Uint8Array(256);
  #length = 0;

  byte(value: number): void {
    this.#reserve(1)[0] = value;
  }

  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint ${value}`);
    let rest = value;
    while (rest >= 0x80) {
      this.byte((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.byte(rest);
  }

  /** A length, then the bytes. */
  bytes(value: Uint8Array): void {
    this.varint(value.byteLength);
    this.#reserve(value.byteLength).set(value);
  }

  /** A view of the next `length` bytes, to be filled by the caller. */
  view(length: number): DataView {
    const bytes = this.#reserve(length);
    return new DataView(bytes.buffer, bytes.byteOffset, length);
  }

  done(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #reserve(length: number): Uint8Array {
    if (this.#length + length > this.#buffer.byteLength) {
      let capacity = this.#buffer.byteLength * 2;
      while (capacity < this.#length + length) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    const start = this.#length;
    this.#length += length;
    return this.#buffer.subarray(start, this.#length);
  }
}

/** Reads what `ByteWriter` wrote; a read past the end throws a RangeError. */
class ByteReader {
  readonly #bytes: Uint8Array;
  #at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get atEnd(): boolean {
    return this.#at === this.#bytes.byteLength;
  }

  byte(): number {
    return this.#take(1)[0]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
      if (scale > Number.MAX_SAFE_INTEGER) throw new RangeError('varint too long');
    }
    return value;
  }

  bytes(): Uint8Array {
    return this.#take(this.varint());
  }

  view(length: number): DataView {
    const bytes = this.#take(length);
    return new DataView(bytes.buffer, bytes.byteOffset, length);
  }

  #take(length: number): Uint8Array {
    if (this.#at + length > this.#bytes.byteLength) throw new RangeError('read past the end');
    const bytes = this.#bytes.subarray(this.#at, this.#at + length);
    this.#at += length;
    return bytes;
  }
}
