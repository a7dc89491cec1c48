/** Which rows a removal selects: exactly the ids given, as few ranges and lists as the order allows. */
import { describe, expect, it } from 'vitest';
import { selectIds } from './deletions.js';

describe('selecting acknowledged ids', () => {
  it('turns runs of consecutive ids into ranges and lists the rest, whatever the order', () => {
    expect(selectIds([7, 3, 4, 5, 9, 10, 12, 4])).toEqual([
      { where: 'id BETWEEN ? AND ? OR id BETWEEN ? AND ? OR id IN (?, ?)', params: [3, 5, 9, 10, 7, 12] },
    ]);
  });

  it('takes a thousand ids in order as one range', () => {
    const ids = Array.from({ length: 1_000 }, (_, i) => 101 + i);
    expect(selectIds(ids)).toEqual([{ where: 'id BETWEEN ? AND ?', params: [101, 1_100] }]);
  });

  it('keeps each statement within 500 parameters', () => {
    const ids = Array.from({ length: 1_200 }, (_, i) => 2 * i); // no two consecutive
    const selections = selectIds(ids);
    expect(selections.every((selection) => selection.params.length <= 500)).toBe(true);
    expect(selections.flatMap((selection) => selection.params)).toEqual(ids);
  });

  it('selects one id by equality', () => {
    expect(selectIds([42])).toEqual([{ where: 'id = ?', params: [42] }]);
  });

  it('selects nothing for no ids', () => {
    expect(selectIds([])).toEqual([]);
  });
});
