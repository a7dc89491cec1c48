/**
 * Which of some `$.mid`s the outbox holds, for enqueues retried after a browser takeover (OutboxStore.add with
 * `retry`). The column has no index (every enqueue would pay for one), so a lookup reads the table; the lookups
 * asked for in one turn (a new owner re-runs every call still waiting at once) share one read.
 */
import type { Database } from '../ports.js';

/** Mids per query: well under SQLite's smallest limit on bound parameters (999 before 3.32). */
const perQuery = 500;

interface Batch {
  mids: Set<string>;
  found: Promise<Map<string, number>>;
}

export class OutboxIdLookup {
  #batch: Batch | undefined;

  constructor(
    private readonly db: Database,
    private readonly device: string,
    /** Resolves once the writes already asked for are stored (so that none of them is missed). */
    private readonly settled: () => Promise<void>,
  ) {}

  /** The outbox id of the entry with this `$.mid`, if it is still stored. */
  async idOf(mid: string): Promise<number | undefined> {
    const batch = this.#batch ?? this.#newBatch();
    batch.mids.add(mid);
    return (await batch.found).get(mid);
  }

  #newBatch(): Batch {
    const mids = new Set<string>();
    const found = (async () => {
      // Every lookup of this turn joins first.
      await Promise.resolve();
      this.#batch = undefined;
      await this.settled();
      const ids = new Map<string, number>();
      const all = [...mids];
      for (let at = 0; at < all.length; at += perQuery) {
        const some = all.slice(at, at + perQuery);
        const rows = await this.db.query<{ id: number; mid: string }>(
          `SELECT id, mid FROM outbox WHERE device = ? AND mid IN (${some.map(() => '?').join(', ')})`,
          [this.device, ...some],
        );
        for (const row of rows) ids.set(row.mid, Number(row.id));
      }
      return ids;
    })();
    this.#batch = { mids, found };
    return this.#batch;
  }
}
