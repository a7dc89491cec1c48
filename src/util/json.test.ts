import { describe, expect, it } from 'vitest';
import { isSpotflowError } from '../errors.js';
import { encodePayload } from './json.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function expectInvalid(payload: unknown, message?: RegExp): void {
  try {
    encodePayload(payload);
  } catch (error) {
    expect(isSpotflowError(error, 'INVALID_ARGUMENT')).toBe(true);
    if (message) expect((error as Error).message).toMatch(message);
    return;
  }
  expect.unreachable('expected INVALID_ARGUMENT');
}

describe('encodePayload', () => {
  it('returns a Uint8Array as it is', () => {
    const bytes = new Uint8Array([0, 1, 255]);
    expect(encodePayload(bytes)).toBe(bytes);
    const empty = new Uint8Array(0);
    expect(encodePayload(empty)).toBe(empty);
  });

  it('views other binary data as bytes, respecting offsets', () => {
    const buffer = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer;
    expect([...encodePayload(buffer)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...encodePayload(new DataView(buffer, 2, 3))]).toEqual([3, 4, 5]);
    expect([...encodePayload(new Uint16Array(buffer, 4, 1))]).toEqual([5, 6]);
    expect(encodePayload(new Float32Array([1.5])).byteLength).toBe(4);
  });

  it('encodes strings as UTF-8 (not as JSON strings)', () => {
    expect([...encodePayload('hé')]).toEqual([0x68, 0xc3, 0xa9]);
    expect(text(encodePayload('"quoted"'))).toBe('"quoted"');
    expect(encodePayload('').byteLength).toBe(0);
    expect(text(encodePayload('😀'))).toBe('😀');
  });

  it('serialises other values as JSON', () => {
    expect(text(encodePayload({ temperature: 21.5, tags: ['a'], ok: true, none: null }))).toBe(
      '{"temperature":21.5,"tags":["a"],"ok":true,"none":null}',
    );
    expect(text(encodePayload([1, 'two']))).toBe('[1,"two"]');
    expect(text(encodePayload(42))).toBe('42');
    expect(text(encodePayload(-0))).toBe('0');
    expect(text(encodePayload(false))).toBe('false');
    expect(text(encodePayload(null))).toBe('null');
  });

  it('honours toJSON (dates) and JSON’s handling of nested undefined', () => {
    expect(text(encodePayload({ at: new Date(0) }))).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
    expect(text(encodePayload({ a: 1, optional: undefined }))).toBe('{"a":1}');
    expect(text(encodePayload([1, undefined]))).toBe('[1,null]');
  });

  it('refuses values with no JSON form at the top level', () => {
    expectInvalid(undefined, /undefined/);
    expectInvalid(() => 1, /function/);
    expectInvalid(Symbol('s'), /symbol/);
    expectInvalid(10n, /bigint/);
    expectInvalid(Number.NaN, /non-finite/);
    expectInvalid(Number.POSITIVE_INFINITY, /non-finite/);
    expectInvalid(new Map([['a', 1]]), /Map/);
    expectInvalid(new Set([1]), /Set/);
    expectInvalid({ toJSON: () => undefined }, /undefined/);
  });

  it('refuses lossy values nested anywhere, naming the member', () => {
    expectInvalid({ reading: Number.NaN }, /"reading".*non-finite/);
    expectInvalid({ deep: { list: [1, Number.NEGATIVE_INFINITY] } }, /"1".*non-finite/);
    expectInvalid({ big: 1n }, /"big".*bigint/);
    expectInvalid({ callback() {} }, /"callback".*function/);
    expectInvalid({ s: Symbol('x') }, /symbol/);
    expectInvalid([Symbol('x')], /symbol/);
    expectInvalid({ seen: new Set() }, /Set/);
  });

  it('refuses circular structures', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expectInvalid(loop, /circular/);
    const list: unknown[] = [];
    list.push({ list });
    expectInvalid(list);
  });

  it('wraps an error thrown by toJSON as the cause', () => {
    const failure = new Error('cannot serialise');
    try {
      encodePayload({
        toJSON: () => {
          throw failure;
        },
      });
      expect.unreachable();
    } catch (error) {
      expect(isSpotflowError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).cause).toBe(failure);
    }
  });

  it('ignores functions on prototypes (class instances serialise their fields)', () => {
    class Reading {
      constructor(readonly value: number) {}
      double(): number {
        return this.value * 2;
      }
    }
    expect(text(encodePayload(new Reading(3)))).toBe('{"value":3}');
  });
});
