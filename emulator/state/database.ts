import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { midHash } from './mid-hash.js';

/** Ordered schema migrations; index + 1 is the `user_version` after applying it. */
export const migrations: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE provisioning_operations (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    verification_code TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE registration_tokens (
    token TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    operation_id TEXT,
    expires_at INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX registration_tokens_device ON registration_tokens (device_id);
  CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    sas_key TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    last_seen INTEGER
  );
  CREATE TABLE twins (
    device_id TEXT PRIMARY KEY,
    desired TEXT NOT NULL,
    desired_version INTEGER NOT NULL,
    reported TEXT NOT NULL,
    reported_version INTEGER NOT NULL
  );
  CREATE TABLE c2d_messages (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    mid TEXT NOT NULL,
    properties TEXT NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at INTEGER NOT NULL
  );
  CREATE INDEX c2d_messages_device ON c2d_messages (device_id, sequence);
  CREATE TABLE messages (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    mid TEXT,
    stream_group TEXT,
    stream TEXT,
    site_id TEXT,
    batch_id TEXT,
    batch_slice_id TEXT,
    message_id TEXT,
    chunk_id TEXT,
    properties TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    duplicate INTEGER NOT NULL
  );
  CREATE INDEX messages_device ON messages (device_id, sequence);
  CREATE INDEX messages_mid ON messages (device_id, mid);
  CREATE TABLE batches (
    device_id TEXT NOT NULL,
    stream_group TEXT NOT NULL,
    stream TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    message_count INTEGER NOT NULL,
    completed_at INTEGER,
    PRIMARY KEY (device_id, stream_group, stream, batch_id)
  );
  CREATE TABLE chunked_messages (
    device_id TEXT NOT NULL,
    stream_group TEXT NOT NULL,
    stream TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    completed_at INTEGER,
    PRIMARY KEY (device_id, stream_group, stream, batch_id, message_id)
  );
  CREATE TABLE blobs (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    content BLOB NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (container, name)
  );
  CREATE TABLE file_uploads (
    correlation_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    blob_name TEXT NOT NULL,
    sas_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    completed INTEGER NOT NULL DEFAULT 0,
    is_success INTEGER
  );
  `,
  `
  CREATE TABLE blob_blocks (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    block_id TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (container, name, block_id)
  );
  `,
  `
  CREATE TABLE device_connections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    reason TEXT NOT NULL
  );
  CREATE INDEX device_connections_device ON device_connections (device_id, id);
  `,
  // C2D expiry and delivery count, as IoT Hub keeps them; messages queued before have IoT Hub's default hour.
  `
  ALTER TABLE c2d_messages ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE c2d_messages ADD COLUMN delivery_count INTEGER NOT NULL DEFAULT 0;
  UPDATE c2d_messages SET expires_at = enqueued_at + 3600000;
  `,
  // Duplicates are found by an integer hash of (device, mid) instead of the text (see mid-hash.ts); plain messages
  // stay out of the index.
  `
  ALTER TABLE messages ADD COLUMN mid_hash INTEGER;
  UPDATE messages SET mid_hash = mid_hash(device_id, mid) WHERE mid IS NOT NULL;
  DROP INDEX messages_mid;
  CREATE INDEX messages_mid_hash ON messages (mid_hash) WHERE mid_hash IS NOT NULL;
  `,
  // How many of each device's oldest messages retention dropped (see MessageStore).
  `
  CREATE TABLE message_drops (device_id TEXT PRIMARY KEY, dropped INTEGER NOT NULL);
  `,
  // Blob bytes are written once, as the chunk a PUT or Put Block brought; a blob's content is the list of its chunks,
  // so committing a block list and storing an externalized message copy no bytes (see BlobStore). Contents are
  // immutable: a message refers to the content it was sent with, whatever later overwrites the blob. The triggers
  // delete a content once neither a blob nor a message refers to it, and a chunk once nothing refers to it.
  `
  CREATE TABLE blob_chunks (id INTEGER PRIMARY KEY, content BLOB NOT NULL);
  CREATE TABLE blob_contents (id INTEGER PRIMARY KEY, size INTEGER NOT NULL);
  CREATE TABLE blob_content_parts (
    content_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    chunk_id INTEGER NOT NULL,
    PRIMARY KEY (content_id, position)
  ) WITHOUT ROWID;
  CREATE INDEX blob_content_parts_chunk ON blob_content_parts (chunk_id);

  INSERT INTO blob_chunks (id, content) SELECT rowid, content FROM blobs;
  INSERT INTO blob_contents (id, size) SELECT rowid, length(content) FROM blobs;
  INSERT INTO blob_content_parts (content_id, position, chunk_id) SELECT rowid, 0, rowid FROM blobs;
  CREATE TABLE blobs_new (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    content_id INTEGER NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (container, name)
  );
  INSERT INTO blobs_new (rowid, container, name, content_id, uploaded_at)
    SELECT rowid, container, name, rowid, uploaded_at FROM blobs;
  DROP TABLE blobs;
  ALTER TABLE blobs_new RENAME TO blobs;
  CREATE INDEX blobs_content ON blobs (content_id);

  CREATE TABLE blob_staged (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    block_id TEXT NOT NULL,
    chunk_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (container, name, block_id)
  );
  CREATE INDEX blob_staged_chunk ON blob_staged (chunk_id);
  INSERT INTO blob_chunks (id, content)
    SELECT (SELECT COALESCE(MAX(rowid), 0) FROM blobs) + rowid, content FROM blob_blocks;
  INSERT INTO blob_staged (container, name, block_id, chunk_id, size)
    SELECT container, name, block_id, (SELECT COALESCE(MAX(rowid), 0) FROM blobs) + rowid, length(content)
    FROM blob_blocks;
  DROP TABLE blob_blocks;

  ALTER TABLE messages ADD COLUMN payload_content INTEGER;
  CREATE INDEX messages_payload_content ON messages (payload_content) WHERE payload_content IS NOT NULL;

  CREATE TRIGGER blob_content_released_by_blob AFTER UPDATE OF content_id ON blobs
    WHEN old.content_id <> new.content_id BEGIN
      DELETE FROM blob_contents WHERE id = old.content_id
        AND NOT EXISTS (SELECT 1 FROM blobs WHERE content_id = old.content_id)
        AND NOT EXISTS (SELECT 1 FROM messages WHERE payload_content = old.content_id);
    END;
  CREATE TRIGGER blob_content_released_by_message AFTER DELETE ON messages
    WHEN old.payload_content IS NOT NULL BEGIN
      DELETE FROM blob_contents WHERE id = old.payload_content
        AND NOT EXISTS (SELECT 1 FROM blobs WHERE content_id = old.payload_content)
        AND NOT EXISTS (SELECT 1 FROM messages WHERE payload_content = old.payload_content);
    END;
  CREATE TRIGGER blob_content_deleted AFTER DELETE ON blob_contents BEGIN
      DELETE FROM blob_content_parts WHERE content_id = old.id;
    END;
  CREATE TRIGGER blob_chunk_released_by_content AFTER DELETE ON blob_content_parts BEGIN
      DELETE FROM blob_chunks WHERE id = old.chunk_id
        AND NOT EXISTS (SELECT 1 FROM blob_content_parts WHERE chunk_id = old.chunk_id)
        AND NOT EXISTS (SELECT 1 FROM blob_staged WHERE chunk_id = old.chunk_id);
    END;
  CREATE TRIGGER blob_chunk_released_by_staging AFTER DELETE ON blob_staged BEGIN
      DELETE FROM blob_chunks WHERE id = old.chunk_id
        AND NOT EXISTS (SELECT 1 FROM blob_content_parts WHERE chunk_id = old.chunk_id)
        AND NOT EXISTS (SELECT 1 FROM blob_staged WHERE chunk_id = old.chunk_id);
    END;
  `,
];

export type EmulatorDatabase = Database.Database;

/**
 * Opens the emulator's state: `<dataDir>/emulator.db`, or an in-memory database when `dataDir` is null.
 * The file is readable by its owner only: it holds every device's keys.
 */
export function openEmulatorDatabase(dataDir: string | null): EmulatorDatabase {
  let db: Database.Database;
  if (dataDir === null) {
    db = new Database(':memory:');
  } else {
    if (!existsSync(dataDir)) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, 'emulator.db');
    db = new Database(file);
    chmodSync(file, 0o600);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  db.function('mid_hash', { deterministic: true }, (deviceId, mid) => midHash(String(deviceId), String(mid)));
  migrate(db);
  return db;
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`emulator database schema version ${current} is newer than this emulator knows`);
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/** Prepares each SQL text once per database: better-sqlite3's prepare is costly on a hot path. */
export function statementCache(db: EmulatorDatabase): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  };
}
