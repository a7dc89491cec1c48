/**
 * DeviceStore: one database for many devices in one process (a gateway). Every device's rows carry its id, so all
 * devices run the same statements on one connection, and their outboxes share one group commit: one fsync per
 * round for the whole process instead of one per device and message, and no SQLite connection per device.
 * See docs/gateway-store.md.
 */
import { invalidArgument, SpotflowError } from '../errors.js';
import { deviceIdRule, isValidDeviceId } from '../iothub/device-id.js';
import type { GroupCommit } from '../outbox/group-commit.js';
import { type OutboxTally, outboxCommit } from '../outbox/outbox-commit.js';
import type { Clock, Database, DatabaseOpener, Lock, LockHandle } from '../ports.js';
import { manyDevicesIndexes, migrate } from './schema.js';

/** Where a client keeps its rows: the database, the device its rows are keyed by, and the outbox's group commit. */
export interface DeviceStorage {
  db: Database;
  device: string;
  commit: GroupCommit<OutboxTally>;
  /** Releases the client's hold: its own file's lock, or its device in a store. */
  lock: LockHandle;
}

/** What opening a store takes from a platform. */
export interface DeviceStorePlatform {
  /** Opens the store's one database. */
  database: DatabaseOpener;
  /** Keeps other processes off the file while the store is open. */
  lock: Lock;
  /** Paces the group commit's delete riders. */
  clock: Clock;
}

/**
 * A database file shared by the devices one process hosts. Open it once, start each device's client with
 * `{ store, deviceId }`, close it after every client on it has closed.
 *
 * @example
 * ```ts
 * const store = await DeviceStore.open('./gateway.db');
 * const pump = await DeviceClient.start({ provisioningToken, store, deviceId: 'pump-7' });
 * // ...
 * await pump.close();
 * await store.close();
 * ```
 */
export class DeviceStore {
  readonly #db: Database;
  readonly #lock: LockHandle;
  readonly #commit: GroupCommit<OutboxTally>;
  /** Devices whose client is started, so a second client of one device is refused as another process would be. */
  readonly #started = new Set<string>();
  #closing: Promise<void> | undefined;

  /** @internal Use {@link DeviceStore.openOn} (or a runtime entry's `DeviceStore.open`). */
  protected constructor(db: Database, lock: LockHandle, clock: Clock) {
    this.#db = db;
    this.#lock = lock;
    this.#commit = outboxCommit(db, clock);
  }

  /**
   * Opens (creating if needed) the store at `path` with a platform's database and lock. Rejects with
   * `DATABASE_LOCKED` while another process holds it, `DATABASE_UNAVAILABLE` or `DATABASE_CORRUPT`.
   * Called on a subclass, it makes an instance of that subclass.
   */
  static async openOn<T extends DeviceStore>(
    this: { prototype: T },
    platform: DeviceStorePlatform,
    path: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    if (typeof path !== 'string' || path.length === 0) {
      throw invalidArgument('DeviceStore needs the path of its database');
    }
    const lock = await platform.lock.acquire(path, options.signal);
    let db: Database | undefined;
    try {
      db = await platform.database.open(path);
      await migrate(db);
      await db.write(manyDevicesIndexes.map((sql) => ({ sql })));
      // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass called on (a runtime entry's store)
      const Store = this as unknown as new (db: Database, lock: LockHandle, clock: Clock) => T;
      return new Store(db, lock, platform.clock);
    } catch (error) {
      await db?.close().catch(() => {});
      await lock.release().catch(() => {});
      throw error;
    }
  }

  /** The ids of the devices that have rows in the store (a registration at least). */
  async devices(): Promise<string[]> {
    this.#checkOpen();
    const rows = await this.#db.query<{ device: string }>(
      "SELECT DISTINCT device FROM state WHERE device != '' ORDER BY device",
    );
    return rows.map((row) => row.device);
  }

  /**
   * Deletes every row of `deviceId`: its registration, unsent messages, pending reported properties and unhandled
   * cloud messages. Refused (`DATABASE_LOCKED`) while the device's client is started.
   */
  async remove(deviceId: string): Promise<void> {
    this.#checkOpen();
    checkDeviceId(deviceId);
    if (this.#started.has(deviceId)) {
      throw new SpotflowError('DATABASE_LOCKED', `Device ${deviceId} is started; close its client first`);
    }
    await this.#commit.write(
      ['state', 'outbox', 'outbox_totals', 'reported_patches', 'inbox'].map((table) => ({
        sql: `DELETE FROM ${table} WHERE device = ?`,
        params: [deviceId],
      })),
    );
  }

  /**
   * Closes the database and releases the file. Rejects with `DATABASE_LOCKED` while a client on it is started.
   * Calling it again returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      if (this.#started.size > 0) {
        return Promise.reject(
          new SpotflowError(
            'DATABASE_LOCKED',
            `${this.#started.size} client(s) on this store are started; close them before the store`,
          ),
        );
      }
      this.#closing = (async () => {
        await this.#commit.settled();
        await this.#db.close();
        await this.#lock.release();
      })();
    }
    return this.#closing;
  }

  /**
   * The storage of one device's client, until its lock is released.
   * @internal Called by the client's assembly.
   */
  attach(deviceId: string): DeviceStorage {
    this.#checkOpen();
    checkDeviceId(deviceId);
    if (this.#started.has(deviceId)) {
      throw new SpotflowError(
        'DATABASE_LOCKED',
        `A client of device ${deviceId} is already started on this store`,
      );
    }
    this.#started.add(deviceId);
    let attached = true;
    // Once per attachment: the client closes its view and then releases its lock, and a new client of the device
    // may have attached in between.
    const detach = () => {
      if (!attached) return;
      attached = false;
      this.#started.delete(deviceId);
    };
    const db = this.#db;
    const closed = () => new SpotflowError('CLIENT_CLOSED', 'The client was closed');
    return {
      device: deviceId,
      commit: this.#commit,
      // The client's view of the shared connection: closing it ends the client's use, not the connection.
      db: {
        write: (statements, options) => (attached ? db.write(statements, options) : Promise.reject(closed())),
        query: (sql, params) => (attached ? db.query(sql, params) : Promise.reject(closed())),
        close: async () => detach(),
      },
      lock: { release: async () => detach() },
    };
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) throw new SpotflowError('CLIENT_CLOSED', 'The store was closed');
  }
}

function checkDeviceId(deviceId: unknown): void {
  if (!isValidDeviceId(deviceId)) throw invalidArgument(`A store's deviceId must be ${deviceIdRule}`);
}
