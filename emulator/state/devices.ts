import { randomBytes } from 'node:crypto';
import type { EmulatorDatabase } from './database.js';

export interface DeviceRecord {
  deviceId: string;
  sasKey: string;
  registeredAt: number;
  lastSeen: number | null;
}

interface DeviceRow {
  device_id: string;
  sas_key: string;
  registered_at: number;
  last_seen: number | null;
}

/** Registered devices and their symmetric keys (the key signs every SAS token the device gets). */
export class DeviceStore {
  constructor(
    private readonly db: EmulatorDatabase,
    private readonly now: () => number,
  ) {}

  /** Registers the device on first call; later calls keep its key so older SAS tokens stay valid until they expire. */
  register(deviceId: string): DeviceRecord {
    this.db
      .prepare(
        `INSERT INTO devices (device_id, sas_key, registered_at) VALUES (?, ?, ?)
         ON CONFLICT (device_id) DO NOTHING`,
      )
      .run(deviceId, randomBytes(32).toString('base64'), this.now());
    return this.get(deviceId)!;
  }

  get(deviceId: string): DeviceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM devices WHERE device_id = ?').get(deviceId) as
      | DeviceRow
      | undefined;
    return row && toRecord(row);
  }

  list(): DeviceRecord[] {
    return (this.db.prepare('SELECT * FROM devices ORDER BY device_id').all() as DeviceRow[]).map(toRecord);
  }

  touch(deviceId: string): void {
    this.db.prepare('UPDATE devices SET last_seen = ? WHERE device_id = ?').run(this.now(), deviceId);
  }
}

function toRecord(row: DeviceRow): DeviceRecord {
  return {
    deviceId: row.device_id,
    sasKey: row.sas_key,
    registeredAt: row.registered_at,
    lastSeen: row.last_seen,
  };
}
