/**
 * AUTOINCREMENT ids a rolled-back group handed out, per table, so that no id is ever handed out twice: the group's
 * rows were never readable, but an id seen once (in a write result, a log) must keep meaning that one write. The next
 * group starts by lifting `sqlite_sequence` above them, in its own journaled statements, so replay does the same.
 */
import type { SqlStatement } from '../../src/ports.js';
import type { SqlEngine } from './sql-engine.js';

export class SequenceFloors {
  readonly #floors = new Map<string, number>();

  /** Applies the floors inside `engine`'s open transaction; returns the statements to journal with the group. */
  apply(engine: SqlEngine): SqlStatement[] {
    const statements: SqlStatement[] = [...this.#floors].map(([table, seq]) => ({
      sql: 'UPDATE sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?',
      params: [seq, table, seq],
    }));
    if (statements.length > 0) engine.apply(statements);
    return statements;
  }

  /** Rolls `engine`'s open transaction back, remembering the ids it handed out (for tables that still exist). */
  rollBack(engine: SqlEngine): void {
    const used = engine.sequences();
    engine.rollback();
    for (const [table, seq] of engine.sequences()) {
      const floor = Math.max(used.get(table) ?? 0, this.#floors.get(table) ?? 0);
      if (floor > seq) this.#floors.set(table, floor);
    }
  }

  /** A group that carried the floors was stored: the counters are above them for good. */
  clear(): void {
    this.#floors.clear();
  }
}
