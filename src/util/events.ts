/**
 * A small typed event emitter that works the same in every runtime. A listener that throws is reported to
 * `onListenerError` instead of breaking the loop that emitted the event.
 */
/** Event names and their payload types; any interface whose members are the events fits. */
export type EventMap<Events> = { [K in keyof Events]: unknown };

export type Listener<T> = (payload: T) => void;

export class TypedEvents<Events extends EventMap<Events>> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (error: unknown, event: keyof Events) => void = () => {}) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Calls `listener` for the next event only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Calls every listener of `event`; false when it has none (so the caller can tell nobody heard it). */
  emit<K extends keyof Events>(event: K, payload: Events[K]): boolean {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) {
      try {
        const result: unknown = (listener as Listener<Events[K]>)(payload);
        // An async listener's rejection would otherwise be an unhandled rejection.
        if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
          (result as PromiseLike<unknown>).then(undefined, (error: unknown) =>
            this.onListenerError(error, event),
          );
        }
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
    return true;
  }
}
