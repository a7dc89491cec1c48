import type { EmulatorDatabase } from './database.js';

export interface QueuedCloudMessage {
  sequence: number;
  mid: string;
  properties: Record<string, string>;
  payload: Buffer;
  /** When it was queued (ms since the epoch). */
  enqueuedAt: number;
}

/** Most messages one device's queue holds, as on IoT Hub (more are refused until the device takes some). */
export const maxQueuedCloudMessages = 50;

/** Cloud-to-device messages waiting for the device to acknowledge them (kept across restarts). */
export class CloudMessageQueue {
  constructor(
    private readonly db: EmulatorDatabase,
    private readonly now: () => number,
  ) {}

  add(
    deviceId: string,
    mid: string,
    properties: Record<string, string>,
    payload: Buffer,
  ): QueuedCloudMessage {
    const enqueuedAt = this.now();
    const { lastInsertRowid } = this.db
      .prepare(
        'INSERT INTO c2d_messages (device_id, mid, properties, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(deviceId, mid, JSON.stringify(properties), payload, enqueuedAt);
    return { sequence: Number(lastInsertRowid), mid, properties, payload, enqueuedAt };
  }

  /** The oldest message waiting for the device, if any. */
  next(deviceId: string): QueuedCloudMessage | undefined {
    const row = this.db
      .prepare(
        'SELECT sequence, mid, properties, payload, enqueued_at FROM c2d_messages WHERE device_id = ? ORDER BY sequence LIMIT 1',
      )
      .get(deviceId) as CloudMessageRow | undefined;
    return row && toQueued(row);
  }

  /** Every message waiting for the device, oldest first (at most `maxQueuedCloudMessages` can wait). */
  list(deviceId: string): QueuedCloudMessage[] {
    const rows = this.db
      .prepare(
        'SELECT sequence, mid, properties, payload, enqueued_at FROM c2d_messages WHERE device_id = ? ORDER BY sequence',
      )
      .all(deviceId) as CloudMessageRow[];
    return rows.map(toQueued);
  }

  /** How many messages wait for the device. */
  count(deviceId: string): number {
    return (
      this.db.prepare('SELECT COUNT(*) AS n FROM c2d_messages WHERE device_id = ?').get(deviceId) as {
        n: number;
      }
    ).n;
  }

  acknowledge(sequence: number): void {
    this.db.prepare('DELETE FROM c2d_messages WHERE sequence = ?').run(sequence);
  }
}

interface CloudMessageRow {
  sequence: number;
  mid: string;
  properties: string;
  payload: Buffer;
  enqueued_at: number;
}

function toQueued(row: CloudMessageRow): QueuedCloudMessage {
  return {
    sequence: row.sequence,
    mid: row.mid,
    properties: JSON.parse(row.properties),
    payload: row.payload,
    enqueuedAt: row.enqueued_at,
  };
}
