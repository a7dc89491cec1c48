import type { OutboxEntry } from './store.js';

/** At most this many entries and payload bytes are kept; the oldest go first (they are read back if needed). */
const maxEntries = 4096;
const maxPayloadBytes = 16 * 1024 * 1024;

/**
 * The newest committed outbox entries, kept in memory for the sender: while it keeps up, it takes what was just
 * enqueued from here instead of reading the rows back (a page of 1 KiB rows cost 5.5 µs per message to read).
 *
 * Complete above a watermark: every stored row with an id above `#coversAfter` is here. That holds because rows
 * are appended in commit order, which is id order (group commit resolves its callers in order, round after round).
 * When that cannot be vouched for (an outbox limit deleted rows, a write failed and may or may not have committed),
 * the tail forgets everything, and the next append sets the watermark again just below itself: rows older than it are
 * read from the database, as they always were.
 */
export class OutboxTail {
  /** Entries as committed; handed out as they are (the sender is the one reader): a read sets their `dropsAtRead`. */
  #entries: OutboxEntry[] = [];
  #payloadBytes = 0;
  /** Undefined while nothing vouches for completeness: every read goes to the database. */
  #coversAfter: number | undefined;

  /** A row that has just been committed; called in commit order. */
  append(entry: OutboxEntry): void {
    if (this.#coversAfter === undefined) this.#coversAfter = entry.id - 1;
    this.#entries.push(entry);
    this.#payloadBytes += entry.inlinePayload?.length ?? 0;
    while (this.#entries.length > maxEntries || this.#payloadBytes > maxPayloadBytes) this.#evictOldest();
  }

  /**
   * Up to `limit` entries with ids above `afterId`, oldest first; undefined when rows after `afterId` may exist that
   * the tail does not hold (read the database). Forgets the entries up to `afterId`: the sender reads forward only,
   * and after a reconnect it starts from the beginning, below the watermark.
   */
  after(afterId: number, limit: number): OutboxEntry[] | undefined {
    if (this.#coversAfter === undefined || afterId < this.#coversAfter) return undefined;
    // Taken off the front one by one (V8 trims an array's front in place), not by copying the rest: in a fleet this
    // runs for every message.
    while (this.#entries.length > 0 && this.#entries[0]!.id <= afterId) {
      const read = this.#entries.shift()!;
      this.#payloadBytes -= read.inlinePayload?.length ?? 0;
      this.#coversAfter = read.id;
    }
    return this.#entries.slice(0, limit);
  }

  /** The upload of entry `id` finished: a later read must send the link, not upload again. */
  uploaded(id: number, upload: NonNullable<OutboxEntry['upload']>): void {
    const index = this.#entries.findIndex((entry) => entry.id === id);
    if (index < 0) return;
    const entry = this.#entries[index]!;
    this.#payloadBytes -= entry.inlinePayload?.length ?? 0;
    this.#entries[index] = { ...entry, upload, inlinePayload: null };
  }

  /** Forgets everything; the next append sets the watermark again. */
  reset(): void {
    this.#entries = [];
    this.#payloadBytes = 0;
    this.#coversAfter = undefined;
  }

  #evictOldest(): void {
    const oldest = this.#entries.shift()!;
    this.#payloadBytes -= oldest.inlinePayload?.length ?? 0;
    this.#coversAfter = oldest.id;
  }
}
