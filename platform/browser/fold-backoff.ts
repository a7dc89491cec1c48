/**
 * When the journaled database may try a fold again after one failed (or after its store could not be opened again):
 * 0.5 s, doubling with the project's jitter up to a minute; a timer calls `retry` when the wait is over.
 */
import { backoffDelay } from '../../src/util/backoff.js';

const FOLD_RETRY = { initialMs: 500, maxMs: 60_000 };

export class FoldBackoff {
  readonly #retry: () => void;
  #failures = 0;
  #blockedUntil = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(retry: () => void) {
    this.#retry = retry;
  }

  /** Whether the last fold failed (no success since). */
  get failing(): boolean {
    return this.#failures > 0;
  }

  /** Whether a fold must wait still. */
  get waiting(): boolean {
    return performance.now() < this.#blockedUntil;
  }

  /** A failure: the next try waits longer. Returns the wait in ms. */
  failed(): number {
    const delay = backoffDelay(this.#failures, FOLD_RETRY);
    this.#failures++;
    this.#blockedUntil = performance.now() + delay;
    clearTimeout(this.#timer);
    // The timer ends the wait itself: a timer may fire a little before `performance.now()` reaches the end.
    this.#timer = setTimeout(() => {
      this.#blockedUntil = 0;
      this.#retry();
    }, delay);
    return delay;
  }

  succeeded(): void {
    this.#failures = 0;
    this.#blockedUntil = 0;
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}
