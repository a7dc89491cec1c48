import type { EmulatorDatabase } from './database.js';

export interface QueuedCloudMessage {
  sequence: number;
  mid: string;
  properties: Record<string, string>;
  payload: Buffer;
}

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
    const { lastInsertRowid } = this.db
      .prepare(
        'INSERT INTO c2d_messages (device_id, mid, properties, payload, enqueued_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(deviceId, mid, JSON.stringify(properties), payload, this.now());
    return { sequence: Number(lastInsertRowid), mid, properties, payload };
  }

  pending(deviceId: string): QueuedCloudMessage[] {
    const rows = this.db
      .prepare(
        'SELECT sequence, mid, properties, payload FROM c2d_messages WHERE device_id = ? ORDER BY sequence',
      )
      .all(deviceId) as { sequence: number; mid: string; properties: string; payload: Buffer }[];
    return rows.map((row) => ({ ...row, properties: JSON.parse(row.properties) }));
  }

  acknowledge(sequence: number): void {
    this.db.prepare('DELETE FROM c2d_messages WHERE sequence = ?').run(sequence);
  }
}
