import { type EmulatorDatabase, statementCache } from './database.js';
import { midHash } from './mid-hash.js';

/** One telemetry message as the emulator stored it (payload already decoded). */
export interface StoredMessage {
  sequence: number;
  mid: string | null;
  streamGroup: string | null;
  stream: string | null;
  siteId: string | null;
  batchId: string | null;
  batchSliceId: string | null;
  messageId: string | null;
  chunkId: string | null;
  properties: Record<string, string>;
  payload: Buffer;
  receivedAt: string;
  duplicate: boolean;
}

export type NewMessage = Omit<StoredMessage, 'sequence' | 'receivedAt' | 'duplicate'>;

interface MessageRow {
  sequence: number;
  mid: string | null;
  stream_group: string | null;
  stream: string | null;
  site_id: string | null;
  batch_id: string | null;
  batch_slice_id: string | null;
  message_id: string | null;
  chunk_id: string | null;
  properties: string;
  payload: Buffer;
  received_at: number;
  duplicate: number;
}

/** A page of messages stops growing once its payloads add up to this much (base64 and JSON make it ~1.4x). */
export const maxPagePayloadBytes = 16 * 1024 * 1024;

export interface MessageQuery {
  stream?: string;
  after?: number;
  limit: number;
}

export interface BatchSummary {
  streamGroup: string;
  stream: string;
  batchId: string;
  messageCount: number;
  completedAt: string | null;
}

/** Telemetry received from devices, with the batches and chunked messages it opened and closed. */
export class MessageStore {
  readonly #sql: ReturnType<typeof statementCache>;
  readonly #addTransaction: (
    deviceId: string,
    message: NewMessage,
    closes: { batch: boolean; message: boolean },
  ) => StoredMessage;

  constructor(
    private readonly db: EmulatorDatabase,
    private readonly now: () => number,
  ) {
    this.#sql = statementCache(db);
    this.#addTransaction = db.transaction(
      (deviceId: string, message: NewMessage, closes: { batch: boolean; message: boolean }) =>
        this.#addNow(deviceId, message, closes),
    );
  }

  /** Stores one message; a `$.mid` seen before from the same device marks it as a duplicate. */
  add(deviceId: string, message: NewMessage, closes: { batch: boolean; message: boolean }): StoredMessage {
    return this.#addTransaction(deviceId, message, closes);
  }

  #addNow(
    deviceId: string,
    message: NewMessage,
    closes: { batch: boolean; message: boolean },
  ): StoredMessage {
    const hash = message.mid === null ? null : midHash(deviceId, message.mid);
    const duplicate =
      hash !== null &&
      this.#sql('SELECT 1 FROM messages WHERE mid_hash = ? AND device_id = ? AND mid = ? LIMIT 1').get(
        hash,
        deviceId,
        message.mid,
      ) !== undefined;
    const receivedAt = this.now();
    const { lastInsertRowid } = this.#sql(
      `INSERT INTO messages (device_id, mid, mid_hash, stream_group, stream, site_id, batch_id, batch_slice_id,
             message_id, chunk_id, properties, payload, received_at, duplicate)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      deviceId,
      message.mid,
      hash,
      message.streamGroup,
      message.stream,
      message.siteId,
      message.batchId,
      message.batchSliceId,
      message.messageId,
      message.chunkId,
      JSON.stringify(message.properties),
      message.payload,
      receivedAt,
      duplicate ? 1 : 0,
    );
    if (!duplicate) this.#track(deviceId, message, closes, receivedAt);
    return {
      ...message,
      sequence: Number(lastInsertRowid),
      receivedAt: new Date(receivedAt).toISOString(),
      duplicate,
    };
  }

  /**
   * One page of the device's messages in sequence order: at most `query.limit` of them, and no more than
   * `maxPagePayloadBytes` of payload (but always at least one message). `next` is the `after` that continues.
   */
  list(deviceId: string, query: MessageQuery): { items: StoredMessage[]; next: number | null } {
    const filter = 'device_id = ? AND sequence > ? AND (? IS NULL OR stream = ?)';
    const args = [deviceId, query.after ?? 0, query.stream ?? null, query.stream ?? null];
    // Sizes first (read from the row headers, not the payloads), so a page of huge payloads is never loaded whole.
    const sizes = this.#sql(
      `SELECT sequence, length(payload) AS bytes FROM messages WHERE ${filter} ORDER BY sequence LIMIT ?`,
    ).all(...args, query.limit + 1) as { sequence: number; bytes: number }[];
    let taken = 0;
    let bytes = 0;
    while (taken < Math.min(sizes.length, query.limit)) {
      const size = sizes[taken]!.bytes;
      if (taken > 0 && bytes + size > maxPagePayloadBytes) break;
      bytes += size;
      taken++;
    }
    if (taken === 0) return { items: [], next: null };
    const last = sizes[taken - 1]!.sequence;
    const rows = this.#sql(`SELECT * FROM messages WHERE ${filter} AND sequence <= ? ORDER BY sequence`).all(
      ...args,
      last,
    ) as MessageRow[];
    return { items: rows.map(toMessage), next: taken < sizes.length ? last : null };
  }

  /** The `after` that makes a page start at the device's `last`-newest message (of `stream`, if given); 0 for all. */
  sequenceBeforeLast(deviceId: string, last: number, stream?: string): number {
    const row = this.#sql(
      `SELECT sequence FROM messages WHERE device_id = ? AND (? IS NULL OR stream = ?)
       ORDER BY sequence DESC LIMIT 1 OFFSET ?`,
    ).get(deviceId, stream ?? null, stream ?? null, last) as { sequence: number } | undefined;
    return row?.sequence ?? 0;
  }

  /** One batch's summary, or undefined. */
  batch(deviceId: string, streamGroup: string, stream: string, batchId: string): BatchSummary | undefined {
    const row = this.#sql(
      'SELECT * FROM batches WHERE device_id = ? AND stream_group = ? AND stream = ? AND batch_id = ?',
    ).get(deviceId, streamGroup, stream, batchId) as BatchRow | undefined;
    return row && toBatch(row);
  }

  count(deviceId: string): { total: number; duplicates: number } {
    const row = this.db
      .prepare(
        'SELECT COUNT(*) AS total, COALESCE(SUM(duplicate), 0) AS duplicates FROM messages WHERE device_id = ?',
      )
      .get(deviceId) as { total: number; duplicates: number };
    return row;
  }

  batches(deviceId: string): BatchSummary[] {
    const rows = this.db
      .prepare('SELECT * FROM batches WHERE device_id = ? ORDER BY rowid')
      .all(deviceId) as BatchRow[];
    return rows.map(toBatch);
  }

  #track(
    deviceId: string,
    message: NewMessage,
    closes: { batch: boolean; message: boolean },
    at: number,
  ): void {
    if (message.batchId === null) return;
    const key = [deviceId, message.streamGroup ?? '', message.stream ?? '', message.batchId];
    const carriesData = !('ignore-payload' in message.properties);
    this.#sql(
      `INSERT INTO batches (device_id, stream_group, stream, batch_id, message_count, completed_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET message_count = message_count + excluded.message_count,
           completed_at = COALESCE(excluded.completed_at, completed_at)`,
    ).run(...key, carriesData ? 1 : 0, closes.batch ? at : null);
    if (message.messageId === null) return;
    this.#sql(
      `INSERT INTO chunked_messages (device_id, stream_group, stream, batch_id, message_id, chunk_count, completed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET chunk_count = chunk_count + excluded.chunk_count,
           completed_at = COALESCE(excluded.completed_at, completed_at)`,
    ).run(...key, message.messageId, carriesData ? 1 : 0, closes.message ? at : null);
  }
}

interface BatchRow {
  stream_group: string;
  stream: string;
  batch_id: string;
  message_count: number;
  completed_at: number | null;
}

function toBatch(row: BatchRow): BatchSummary {
  return {
    streamGroup: row.stream_group,
    stream: row.stream,
    batchId: row.batch_id,
    messageCount: row.message_count,
    completedAt: row.completed_at === null ? null : new Date(row.completed_at).toISOString(),
  };
}

function toMessage(row: MessageRow): StoredMessage {
  return {
    sequence: row.sequence,
    mid: row.mid,
    streamGroup: row.stream_group,
    stream: row.stream,
    siteId: row.site_id,
    batchId: row.batch_id,
    batchSliceId: row.batch_slice_id,
    messageId: row.message_id,
    chunkId: row.chunk_id,
    properties: JSON.parse(row.properties),
    payload: row.payload,
    receivedAt: new Date(row.received_at).toISOString(),
    duplicate: row.duplicate === 1,
  };
}
