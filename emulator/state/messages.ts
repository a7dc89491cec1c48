import { type BlobContent, readBlobContent } from './blobs.js';
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

/**
 * A payload as it is stored: its bytes, or the uploaded blob content an externalized message resolved to. The content
 * is referred to, not copied (it is immutable, and kept while a message refers to it), and read when the message is.
 */
export type StoredPayload = Buffer | BlobContent;

export type NewMessage = Omit<StoredMessage, 'sequence' | 'receivedAt' | 'duplicate' | 'payload'> & {
  payload: StoredPayload;
};

/** A message just stored, its payload as it was given. */
export type AddedMessage = Omit<StoredMessage, 'payload'> & { payload: StoredPayload };

/** Size of a stored payload, without reading a blob content. */
export function payloadBytes(payload: StoredPayload): number {
  return Buffer.isBuffer(payload) ? payload.length : payload.size;
}

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
  payload_content: number | null;
  received_at: number;
  duplicate: number;
}

/** What the payload column holds for a message whose payload is a blob content. */
const emptyPayload = Buffer.alloc(0);

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

/**
 * Messages kept per device unless told otherwise (`retainMessages`): the newest 100,000, about 60 MB of memory for
 * a device sending 256-byte payloads (bench case `emulator-retention`), and more than a 30-minute run at 50 msg/s.
 */
export const defaultRetainMessages = 100_000;

/**
 * Telemetry received from devices, with the batches and chunked messages it opened and closed.
 *
 * Retention: each device keeps its newest `retainMessages` messages (0 = all); storing one more drops its oldest in
 * the same transaction, so no one ever sees more. Sequence numbers are never reused, so paging with `after` goes on
 * where it was (a page simply starts at the oldest message still kept). A `$.mid` is a duplicate only of a message
 * still kept. Batch and chunked-message summaries keep counting what was dropped.
 */
export class MessageStore {
  readonly #sql: ReturnType<typeof statementCache>;
  readonly #addTransaction: (
    deviceId: string,
    message: NewMessage,
    closes: { batch: boolean; message: boolean },
  ) => AddedMessage;
  /** Messages kept per device (counted once at start, then kept up to date), for devices with any. */
  readonly #kept = new Map<string, number>();
  /** Messages retention dropped per device, as in `message_drops`. */
  readonly #dropped = new Map<string, number>();

  constructor(
    private readonly db: EmulatorDatabase,
    private readonly now: () => number,
    /** Most messages kept per device; 0 keeps them all. */
    readonly retainMessages: number = defaultRetainMessages,
  ) {
    this.#sql = statementCache(db);
    this.#addTransaction = db.transaction(
      (deviceId: string, message: NewMessage, closes: { batch: boolean; message: boolean }) =>
        this.#addNow(deviceId, message, closes),
    );
    for (const row of db.prepare('SELECT device_id, dropped FROM message_drops').all() as DropRow[]) {
      this.#dropped.set(row.device_id, row.dropped);
    }
    // One pass over the device index; a data directory kept under a larger limit is cut down to this one now.
    const kept = db.prepare('SELECT device_id, COUNT(*) AS n FROM messages GROUP BY device_id').all() as {
      device_id: string;
      n: number;
    }[];
    db.transaction(() => {
      for (const { device_id, n } of kept) {
        this.#trim(device_id, n);
      }
    })();
  }

  /** How many of the device's oldest messages retention dropped, ever. */
  dropped(deviceId: string): number {
    return this.#dropped.get(deviceId) ?? 0;
  }

  /** Stores one message; a `$.mid` seen before from the same device marks it as a duplicate. */
  add(deviceId: string, message: NewMessage, closes: { batch: boolean; message: boolean }): AddedMessage {
    return this.#addTransaction(deviceId, message, closes);
  }

  #addNow(deviceId: string, message: NewMessage, closes: { batch: boolean; message: boolean }): AddedMessage {
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
             message_id, chunk_id, properties, payload, payload_content, received_at, duplicate)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
      Buffer.isBuffer(message.payload) ? message.payload : emptyPayload,
      Buffer.isBuffer(message.payload) ? null : message.payload.id,
      receivedAt,
      duplicate ? 1 : 0,
    );
    if (!duplicate) this.#track(deviceId, message, closes, receivedAt);
    this.#trim(deviceId, (this.#kept.get(deviceId) ?? 0) + 1);
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
      `SELECT sequence, CASE WHEN payload_content IS NULL THEN length(payload)
         ELSE (SELECT size FROM blob_contents WHERE id = payload_content) END AS bytes
       FROM messages WHERE ${filter} ORDER BY sequence LIMIT ?`,
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
    return { items: rows.map((row) => this.#toMessage(row)), next: taken < sizes.length ? last : null };
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

  /**
   * Drops the device's oldest messages beyond `retainMessages`: one indexed range delete (one row per stored message
   * once the device is at the limit), never a scan of the table. `kept`: how many it has now.
   */
  #trim(deviceId: string, kept: number): void {
    const excess = this.retainMessages === 0 ? 0 : kept - this.retainMessages;
    if (excess <= 0) {
      this.#kept.set(deviceId, kept);
      return;
    }
    const { changes } = this.#sql(
      `DELETE FROM messages WHERE device_id = ? AND sequence <= (
         SELECT sequence FROM messages WHERE device_id = ? ORDER BY sequence LIMIT 1 OFFSET ?)`,
    ).run(deviceId, deviceId, excess - 1);
    const dropped = this.dropped(deviceId) + changes;
    this.#sql(
      `INSERT INTO message_drops (device_id, dropped) VALUES (?, ?)
         ON CONFLICT (device_id) DO UPDATE SET dropped = excluded.dropped`,
    ).run(deviceId, dropped);
    this.#kept.set(deviceId, kept - changes);
    this.#dropped.set(deviceId, dropped);
  }

  #toMessage(row: MessageRow): StoredMessage {
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
      // The content outlives the message (trigger blob_content_released_by_message), so it is always there.
      payload:
        row.payload_content === null
          ? row.payload
          : (readBlobContent(this.db, row.payload_content) ?? emptyPayload),
      receivedAt: new Date(row.received_at).toISOString(),
      duplicate: row.duplicate === 1,
    };
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

interface DropRow {
  device_id: string;
  dropped: number;
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
