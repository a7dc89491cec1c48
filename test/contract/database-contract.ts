/**
 * The contract of the `Database` port (src/ports.ts), for every adapter: better-sqlite3 in Node, sql.js in
 * browsers. Framework-free: each case throws on failure. The runner gives each case a context whose `open`
 * opens (creating) the database `name` and closes whatever is left open after the case.
 */
import { isSpotflowError } from '../../src/errors.js';
import type { Database, SqlValue } from '../../src/ports.js';
import { bytesEqual, deepEqual, equal, ok, rejectsWithCode } from './assert.js';

export interface DatabaseContractContext {
  open(name: string): Promise<Database>;
  /** A database name no other case uses. */
  freshName(): string;
}

export interface ContractCase<Context> {
  name: string;
  run(ctx: Context): Promise<void>;
}

async function fresh(ctx: DatabaseContractContext): Promise<Database> {
  return ctx.open(ctx.freshName());
}

async function count(db: Database, table: string): Promise<number> {
  const rows = await db.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]?.n);
}

async function rejectsWithSpotflowError(promise: Promise<unknown>, what: string): Promise<void> {
  let error: unknown;
  await promise.then(
    () => {},
    (caught: unknown) => {
      error = caught;
    },
  );
  ok(error !== undefined, `${what}: expected a rejection`);
  ok(isSpotflowError(error), `${what}: expected a SpotflowError, got ${String(error)}`);
}

export const databaseContract: ContractCase<DatabaseContractContext>[] = [
  {
    name: 'creates a table, writes and reads rows back',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([
        { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)' },
        { sql: 'INSERT INTO t (name, score) VALUES (?, ?)', params: ['a', 1.5] },
        { sql: 'INSERT INTO t (name, score) VALUES (?, ?)', params: ['b', 2] },
      ]);
      const rows = await db.query('SELECT id, name, score FROM t ORDER BY id');
      deepEqual(rows, [
        { id: 1, name: 'a', score: 1.5 },
        { id: 2, name: 'b', score: 2 },
      ]);
      const filtered = await db.query('SELECT name AS label FROM t WHERE score > ?', [1.75]);
      deepEqual(filtered, [{ label: 'b' }]);
    },
  },
  {
    name: 'round-trips BLOBs as Uint8Array, empty and large ones included',
    async run(ctx) {
      const db = await fresh(ctx);
      const every = new Uint8Array(256).map((_, i) => i);
      const large = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
      const empty = new Uint8Array(0);
      // A view into a larger buffer: only its own bytes must be stored.
      const view = new Uint8Array(every.buffer, 10, 5);
      await db.write([
        { sql: 'CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB NOT NULL)' },
        { sql: 'INSERT INTO b (data) VALUES (?)', params: [every] },
        { sql: 'INSERT INTO b (data) VALUES (?)', params: [large] },
        { sql: 'INSERT INTO b (data) VALUES (?)', params: [empty] },
        { sql: 'INSERT INTO b (data) VALUES (?)', params: [view] },
      ]);
      const rows = await db.query<{ data: Uint8Array; kind: string }>(
        'SELECT data, typeof(data) AS kind FROM b ORDER BY id',
      );
      equal(rows.length, 4);
      for (const row of rows) equal(row.kind, 'blob', 'stored as a BLOB');
      bytesEqual(rows[0]!.data, every, 'all byte values');
      bytesEqual(rows[1]!.data, large, 'a 300 kB blob');
      bytesEqual(rows[2]!.data, empty, 'an empty blob');
      bytesEqual(rows[3]!.data, new Uint8Array([10, 11, 12, 13, 14]), 'a view');
    },
  },
  {
    name: 'applies nothing of a write whose middle statement fails, and rejects with a SpotflowError',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([{ sql: 'CREATE TABLE u (k TEXT PRIMARY KEY)' }]);
      await db.write([{ sql: 'INSERT INTO u VALUES (?)', params: ['taken'] }]);
      const failing = db.write([
        { sql: 'INSERT INTO u VALUES (?)', params: ['first'] },
        { sql: 'INSERT INTO u VALUES (?)', params: ['taken'] },
        { sql: 'INSERT INTO u VALUES (?)', params: ['last'] },
      ]);
      await rejectsWithSpotflowError(failing, 'a constraint violation');
      deepEqual(await db.query('SELECT k FROM u'), [{ k: 'taken' }]);
      // The database stays usable after a failed write.
      await db.write([{ sql: 'INSERT INTO u VALUES (?)', params: ['after'] }]);
      equal(await count(db, 'u'), 2);
    },
  },
  {
    name: 'reports statements that are wrong in themselves as INTERNAL (our bug), with nothing applied',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([{ sql: 'CREATE TABLE v (x INTEGER NOT NULL)' }]);
      await rejectsWithCode(
        db.write([{ sql: 'INSERT INTO v VALUES (1)' }, { sql: 'INSRT INTO v VALUES (2)' }]),
        'INTERNAL',
        'a syntax error',
      );
      await rejectsWithCode(db.write([{ sql: 'INSERT INTO v VALUES (NULL)' }]), 'INTERNAL', 'NOT NULL');
      await rejectsWithCode(db.query('SELECT * FROM no_such_table'), 'INTERNAL', 'an unknown table');
      equal(await count(db, 'v'), 0);
    },
  },
  {
    name: 'enforces foreign keys',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([
        { sql: 'CREATE TABLE parent (id INTEGER PRIMARY KEY)' },
        { sql: 'CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES parent(id))' },
      ]);
      await rejectsWithCode(
        db.write([{ sql: 'INSERT INTO child (parent) VALUES (?)', params: [42] }]),
        'INTERNAL',
        'a dangling reference',
      );
      equal(await count(db, 'child'), 0);
    },
  },
  {
    name: 'returns changes and lastInsertRowid per statement, in order (0 rowid for non-INSERTs)',
    async run(ctx) {
      const db = await fresh(ctx);
      const results = await db.write([
        { sql: 'CREATE TABLE r (id INTEGER PRIMARY KEY, x INTEGER)' },
        { sql: 'INSERT INTO r (x) VALUES (?)', params: [10] },
        { sql: 'INSERT INTO r (x) VALUES (?), (?)', params: [20, 30] },
        { sql: 'UPDATE r SET x = x + 1 WHERE x >= ?', params: [20] },
        { sql: 'DELETE FROM r WHERE x = ?', params: [999] },
        { sql: 'INSERT INTO r (id, x) VALUES (?, ?)', params: [100, 40] },
      ]);
      deepEqual(results, [
        { changes: 0, lastInsertRowid: 0 },
        { changes: 1, lastInsertRowid: 1 },
        { changes: 2, lastInsertRowid: 3 },
        { changes: 2, lastInsertRowid: 0 },
        { changes: 0, lastInsertRowid: 0 },
        { changes: 1, lastInsertRowid: 100 },
      ]);
      equal(typeof results[1]!.lastInsertRowid, 'number');
    },
  },
  {
    name: 'keeps the order of statements within a write',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([
        { sql: 'CREATE TABLE o (id INTEGER PRIMARY KEY, x INTEGER)' },
        { sql: 'INSERT INTO o (x) VALUES (1)' },
        { sql: 'UPDATE o SET x = x * 10' },
        { sql: 'INSERT INTO o (x) VALUES (2)' },
        { sql: 'UPDATE o SET x = x + 1' },
        { sql: 'DELETE FROM o WHERE x = 3' },
        { sql: 'INSERT INTO o (x) VALUES (3)' },
      ]);
      deepEqual(await db.query('SELECT x FROM o ORDER BY id'), [{ x: 11 }, { x: 3 }]);
    },
  },
  {
    name: 'resolves an empty write with no results',
    async run(ctx) {
      const db = await fresh(ctx);
      deepEqual(await db.write([]), []);
    },
  },
  {
    name: 'keeps committed data across close and reopen',
    async run(ctx) {
      const name = ctx.freshName();
      const db = await ctx.open(name);
      await db.write([
        { sql: 'CREATE TABLE k (v TEXT)' },
        { sql: 'INSERT INTO k VALUES (?)', params: ['kept'] },
        { sql: 'PRAGMA user_version = 3' },
      ]);
      await db.close();
      const again = await ctx.open(name);
      deepEqual(await again.query('SELECT v FROM k'), [{ v: 'kept' }]);
      deepEqual(await again.query('PRAGMA user_version'), [{ user_version: 3 }]);
    },
  },
  {
    name: 'applies relaxed-durability writes like any other, interleaved with full ones, across reopen',
    async run(ctx) {
      const name = ctx.freshName();
      const db = await ctx.open(name);
      await db.write([{ sql: 'CREATE TABLE t (x INTEGER)' }]);
      await db.write([{ sql: 'INSERT INTO t (x) VALUES (1)' }], { durability: 'relaxed' });
      await db.write([{ sql: 'INSERT INTO t (x) VALUES (2)' }], { durability: 'full' });
      await db.write([{ sql: 'DELETE FROM t WHERE x = 1' }], { durability: 'relaxed' });
      await db.write([{ sql: 'INSERT INTO t (x) VALUES (3)' }]);
      await db.close();
      const again = await ctx.open(name);
      deepEqual(await again.query('SELECT x FROM t ORDER BY x'), [{ x: 2 }, { x: 3 }]);
    },
  },
  {
    name: 'rejects query() after close() with CLIENT_CLOSED',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.close();
      await rejectsWithCode(db.query('SELECT 1 AS one'), 'CLIENT_CLOSED');
    },
  },
  {
    name: 'rejects write() after close() with CLIENT_CLOSED; a second close() is harmless',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([{ sql: 'CREATE TABLE c (x)' }]);
      await db.close();
      await rejectsWithCode(db.write([{ sql: 'INSERT INTO c VALUES (1)' }]), 'CLIENT_CLOSED');
      await db.close();
    },
  },
  {
    name: 'writes 10,000 rows in a single write',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([{ sql: 'CREATE TABLE many (id INTEGER PRIMARY KEY, payload TEXT)' }]);
      const statements = Array.from({ length: 10_000 }, (_, i) => ({
        sql: 'INSERT INTO many (payload) VALUES (?)',
        params: [`row ${i}`],
      }));
      const results = await db.write(statements);
      equal(results.length, 10_000);
      equal(results[9_999]!.lastInsertRowid, 10_000);
      equal(await count(db, 'many'), 10_000);
      deepEqual(await db.query('SELECT payload FROM many WHERE id = ?', [5_000]), [{ payload: 'row 4999' }]);
    },
  },
  {
    name: 'applies every one of many concurrent write() calls',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([{ sql: 'CREATE TABLE w (id INTEGER PRIMARY KEY, n INTEGER)' }]);
      const writes = Array.from({ length: 300 }, (_, n) =>
        db.write([
          { sql: 'INSERT INTO w (n) VALUES (?)', params: [n] },
          { sql: 'INSERT INTO w (n) VALUES (?)', params: [-n] },
        ]),
      );
      const results = await Promise.all(writes);
      const ids = new Set(results.flatMap((pair) => pair.map((result) => result.lastInsertRowid)));
      equal(ids.size, 600, 'distinct rowids');
      equal(await count(db, 'w'), 600);
      deepEqual(await db.query('SELECT sum(n) AS total FROM w'), [{ total: 0 }]);
    },
  },
  {
    name: 'reads and writes PRAGMA user_version',
    async run(ctx) {
      const db = await fresh(ctx);
      deepEqual(await db.query('PRAGMA user_version'), [{ user_version: 0 }]);
      await db.write([{ sql: 'CREATE TABLE m (x)' }, { sql: 'PRAGMA user_version = 42' }]);
      deepEqual(await db.query('PRAGMA user_version'), [{ user_version: 42 }]);
    },
  },
  {
    name: 'stores NULL, negative numbers, reals and bigints faithfully',
    async run(ctx) {
      const db = await fresh(ctx);
      const huge = 2n ** 62n + 1n; // beyond Number.MAX_SAFE_INTEGER
      await db.write([
        // An INTEGER column, as the core declares every integer column: sql.js can bind only 32-bit integers
        // exactly (wider ones go as doubles or text), and INTEGER affinity turns those back into exact integers.
        { sql: 'CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER)' },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [null] },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [-1] },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [-2.5] },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [0.1 + 0.2] },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [2n ** 40n] },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [-(2n ** 40n)] },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [huge] },
        { sql: 'INSERT INTO n (v) VALUES (?)', params: [Number.MAX_SAFE_INTEGER] },
      ]);
      const rows = await db.query<{ v: SqlValue; kind: string; text: string | null }>(
        'SELECT v, typeof(v) AS kind, CAST(v AS TEXT) AS text FROM n ORDER BY id',
      );
      deepEqual(
        rows.map((row) => row.kind),
        ['null', 'integer', 'real', 'real', 'integer', 'integer', 'integer', 'integer'],
      );
      deepEqual(
        rows.slice(0, 6).map((row) => row.v),
        [null, -1, -2.5, 0.1 + 0.2, 2 ** 40, -(2 ** 40)],
        'values in the safe range come back as numbers',
      );
      equal(rows[6]!.text, huge.toString(), 'a bigint beyond 2^53 is stored exactly');
      equal(rows[7]!.v, Number.MAX_SAFE_INTEGER);
      // A bigint parameter compares exactly in SQL too.
      deepEqual(await db.query('SELECT count(*) AS n FROM n WHERE v = ?', [huge]), [{ n: 1 }]);
    },
  },
  {
    name: 'round-trips unicode text',
    async run(ctx) {
      const db = await fresh(ctx);
      const texts = [
        'žluťoučký kůň',
        '日本語テキスト',
        'emoji 🚀👩‍💻',
        'مرحبا',
        'e\u0301',
        '',
        'quote \' " \\ %',
      ];
      await db.write([
        { sql: 'CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT)' },
        ...texts.map((text) => ({ sql: 'INSERT INTO s (v) VALUES (?)', params: [text] })),
      ]);
      const rows = await db.query<{ v: string }>('SELECT v FROM s ORDER BY id');
      deepEqual(
        rows.map((row) => row.v),
        texts,
      );
      deepEqual(await db.query('SELECT length(v) AS n FROM s WHERE v = ?', ['日本語テキスト']), [{ n: 7 }]);
    },
  },
  {
    name: 'returns an empty array when nothing matches',
    async run(ctx) {
      const db = await fresh(ctx);
      await db.write([{ sql: 'CREATE TABLE e (x)' }]);
      deepEqual(await db.query('SELECT x FROM e'), []);
      deepEqual(await db.query('SELECT x FROM e WHERE x = ?', [1]), []);
    },
  },
  {
    name: 'round-trips a 1 MB text value',
    async run(ctx) {
      const db = await fresh(ctx);
      const text = 'abcdefghij'.repeat(100_000);
      await db.write([
        { sql: 'CREATE TABLE big (v TEXT)' },
        { sql: 'INSERT INTO big VALUES (?)', params: [text] },
      ]);
      const rows = await db.query<{ v: string }>('SELECT v FROM big');
      equal(rows[0]?.v.length, text.length);
      ok(rows[0]?.v === text, 'the text is unchanged');
    },
  },
];
