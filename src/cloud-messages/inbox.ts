import { asSpotflowError, type SpotflowError } from '../errors.js';
import type { Database, MqttMessage } from '../ports.js';

/**
 * The durable inbox of cloud-to-device messages. A message is written here before the hub is acknowledged, so a
 * crash cannot lose it, and the MQTT connection never waits for application code (a slow handler would otherwise
 * hold back every PUBACK and the keep-alive). Messages are handed to `deliver` one at a time, in arrival order,
 * and removed once it has taken them.
 */
export class CloudInbox {
  #draining: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly db: Database,
    private readonly device: string,
    private readonly deliver: (message: MqttMessage) => Promise<boolean>,
    private readonly reportError: (error: SpotflowError) => void,
  ) {}

  /** Stores a message; resolves once it is durable. */
  async add(message: MqttMessage): Promise<void> {
    await this.db.write([
      {
        sql: 'INSERT INTO inbox (device, topic, payload) VALUES (?, ?, ?)',
        params: [this.device, message.topic, message.payload],
      },
    ]);
  }

  /** Hands stored messages over until none is left or `deliver` declines (no handler yet). */
  drain(): void {
    if (this.#stopped) return;
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = this.#run().finally(() => {
      this.#draining = undefined;
      if (this.#again) {
        this.#again = false;
        this.drain();
      }
    });
  }

  /** No more deliveries; resolves when the one in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    while (this.#draining) await this.#draining;
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        const rows = await this.db.query<{ id: number; topic: string; payload: Uint8Array }>(
          'SELECT id, topic, payload FROM inbox WHERE device = ? ORDER BY id LIMIT 16',
          [this.device],
        );
        if (rows.length === 0) return;
        for (const row of rows) {
          if (this.#stopped) return;
          if (!(await this.deliver({ topic: row.topic, payload: row.payload }))) return;
          // A lost delete (power cut) only hands the message over again: no fsync for it.
          await this.db.write([{ sql: 'DELETE FROM inbox WHERE id = ?', params: [row.id] }], {
            durability: 'relaxed',
          });
        }
      }
    } catch (error) {
      if (this.#stopped) return; // the database closed under a handler that outlived close()
      this.reportError(asSpotflowError(error, 'The cloud message inbox failed'));
    }
  }
}
