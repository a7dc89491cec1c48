// Case 1. Durable enqueue in Node, 1 KiB: our enqueueMessage (offline, so only the durable store is measured) with 1
// and 64 concurrent callers, against better-sqlite3 with synchronous=FULL in WAL mode: one autocommit insert per
// message, and transactions of 64 (the best a hand-written store does).
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { enqueueMany, rate, startDevice } from '../lib/device.mjs';
import { alternate, row } from '../lib/harness.mjs';
import { offlineTemplate } from '../lib/offline.mjs';

export const name = 'enqueue';
export const description =
  'durable enqueue, Node, 1 KiB: 1 and 64 callers vs better-sqlite3 autocommit / tx of 64';

export async function run({ smoke, runs, warmup, dir }) {
  const many = smoke ? 500 : 20_000;
  const few = smoke ? 100 : 2_000;
  const payload = Buffer.alloc(1024, 'x');

  // A provisioned device whose emulator is gone: the client starts from its stored registration and queues.
  const template = join(dir, 'enqueue-template.db');
  const emulator = await offlineTemplate(dir, 'enqueue', template);
  let n = 0;
  const offlineClient = async () => {
    const database = join(dir, `enqueue-${++n}.db`);
    copyFileSync(template, database);
    return startDevice(emulator, { dir, name: 'enqueue', database });
  };
  const ours = (callers, count) => async () => {
    const client = await offlineClient();
    try {
      const started = performance.now();
      await enqueueMany(client, count, payload, callers);
      return rate(count, performance.now() - started);
    } finally {
      await client.close();
    }
  };
  const raw = (perTransaction, count) => async () => {
    const db = new Database(join(dir, `raw-${perTransaction}-${++n}.db`));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
      const insert = db.prepare('INSERT INTO t (payload) VALUES (?)');
      const batch = db.transaction((k) => {
        for (let i = 0; i < k; i++) insert.run(payload);
      });
      const started = performance.now();
      for (let done = 0; done < count; done += perTransaction) {
        if (perTransaction === 1) insert.run(payload);
        else batch(perTransaction);
      }
      return rate(count, performance.now() - started);
    } finally {
      db.close();
    }
  };

  const one = await alternate({ runs, warmup, measure: { ours: ours(1, few), autocommit: raw(1, few) } });
  const m = await alternate({
    runs,
    warmup,
    measure: { ours: ours(64, many), autocommit: raw(1, few), tx64: raw(64, many) },
  });
  const common = { caseName: name, unit: 'msg/s' };
  const autocommit = 'better-sqlite3 FULL, autocommit insert per message';
  return [
    row({
      ...common,
      name: 'durable enqueue 1 KiB, 1 caller',
      ours: one.ours,
      baseline: one.autocommit,
      baselineName: autocommit,
    }),
    row({
      ...common,
      name: 'durable enqueue 1 KiB, 64 callers',
      ours: m.ours,
      baseline: m.autocommit,
      baselineName: autocommit,
      target: { on: 'ratio', op: '>=', value: 10 },
    }),
    row({
      ...common,
      name: 'durable enqueue 1 KiB, 64 callers',
      ours: m.ours,
      baseline: m.tx64,
      baselineName: 'better-sqlite3 FULL, transactions of 64',
      // Issue 19 (was 0.6 before it).
      target: { on: 'ratio', op: '>=', value: 0.8 },
    }),
  ];
}
