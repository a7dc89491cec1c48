import { describe, expect, it } from 'vitest';
import {
  applyMergePatch,
  cloneJson,
  isJsonObject,
  type JsonObject,
  type JsonValue,
  mergePatches,
} from './merge-patch.js';

/** A small seeded generator (mulberry32), so every run checks the same random cases. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ['a', 'b', 'c'];

/** Random small JSON objects over few keys, so that patches collide on the same members often. */
function randomObject(random: () => number, depth: number, allowNull: boolean): JsonObject {
  const object: JsonObject = {};
  for (const key of KEYS) {
    if (random() < 0.45) object[key] = randomValue(random, depth - 1, allowNull);
  }
  return object;
}

function randomValue(random: () => number, depth: number, allowNull: boolean): JsonValue {
  const pick = random();
  if (allowNull && pick < 0.2) return null;
  if (pick < 0.35) return Math.floor(random() * 3);
  if (pick < 0.45) return 'x';
  if (pick < 0.55) return [Math.floor(random() * 2), { a: 1 }];
  if (depth <= 0) return true;
  return randomObject(random, depth, allowNull);
}

describe('applyMergePatch', () => {
  it('follows the examples of RFC 7396 appendix A', () => {
    const cases: [JsonValue, JsonValue, JsonValue][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [
        ['a', 'b'],
        ['c', 'd'],
        ['c', 'd'],
      ],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, expected] of cases) {
      expect(applyMergePatch(target, patch)).toStrictEqual(expected);
    }
  });

  it('merges into an absent target as into {}', () => {
    expect(applyMergePatch(undefined, { a: 1, b: null })).toStrictEqual({ a: 1 });
  });

  it('modifies neither input and shares nothing with them', () => {
    const target: JsonObject = { keep: { deep: [1, { x: 1 }] }, change: { y: 1 } };
    const patch: JsonObject = { change: { z: [2] }, add: { list: [{ q: 1 }] } };
    const targetCopy = structuredClone(target);
    const patchCopy = structuredClone(patch);
    const result = applyMergePatch(target, patch);
    expect(target).toStrictEqual(targetCopy);
    expect(patch).toStrictEqual(patchCopy);
    expect(result).toStrictEqual({
      keep: { deep: [1, { x: 1 }] },
      change: { y: 1, z: [2] },
      add: { list: [{ q: 1 }] },
    });
    expect(result.keep).not.toBe(target.keep);
    expect((result.change as JsonObject).z).not.toBe((patch.change as JsonObject).z);
    expect(result.add).not.toBe(patch.add);
  });

  it('treats __proto__ as an ordinary member (no prototype pollution)', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as JsonObject;
    const result = applyMergePatch({}, patch);
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(result)).toStrictEqual(['__proto__', 'a']);
    expect(JSON.stringify(result)).toBe('{"__proto__":{"polluted":true},"a":1}');
    // Deleting it again, and merging into an existing one.
    expect(applyMergePatch(result, JSON.parse('{"__proto__": null}'))).toStrictEqual({ a: 1 });
    const merged = applyMergePatch(result, JSON.parse('{"__proto__": {"more": 1}}'));
    expect(JSON.stringify(merged)).toBe('{"__proto__":{"polluted":true,"more":1},"a":1}');
  });
});

describe('mergePatches', () => {
  it('merges independent members', () => {
    expect(mergePatches({ a: 1 }, { b: 2 })).toStrictEqual({ a: 1, b: 2 });
  });

  it('lets a later value override an earlier one', () => {
    expect(mergePatches({ a: 1, b: { c: 1 } }, { a: 2, b: 3 })).toStrictEqual({ a: 2, b: 3 });
  });

  it('keeps a later null as null (a delete must still be sent)', () => {
    expect(mergePatches({ a: 1 }, { a: null })).toStrictEqual({ a: null });
    expect(mergePatches({}, { a: null })).toStrictEqual({ a: null });
    expect(mergePatches({ a: { b: 1 } }, { a: { b: null } })).toStrictEqual({ a: { b: null } });
  });

  it('keeps earlier nulls the later patch does not touch', () => {
    expect(mergePatches({ a: null }, { b: 1 })).toStrictEqual({ a: null, b: 1 });
  });

  it('lets a later scalar or array replace an earlier object', () => {
    expect(mergePatches({ a: { b: 1 } }, { a: 5 })).toStrictEqual({ a: 5 });
    expect(mergePatches({ a: { b: 1 } }, { a: [1] })).toStrictEqual({ a: [1] });
  });

  it('merges nested objects member by member, keeping nulls of both', () => {
    expect(mergePatches({ a: { b: 1, c: null } }, { a: { d: 2, e: null } })).toStrictEqual({
      a: { b: 1, c: null, d: 2, e: null },
    });
  });

  it('adds a later object over a member the earlier patch did not mention as it is, nulls included', () => {
    expect(mergePatches({ x: 1 }, { a: { b: null, c: 1 } })).toStrictEqual({ x: 1, a: { b: null, c: 1 } });
  });

  it('refuses (undefined) a later object over an earlier null, scalar or array: no single patch can say it', () => {
    expect(mergePatches({ a: null }, { a: { b: 1 } })).toBeUndefined();
    expect(mergePatches({ a: 5 }, { a: { b: 1 } })).toBeUndefined();
    expect(mergePatches({ a: [1] }, { a: {} })).toBeUndefined();
    expect(mergePatches({ a: { b: 'x' } }, { a: { b: { c: 1 } } })).toBeUndefined();
    // Why: on a JSON doc whose `a` has other members, the two patches in turn give exactly the later object,
    // while the naive combination only adds to what is there.
    const doc = { a: { c: 2 } };
    expect(applyMergePatch(applyMergePatch(doc, { a: 5 }), { a: { b: 1 } })).toStrictEqual({ a: { b: 1 } });
    expect(applyMergePatch(doc, { a: { b: 1 } })).toStrictEqual({ a: { b: 1, c: 2 } });
  });

  it('modifies neither input and shares nothing with them', () => {
    const earlier: JsonObject = { a: { b: [1] }, c: { d: 1 } };
    const later: JsonObject = { c: { e: [2] }, f: { g: 1 } };
    const [earlierCopy, laterCopy] = [structuredClone(earlier), structuredClone(later)];
    const combined = mergePatches(earlier, later)!;
    expect(earlier).toStrictEqual(earlierCopy);
    expect(later).toStrictEqual(laterCopy);
    expect(combined.a).not.toBe(earlier.a);
    expect(combined.f).not.toBe(later.f);
    expect((combined.c as JsonObject).e).not.toBe((later.c as JsonObject).e);
  });

  it('has the effect of both patches in order, on random documents (property check)', () => {
    const random = seededRandom(7396);
    let combinedCount = 0;
    let refusedCount = 0;
    for (let round = 0; round < 1000; round++) {
      const earlier = randomObject(random, 3, true);
      const later = randomObject(random, 3, true);
      const combined = mergePatches(earlier, later);
      if (combined === undefined) {
        refusedCount++;
        // Refusal is justified: the naive "later wins member-wise" patch gets some JSON doc wrong.
        expect(naiveCombinationFailsSomewhere(earlier, later)).toBe(true);
        continue;
      }
      combinedCount++;
      for (let doc = 0; doc < 6; doc++) {
        const target = randomObject(random, 3, false);
        const inTurn = applyMergePatch(applyMergePatch(target, earlier), later);
        expect(applyMergePatch(target, combined)).toStrictEqual(inTurn);
      }
    }
    // The generator must exercise both outcomes for the check to mean anything.
    expect(combinedCount).toBeGreaterThan(500);
    expect(refusedCount).toBeGreaterThan(100);
  });

  it('is associative where defined, so a queue can fold patches one at a time', () => {
    const random = seededRandom(42);
    for (let round = 0; round < 500; round++) {
      const [p1, p2, p3] = [0, 1, 2].map(() => randomObject(random, 2, true)) as [
        JsonObject,
        JsonObject,
        JsonObject,
      ];
      const left12 = mergePatches(p1, p2);
      const right23 = mergePatches(p2, p3);
      const left = left12 && mergePatches(left12, p3);
      const right = right23 && mergePatches(p1, right23);
      if (left !== undefined && right !== undefined) expect(left).toStrictEqual(right);
    }
  });
});

/**
 * Whether combining by "deep-merge the patches, later wins, nulls kept" differs from applying both in turn on some
 * JSON doc: tried on documents that give every member touched by `later` an extra unknown member.
 */
function naiveCombinationFailsSomewhere(earlier: JsonObject, later: JsonObject): boolean {
  const naive = naiveMerge(earlier, later) as JsonObject;
  const doc = decorate(cloneJson(later)) as JsonObject;
  const inTurn = applyMergePatch(applyMergePatch(doc, earlier), later);
  return canonical(applyMergePatch(doc, naive)) !== canonical(inTurn);
}

/** JSON with object keys sorted, so that member order cannot make equal documents look different. */
function canonical(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (!isJsonObject(value)) return JSON.stringify(value);
  const members = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonical(value[key]!)}`);
  return `{${members.join(',')}}`;
}

function naiveMerge(earlier: JsonValue, later: JsonValue): JsonValue {
  if (!isJsonObject(later) || !isJsonObject(earlier)) return cloneJson(later);
  const result = cloneJson(earlier);
  for (const [key, value] of Object.entries(later)) {
    result[key] = key in earlier ? naiveMerge(earlier[key]!, value) : cloneJson(value);
  }
  return result;
}

/** Turns every object (and null) of a patch into an object with an extra member `zz`, recursively. */
function decorate(value: JsonValue): JsonValue {
  if (value === null) return { zz: 1 };
  if (!isJsonObject(value)) return { zz: 1 };
  const result: JsonObject = { zz: 1 };
  for (const [key, member] of Object.entries(value)) result[key] = decorate(member);
  return result;
}
