/**
 * A context's event emitter that knows which events have listeners, so that the owner sends a context only the events
 * it listens to: `messageSent` for each message, to every tab, was most of what three tabs cost beyond one.
 */
import { type EventMap, type Listener, TypedEvents } from '../../../src/util/events.js';

export class ListenedEvents<Events extends EventMap<Events>> extends TypedEvents<Events> {
  readonly #listeners = new Map<keyof Events, Set<unknown>>();

  constructor(
    onListenerError: (error: unknown, event: keyof Events) => void,
    /** Called when an event gets its first listener or loses its last. */
    private readonly changed: () => void,
  ) {
    super(onListenerError);
  }

  /** The events with at least one listener. */
  get listened(): (keyof Events)[] {
    return [...this.#listeners.keys()];
  }

  override on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = super.on(event, listener);
    const set = this.#listeners.get(event) ?? new Set();
    set.add(listener);
    if (!this.#listeners.has(event)) {
      this.#listeners.set(event, set);
      this.changed();
    }
    return off;
  }

  override off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    super.off(event, listener);
    const set = this.#listeners.get(event);
    if (!set?.delete(listener) || set.size > 0) return;
    this.#listeners.delete(event);
    this.changed();
  }
}
