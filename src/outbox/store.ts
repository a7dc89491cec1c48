/**
 * The outbox table and every statement on it: enqueue under the limits, pages for the sender, removal, uploads and the
 * totals. About 430 lines, on purpose in one place: the in-memory counters the limits read are only right if one
 * class owns every write that changes what they count (the commit they go through is outbox-commit.ts).
 */
import { SpotflowError } from '../errors.js';
import type { MessageProperties } from '../iothub/property-bag.js';
import type { OutboxLimits, OutboxPolicy } from '../options.js';
import type { Clock, Database, SqlStatement, WriteResult } from '../ports.js';
import { randomUuid } from '../util/uuid.js';
import { deleteRows, selectIds } from './deletions.js';
import type { GroupCommit } from './group-commit.js';
import { OutboxIdLookup } from './id-lookup.js';
import type { OutboxScope, OutboxTally } from './outbox-commit.js';
import { OutboxTail } from './tail.js';

/** A message's compression: none, or Brotli at its fastest or its smallest (the `compression` option). */
export type Compression = 'none' | 'fastest' | 'smallest';

/**
 * A stored outgoing message; `properties` (frozen, shared by entries with the same ones) never include `$.mid`,
 * encoding or externalization (added at send). A
 * page carries the payloads of small entries only ({@link inlinePayloadMaxBytes}), so a page's memory stays small
 * whatever the sizes; {@link OutboxStore.payloadOf} gives the payload either way.
 */
export interface OutboxEntry {
  id: number;
  mid: string;
  properties: MessageProperties;
  compression: Compression;
  /** Payload bytes. */
  size: number;
  enqueuedAt: number;
  /** The blob a finished upload left, so a resend after a restart does not upload again. */
  upload: { blobName: string; compressed: boolean } | null;
  /** The payload when it came with the page: a small one read from the database, or any just committed. */
  inlinePayload: Uint8Array | null;
  /** How many drops the store had made when the page was read: a later drop may have deleted this entry. */
  dropsAtRead: number;
}

/** A page of 256 entries then holds at most 4 MiB of payloads; larger ones are read one by one when sent. */
export const inlinePayloadMaxBytes = 16 * 1024;

/** Distinct properties texts kept parsed; past this many (a batch id per message, say) the memo starts over. */
const parsedPropertiesMax = 256;

interface Row {
  id: number;
  mid: string;
  properties: string;
  compression: Compression;
  size: number;
  enqueued_at: number;
  upload: string | null;
  payload: Uint8Array | null;
}

export interface NewEntry {
  properties: MessageProperties;
  compression: Compression;
  payload: Uint8Array;
}

/** An entry's `$.mid` chosen by the caller; `retry`: it may be stored already (see {@link OutboxStore.add}). */
export interface GivenMid {
  mid: string;
  retry: boolean;
}

/** What an enqueue had to drop to make room (policy `dropOldest`). */
export interface Dropped {
  /** How many messages were dropped. */
  messages: number;
  /** The limit that was reached. */
  reason: 'maxMessages' | 'maxBytes' | 'maxAgeMs';
}

/**
 * The outbox table: durable FIFO of outgoing messages. Inserts are group-committed; counters of what is waiting
 * are kept in memory so limits are checked without a query per message.
 */
export class OutboxStore {
  /** Tallied with the bytes of each insert: the round adds them to `outbox_totals` in one statement. */
  readonly #commit: GroupCommit<OutboxTally>;
  readonly #device: string;
  readonly #ids: OutboxIdLookup;
  #count = 0;
  #bytes = 0;
  #oldest: number | undefined;
  /** Counts the drops committed by outbox limits, so an entry read before one knows to check it still exists. */
  #drops = 0;
  readonly #parsedProperties = new Map<string, MessageProperties>();
  /** What was just committed, for the sender to take without reading it back. */
  readonly #tail = new OutboxTail();

  private constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly limits: Required<Omit<OutboxLimits, 'policy'>> & { policy: OutboxPolicy },
    scope: OutboxScope,
  ) {
    this.#commit = scope.commit;
    this.#device = scope.device;
    this.#ids = new OutboxIdLookup(db, scope.device, () => this.#commit.settled());
  }

  static async open(
    db: Database,
    clock: Clock,
    limits: OutboxStore['limits'],
    scope: OutboxScope,
  ): Promise<OutboxStore> {
    const store = new OutboxStore(db, clock, limits, scope);
    await store.#recount();
    return store;
  }

  /**
   * Stores the entry; resolves once it is durable. Applies the outbox limits first. `given` is an id chosen by the
   * caller (another browser context's, for the shared client); with `retry`, the entry may have been stored already
   * under that id (by an owner that died before it answered), and then it is not stored again.
   */
  async add(
    entry: NewEntry,
    given?: GivenMid,
  ): Promise<{ id: number; mid: string; dropped: Dropped | undefined }> {
    if (given?.retry) {
      const stored = await this.#ids.idOf(given.mid);
      if (stored !== undefined) return { id: stored, mid: given.mid, dropped: undefined };
    }
    const mid = given?.mid ?? randomUuid();
    const now = this.clock.now();
    const dropped = this.#makeRoom(entry.payload.length, now);
    const statements: SqlStatement[] = [];
    if (dropped) {
      this.#countOut(dropped);
      statements.push(
        ...deleteRows(
          {
            where: 'id IN (SELECT id FROM outbox WHERE device = ? ORDER BY id LIMIT ?)',
            params: [this.#device, dropped.messages],
          },
          this.#device,
        ),
      );
      if (dropped.reason === 'maxAgeMs') {
        // Every message past the age limit goes, not just the oldest one.
        statements.push(
          ...deleteRows(
            { where: 'device = ? AND enqueued_at < ?', params: [this.#device, now - this.limits.maxAgeMs] },
            this.#device,
          ),
        );
      }
    }
    statements.push({
      sql: `INSERT INTO outbox (device, mid, properties, compression, payload, size, enqueued_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)`,
      params: [
        this.#device,
        mid,
        JSON.stringify(entry.properties),
        entry.compression,
        entry.payload,
        entry.payload.length,
        now,
      ],
    });
    this.#count += 1;
    this.#bytes += entry.payload.length;
    this.#oldest ??= now;
    let results: WriteResult[];
    try {
      results = await this.#commit.write(
        statements,
        {},
        { device: this.#device, size: entry.payload.length },
      );
    } catch (error) {
      // The write may have committed all the same (a failed fsync after the commit): the tail cannot vouch for it.
      this.#tail.reset();
      await this.#recount().catch(() => {});
      throw error;
    }
    const id = results[results.length - 1]!.lastInsertRowid;
    // Synchronously after the commit, so the tail grows in id order (see OutboxTail).
    if (dropped) this.#tail.reset();
    this.#tail.append({
      id,
      mid,
      properties: entry.properties,
      compression: entry.compression,
      size: entry.payload.length,
      enqueuedAt: now,
      upload: null,
      // The payload is the client's private copy, never written to again.
      inlinePayload: entry.payload,
      dropsAtRead: 0, // set by each read (page)
    });
    if (dropped) {
      this.#drops++;
      await this.#recount();
      // What was really deleted (the age sweep may take more than the estimate): every other statement deletes.
      dropped.messages = results
        .slice(0, -1)
        .reduce((sum, result, i) => sum + (i % 2 === 1 ? result.changes : 0), 0);
    }
    return { id, mid, dropped };
  }

  /** Commits at once the deletes that wait to join another write. */
  removeWaitingNow(): void {
    void this.#commit.settled();
  }

  /** Up to `limit` entries after `afterId`, oldest first: the sender streams the backlog page by page. */
  async page(afterId: number, limit: number): Promise<OutboxEntry[]> {
    const recent = this.recentPage(afterId, limit);
    if (recent !== undefined) return recent;
    // Taken before the read: a drop that commits while it runs makes these entries check again.
    const drops = this.#drops;
    const rows = await this.db.query<Row>(
      `SELECT id, mid, properties, compression, size, enqueued_at, upload,
              CASE WHEN size <= ? THEN payload END AS payload
       FROM outbox WHERE device = ? AND id > ? ORDER BY id LIMIT ?`,
      [inlinePayloadMaxBytes, this.#device, afterId, limit],
    );
    return rows.map((row) => toEntry(row, drops, this.#properties(row.properties)));
  }

  /**
   * The {@link OutboxStore.page} the in-memory tail holds, given at once; undefined when the database must be read.
   * The sender asks this first: a device sending now and then reads a page twice per message, and an await less each
   * time counts in a fleet.
   */
  recentPage(afterId: number, limit: number): OutboxEntry[] | undefined {
    const recent = this.#tail.after(afterId, limit);
    if (recent !== undefined) for (const entry of recent) entry.dropsAtRead = this.#drops;
    return recent;
  }

  /**
   * One frozen object per distinct properties text: the entries of a stream share it, so the page does not parse
   * the same JSON 256 times and the sender encodes their topic once.
   */
  #properties(json: string): MessageProperties {
    let properties = this.#parsedProperties.get(json);
    if (properties === undefined) {
      if (this.#parsedProperties.size >= parsedPropertiesMax) this.#parsedProperties.clear();
      properties = Object.freeze(JSON.parse(json) as MessageProperties);
      this.#parsedProperties.set(json, properties);
    }
    return properties;
  }

  /** The entry's payload, or undefined when an outbox limit has dropped the entry since its page was read. */
  async payloadOf(entry: OutboxEntry): Promise<Uint8Array | undefined> {
    return this.inlinePayloadOf(entry) ?? this.#payload(entry.id);
  }

  /** The payload that came with the page, while no drop since may have deleted the entry; else undefined. */
  inlinePayloadOf(entry: OutboxEntry): Uint8Array | undefined {
    return entry.dropsAtRead === this.#drops ? (entry.inlinePayload ?? undefined) : undefined;
  }

  async #payload(id: number): Promise<Uint8Array | undefined> {
    const rows = await this.db.query<{ payload: Uint8Array }>('SELECT payload FROM outbox WHERE id = ?', [
      id,
    ]);
    return rows[0]?.payload;
  }

  /**
   * Deletes sent entries; counters are adjusted from what was deleted, without scanning the table. With `withinMs`,
   * the delete waits up to that long to join a write that happens anyway (see {@link GroupCommit.whenConvenient}).
   */
  async remove(entries: readonly { id: number; size: number }[], withinMs?: number): Promise<void> {
    if (entries.length === 0) return;
    const statements = selectIds(entries.map((entry) => entry.id)).flatMap((ids) =>
      deleteRows(ids, this.#device),
    );
    // Losing a delete to a power cut only means a resend, which `$.mid` makes recognisable: no fsync for it.
    const results =
      withinMs === undefined
        ? await this.#commit.write(statements, { durability: 'relaxed' })
        : await this.#commit.whenConvenient(statements, withinMs);
    // Every other statement deletes; the ones between update the totals.
    const deleted = results.reduce((sum, result, i) => sum + (i % 2 === 1 ? result.changes : 0), 0);
    if (deleted === entries.length) {
      this.#count = Math.max(0, this.#count - deleted);
      this.#bytes = Math.max(0, this.#bytes - entries.reduce((sum, entry) => sum + entry.size, 0));
      // Only an age limit reads the oldest row; without one (the default) this costs not even an await.
      this.#oldest =
        this.limits.maxAgeMs === Number.POSITIVE_INFINITY ? undefined : await this.#oldestEnqueuedAt();
    } else {
      // Some were already gone (dropped by a limit): count again.
      await this.#recount();
    }
  }

  /**
   * Records a finished upload; the entry is sent as a link from now on, so its payload goes too. (Kept, it made
   * SQLite write the whole row again, payload included: 40-80 ms and 5 MB more of WAL for a 5 MB message.) `size`
   * stays what was enqueued, which the totals and the limits count.
   */
  async rememberUpload(id: number, upload: NonNullable<OutboxEntry['upload']>): Promise<void> {
    await this.#commit.write([
      {
        sql: 'UPDATE outbox SET upload = ?, payload = zeroblob(0) WHERE id = ?',
        params: [JSON.stringify(upload), id],
      },
    ]);
    this.#tail.uploaded(id, upload);
  }

  /** Whether any entry with id ≤ `id` is still waiting. */
  async anyUpTo(id: number): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM outbox WHERE device = ? AND id <= ? LIMIT 1', [
      this.#device,
      id,
    ]);
    return rows.length > 0;
  }

  /** Whether the entry with this `$.mid` is still stored. */
  async contains(mid: string): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM outbox WHERE device = ? AND mid = ? LIMIT 1', [
      this.#device,
      mid,
    ]);
    return rows.length > 0;
  }

  /** How many entries are stored, counting every enqueue already called (even if not yet awaited). */
  async countStored(): Promise<number> {
    await this.#commit.settled();
    const rows = await this.db.query<{ n: number }>(
      'SELECT messages AS n FROM outbox_totals WHERE device = ?',
      [this.#device],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The newest entry's id, counting entries whose enqueue was called but is not committed yet: a wait for "all
   * enqueued so far" must include a message its caller did not await.
   */
  async lastId(): Promise<number> {
    await this.#commit.settled();
    // Not MAX(id) with the device: without the index of a shared file, that would read every row.
    const rows = await this.db.query<{ id: number | null }>(
      'SELECT id FROM outbox WHERE device = ? ORDER BY id DESC LIMIT 1',
      [this.#device],
    );
    return Number(rows[0]?.id ?? 0);
  }

  /** Decides what a new entry of `size` bytes needs: nothing, dropping old entries, or (policy reject) failing. */
  #makeRoom(size: number, now: number): Dropped | undefined {
    const { maxMessages, maxBytes, maxAgeMs, policy } = this.limits;
    const overCount = this.#count + 1 > maxMessages;
    const overBytes = this.#bytes + size > maxBytes;
    const overAge = this.#oldest !== undefined && now - this.#oldest > maxAgeMs;
    if (!overCount && !overBytes && !overAge) return undefined;
    const reason = overCount ? 'maxMessages' : overBytes ? 'maxBytes' : 'maxAgeMs';
    if (policy === 'reject') {
      throw new SpotflowError('OUTBOX_FULL', `The outbox is full (${reason}); the message was not stored`);
    }
    if (size > maxBytes)
      throw new SpotflowError('OUTBOX_FULL', 'The message alone is larger than outboxLimits.maxBytes');
    // Dropping the oldest: a count-based estimate, corrected by the recount after the write.
    const average = this.#count === 0 ? size : this.#bytes / this.#count;
    let messages = 0;
    if (overCount) messages = this.#count + 1 - maxMessages;
    if (overBytes)
      messages = Math.max(messages, Math.ceil((this.#bytes + size - maxBytes) / Math.max(1, average)));
    if (overAge) messages = Math.max(messages, 1);
    return { messages: Math.min(messages, this.#count), reason };
  }

  /**
   * Takes the rows a drop will delete out of the counters at once, not after the write: enqueues called meanwhile
   * (a concurrent burst) would otherwise see the same excess and each drop more of the oldest. Bytes are estimated
   * and the oldest time is unknown until the recount after the write; until then no further message is dropped for
   * its age.
   */
  #countOut(dropped: Dropped): void {
    const average = this.#count === 0 ? 0 : this.#bytes / this.#count;
    this.#count = Math.max(0, this.#count - dropped.messages);
    this.#bytes = Math.max(0, this.#bytes - dropped.messages * average);
    this.#oldest = undefined;
  }

  /** Reads the counters from the database: the totals kept with every write, and the oldest row by id. */
  async #recount(): Promise<void> {
    const [totals] = await this.db.query<{ messages: number; bytes: number }>(
      'SELECT messages, bytes FROM outbox_totals WHERE device = ?',
      [this.#device],
    );
    this.#count = Number(totals?.messages ?? 0);
    this.#bytes = Number(totals?.bytes ?? 0);
    this.#oldest = await this.#oldestEnqueuedAt();
  }

  /**
   * Ids grow with time, so the first row is the oldest: an index lookup, not a scan. Only an age limit reads it, so
   * without one (the default) there is no query after every batch of deletes.
   */
  async #oldestEnqueuedAt(): Promise<number | undefined> {
    if (this.limits.maxAgeMs === Number.POSITIVE_INFINITY) return undefined;
    const [first] = await this.db.query<{ enqueued_at: number }>(
      'SELECT enqueued_at FROM outbox WHERE device = ? ORDER BY id LIMIT 1',
      [this.#device],
    );
    return first === undefined ? undefined : Number(first.enqueued_at);
  }
}

function toEntry(row: Row, dropsAtRead: number, properties: MessageProperties): OutboxEntry {
  return {
    id: Number(row.id),
    mid: row.mid,
    properties,
    compression: row.compression,
    size: Number(row.size),
    enqueuedAt: Number(row.enqueued_at),
    upload: row.upload === null ? null : (JSON.parse(row.upload) as OutboxEntry['upload']),
    inlinePayload: row.payload,
    dropsAtRead,
  };
}
