import type { Database } from '../ports.js';

/** A device's named JSON documents in the `state` table (its registration, twin state). */
export class StateStore {
  constructor(
    private readonly db: Database,
    private readonly device: string,
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    const rows = await this.db.query<{ value: string }>(
      'SELECT value FROM state WHERE device = ? AND key = ?',
      [this.device, key],
    );
    return rows[0] === undefined ? undefined : (JSON.parse(rows[0].value) as T);
  }

  /** Durable once resolved. */
  async set(key: string, value: unknown): Promise<void> {
    await this.db.write([this.setStatement(key, value)]);
  }

  /** The statement that stores `value`, for callers that commit it together with other statements. */
  setStatement(key: string, value: unknown) {
    return {
      sql: `INSERT INTO state (device, key, value) VALUES (?, ?, ?)
            ON CONFLICT (device, key) DO UPDATE SET value = excluded.value`,
      params: [this.device, key, JSON.stringify(value)],
    };
  }
}
