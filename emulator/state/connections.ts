import type { ConnectionEntry } from '../http/wire.js';
import { type EmulatorDatabase, statementCache } from './database.js';

/** How many connects and disconnects are kept per device (older ones are dropped). */
export const keptConnectionEntries = 100;
/** Longest reason kept (reasons can carry an error message from the network). */
const maxReasonLength = 500;

/** Each device's connection history: when it connected (and how) and when its connection ended (and why). */
export class ConnectionLog {
  readonly #sql: ReturnType<typeof statementCache>;

  constructor(
    db: EmulatorDatabase,
    private readonly now: () => number,
  ) {
    this.#sql = statementCache(db);
  }

  record(deviceId: string, event: ConnectionEntry['event'], reason: string): ConnectionEntry {
    const at = this.now();
    this.#sql('INSERT INTO device_connections (device_id, at, event, reason) VALUES (?, ?, ?, ?)').run(
      deviceId,
      at,
      event,
      reason.slice(0, maxReasonLength),
    );
    // Keep the newest entries only: drop everything at or below the first id past the kept ones.
    this.#sql(
      `DELETE FROM device_connections WHERE device_id = ? AND id <= (
         SELECT id FROM device_connections WHERE device_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
    ).run(deviceId, deviceId, keptConnectionEntries);
    return { at: new Date(at).toISOString(), event, reason: reason.slice(0, maxReasonLength) };
  }

  /** The device's kept entries, oldest first. */
  list(deviceId: string): ConnectionEntry[] {
    const rows = this.#sql(
      'SELECT at, event, reason FROM device_connections WHERE device_id = ? ORDER BY id',
    ).all(deviceId) as { at: number; event: ConnectionEntry['event']; reason: string }[];
    return rows.map((row) => ({ at: new Date(row.at).toISOString(), event: row.event, reason: row.reason }));
  }
}
