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
  [
    // Every row belongs to a device, so that one file can hold many (a gateway's DeviceStore). A database of one
    // device keeps it as '': adding a column with a default rewrites no row, so a backlog of millions migrates at once.
    `ALTER TABLE outbox ADD COLUMN device TEXT NOT NULL DEFAULT ''`,
    `ALTER TABLE reported_patches ADD COLUMN device TEXT NOT NULL DEFAULT ''`,
    `ALTER TABLE inbox ADD COLUMN device TEXT NOT NULL DEFAULT ''`,
    // The two small tables keyed by one value are rebuilt keyed by device too.
    `CREATE TABLE device_state (
      device TEXT NOT NULL,
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (device, key)
    ) WITHOUT ROWID`,
    `INSERT INTO device_state SELECT '', key, value FROM state`,
    'DROP TABLE state',
    'ALTER TABLE device_state RENAME TO state',
    `CREATE TABLE device_totals (
      device TEXT PRIMARY KEY,
      messages INTEGER NOT NULL,
      bytes INTEGER NOT NULL
    ) WITHOUT ROWID`,
    `INSERT INTO device_totals SELECT '', messages, bytes FROM outbox_totals`,
    'DROP TABLE outbox_totals',
    'ALTER TABLE device_totals RENAME TO outbox_totals',
  ],
];

/**
 * What a file that holds many devices adds (DeviceStore): their rows interleave, so each device's must be found
 * without reading the others'. A file of one device has none: its rows are all its own, in id order already.
 */
export const manyDevicesIndexes: readonly string[] = [
  'CREATE INDEX IF NOT EXISTS outbox_by_device ON outbox (device, id)',
  'CREATE INDEX IF NOT EXISTS reported_patches_by_device ON reported_patches (device, id)',
  'CREATE INDEX IF NOT EXISTS inbox_by_device ON inbox (device, id)',
];

/**
 * What {@link migrations} leave, created at once in a new database. Replaying them there cost every fresh database's
 * connection ~150 KB more memory for good (SQLite's allocations while the table rebuilds re-parse the schema).
 * The tables' texts repeat the migrations' on purpose: those are history and never change, this is the schema now.
 * A test keeps the two the same.
 */
export const newestSchema: readonly string[] = [
  `CREATE TABLE state (
    device TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (device, key)
  ) WITHOUT ROWID`,
  `CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mid TEXT NOT NULL,
    properties TEXT NOT NULL,
    compression TEXT NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    upload TEXT,
    device TEXT NOT NULL DEFAULT ''
  )`,
  `CREATE TABLE reported_patches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patch TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT ''
  )`,
  `CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    device TEXT NOT NULL DEFAULT ''
  )`,
  `CREATE TABLE outbox_totals (
    device TEXT PRIMARY KEY,
    messages INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  ) WITHOUT ROWID`,
  `INSERT INTO outbox_totals VALUES ('', 0, 0)`,
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
  if (current === 0) {
    await db.write([
      ...newestSchema.map((sql) => ({ sql })),
      { sql: `PRAGMA user_version = ${migrations.length}` },
    ]);
    return;
  }
  for (let version = current; version < migrations.length; version++) {
    const statements = migrations[version]!.map((sql) => ({ sql }));
    await db.write([...statements, { sql: `PRAGMA user_version = ${version + 1}` }]);
  }
}
