/**
 * The tail's promise: a read it answers holds every stored entry after the cursor. Its edges are where that breaks
 * first: the watermark after an eviction (by count and by bytes), after a reset, and the first append after one.
 */
import { describe, expect, it } from 'vitest';
import type { OutboxEntry } from './store.js';
import { OutboxTail } from './tail.js';

function entry(id: number, payloadBytes = 1): OutboxEntry {
  return {
    id,
    mid: `m${id}`,
    properties: {},
    compression: 'none',
    size: payloadBytes,
    enqueuedAt: 0,
    upload: null,
    inlinePayload: new Uint8Array(payloadBytes),
    dropsAtRead: 0,
  };
}

const ids = (entries: OutboxEntry[] | undefined) => entries?.map((e) => e.id);

describe('the outbox tail', () => {
  it('answers nothing until an append vouches for what follows the row before it', () => {
    const tail = new OutboxTail();
    expect(tail.after(0, 10)).toBeUndefined();
    tail.append(entry(10));
    tail.append(entry(11));
    expect(tail.after(8, 10)).toBeUndefined(); // row 9 may be stored: read the database
    expect(ids(tail.after(9, 10))).toEqual([10, 11]);
    expect(ids(tail.after(10, 1))).toEqual([11]);
  });

  it('after evicting its oldest by count, sends a read at the evicted row to the database no more', () => {
    const tail = new OutboxTail();
    for (let id = 1; id <= 4097; id++) tail.append(entry(id));
    expect(tail.after(0, 1)).toBeUndefined(); // row 1 was evicted
    expect(ids(tail.after(1, 2))).toEqual([2, 3]);
  });

  it('evicts by payload bytes too, and a payload larger than it keeps is read from the database', () => {
    const tail = new OutboxTail();
    tail.append(entry(1, 1024));
    tail.append(entry(2, 17 * 1024 * 1024));
    expect(tail.after(1, 10)).toBeUndefined();
    expect(tail.after(2, 10)).toEqual([]);
    tail.append(entry(3));
    expect(ids(tail.after(2, 10))).toEqual([3]);
  });

  it('forgets everything on a reset, until the next append', () => {
    const tail = new OutboxTail();
    tail.append(entry(1));
    tail.reset();
    expect(tail.after(1, 10)).toBeUndefined();
    tail.append(entry(5));
    expect(tail.after(3, 10)).toBeUndefined();
    expect(ids(tail.after(4, 10))).toEqual([5]);
  });

  it('forgets what a read has passed, so a later read from before it goes to the database', () => {
    const tail = new OutboxTail();
    for (let id = 1; id <= 5; id++) tail.append(entry(id));
    expect(ids(tail.after(3, 10))).toEqual([4, 5]);
    expect(tail.after(2, 10)).toBeUndefined();
  });
});
