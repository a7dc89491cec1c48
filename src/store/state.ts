import type { Database } from '../ports.js';

/** Named JSON documents in the `state` table (the registration, twin state). */
export class StateStore {
  constructor(private readonly db: Database) {}

  async get<T>(key: string): Promise<T | undefined> {
    const rows = await this.db.query<{ value: string }>('SELECT value FROM state WHERE key = ?', [key]);
    return rows[0] === undefined ? undefined : (JSON.parse(rows[0].value) as T);
  }

  /** Durable once resolved. */
  async set(key: string, value: unknown): Promise<void> {
    await this.db.write([StateStore.setStatement(key, value)]);
  }

  /** The statement that stores `value`, for callers that commit it together with other statements. */
  static setStatement(key: string, value: unknown) {
    return {
      sql: 'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      params: [key, JSON.stringify(value)],
    };
  }
}
