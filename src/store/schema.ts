import { SpotflowError } from '../errors.js';
import type { Database } from '../ports.js';

/**
 * The SDK's database schema, as data: migration N (index N - 1) takes `user_version` from N - 1 to N.
 * The same SQL runs on better-sqlite3 and sql.js.
 */
export const migrations: readonly (readonly string[])[] = [
  [
    // Small named documents: the registration, twin state. Values are JSON.
    'CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
    // Outgoing messages, FIFO by id. `mid` is the stable id sent as `$.mid`. The payload is stored as given;
    // compression and upload happen when it is sent (`upload` remembers a finished upload across restarts).
    `CREATE TABLE outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      mid TEXT NOT NULL,
      properties TEXT NOT NULL,
      compression TEXT NOT NULL,
      payload BLOB NOT NULL,
      size INTEGER NOT NULL,
      enqueued_at INTEGER NOT NULL,
      upload TEXT
    )`,
    // Reported-property patches not yet acknowledged by the hub, applied in id order.
    'CREATE TABLE reported_patches (id INTEGER PRIMARY KEY AUTOINCREMENT, patch TEXT NOT NULL)',
  ],
  [
    // Cloud-to-device messages taken from the hub (acknowledged) but not yet handled by the application.
    'CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL)',
  ],
  [
    // What the outbox holds, kept by triggers in the same transactions as its rows: counting ten million rows at
    // start took 1.9 s. One row (id 1).
    `CREATE TABLE outbox_totals (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      messages INTEGER NOT NULL,
      bytes INTEGER NOT NULL
    )`,
    'INSERT INTO outbox_totals SELECT 1, COUNT(*), COALESCE(SUM(size), 0) FROM outbox',
    `CREATE TRIGGER outbox_totals_insert AFTER INSERT ON outbox BEGIN
      UPDATE outbox_totals SET messages = messages + 1, bytes = bytes + NEW.size WHERE id = 1;
    END`,
    `CREATE TRIGGER outbox_totals_delete AFTER DELETE ON outbox BEGIN
      UPDATE outbox_totals SET messages = messages - 1, bytes = bytes - OLD.size WHERE id = 1;
    END`,
  ],
  [
    // Inserts add to the totals once per group commit (OutboxStore), not once per row: the insert trigger cost
    // 17 % of a durable enqueue's throughput. Deletes (a limit's drop may take any number of rows) keep theirs.
    'DROP TRIGGER outbox_totals_insert',
  ],
  [
    // Deletes subtract from the totals once per statement (OutboxStore), not once per row: the delete trigger cost
    // 2 µs of the 5.7 µs each acknowledged 1 KiB message took to delete.
    'DROP TRIGGER outbox_totals_delete',
  ],
];

/** Brings the database to the newest schema; refuses a database written by a newer SDK. */
export async function migrate(db: Database): Promise<void> {
  const rows = await db.query<{ user_version: number }>('PRAGMA user_version');
  const current = Number(rows[0]?.user_version ?? 0);
  if (current > migrations.length) {
    throw new SpotflowError(
      'DATABASE_CORRUPT',
      `The database has schema version ${current}, newer than this SDK knows (${migrations.length})`,
    );
  }
  for (let version = current; version < migrations.length; version++) {
    const statements = migrations[version]!.map((sql) => ({ sql }));
    await db.write([...statements, { sql: `PRAGMA user_version = ${version + 1}` }]);
  }
}
