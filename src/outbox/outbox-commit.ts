/**
 * The group commit every outbox of a database writes through, and the totals it keeps per device: one per database
 * (a device's own file, or a gateway's DeviceStore shared by all its devices), so that one round commits every
 * device's enqueues with one fsync and one `outbox_totals` update per device in it.
 */
import type { Clock, Database } from '../ports.js';
import { GroupCommit } from './group-commit.js';

/** What an insert adds to its device's `outbox_totals` row; a round adds them up, per device. */
export interface OutboxTally {
  device: string;
  size: number;
}

/** The database's outbox group commit (see the module comment). */
export function outboxCommit(db: Database, clock: Clock): GroupCommit<OutboxTally> {
  return new GroupCommit<OutboxTally>(db, clock, (tallies) => {
    const added = new Map<string, { messages: number; bytes: number }>();
    for (const { device, size } of tallies) {
      const sums = added.get(device);
      if (sums === undefined) added.set(device, { messages: 1, bytes: size });
      else {
        sums.messages += 1;
        sums.bytes += size;
      }
    }
    return [...added].map(([device, { messages, bytes }]) => ({
      // An upsert: a device's first message in a shared file has no totals row yet.
      sql: `INSERT INTO outbox_totals (device, messages, bytes) VALUES (?, ?, ?)
            ON CONFLICT (device) DO UPDATE SET messages = messages + excluded.messages, bytes = bytes + excluded.bytes`,
      params: [device, messages, bytes],
    }));
  });
}

/** Where an outbox keeps its rows: its device's, written through the database's {@link outboxCommit}. */
export interface OutboxScope {
  device: string;
  commit: GroupCommit<OutboxTally>;
}
