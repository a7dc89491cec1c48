import type { Database, SqlStatement, WriteResult } from '../ports.js';

interface Waiting {
  statements: readonly SqlStatement[];
  resolve: (results: WriteResult[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes requested while another write is in progress wait, then go together in one transaction
 * (one fsync) the moment it finishes. Each caller resolves with the results of its own statements once they are
 * durable. Under load this turns N commits into about N / (callers per round) commits.
 */
export class GroupCommit {
  #waiting: Waiting[] = [];
  #writing = false;

  constructor(private readonly db: Database) {}

  write(statements: readonly SqlStatement[]): Promise<WriteResult[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ statements, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#waiting.length > 0) {
        // Let callers that arrive in the same tick join this round.
        await Promise.resolve();
        const group = this.#waiting;
        this.#waiting = [];
        try {
          const results = await this.db.write(group.flatMap((w) => w.statements));
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
