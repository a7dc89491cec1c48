/**
 * How the core's statements run on sql.js: transactions, per-statement results, rows as plain objects, and the
 * same value rules as better-sqlite3 in Node (BLOBs as Uint8Array, integers as numbers).
 */
import type { Database as SqlJsDatabase, Statement } from 'sql.js';
import { SpotflowError } from '../../src/errors.js';
import type { SqlStatement, SqlValue, WriteResult } from '../../src/ports.js';

/** How many prepared statements are kept (the core uses a few dozen distinct SQL texts). */
const STATEMENT_CACHE_SIZE = 128;

/** A statement that changes rows, after any leading white space and comments. */
const CHANGES_ROWS = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)*(INSERT|REPLACE|UPDATE|DELETE)\b/i;

interface Prepared {
  statement: Statement;
  /** `INSERT`/`REPLACE` (reports a rowid), `UPDATE`/`DELETE` (reports changes only), or undefined. */
  kind: 'insert' | 'update' | undefined;
}

export class SqlEngine {
  readonly #db: SqlJsDatabase;
  readonly #statements = new Map<string, Prepared>();

  /** Configures `db` (foreign keys on; durability is IndexedDB's job, so SQLite's own journal stays in memory). */
  constructor(db: SqlJsDatabase) {
    this.#db = db;
    // The first statement reads the file header: an image that is not a database fails here.
    db.exec('PRAGMA schema_version');
    db.exec('PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON');
  }

  /** Runs `statements` in one transaction: all applied and their results returned, or none applied and a throw. */
  write(statements: readonly SqlStatement[]): WriteResult[] {
    this.#db.exec('BEGIN');
    try {
      const results = statements.map(({ sql, params }) => this.#run(sql, params));
      this.#db.exec('COMMIT');
      return results;
    } catch (error) {
      // Whether a statement or the COMMIT failed, nothing of the transaction stays; ROLLBACK fails only when
      // SQLite already rolled back by itself.
      try {
        this.#db.exec('ROLLBACK');
      } catch {}
      throw statementError(error);
    }
  }

  /**
   * Replays journaled groups (each committed when it was written) in one transaction: the same database as one
   * transaction each, for one commit instead of hundreds (a start with 300 groups spent 170 ms committing them).
   * Returns how many statements it ran.
   */
  replay(groups: Iterable<readonly SqlStatement[]>): number {
    const all: SqlStatement[] = [];
    for (const group of groups) for (const statement of group) all.push(statement);
    this.write(all);
    return all.length;
  }

  /** Opens the transaction a group of writes is applied in, held open until its journal append settles. */
  begin(): void {
    this.#exec('BEGIN');
  }

  /**
   * Applies one write inside the open transaction: all of its statements or, if one fails, none (a savepoint).
   * Throws `GroupLostError` if SQLite rolled back the whole transaction by itself (then a new one is open).
   */
  apply(statements: readonly SqlStatement[]): WriteResult[] {
    this.#exec('SAVEPOINT write');
    try {
      const results = statements.map(({ sql, params }) => this.#run(sql, params));
      this.#exec('RELEASE write');
      return results;
    } catch (error) {
      try {
        this.#exec('ROLLBACK TO write');
        this.#exec('RELEASE write');
      } catch {
        // No savepoint left: SQLite ended the transaction itself (ON CONFLICT ROLLBACK, out of memory).
        this.#exec('BEGIN');
        throw new GroupLostError(statementError(error));
      }
      throw statementError(error);
    }
  }

  commit(): void {
    this.#exec('COMMIT');
  }

  rollback(): void {
    try {
      this.#exec('ROLLBACK');
    } catch {}
  }

  /** The file's size as SQLite sees it: page count times page size. */
  fileBytes(): number {
    return Number(this.#scalar('PRAGMA page_count')) * Number(this.#scalar('PRAGMA page_size'));
  }

  /** AUTOINCREMENT tables' last handed-out ids (sqlite_sequence), empty when there is no such table. */
  sequences(): Map<string, number> {
    const exists = this.query<{ n: number }>(
      "SELECT count(*) AS n FROM sqlite_master WHERE name = 'sqlite_sequence'",
    )[0];
    if (!exists?.n) return new Map();
    const rows = this.query<{ name: string; seq: number }>('SELECT name, seq FROM sqlite_sequence');
    return new Map(rows.map((row) => [row.name, Number(row.seq)]));
  }

  query<Row>(sql: string, params?: readonly SqlValue[]): Row[] {
    try {
      const { statement } = this.#prepare(sql);
      statement.bind(bindable(params));
      const rows: Row[] = [];
      try {
        let columns: string[] | undefined;
        while (statement.step()) {
          columns ??= statement.getColumnNames();
          const values = statement.get();
          const row: Record<string, unknown> = {};
          for (let i = 0; i < columns.length; i++) row[columns[i]!] = values[i] ?? null;
          rows.push(row as Row);
        }
      } finally {
        statement.reset();
      }
      return rows;
    } catch (error) {
      throw statementError(error);
    }
  }

  /** The whole database as an SQLite file image (an independent copy). */
  export(): Uint8Array {
    return this.#db.export();
  }

  close(): void {
    for (const { statement } of this.#statements.values()) statement.free();
    this.#statements.clear();
    this.#db.close();
  }

  #run(sql: string, params: readonly SqlValue[] | undefined): WriteResult {
    const { statement, kind } = this.#prepare(sql);
    statement.run(bindable(params));
    if (kind === undefined) return { changes: 0, lastInsertRowid: 0 };
    const changes = this.#db.getRowsModified();
    const rowid = kind === 'insert' && changes > 0 ? Number(this.#scalar('SELECT last_insert_rowid()')) : 0;
    return { changes, lastInsertRowid: rowid };
  }

  #exec(sql: string): void {
    this.#prepare(sql).statement.run();
  }

  #scalar(sql: string): SqlValue {
    const { statement } = this.#prepare(sql);
    try {
      statement.step();
      return statement.get()[0] as SqlValue;
    } finally {
      statement.reset();
    }
  }

  /** Prepared statements by SQL text, least recently used evicted first (a Map keeps insertion order). */
  #prepare(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (prepared === undefined) {
      const verb = CHANGES_ROWS.exec(sql)?.[1]?.toUpperCase();
      const kind =
        verb === 'INSERT' || verb === 'REPLACE' ? 'insert' : verb === undefined ? undefined : 'update';
      prepared = { statement: this.#db.prepare(sql), kind };
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const [oldest, evicted] = this.#statements.entries().next().value as [string, Prepared];
        evicted.statement.free();
        this.#statements.delete(oldest);
      }
    } else {
      this.#statements.delete(sql);
    }
    this.#statements.set(sql, prepared);
    return prepared;
  }
}

/** SQLite rolled back a group's whole transaction while one write failed: every write applied in it is gone. */
export class GroupLostError extends Error {
  constructor(readonly reason: SpotflowError) {
    super(reason.message, { cause: reason });
  }
}

/**
 * sql.js binds a JS number as a 32-bit integer when it is one and as a double otherwise, and a bigint as text.
 * INTEGER columns turn both back into exact integers (the core declares every integer column INTEGER); a bigint
 * in the safe range is passed as a number so that it also compares as one.
 */
function bindable(params: readonly SqlValue[] | undefined): (string | number | Uint8Array | null)[] {
  if (params === undefined) return [];
  return params.map((value) =>
    typeof value === 'bigint'
      ? value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString()
      : value,
  );
}

/**
 * sql.js reports failures as plain Errors carrying SQLite's message and no code. In memory, a statement fails only
 * because of the statement itself (syntax, constraint, type): the core built it, so it is ours to fix.
 */
function statementError(error: unknown): SpotflowError {
  if (error instanceof SpotflowError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SpotflowError('INTERNAL', `A statement failed (${message})`, { cause: error });
}
