import type { Clock, Database, SqlStatement, TimerHandle, WriteOptions, WriteResult } from '../ports.js';

interface Waiting<Tally> {
  statements: readonly SqlStatement[];
  tally: Tally | undefined;
  durability: NonNullable<WriteOptions['durability']>;
  resolve: (results: WriteResult[]) => void;
  reject: (error: unknown) => void;
  /** Joined a round it did not ask for ({@link GroupCommit.whenConvenient}): tried again alone if that fails. */
  rider?: boolean;
}

/**
 * Group commit: writes requested while another write is in progress wait, then go together in one transaction
 * (one fsync) the moment it finishes. Each caller resolves with the results of its own statements once they are
 * durable. Under load this turns N commits into about N / (callers per round) commits.
 */
export class GroupCommit<Tally = never> {
  #waiting: Waiting<Tally>[] = [];
  /** Relaxed writes waiting for a round something else starts (or for their timer). */
  #riders: Waiting<Tally>[] = [];
  #riderTimer: TimerHandle | undefined;
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
   * A relaxed write that does not start a round of its own: it joins the next round another write starts, or starts
   * one after `maxDelayMs`. For bookkeeping such as deleting acknowledged messages, which at a message a second per
   * device would otherwise be a second transaction per message. If the round it joined fails, it is tried once more
   * alone, so that another write's failure (a full disk refusing an insert) does not hold up a delete that frees room.
   */
  whenConvenient(statements: readonly SqlStatement[], maxDelayMs: number): Promise<WriteResult[]> {
    return new Promise((resolve, reject) => {
      this.#riders.push({
        statements,
        tally: undefined,
        durability: 'relaxed',
        resolve,
        reject,
        rider: true,
      });
      this.#riderTimer ??= this.clock.setTimeout(() => {
        this.#riderTimer = undefined;
        this.#board();
        if (!this.#writing) void this.#drain();
      }, maxDelayMs);
    });
  }

  /** Riders join the writes waiting for the next round. */
  #board(): void {
    if (this.#riderTimer !== undefined) {
      this.clock.clearTimeout(this.#riderTimer);
      this.#riderTimer = undefined;
    }
    this.#waiting.push(...this.#riders);
    this.#riders = [];
  }

  /**
   * Resolves once every write requested before this call has finished (committed or failed). Reads that must see
   * what callers already asked for (an enqueue called but not yet awaited) wait for this first.
   */
  settled(): Promise<void> {
    if (!this.#writing && this.#waiting.length === 0 && this.#riders.length === 0) return Promise.resolve();
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
        this.#board();
        const group = this.#waiting;
        this.#waiting = [];
        try {
          const statements = group.flatMap((w) => w.statements);
          const tallies = group.flatMap((w) => (w.tally === undefined ? [] : [w.tally]));
          // After every caller's statements, so each caller's results keep their offsets.
          if (tallies.length > 0 && this.summarize) statements.push(...this.summarize(tallies));
          const durability = group.every((w) => w.durability === 'relaxed') ? 'relaxed' : 'full';
          const results = statements.length === 0 ? [] : await this.db.write(statements, { durability });
          settleEach(group, results);
        } catch (error) {
          // One transaction failed as a whole: nothing of it was applied, so every caller in it fails; riders that
          // shared it with others are tried again, alone.
          const riders = group.filter((w) => w.rider);
          for (const waiting of group)
            if (!waiting.rider || riders.length === group.length) waiting.reject(error);
          if (riders.length < group.length) await this.#writeAlone(riders);
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  /** Riders whose shared round failed, in a transaction of their own. */
  async #writeAlone(riders: Waiting<Tally>[]): Promise<void> {
    if (riders.length === 0) return;
    try {
      const statements = riders.flatMap((w) => w.statements);
      settleEach(
        riders,
        statements.length === 0 ? [] : await this.db.write(statements, { durability: 'relaxed' }),
      );
    } catch (error) {
      for (const rider of riders) rider.reject(error);
    }
  }
}

/** Resolves each write with the results of its own statements, in the order the round ran them. */
function settleEach(
  group: readonly Pick<Waiting<unknown>, 'statements' | 'resolve'>[],
  results: WriteResult[],
): void {
  let offset = 0;
  for (const waiting of group) {
    waiting.resolve(results.slice(offset, offset + waiting.statements.length));
    offset += waiting.statements.length;
  }
}
