import { randomBytes } from 'node:crypto';
import type { LiveEventName, LiveEvents } from '../http/wire.js';

/** One event as published, with the id a client resumes from (`Last-Event-ID`). */
export interface PublishedEvent {
  id: string;
  type: LiveEventName;
  data: unknown;
  /** The `data` as JSON, made once on first use and shared by every stream. */
  json?: string;
}

/** How many recent events a reconnecting client can catch up on. */
export const replayedEvents = 500;

/**
 * What happens in the emulator, for the portal's live view (`GET /workspaces/{ws}/events`): provisioning operations,
 * connections, telemetry, twins, C2D, uploads. Keeps the last `replayedEvents` so a client whose stream dropped can
 * resume where it was. Ids are `{run}-{n}`: a restarted emulator never resumes another run's ids.
 */
export class EventBus {
  readonly #listeners = new Set<(event: PublishedEvent) => void>();
  readonly #recent: PublishedEvent[] = [];
  readonly #run = randomBytes(4).toString('hex');
  #next = 1;

  emit<K extends LiveEventName>(type: K, data: LiveEvents[K]): void {
    const event: PublishedEvent = { id: `${this.#run}-${this.#next++}`, type, data };
    this.#recent.push(event);
    if (this.#recent.length > replayedEvents) this.#recent.shift();
    for (const listener of this.#listeners) listener(event);
  }

  /**
   * Like `emit`, but builds the data only when a stream listens (telemetry is the emulator's hot path). An event
   * skipped that way makes every earlier id unresumable, so a client that comes back reloads instead.
   */
  emitLazy<K extends LiveEventName>(type: K, make: () => LiveEvents[K]): void {
    if (this.#listeners.size > 0) {
      this.emit(type, make());
      return;
    }
    this.#next++;
    this.#recent.length = 0;
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: PublishedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many streams listen (for tests and the log). */
  get listeners(): number {
    return this.#listeners.size;
  }

  /** The events after `lastEventId`, or undefined when they are no longer all known (or the id is foreign). */
  since(lastEventId: string): PublishedEvent[] | undefined {
    const index = this.#recent.findIndex((event) => event.id === lastEventId);
    if (index >= 0) return this.#recent.slice(index + 1);
    // The id of the newest event ever, with nothing recorded since: nothing was missed.
    if (lastEventId === `${this.#run}-${this.#next - 1}`) return [];
    return undefined;
  }
}

/** An event as server-sent-events text. */
export function formatEvent(event: PublishedEvent): string {
  event.json ??= JSON.stringify(event.data);
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${event.json}\n\n`;
}
