/**
 * The emulator implements IoT Hub's rules on its own (see independence.test.ts); the SDK has its own copies to
 * refuse bad input at the call. This runs both on the same cases: where they disagree, one of them is wrong about
 * IoT Hub.
 */
import { describe, expect, it } from 'vitest';
import { isValidDeviceId as emulatorDeviceId } from '../../emulator/http/device-id.js';
import { parsePropertyBag as emulatorParseBag } from '../../emulator/mqtt/property-bag.js';
import { applyMergePatch as emulatorMerge, type JsonObject } from '../../emulator/state/merge-patch.js';
import { twinPatchProblem } from '../../emulator/state/twin-rules.js';
import { isValidDeviceId as coreDeviceId } from '../../src/iothub/device-id.js';
import { parsePropertyBag as coreParseBag } from '../../src/iothub/property-bag.js';
import { applyMergePatch as coreMerge } from '../../src/twin/merge-patch.js';
import { checkReportedPatch } from '../../src/twin/twin-rules.js';

/** `{ a: { a: … { a: leaf } } }` with `levels` nested objects below the root. */
function nested(levels: number, leaf: unknown = 1): JsonObject {
  let value: unknown = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return { root: value } as JsonObject;
}

/** Same result (deep equal, same own keys) or both throw. */
function outcome(run: () => unknown): { value: unknown; keys?: string[] } | 'throws' {
  try {
    const value = run();
    return {
      value,
      keys: typeof value === 'object' && value ? Reflect.ownKeys(value).map(String) : undefined,
    };
  } catch {
    return 'throws';
  }
}

describe('merge patch: emulator and core agree', () => {
  const cases: [string, JsonObject, JsonObject][] = [
    ['adds and replaces', { a: 1, b: { c: 2 } }, { b: { d: 3 }, e: [1, 2] }],
    ['null deletes, at any depth', { a: 1, b: { c: 2, d: 3 } }, { a: null, b: { c: null } }],
    ['null for a missing key', { a: 1 }, { z: null }],
    ['object over a scalar', { a: 5 }, { a: { b: 1, c: null } }],
    ['scalar over an object', { a: { b: 1 } }, { a: 'x' }],
    ['arrays replace, never merge', { a: [1, 2, 3] }, { a: [{ b: null }] }],
    ['empty patch', { a: { b: 1 } }, {}],
    ['empty object member', { a: { b: 1 } }, { a: {} }],
    ['RFC 7396 appendix', { a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } }],
    [
      '__proto__ and constructor are plain members',
      JSON.parse('{"__proto__":{"x":1}}'),
      JSON.parse('{"__proto__":{"y":2},"constructor":3}'),
    ],
    ['unicode keys', { 'ä🙂': 1 }, { 'ä🙂': null, ß: true }],
  ];
  it.each(cases)('%s', (_name, target, patch) => {
    const before = JSON.stringify([target, patch]);
    const emulator = emulatorMerge(target, patch);
    expect(outcome(() => emulator)).toEqual(outcome(() => coreMerge(target, patch)));
    expect(Object.getPrototypeOf(emulator)).toBe(Object.prototype);
    expect(JSON.stringify([target, patch])).toBe(before);
  });
});

describe('twin patch rules: emulator and core agree on what a device may report', () => {
  /** The core refuses what `checkPatch` in src/twin/twin.ts refuses (shape aside, which both require). */
  // The core's own check, as updateReportedProperties runs it.
  const coreRefuses = (patch: unknown) => outcome(() => checkReportedPatch(patch)) === 'throws';
  const emulatorRefuses = (patch: unknown) => twinPatchProblem(patch, 'device') !== undefined;

  const cases: [string, unknown][] = [
    ['plain', { a: 1, b: { c: 'x' } }],
    ['a key starting with $ at the top', { $foo: 1, ok: 2 }],
    ['$version at the top', { $version: 3 }],
    ['a $ key nested', { a: { $b: 1 } }],
    ['a dot', { 'a.b': 1 }],
    ['a space', { 'a b': 1 }],
    ['a tab (C0)', { 'a\tb': 1 }],
    ['DEL', { 'a\u007fb': 1 }],
    ['a C1 control', { 'a\u0085b': 1 }],
    ['an empty key', { '': 1 }],
    ['a 1024-byte key', { ['k'.repeat(1024)]: 1 }],
    ['a 1025-byte key', { ['k'.repeat(1025)]: 1 }],
    ['a 1024-byte key of 2-byte characters', { ['é'.repeat(512)]: 1 }],
    ['a key inside an array', { a: [{ 'b.c': 1 }] }],
    ['9 nested objects', nested(9)],
    ['10 nested objects below the section root (the IoT Hub docs example)', nested(10)],
    ['11 nested objects', nested(11)],
    ['unicode and punctuation', { 'ä-_:@()!': 1 }],
  ];
  it.each(cases)('%s', (_, patch) => {
    expect(emulatorRefuses(patch)).toBe(coreRefuses(patch));
  });
});

describe('property bags: emulator and core read them alike', () => {
  const bags = [
    '',
    'a=1',
    '&&a=1&&',
    'flag&empty=',
    'a=1&a=2',
    'a=b=c',
    'a=x+y',
    '%24.mid=42&%24.to=%2Fdevices%2Fws%3Ad%2Fmessages%2Fdevicebound',
    '$.mid=42&$.ct=application%2Fjson',
    '__proto__=x&constructor=y',
    'k=%F0%9F%99%82',
    '=value',
    'a=1&=',
    'a=%zz',
    '%E0%A4%A=1',
  ];
  it.each(bags)('%j', (bag) => {
    expect(outcome(() => emulatorParseBag(bag))).toEqual(outcome(() => coreParseBag(bag)));
  });
});

describe('device ids: emulator and core accept the same', () => {
  const ids: unknown[] = [
    'sensor-1',
    "a-._*?!(),:=@$'z",
    'x'.repeat(128),
    'x'.repeat(129),
    '',
    'a/b',
    'a#b',
    'a+b',
    'a%b',
    'a b',
    'ä',
    'a\nb',
    42,
    null,
  ];
  it.each(ids)('%j', (id) => {
    expect(emulatorDeviceId(id)).toBe(coreDeviceId(id));
  });
});
