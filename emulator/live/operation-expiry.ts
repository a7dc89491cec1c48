import type { EmulatorClock } from '../context.js';
import type { ProvisioningStore } from '../state/provisioning.js';
import type { EventBus } from './event-bus.js';

/** Longest a timer may wait (setTimeout's limit, about 24.8 days); later expiries are checked again then. */
const maxTimerMs = 2 ** 31 - 1;

/**
 * Announces `operation.expired` when a pending provisioning operation passes its expiry without a decision. The
 * store itself marks operations expired lazily, when they are read; this watcher reads each one at its expiry time
 * so that the portal hears of it without asking.
 */
export class OperationExpiry {
  readonly #timers = new Map<string, unknown>();

  constructor(
    private readonly provisioning: ProvisioningStore,
    private readonly events: EventBus,
    private readonly clock: EmulatorClock,
  ) {}

  /** Watches every operation that is pending now (at start-up). */
  watchPending(): void {
    for (const operation of this.provisioning.list('pending')) this.watch(operation.provisioningOperationId);
  }

  watch(id: string): void {
    const operation = this.provisioning.get(id);
    if (!operation) return;
    if (operation.status === 'expired') {
      this.#timers.delete(id);
      this.events.emit('operation.expired', operation);
      return;
    }
    if (operation.status !== 'pending') {
      this.#timers.delete(id);
      return;
    }
    const wait = Math.max(0, Date.parse(operation.expirationTime) - this.clock.now());
    // A little after the expiry, so the store (which compares with <=) sees it expired.
    const timer = this.clock.setTimeout(() => this.watch(id), Math.min(wait + 5, maxTimerMs));
    this.#clear(id);
    this.#timers.set(id, timer);
  }

  /** Stops watching one operation (it was decided). */
  forget(id: string): void {
    this.#clear(id);
    this.#timers.delete(id);
  }

  close(): void {
    for (const timer of this.#timers.values()) this.clock.clearTimeout(timer);
    this.#timers.clear();
  }

  #clear(id: string): void {
    if (this.#timers.has(id)) this.clock.clearTimeout(this.#timers.get(id));
  }
}
