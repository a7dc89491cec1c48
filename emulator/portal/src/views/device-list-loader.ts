import { describeError } from '../api';
import { say } from '../dom';

/**
 * Loads one section of the selected device's panel (batches, files, connection history): the list is cleared,
 * fetched and shown, and an answer that arrives after another device was opened (or a newer load began) is dropped.
 * A failure is said in the section's status line.
 */
export class DeviceListLoader<T> {
  #deviceId: string | undefined;
  #generation = 0;

  constructor(
    private readonly status: HTMLElement,
    /** What the section lists, for the error message: "batches", "files". */
    private readonly what: string,
    private readonly section: {
      fetch: (deviceId: string) => Promise<T>;
      /** Empties the section before a load. */
      reset: () => void;
      show: (items: T) => void;
    },
  ) {}

  /** The device whose list is shown; live events for other devices are ignored by the caller. */
  get deviceId(): string | undefined {
    return this.#deviceId;
  }

  open(deviceId: string): Promise<void> {
    this.#deviceId = deviceId;
    return this.load();
  }

  async load(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const generation = ++this.#generation;
    this.section.reset();
    try {
      const items = await this.section.fetch(deviceId);
      if (generation !== this.#generation) return;
      say(this.status, '');
      this.section.show(items);
    } catch (error) {
      if (generation === this.#generation) {
        say(this.status, `Could not load the ${this.what}: ${describeError(error)}`, 'error');
      }
    }
  }
}
