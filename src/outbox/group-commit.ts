import type { Clock, Database, SqlStatement, WriteOptions, WriteResult } from '../ports.js';

interface Waiting<Tally> {
  statements: readonly SqlStatement[];
  tally: Tally | undefined;
  durability: NonNullable<WriteOptions['durability']>;
  resolve: (results: WriteResult[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes requested while another write is in progress wait, then go together in one transaction
 * (one fsync) the moment it finishes. Each caller resolves with the results of its own statements once they are
 * durable. Under load this turns N commits into about N / (callers per round) commits.
 */
export class GroupCommit<Tally = never> {
  #waiting: Waiting<Tally>[] = [];
  #writing = false;

  /**
   * @param summarize statements appended to a round that carries tallies (one per write that gave one), in the
   *   same transaction: e.g. one update of running totals per round instead of a trigger per row.
   */
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly summarize?: (tallies: readonly Tally[]) => SqlStatement[],
  ) {}

  /** Queues `statements` for the next round; a round is relaxed only when every write in it asked for that. */
  write(
    statements: readonly SqlStatement[],
    options: WriteOptions = {},
    tally?: Tally,
  ): Promise<WriteResult[]> {
    const durability = options.durability ?? 'full';
    return new Promise((resolve, reject) => {
      this.#waiting.push({ statements, tally, durability, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  /**
   * Resolves once every write requested before this call has finished (committed or failed). Reads that must see
   * what callers already asked for (an enqueue called but not yet awaited) wait for this first.
   */
  settled(): Promise<void> {
    if (!this.#writing && this.#waiting.length === 0) return Promise.resolve();
    // Rounds run in request order, so an empty request settles with or after every earlier one.
    return this.write([]).then(
      () => {},
      () => {},
    );
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#waiting.length > 0) {
        // Let callers that arrive meanwhile join this round, and let the rest of the application run: a later task,
        // once pending I/O and timers had their turn. Were rounds chained by microtasks only, a caller awaiting
        // enqueues in a loop would never yield to the event loop: nothing sent, no PUBACK read, no keep-alive, for
        // as long as the loop runs. (A zero delay: the Node clock runs it with `setImmediate`, without the 1 ms
        // timer floor that would cost throughput.)
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, 0));
        const group = this.#waiting;
        this.#waiting = [];
        try {
          const statements = group.flatMap((w) => w.statements);
          const tallies = group.flatMap((w) => (w.tally === undefined ? [] : [w.tally]));
          // After every caller's statements, so each caller's results keep their offsets.
          if (tallies.length > 0 && this.summarize) statements.push(...this.summarize(tallies));
          const durability = group.every((w) => w.durability === 'relaxed') ? 'relaxed' : 'full';
          const results = statements.length === 0 ? [] : await this.db.write(statements, { durability });
          let offset = 0;
          for (const waiting of group) {
            waiting.resolve(results.slice(offset, offset + waiting.statements.length));
            offset += waiting.statements.length;
          }
        } catch (error) {
          // One transaction failed as a whole: nothing of it was applied, so every caller in it fails.
          for (const waiting of group) waiting.reject(error);
        }
      }
    } finally {
      this.#writing = false;
    }
  }
}
