/**
 * DeviceClient: the public API of SPEC.md §5, one method per call with its doc comment. Over 400 lines because it
 * is the API's single facade; start-up assembly (client-parts.ts), events (client-events.ts) and argument checks
 * (call-arguments.ts) are already split out. The next split, moving the waiters of sendMessage and
 * waitEnqueuedMessagesSent into outbox/, is planned in issue 11.
 */
import { payloadBytes, readWaitOptions } from './call-arguments.js';
import { checkListener, type DeviceClientEvents } from './client-events.js';
import { openParts, type Parts } from './client-parts.js';
import {
  type CloudMessageHandler,
  CloudMessages,
  type MethodHandler,
} from './cloud-messages/cloud-messages.js';
import { abortedError, asSpotflowError, invalidArgument, SpotflowError } from './errors.js';
import type { HubCredentials } from './iothub/connection-string.js';
import { HubSession } from './iothub/session.js';
import type { Logger } from './logger.js';
import type { DesiredProperties, ResolvedOptions, StartOptions } from './options.js';
import {
  type BatchCompletionOptions,
  batchCompletionKeys,
  type MessageCompletionOptions,
  type MessageOptions,
  messageCompletionKeys,
  messageOptionKeys,
  readMessageOptions,
  sendMessageOptionKeys,
} from './outbox/message-options.js';
import { OutboxSender } from './outbox/sender.js';
import type { OutboxStore } from './outbox/store.js';
import { FileUploader } from './outbox/upload.js';
import type { Database, LockHandle, MqttConnection, Platform, TimerHandle } from './ports.js';
import type { TokenHandler } from './provisioning/token-handler.js';
import { type ReportedProperties, TwinManager } from './twin/twin.js';
import type { TypedEvents } from './util/events.js';

/** How long `close()` lets a running cloud-to-device handler finish before it releases the database. */
const cloudStopGraceMs = 5000;

/**
 * A device's connection to the Spotflow IoT Platform: provisioning, durable offline-first messaging, the device
 * twin, cloud-to-device messages and direct methods.
 *
 * @example
 * ```ts
 * import { DeviceClient } from 'spotflow-device';
 * const client = await DeviceClient.start({ provisioningToken, database: './device.db', deviceId: 'pump-7' });
 * const { id } = await client.enqueueMessage({ temperature: 21.5 }, { stream: 'telemetry' });
 * await client.close();
 * ```
 */
export class DeviceClient {
  readonly #options: ResolvedOptions;
  readonly #platform: Platform;
  readonly #lock: LockHandle;
  readonly #db: Database;
  readonly #tokens: TokenHandler;
  readonly #outbox: OutboxStore;
  readonly #twin: TwinManager;
  readonly #events: TypedEvents<DeviceClientEvents>;
  readonly #log: Logger;
  readonly #cloud: CloudMessages;
  readonly #session: HubSession;
  readonly #sender: OutboxSender;
  readonly #sentWaiters = new Map<string, { resolve: () => void; reject: (error: SpotflowError) => void }>();
  /** Aborted by `close()`: everything still waiting rejects with CLIENT_CLOSED. */
  readonly #closed = new AbortController();
  readonly #removedWaiters = new Set<() => void>();
  #closeConnection: (() => void) | undefined;
  #senderRun: Promise<void> = Promise.resolve();
  #connected = false;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link DeviceClient.start}. */
  constructor(parts: Parts) {
    this.#options = parts.options;
    this.#platform = parts.platform;
    this.#lock = parts.lock;
    this.#db = parts.db;
    this.#tokens = parts.tokens;
    this.#outbox = parts.outbox;
    this.#twin = parts.twin;
    this.#events = parts.events;
    this.#log = parts.options.logger;
    const reportError = (error: SpotflowError) => this.#events.emit('error', error);
    this.#cloud = new CloudMessages(this.#db, this.#log, reportError);
    this.#sender = new OutboxSender(
      this.#outbox,
      this.#platform.compressor,
      new FileUploader(this.#options.instance, this.#platform.fetch, this.#platform.clock, {
        secrets: this.#options.secrets,
      }),
      this.#options.maxInFlight,
      this.#platform.clock,
      {
        sent: ({ mid }) => {
          this.#events.emit('messageSent', { id: mid });
          const waiter = this.#sentWaiters.get(mid);
          this.#sentWaiters.delete(mid);
          waiter?.resolve();
        },
        removed: () => {
          for (const waiter of [...this.#removedWaiters]) waiter();
        },
        uploadProgress: (progress) => this.#events.emit('uploadProgress', progress),
        error: reportError,
      },
      this.#log,
    );
    this.#session = new HubSession(
      this.#platform,
      {
        instance: this.#options.instance,
        transport: this.#options.transport ?? this.#platform.defaultTransport,
        keepAliveSeconds: this.#options.keepAliveSeconds,
        reconnectInitialDelayMs: this.#options.reconnectInitialDelayMs,
        reconnectMaxDelayMs: this.#options.reconnectMaxDelayMs,
        allowInsecure: this.#options.allowInsecure,
      },
      this.#tokens,
      {
        connected: (connection, credentials) => this.#onConnected(connection, credentials),
        disconnected: (error) => this.#onDisconnected(error),
        error: reportError,
      },
      this.#log,
    );
    this.#session.handle('$iothub/twin/', (message) => this.#twin.handle(message));
    this.#session.handle('$iothub/methods/POST/', (message) =>
      this.#cloud.handleMethod(message, this.#session.connection),
    );
    this.#session.handle('devices/', (message) => this.#cloud.handleCloudMessage(message));
    for (const topic of [...TwinManager.topics, '$iothub/methods/POST/#'])
      void this.#session.subscribe(topic);
  }

  /**
   * Starts a client: opens (and locks) the local database, reuses the stored registration or provisions the
   * device (waiting for a technician's approval; abort with `signal`), then connects in the background.
   * With a stored registration it resolves at once, online or not.
   */
  static start(options: StartOptions): Promise<DeviceClient> {
    void options;
    return Promise.reject(
      new SpotflowError(
        'INTERNAL',
        "Import DeviceClient from 'spotflow-device' (or 'spotflow-device/node', '/browser'): the core has no platform",
      ),
    );
  }

  /** Starts a client on an explicit platform (what the package entries call). */
  static async startOn<T extends DeviceClient>(
    this: new (
      parts: Parts,
    ) => T,
    platform: Platform,
    options: StartOptions,
  ): Promise<T> {
    const parts = await openParts(platform, options);
    try {
      const client = new this(parts);
      parts.tokens.start();
      client.#session.start();
      return client;
    } catch (error) {
      await parts.db.close().catch(() => {});
      await parts.lock.release().catch(() => {});
      throw error;
    }
  }

  /** The workspace the device belongs to. */
  get workspaceId(): string {
    return this.#tokens.registration.hub.workspaceId;
  }

  /** The device's id (the requested one, or the one the platform chose). */
  get deviceId(): string {
    return this.#tokens.registration.hub.deviceId;
  }

  /** Whether the MQTT connection to the hub is up right now. */
  get connected(): boolean {
    return this.#connected;
  }

  on<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ): () => void {
    checkListener(event, listener);
    return this.#events.on(event, listener);
  }

  off<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ): void {
    checkListener(event, listener);
    this.#events.off(event, listener);
  }

  once<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ): () => void {
    checkListener(event, listener);
    return this.#events.once(event, listener);
  }

  /**
   * Stores a message in the outbox; resolves once it is durable, with the id it will carry as `$.mid` (the
   * `messageSent` event reports the same id when the hub has it). The payload may be bytes, a string, or any
   * JSON value.
   */
  async enqueueMessage(payload: unknown, options?: MessageOptions): Promise<{ id: string }> {
    this.#assertOpen();
    const { properties, compression } = readMessageOptions(options, messageOptionKeys);
    return this.#enqueue(payloadBytes(payload), properties, compression);
  }

  /** Stores a message that closes a batch (`complete-batch=true`, no payload). */
  async enqueueBatchCompletion(options: BatchCompletionOptions): Promise<{ id: string }> {
    this.#assertOpen();
    const { properties } = readMessageOptions(options, batchCompletionKeys, ['batchId']);
    return this.#enqueue(
      new Uint8Array(),
      { ...properties, completeBatch: true, ignorePayload: true },
      'none',
    );
  }

  /** Stores a message that closes a chunked message (`complete-message=true`, no payload). */
  async enqueueMessageCompletion(options: MessageCompletionOptions): Promise<{ id: string }> {
    this.#assertOpen();
    const { properties } = readMessageOptions(options, messageCompletionKeys, ['messageId']);
    return this.#enqueue(
      new Uint8Array(),
      { ...properties, completeMessage: true, ignorePayload: true },
      'none',
    );
  }

  /** Enqueues a message and resolves once the hub has acknowledged it (or rejects on `signal`). */
  async sendMessage(
    payload: unknown,
    options?: MessageOptions & { signal?: AbortSignal },
  ): Promise<{ id: string }> {
    this.#assertOpen();
    const { properties, compression } = readMessageOptions(options, sendMessageOptionKeys);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw invalidArgument('signal must be an AbortSignal');
    if (signal?.aborted) throw abortedError(signal);
    const bytes = payloadBytes(payload);
    let waiter!: { resolve: () => void; reject: (error: SpotflowError) => void };
    const sent = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    const { id } = await this.#enqueue(bytes, properties, compression, (mid) =>
      this.#sentWaiters.set(mid, waiter),
    );
    await this.#untilAborted(sent, signal, () => this.#sentWaiters.delete(id));
    return { id };
  }

  /** How many messages wait in the outbox. */
  async pendingMessagesCount(): Promise<number> {
    this.#assertOpen();
    await this.#sender.flushDeletes();
    return this.#outbox.countStored();
  }

  /** Resolves once every message enqueued before this call has been acknowledged by the hub. */
  async waitEnqueuedMessagesSent(options?: { signal?: AbortSignal }): Promise<void> {
    this.#assertOpen();
    const signal = readWaitOptions(options);
    const lastId = await this.#outbox.lastId();
    let check!: () => Promise<void>;
    const done = new Promise<void>((resolve, reject) => {
      check = async () => {
        try {
          await this.#sender.flushDeletes();
          if (await this.#outbox.anyUpTo(lastId)) return;
          this.#removedWaiters.delete(check);
          resolve();
        } catch (error) {
          this.#removedWaiters.delete(check);
          reject(error);
        }
      };
      this.#removedWaiters.add(check);
      void check();
    });
    await this.#untilAborted(done, signal, () => this.#removedWaiters.delete(check));
  }

  /** The last known desired properties (from the database when offline). */
  desiredProperties(): DesiredProperties {
    return this.#twin.desired();
  }

  /** The desired properties if their version is newer than `version`, else undefined. */
  async desiredPropertiesIfNewer(version: number): Promise<DesiredProperties | undefined> {
    this.#assertOpen();
    if (typeof version !== 'number' || !Number.isFinite(version))
      throw invalidArgument('version must be a number');
    const desired = this.#twin.desired();
    return desired.version > version ? desired : undefined;
  }

  /** Stores a reported-properties patch (JSON merge patch); resolves once durable; sent when online. */
  async updateReportedProperties(patch: Record<string, unknown>): Promise<void> {
    this.#assertOpen();
    await this.#twin.update(patch);
  }

  /** Reported properties as they will be once pending patches are sent, with the last acknowledged version. */
  reportedProperties(): ReportedProperties {
    return this.#twin.reported;
  }

  /** Resolves once every reported-properties patch stored so far has been acknowledged by the hub. */
  async waitReportedPropertiesSent(options?: { signal?: AbortSignal }): Promise<void> {
    this.#assertOpen();
    const signal = readWaitOptions(options);
    await this.#untilAborted(this.#twin.waitSent(signal), signal, () => {});
  }

  /** Receives cloud-to-device messages; returns a function that removes the handler. */
  onCloudMessage(handler: CloudMessageHandler): () => void {
    this.#assertOpen();
    const off = this.#cloud.onCloudMessage(handler);
    void this.#session.subscribe(cloudMessageTopic);
    return off;
  }

  /** Answers the direct method `name`; returns a function that removes the handler. */
  onMethod(name: string, handler: MethodHandler): () => void {
    this.#assertOpen();
    return this.#cloud.onMethod(name, handler);
  }

  /** Stops background work, lets in-flight writes finish, and releases the database. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(new SpotflowError('CLIENT_CLOSED', 'The client was closed while this call waited'));
      await this.#tokens.stop();
      await this.#session.stop();
      this.#closeConnection?.();
      await this.#senderRun;
      await this.#sender.flushDeletes();
      await this.#twin.idle();
      // A C2D handler still running gets a moment to finish; its message stays stored if it does not.
      const { clock } = this.#platform;
      let timer: TimerHandle;
      await Promise.race([
        this.#cloud.stop(),
        new Promise<void>((resolve) => {
          timer = clock.setTimeout(resolve, cloudStopGraceMs);
        }),
      ]);
      clock.clearTimeout(timer);
      await this.#db.close();
      await this.#lock.release();
      await this.#platform.close?.();
    })();
    return this.#closing;
  }

  async #enqueue(
    payload: Uint8Array,
    properties: Parameters<OutboxStore['add']>[0]['properties'],
    compression: Parameters<OutboxStore['add']>[0]['compression'],
    beforeNotify?: (mid: string) => void,
  ): Promise<{ id: string }> {
    const { mid, dropped } = await this.#outbox.add({ properties, compression, payload });
    if (dropped) {
      this.#events.emit('outboxFull', dropped);
      void this.#failDroppedSends();
    }
    beforeNotify?.(mid);
    this.#sender.notify();
    return { id: mid };
  }

  #onConnected(connection: MqttConnection, credentials: HubCredentials): void {
    this.#connected = true;
    const closed = new Promise<void>((resolve) => {
      this.#closeConnection = resolve;
    });
    this.#events.emit('connected', { workspaceId: credentials.workspaceId, deviceId: credentials.deviceId });
    void this.#twin.connected(connection, credentials.hubDeviceId);
    const previous = this.#senderRun;
    this.#senderRun = previous
      .then(() => this.#sender.run(connection, credentials, closed))
      .catch((error: unknown) => {
        this.#events.emit('error', asSpotflowError(error, 'The sender stopped'));
      });
  }

  #onDisconnected(error: Error | undefined): void {
    this.#connected = false;
    this.#closeConnection?.();
    this.#closeConnection = undefined;
    this.#twin.disconnected();
    this.#events.emit('disconnected', { error });
  }

  /** `sendMessage` calls whose message a `dropOldest` limit removed will never be sent: they fail. */
  async #failDroppedSends(): Promise<void> {
    for (const [mid, waiter] of [...this.#sentWaiters]) {
      if (await this.#outbox.contains(mid).catch(() => true)) continue;
      if (this.#sentWaiters.get(mid) !== waiter) continue; // sent meanwhile
      this.#sentWaiters.delete(mid);
      waiter.reject(
        new SpotflowError('OUTBOX_FULL', 'The outbox limit dropped this message before it was sent'),
      );
    }
  }

  /** Waits for `work`, or rejects when the caller's `signal` aborts (ABORTED) or the client closes (CLIENT_CLOSED). */
  async #untilAborted(
    work: Promise<void>,
    signal: AbortSignal | undefined,
    cleanup: () => void,
  ): Promise<void> {
    const signals = signal ? [signal, this.#closed.signal] : [this.#closed.signal];
    const fired = signals.find((s) => s.aborted);
    if (fired) {
      cleanup();
      throw abortedError(fired);
    }
    let onAbort!: (event: Event) => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = (event) => {
        cleanup();
        reject(abortedError(event.target as AbortSignal));
      };
      for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([work, aborted]);
    } finally {
      for (const s of signals) s.removeEventListener('abort', onAbort);
    }
  }

  #assertOpen(): void {
    if (this.#closing) throw new SpotflowError('CLIENT_CLOSED', 'The client is closed');
  }
}

/** The C2D topic of whatever identity the connection has (it changes if the device is provisioned again). */
const cloudMessageTopic = (credentials: HubCredentials) =>
  `devices/${credentials.hubDeviceId}/messages/devicebound/#`;
