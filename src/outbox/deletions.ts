import type { SqlStatement, SqlValue } from '../ports.js';

/** SQLite allows 999 parameters in older builds; a statement here takes at most this many. */
const maxParams = 500;

/** A set of outbox rows, as a WHERE condition and its parameters. */
export interface RowSelection {
  where: string;
  params: SqlValue[];
}

/**
 * The statements that delete the rows `selection` picks (rows of `device`) and take them out of the device's
 * `outbox_totals`, in one transaction
 * with the rest of the write. The totals are updated first, from the rows about to go, so rows already gone (dropped
 * by a limit meanwhile) are not subtracted twice. One statement per delete rather than a trigger per row: the
 * trigger cost 2 µs of the 5.7 µs an acknowledged 1 KiB message took to delete.
 */
export function deleteRows({ where, params }: RowSelection, device: string): SqlStatement[] {
  const [subtract, remove] = deleteTexts(where);
  return [
    { sql: subtract, params: [...params, device] },
    { sql: remove, params },
  ];
}

/**
 * The two SQL texts for a WHERE condition, made once per shape: the same strings each time find their prepared
 * statements without building and hashing 200 characters anew (in a fleet, for every message acknowledged).
 */
const textsByWhere = new Map<string, readonly [string, string]>();
const maxShapes = 64;

function deleteTexts(where: string): readonly [string, string] {
  let texts = textsByWhere.get(where);
  if (texts === undefined) {
    texts = [
      `UPDATE outbox_totals SET (messages, bytes) =
         (SELECT messages - COUNT(*), bytes - COALESCE(SUM(size), 0) FROM outbox WHERE ${where})
       WHERE device = ?`,
      `DELETE FROM outbox WHERE ${where}`,
    ];
    // Shapes come from selectIds (ranges and lists of up to 500 ids): a few recur, the rest must not pile up.
    if (textsByWhere.size >= maxShapes) textsByWhere.clear();
    textsByWhere.set(where, texts);
  }
  return texts;
}

/**
 * Selections of exactly these ids (unique in the file, whichever device's), each within the parameter limit. Acknowledgements come in order, so the ids are
 * mostly runs of consecutive ones: a run goes as one range (two parameters, one b-tree descent), the rest as a list.
 */
export function selectIds(ids: readonly number[]): RowSelection[] {
  // One id (a device sending now and then acknowledges its messages one by one): no sorting, runs or lists.
  if (ids.length === 1) return [{ where: 'id = ?', params: [ids[0]!] }];
  const sorted = [...ids].sort((a, b) => a - b);
  const selections: RowSelection[] = [];
  let ranges: number[] = [];
  let singles: number[] = [];
  const flush = () => {
    if (ranges.length === 0 && singles.length === 0) return;
    const terms = Array.from({ length: ranges.length / 2 }, () => 'id BETWEEN ? AND ?');
    if (singles.length > 0) terms.push(`id IN (${singles.map(() => '?').join(', ')})`);
    selections.push({ where: terms.join(' OR '), params: [...ranges, ...singles] });
    ranges = [];
    singles = [];
  };
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1]! <= sorted[end]! + 1) end++;
    if (ranges.length + singles.length + 2 > maxParams) flush();
    if (end > start) ranges.push(sorted[start]!, sorted[end]!);
    else singles.push(sorted[start]!);
    start = end + 1;
  }
  flush();
  return selections;
}
