// Case: the floor under issue 19's CPU targets. The statements our outbox runs for durable messages (the SQL of
// src/outbox/store.ts, deletions.ts and outbox-commit.ts) replayed on better-sqlite3 alone: no client, no MQTT, no
// promises, so what remains is what SQLite and the disk cost on this machine. Two shapes, as the benchmarks send:
// - rounds of 64 × 1 KiB (e2e, enqueue): insert and commit, read back (a burst outruns the sender's in-memory tail),
//   delete in batches; beside it the same messages stored one row per commit round, a layout the SDK does not have,
//   to show what changing the layout would save;
// - the fleet's rounds: 3 devices × 60 B on a DeviceStore-shaped file (the (device, id) index, a totals row per
//   device, deletes riding along); beside it the same with synchronous=OFF, to show what the fsync alone costs.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { alternate, row } from '../lib/harness.mjs';

export const name = 'floor';
export const description =
  "the outbox's SQL alone on better-sqlite3: CPU per durable message and per fleet round (the floor under the CPU targets)";

const outboxTable = `CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, mid TEXT NOT NULL,
  properties TEXT NOT NULL, compression TEXT NOT NULL, payload BLOB NOT NULL, size INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL, upload TEXT, device TEXT NOT NULL DEFAULT '')`;
const totalsTable = `CREATE TABLE outbox_totals (device TEXT PRIMARY KEY, messages INTEGER NOT NULL,
  bytes INTEGER NOT NULL) WITHOUT ROWID`;
const insertSql = `INSERT INTO outbox (device, mid, properties, compression, payload, size, enqueued_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)`;
const addTotalsSql = `INSERT INTO outbox_totals (device, messages, bytes) VALUES (?, ?, ?)
  ON CONFLICT (device) DO UPDATE SET messages = messages + excluded.messages, bytes = bytes + excluded.bytes`;
const pageSql = `SELECT id, mid, properties, compression, size, enqueued_at, upload, payload
  FROM outbox WHERE device = ? AND id > ? ORDER BY id LIMIT ?`;
/** deletions.ts: the totals first, from the rows about to go, then the rows. */
const deleteSql = (where) => [
  `UPDATE outbox_totals SET (messages, bytes) = (SELECT messages - COUNT(*), bytes - COALESCE(SUM(size), 0)
     FROM outbox WHERE ${where}) WHERE device = ?`,
  `DELETE FROM outbox WHERE ${where}`,
];

/** CPU of the whole process (one thread does the work) in µs. */
const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

function openDatabase(path, synchronous) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.exec(outboxTable);
  db.exec(totalsTable);
  return db;
}

/**
 * `messages` 1 KiB messages in rounds of 64 (one transaction, one fsync each), read back and deleted 256 at a time
 * (a relaxed transaction: the sender's batches). `batchRows`: a round is one row (its mids in `mid` as JSON, the
 * payloads concatenated), read back as such and cut into messages. Returns CPU µs per message.
 */
function durableMessages(path, messages, batchRows) {
  const perRound = 64;
  const size = 1024;
  const db = openDatabase(path, 'FULL');
  try {
    db.exec("INSERT INTO outbox_totals VALUES ('', 0, 0)");
    const insert = db.prepare(insertSql);
    const addTotals = db.prepare(addTotalsSql);
    const page = db.prepare(pageSql);
    const [subtract, remove] = deleteSql('id BETWEEN ? AND ?').map((sql) => db.prepare(sql));
    const payload = Buffer.alloc(size, 'x');
    const ids = [];
    let cursor = 0;
    const started = cpuNow();
    for (let sent = 0; sent < messages; sent += perRound) {
      db.exec('BEGIN');
      const now = Date.now();
      if (batchRows) {
        const mids = Array.from({ length: perRound }, () => crypto.randomUUID());
        const body = Buffer.concat(mids.map(() => payload));
        const { lastInsertRowid } = insert.run(
          '',
          JSON.stringify(mids),
          '{}',
          'none',
          body,
          body.length,
          now,
        );
        ids.push(Number(lastInsertRowid));
      } else {
        for (let i = 0; i < perRound; i++) {
          const { lastInsertRowid } = insert.run('', crypto.randomUUID(), '{}', 'none', payload, size, now);
          ids.push(Number(lastInsertRowid));
        }
      }
      addTotals.run('', perRound, perRound * size);
      db.exec('COMMIT');
      // The sender: a page of 256 messages, then their delete.
      const rowsPerPage = batchRows ? 256 / perRound : 256;
      while (ids.length >= rowsPerPage) {
        const rows = page.all('', cursor, rowsPerPage);
        if (batchRows) {
          for (const stored of rows) {
            const mids = JSON.parse(stored.mid);
            for (let i = 0; i < mids.length; i++) stored.payload.subarray(i * size, (i + 1) * size);
          }
        }
        const first = ids[0];
        cursor = ids[rowsPerPage - 1];
        ids.splice(0, rowsPerPage);
        db.pragma('synchronous = NORMAL');
        db.exec('BEGIN');
        subtract.run(first, cursor, '');
        remove.run(first, cursor);
        db.exec('COMMIT');
        db.pragma('synchronous = FULL');
      }
    }
    return (cpuNow() - started) / messages;
  } finally {
    db.close();
  }
}

/**
 * The fleet's rounds on one file for 1,000 devices: each round inserts one 60 B message for each of 3 devices (and
 * their totals), and the deletes of messages acknowledged about a second earlier ride along. Returns CPU µs per round.
 */
function fleetRounds(path, rounds, synchronous) {
  const devices = 1000;
  const perRound = 3;
  const db = openDatabase(path, synchronous);
  try {
    db.exec('CREATE INDEX outbox_by_device ON outbox (device, id)');
    const seed = db.prepare('INSERT INTO outbox_totals VALUES (?, 0, 0)');
    for (let d = 0; d < devices; d++) seed.run(`fleet-${d}`);
    const insert = db.prepare(insertSql);
    const addTotals = db.prepare(addTotalsSql);
    const [subtract, remove] = deleteSql('id IN (?)').map((sql) => db.prepare(sql));
    const payload = Buffer.from(JSON.stringify({ seq: 123456, at: Date.now() }));
    const acknowledged = [];
    let next = 0;
    const started = cpuNow();
    for (let r = 0; r < rounds; r++) {
      db.exec('BEGIN');
      for (let i = 0; i < perRound; i++) {
        const device = `fleet-${next++ % devices}`;
        const { lastInsertRowid } = insert.run(
          device,
          crypto.randomUUID(),
          '{"stream":"fleet"}',
          'none',
          payload,
          payload.length,
          Date.now(),
        );
        addTotals.run(device, 1, payload.length);
        acknowledged.push([Number(lastInsertRowid), device]);
      }
      while (acknowledged.length > devices) {
        const [id, device] = acknowledged.shift();
        subtract.run(id, device);
        remove.run(id);
      }
      db.exec('COMMIT');
    }
    return (cpuNow() - started) / rounds;
  } finally {
    db.close();
  }
}

export async function run({ smoke, runs, warmup, dir }) {
  const messages = smoke ? 1_024 : 60_032;
  const rounds = smoke ? 100 : 3_000;
  const at = (file) => join(dir, file);
  const perMessage = await alternate({
    runs,
    warmup,
    measure: {
      rows: async () => durableMessages(at('floor-rows.db'), messages, false),
      batch: async () => durableMessages(at('floor-batch.db'), messages, true),
    },
  });
  const fleet = await alternate({
    runs,
    warmup,
    measure: {
      full: async () => fleetRounds(at('floor-fleet-full.db'), rounds, 'FULL'),
      off: async () => fleetRounds(at('floor-fleet-off.db'), rounds, 'OFF'),
    },
  });
  return [
    row({
      caseName: name,
      name: 'outbox SQL per durable 1 KiB message, rounds of 64: insert + commit, read back, delete (SQLite alone)',
      unit: 'µs/msg',
      ours: perMessage.rows,
      baseline: perMessage.batch,
      baselineName: 'the same messages stored one row per commit round (a layout the SDK does not have)',
    }),
    row({
      caseName: name,
      name: 'outbox SQL per fleet round, 3 devices × 60 B on one DeviceStore file: inserts, totals, deletes (SQLite alone)',
      unit: 'µs/round',
      ours: fleet.full,
      baseline: fleet.off,
      baselineName: 'the same rounds with synchronous=OFF (no fsync)',
    }),
  ];
}
