import { describe, expect, it } from 'vitest';
import { fromRandomBytes, randomUuid } from './uuid.js';

const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomUuid', () => {
  it('makes distinct v4 UUIDs, across block refills', () => {
    const made = Array.from({ length: 3_000 }, randomUuid);
    for (const uuid of made) expect(uuid).toMatch(v4);
    expect(new Set(made).size).toBe(made.length);
  });

  it('takes 16 fresh bytes per UUID from a block, and draws a new block only when one is spent', () => {
    let draws = 0;
    let slot = 0;
    // Numbers each 16-byte slot: a slot used twice would give a duplicate.
    const numbering = {
      getRandomValues<T extends ArrayBufferView | null>(array: T): T {
        draws++;
        const bytes = array as unknown as Uint8Array;
        for (let i = 0; i < bytes.length; i += 16) new DataView(bytes.buffer).setUint32(i, slot++);
        return array;
      },
    };
    fromRandomBytes(numbering);
    const before = draws;
    const made = new Set(Array.from({ length: 600 }, () => fromRandomBytes(numbering)));
    expect(made.size).toBe(600);
    // 600 UUIDs from blocks of 256: two or three draws, never one per UUID.
    expect(draws - before).toBeGreaterThanOrEqual(2);
    expect(draws - before).toBeLessThanOrEqual(3);
  });
});
