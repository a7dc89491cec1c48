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

  it('refuses what JSON would change, naming where it is (Date, undefined members, holes)', () => {
    expectInvalid({ at: new Date(0) }, /^payload\.at cannot be a Date/);
    expectInvalid({ a: 1, optional: undefined }, /^payload\.optional cannot be undefined/);
    expectInvalid([1, undefined], /^payload\[1\] cannot be undefined/);
    // biome-ignore lint/suspicious/noSparseArray: the hole is the case
    expectInvalid([1, , 3], /^payload\[1\] cannot be an empty array slot/);
    expectInvalid(
      { 'odd key': { list: [{ at: new Date(0) }] } },
      /^payload\["odd key"\]\.list\[0\]\.at cannot be a Date/,
    );
    expectInvalid({ [Symbol('hidden')]: 1 }, /symbol keys/);
    expectInvalid({ bytes: new Uint8Array(1) }, /^payload\.bytes cannot be binary data/);
    expectInvalid({ when: /x/ }, /^payload\.when cannot be a RegExp/);
  });

  it('accepts plain objects from another realm, objects without a prototype, and shared (not circular) members', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    expect(text(encodePayload(bare))).toBe('{"a":1}');
    const shared = { v: 1 };
    expect(text(encodePayload({ x: shared, y: [shared] }))).toBe('{"x":{"v":1},"y":[{"v":1}]}');
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
    expectInvalid({ toJSON: () => undefined }, /^payload\.toJSON cannot be a function/);
  });

  it('refuses lossy values nested anywhere, naming the member', () => {
    expectInvalid({ reading: Number.NaN }, /^payload\.reading cannot be a non-finite/);
    expectInvalid(
      { deep: { list: [1, Number.NEGATIVE_INFINITY] } },
      /^payload\.deep\.list\[1\] cannot be a non-finite/,
    );
    expectInvalid({ big: 1n }, /^payload\.big cannot be a bigint/);
    expectInvalid({ callback() {} }, /^payload\.callback cannot be a function/);
    expectInvalid({ s: Symbol('x') }, /symbol/);
    expectInvalid([Symbol('x')], /symbol/);
    expectInvalid({ seen: new Set() }, /Set/);
  });

  it('refuses circular structures', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expectInvalid(loop, /^payload\.self cannot be a circular reference/);
    const list: unknown[] = [];
    list.push({ list });
    expectInvalid(list);
  });

  it('refuses class instances: JSON would give back a plain object without their methods', () => {
    class Reading {
      constructor(readonly value: number) {}
      double(): number {
        return this.value * 2;
      }
    }
    expectInvalid({ last: new Reading(3) }, /^payload\.last cannot be a Reading \(only plain objects/);
  });

  it('decides deep nesting beyond the quick check by the full walk, either way', () => {
    const nest = (depth: number, leaf: unknown): unknown =>
      Array.from({ length: depth }).reduce<unknown>(
        (inner, _, level) => (level % 2 ? [inner] : { v: inner }),
        leaf,
      );
    expect(JSON.parse(text(encodePayload(nest(500, 1))))).toEqual(nest(500, 1));
    expectInvalid(nest(500, new Date(0)), /cannot be a Date/);
    expectInvalid(nest(500, undefined), /cannot be undefined/);
  });

  it('refuses what only a walk of every member finds: a hole at the end, a symbol key deep down, a getter', () => {
    const holeAtEnd: unknown[] = [1, 2];
    holeAtEnd.length = 3;
    expectInvalid({ list: holeAtEnd }, /^payload\.list\[2\] cannot be an empty array slot/);
    expectInvalid({ a: { b: { [Symbol('s')]: 1 } } }, /^payload\.a\.b cannot be an object with symbol keys/);
    expectInvalid(
      {
        get computed() {
          return () => 1;
        },
      },
      /^payload\.computed cannot be a function/,
    );
  });
});
