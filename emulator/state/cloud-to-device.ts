import type { EmulatorDatabase } from './database.js';

export interface QueuedCloudMessage {
  sequence: number;
  mid: string;
  /** User properties and the system properties the sender set (`$.cid`, `$.ct`, …), as sent. */
  properties: Record<string, string>;
  payload: Buffer;
  /** When it was queued (ms since the epoch). */
  enqueuedAt: number;
  /** When IoT Hub drops it undelivered (ms since the epoch). */
  expiresAt: number;
  /** How often it has been written to the device without being acknowledged. */
  deliveryCount: number;
}

/** Most messages one device's queue holds, as on IoT Hub (more are refused until the device takes some). */
export const maxQueuedCloudMessages = 50;
/** IoT Hub's default time to live of a cloud-to-device message: one hour. */
export const defaultCloudMessageTtlMs = 3600_000;
/** IoT Hub's longest time to live: two days. */
export const maxCloudMessageTtlMs = 2 * 24 * 3600_000;
/** IoT Hub's default maximum delivery count: a message written this often without an acknowledgement is dropped. */
export const maxCloudMessageDeliveries = 10;

const columns = 'sequence, mid, properties, payload, enqueued_at, expires_at, delivery_count';

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
    expiresAt?: number,
  ): QueuedCloudMessage {
    const enqueuedAt = this.now();
    const expiry = expiresAt ?? enqueuedAt + defaultCloudMessageTtlMs;
    const { lastInsertRowid } = this.db
      .prepare(
        'INSERT INTO c2d_messages (device_id, mid, properties, payload, enqueued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(deviceId, mid, JSON.stringify(properties), payload, enqueuedAt, expiry);
    return {
      sequence: Number(lastInsertRowid),
      mid,
      properties,
      payload,
      enqueuedAt,
      expiresAt: expiry,
      deliveryCount: 0,
    };
  }

  /**
   * Removes the device's messages IoT Hub would no longer deliver: expired, or delivered
   * `maxCloudMessageDeliveries` times without an acknowledgement. Returns them with the reason.
   */
  dropUndeliverable(
    deviceId: string,
  ): { message: QueuedCloudMessage; reason: 'expired' | 'delivery count exceeded' }[] {
    const rows = this.db
      .prepare(
        `SELECT ${columns} FROM c2d_messages WHERE device_id = ? AND (expires_at <= ? OR delivery_count >= ?) ORDER BY sequence`,
      )
      .all(deviceId, this.now(), maxCloudMessageDeliveries) as CloudMessageRow[];
    const remove = this.db.prepare('DELETE FROM c2d_messages WHERE sequence = ?');
    return rows.map((row) => {
      remove.run(row.sequence);
      const message = toQueued(row);
      return {
        message,
        reason: message.deliveryCount >= maxCloudMessageDeliveries ? 'delivery count exceeded' : 'expired',
      };
    });
  }

  /** The oldest message waiting for the device, if any (call `dropUndeliverable` first to skip dead ones). */
  next(deviceId: string): QueuedCloudMessage | undefined {
    const row = this.db
      .prepare(`SELECT ${columns} FROM c2d_messages WHERE device_id = ? ORDER BY sequence LIMIT 1`)
      .get(deviceId) as CloudMessageRow | undefined;
    return row && toQueued(row);
  }

  /** Counts one more delivery of a message about to be written to the device. */
  countDelivery(sequence: number): void {
    this.db
      .prepare('UPDATE c2d_messages SET delivery_count = delivery_count + 1 WHERE sequence = ?')
      .run(sequence);
  }

  /** Every message waiting for the device, oldest first (at most `maxQueuedCloudMessages` can wait). */
  list(deviceId: string): QueuedCloudMessage[] {
    const rows = this.db
      .prepare(`SELECT ${columns} FROM c2d_messages WHERE device_id = ? ORDER BY sequence`)
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
  expires_at: number;
  delivery_count: number;
}

function toQueued(row: CloudMessageRow): QueuedCloudMessage {
  return {
    sequence: row.sequence,
    mid: row.mid,
    properties: JSON.parse(row.properties),
    payload: row.payload,
    enqueuedAt: row.enqueued_at,
    expiresAt: row.expires_at,
    deliveryCount: row.delivery_count,
  };
}
