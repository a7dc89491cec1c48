/**
 * The only things the portable core knows of a platform. Each runtime (`platform/node`, `platform/browser`)
 * provides them through one factory; the core never imports a platform package, a Node built-in or a DOM global.
 */
import type { SpotflowError } from './errors.js';

/** A value SQLite stores: BLOBs travel as `Uint8Array` (Node's `Buffer` is one). */
export type SqlValue = string | number | bigint | Uint8Array | null;

/** One SQL statement and its positional parameters. */
export interface SqlStatement {
  /** The SQL text, with `?` placeholders. */
  sql: string;
  /** The values bound to the placeholders, in order. */
  params?: readonly SqlValue[];
}

/** How durable a {@link Database.write} must be before it resolves. */
export interface WriteOptions {
  /**
   * `full` (default): durable when resolved, through a power cut. `relaxed`: survives a crash of the process but
   * may be lost in a power cut until the next full write; for bookkeeping whose loss only causes a duplicate
   * (deleting acknowledged messages), so it does not cost an fsync each time.
   */
  durability?: 'full' | 'relaxed';
}

/** What one statement of a {@link Database.write} did. */
export interface WriteResult {
  /** The number of rows it inserted, updated or deleted. */
  changes: number;
  /** The rowid of the last row an INSERT made (0 for other statements). */
  lastInsertRowid: number;
}

/**
 * One SQLite database. The port is async, although both engines are synchronous, so that a worker-backed store
 * can come later without touching the core. The core owns the schema and every statement; an adapter owns only
 * how statements run and how a commit is made durable.
 */
export interface Database {
  /**
   * Runs the statements in one transaction, all or nothing, and resolves only once that transaction is durable
   * (Node: WAL with `synchronous=FULL`, fsync'd; browser: the IndexedDB transaction has completed).
   * Rejects with a SpotflowError (`DATABASE_UNAVAILABLE`, `DATABASE_CORRUPT`) and leaves nothing applied.
   */
  write(statements: readonly SqlStatement[], options?: WriteOptions): Promise<WriteResult[]>;
  /** Runs one read-only statement and returns its rows as plain objects keyed by column name. */
  query<Row = Record<string, SqlValue>>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Flushes and releases the database; later calls reject with `CLIENT_CLOSED`. */
  close(): Promise<void>;
  /**
   * Optional: registers the listener for problems the adapter meets in the background, outside any call (the
   * browser's stored pages failing to update, its IndexedDB database deleted from outside). Each kind is reported
   * once until it clears; calls that fail meanwhile reject as usual.
   */
  onProblem?(listener: (problem: SpotflowError) => void): void;
}

/** Opens the platform's databases (better-sqlite3 files in Node, sql.js stored in the browser). */
export interface DatabaseOpener {
  /**
   * Opens (creating if needed) the database called `name`: a file path in Node (created with mode 0600),
   * an IndexedDB database name in browsers. Rejects with `DATABASE_UNAVAILABLE` or `DATABASE_CORRUPT`.
   */
  open(name: string): Promise<Database>;
}

/** Exclusive ownership of a database by one client (a file lock in Node, Web Locks across browser tabs). */
export interface Lock {
  /** Takes the lock for `name`; rejects with DATABASE_LOCKED when another owner holds it, unless the platform was
   * configured to wait (browser `waitForLock`), in which case it waits until the owner releases it; `signal` aborts the wait (ABORTED). */
  acquire(name: string, signal?: AbortSignal): Promise<LockHandle>;
}

/** A held {@link Lock}. */
export interface LockHandle {
  /** Gives the lock up, so that another owner may take it. */
  release(): Promise<void>;
}

/** What {@link MqttConnector.connect} connects with. */
export interface MqttConnectOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL, path included for WebSockets. */
  url: string;
  /** The MQTT client id (the device's IoT Hub device id). */
  clientId: string;
  /** The IoT Hub user name (`{host}/{deviceId}/?api-version=…`). */
  username: string;
  /** The SAS token. Secret: adapters never log it. */
  password: string;
  /** The MQTT keep-alive interval. */
  keepAliveSeconds: number;
  /** How long the connection (TCP, TLS, WebSocket and CONNACK) may take before it fails with `NETWORK`. */
  connectTimeoutMs: number;
}

/** One incoming MQTT PUBLISH. */
export interface MqttMessage {
  /** The topic it was published on. */
  topic: string;
  /** Its payload, as received. */
  payload: Uint8Array;
}

/** One live MQTT 3.1.1 connection. It never reconnects by itself: the core's session decides when and with what. */
export interface MqttConnection {
  /** QoS 1 resolves on PUBACK, QoS 0 once written. Rejects (`NETWORK`) when the connection is lost first. */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1): Promise<void>;
  /** Subscribes at QoS 1 where allowed; rejects with `PROTOCOL` when the broker refuses any of the topics. */
  subscribe(topics: readonly string[]): Promise<void>;
  /**
   * The single receiver of incoming messages. For QoS 1 messages the PUBACK is sent only after the returned
   * promise settles, so a message is acknowledged only once the core has taken it.
   */
  setMessageHandler(handler: (message: MqttMessage) => Promise<void> | void): void;
  /**
   * Called for every packet that arrives from the broker, of any type (PUBACK, SUBACK, PINGRESP, PUBLISH…): the
   * core's evidence that the link is alive while it waits for acknowledgements.
   */
  onPacket(listener: () => void): void;
  /** Called once when the connection ends for any reason (`error` set unless it was closed by `end`). */
  onClose(listener: (error?: Error) => void): void;
  /** Closes the connection (`force`: without waiting for in-flight messages). */
  end(force?: boolean): Promise<void>;
}

/** Makes {@link MqttConnection}s (MQTT.js over TCP, TLS or WebSockets). */
export interface MqttConnector {
  /**
   * Connects once, without retrying. Rejects with SpotflowError `CONNECTION_REFUSED` when the broker refuses the
   * credentials (CONNACK 4 or 5), `TLS` when its certificate cannot be verified (where the platform can tell; a
   * browser cannot), `NETWORK` for anything else (DNS, refused, timeout), `ABORTED` on `signal`.
   */
  connect(options: MqttConnectOptions, signal?: AbortSignal): Promise<MqttConnection>;
}

/** How hard a {@link Compressor} works: `fastest` for messages as they are sent, `smallest` when size matters more. */
export type CompressionLevel = 'fastest' | 'smallest';

/** Brotli compression of message payloads (zlib in Node, a WebAssembly worker in browsers). */
export interface Compressor {
  /** Brotli: `fastest` = quality 1, `smallest` = quality 11. */
  compress(data: Uint8Array, level: CompressionLevel): Promise<Uint8Array>;
}

/** Opaque: what {@link Clock.setTimeout} returns, only given back to {@link Clock.clearTimeout}. */
export type TimerHandle = unknown; // opaque, only given back to clearTimeout

/**
 * Time, as the core sees it: it never calls `Date.now()`, `performance.now()` or `setTimeout` itself, so every
 * timing rule can be driven by a fake clock in a test.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall time; may jump). */
  now(): number;
  /** Milliseconds on a clock that never jumps (performance.now()); for measuring intervals. */
  monotonicNow(): number;
  /** Calls `callback` once after `ms` milliseconds; returns the handle {@link Clock.clearTimeout} takes. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer {@link Clock.setTimeout} started; a timer that already ran is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** A runtime's implementation of every port. */
export interface Platform {
  /** The runtime's name (`node`, `browser`), for logs and errors. */
  readonly name: string;
  /** Where the client's outbox and twin are stored. */
  readonly database: DatabaseOpener;
  /** Keeps a second client from opening the same database. */
  readonly lock: Lock;
  /** Connects to the IoT Hub MQTT broker. */
  readonly mqtt: MqttConnector;
  /** Compresses message payloads. */
  readonly compressor: Compressor;
  /** `fetch` as the platform configures it (Node: trusting the platform's `ca` as well as the system CAs). */
  readonly fetch: typeof fetch;
  /** The MQTT transport used unless the caller picks one: TCP in Node, WebSockets in browsers. */
  readonly defaultTransport: 'tcp' | 'websocket';
  /** The time every timeout and backoff of the core is measured with. */
  readonly clock: Clock;
  /**
   * Subscribes to hints that the network may be back (browsers: the page's `online` event); returns the
   * unsubscribe function. Only a hint to retry sooner, never taken as truth: nothing waits for it, and no hint that
   * the network is gone stops anything.
   */
  onNetworkHint?(listener: () => void): () => void;
  /** Releases what the platform holds for the client (connection pools); called by `DeviceClient.close`. */
  close?(): Promise<void>;
}
