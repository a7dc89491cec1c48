/**
 * Callers waiting for the hub to acknowledge messages: `sendMessage` waits for its own message, and
 * `waitEnqueuedMessagesSent` for every message up to an outbox id. The sender tells this module what it sent
 * and removed; nothing else keeps these waiters.
 */
import { SpotflowError } from './errors.js';
import type { OutboxStore } from './outbox/store.js';

interface Waiter {
  resolve: () => void;
  reject: (error: SpotflowError) => void;
}

export class SendWaiters {
  readonly #byMid = new Map<string, Waiter>();
  readonly #onRemoved = new Set<() => void>();

  constructor(
    private readonly outbox: OutboxStore,
    /** Applies deletes the sender has batched, so that the outbox says what is really still there. */
    private readonly flushDeletes: () => Promise<void>,
  ) {}

  /** The hub acknowledged the message `mid`. */
  sent(mid: string): void {
    const waiter = this.#byMid.get(mid);
    this.#byMid.delete(mid);
    waiter?.resolve();
  }

  /** Whether any `waitEnqueuedMessagesSent` waits for messages to leave the outbox. */
  get removalAwaited(): boolean {
    return this.#onRemoved.size > 0;
  }

  /** Messages left the outbox. */
  removed(): void {
    for (const check of [...this.#onRemoved]) check();
  }

  /** A waiter for `mid`'s acknowledgement, to be registered with {@link SendWaiters.expect} once `mid` is known. */
  waiter(): { sent: Promise<void>; expect: (mid: string) => void; cancel: (mid: string) => void } {
    let waiter!: Waiter;
    const sent = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    return { sent, expect: (mid) => this.#byMid.set(mid, waiter), cancel: (mid) => this.#byMid.delete(mid) };
  }

  /** `sendMessage` calls whose message a `dropOldest` limit removed will never be sent: they fail. */
  async failDropped(): Promise<void> {
    for (const [mid, waiter] of [...this.#byMid]) {
      if (await this.outbox.contains(mid).catch(() => true)) continue;
      if (this.#byMid.get(mid) !== waiter) continue; // sent meanwhile
      this.#byMid.delete(mid);
      waiter.reject(
        new SpotflowError('OUTBOX_FULL', 'The outbox limit dropped this message before it was sent'),
      );
    }
  }

  /** Settles once no message with an outbox id up to `lastId` is left; `cancel` stops the waiting. */
  allUpTo(lastId: number): { done: Promise<void>; cancel: () => void } {
    let check!: () => Promise<void>;
    const done = new Promise<void>((resolve, reject) => {
      check = async () => {
        try {
          await this.flushDeletes();
          if (await this.outbox.anyUpTo(lastId)) return;
          this.#onRemoved.delete(check);
          resolve();
        } catch (error) {
          this.#onRemoved.delete(check);
          reject(error);
        }
      };
      this.#onRemoved.add(check);
      void check();
    });
    return { done, cancel: () => this.#onRemoved.delete(check) };
  }
}
