/**
 * DeviceClient: the public API of SPEC.md §5, one method per call with its doc comment. The client is put together
 * in client-assembly.ts; this class only checks each call and hands it to the part that does the work. About 300
 * lines, most of them the doc comments that are the API's reference.
 */
import { readWaitOptions } from './call-arguments.js';
import {
  type CheckedMessage,
  checkBatchCompletion,
  checkMessage,
  checkMessageCompletion,
  checkSendMessage,
} from './checked-message.js';
import { type Assembly, assemble, disassemble, releaseStorage, startAssembly } from './client-assembly.js';
import { checkListener, type DeviceClientEvents } from './client-events.js';
import { clientInternals } from './client-internals.js';
import type { CloudMessageHandler, MethodHandler } from './cloud-messages/cloud-messages.js';
import { invalidArgument, SpotflowError } from './errors.js';
import type { HubCredentials } from './iothub/connection-string.js';
import type { DesiredProperties, StartOptions, StoreStartOptions } from './options.js';
import type {
  BatchCompletionOptions,
  MessageCompletionOptions,
  MessageOptions,
} from './outbox/message-options.js';
import type { GivenMid, OutboxStore } from './outbox/store.js';
import type { Platform } from './ports.js';
import type { ReportedProperties } from './twin/twin.js';
import type { MessagePayload } from './util/json.js';
import { untilAborted } from './util/until-aborted.js';
import { randomUuid } from './util/uuid.js';

/**
 * The `this` the core's {@link DeviceClient.start} demands, which no class has: calling `start` on the core entry's
 * `DeviceClient` fails to compile with this name in the message, while a runtime entry's own `start` is unaffected.
 */
export interface PlatformRequired {
  /** Its name is the message a type error shows. */
  readonly 'spotflow-device/core has no platform: import DeviceClient from spotflow-device, or call DeviceClient.startOn(platform, options)': never;
}

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
  /** Set by {@link DeviceClient.startOn} right after construction: the constructor takes nothing, see there. */
  #parts!: Assembly;
  /** Aborted by `close()`: everything still waiting rejects with CLIENT_CLOSED. */
  readonly #closed = new AbortController();
  #closing: Promise<void> | undefined;

  /** Clients come from {@link DeviceClient.start}. (Protected so that the runtime entries can extend the class.) */
  protected constructor() {}

  /**
   * Starts a client: opens (and locks) the local database, reuses the stored registration or provisions the
   * device (waiting for a technician's approval; abort with `signal`), then connects in the background.
   * With a stored registration it resolves at once, online or not.
   *
   * Only the runtime entries' `DeviceClient` (`spotflow-device`, `/node`, `/browser`) can: the core entry
   * (`spotflow-device/core`) has no platform, so calling it there fails to compile and, from plain JavaScript,
   * rejects with `PLATFORM_REQUIRED`. On the core entry, use {@link DeviceClient.startOn}.
   */
  static start(this: PlatformRequired, options: StartOptions): Promise<DeviceClient> {
    void options;
    return Promise.reject(
      new SpotflowError(
        'PLATFORM_REQUIRED',
        "spotflow-device/core has no platform: import DeviceClient from 'spotflow-device' (or '/node', '/browser'), " +
          'or call DeviceClient.startOn(platform, options)',
      ),
    );
  }

  /**
   * Starts a client on an explicit platform (what the runtime entries' `start` calls; for a platform of your own).
   * Called on a subclass, it makes an instance of that subclass.
   */
  static async startOn<T extends DeviceClient>(
    this: { prototype: T },
    platform: Platform,
    options: StartOptions | StoreStartOptions,
  ): Promise<T> {
    const parts = await assemble(platform, options);
    try {
      // The constructor is protected and takes no arguments, so that no internal type shows in the public API:
      // the parts are handed over here, inside the class, before anything else can see the instance.
      // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass called on (a runtime entry's client)
      const client = Reflect.construct(this as unknown as new () => T, []) as T;
      (client as DeviceClient).#parts = parts;
      startAssembly(parts);
      return client;
    } catch (error) {
      await releaseStorage(parts);
      throw error;
    }
  }

  /** The workspace the device belongs to. */
  get workspaceId(): string {
    return this.#parts.tokens.registration.hub.workspaceId;
  }

  /** The device's id (the requested one, or the one the platform chose). */
  get deviceId(): string {
    return this.#parts.tokens.registration.hub.deviceId;
  }

  /** Whether the MQTT connection to the hub is up right now. */
  get connected(): boolean {
    return this.#parts.link.connected;
  }

  /** Calls `listener` on every `event` (see {@link DeviceClientEvents}); returns the function that removes it. */
  on<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ): () => void {
    checkListener(event, listener);
    return this.#parts.events.on(event, listener);
  }

  /** Removes a listener added by {@link DeviceClient.on} or {@link DeviceClient.once}. */
  off<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ): void {
    checkListener(event, listener);
    this.#parts.events.off(event, listener);
  }

  /** Calls `listener` on the next `event` only; returns the function that removes it before then. */
  once<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ): () => void {
    checkListener(event, listener);
    return this.#parts.events.once(event, listener);
  }

  /**
   * Stores a message in the outbox; resolves once it is durable, with the id it will carry as `$.mid` (the
   * `messageSent` event reports the same id when the hub has it; attach a listener before this call to hear it).
   *
   * The payload is bytes (sent as they are), a string (sent as UTF-8), or a JSON value, which must come back
   * unchanged from JSON: plain objects and arrays of strings, finite numbers, booleans and null. A `Date`, `Map`,
   * `undefined` member, `NaN`, function, class instance or circular reference fails to compile where its type
   * shows, and is refused at the call with `INVALID_ARGUMENT` naming its path (`payload.readings[2].at`).
   */
  async enqueueMessage<T>(
    payload: MessagePayload<T>,
    options?: MessageOptions,
  ): Promise<{
    /** The message's id, its `$.mid`. */
    id: string;
  }> {
    this.#assertOpen();
    return this.#enqueue(checkMessage(payload, options));
  }

  /** Stores a message that closes a batch (`complete-batch=true`, no payload). */
  async enqueueBatchCompletion(options: BatchCompletionOptions): Promise<{
    /** The message's id, its `$.mid`. */
    id: string;
  }> {
    this.#assertOpen();
    return this.#enqueue(checkBatchCompletion(options));
  }

  /** Stores a message that closes a chunked message (`complete-message=true`, no payload). */
  async enqueueMessageCompletion(options: MessageCompletionOptions): Promise<{
    /** The message's id, its `$.mid`. */
    id: string;
  }> {
    this.#assertOpen();
    return this.#enqueue(checkMessageCompletion(options));
  }

  /** Enqueues a message and resolves once the hub has acknowledged it (or rejects on `signal`). */
  async sendMessage<T>(
    payload: MessagePayload<T>,
    options?: MessageOptions & { signal?: AbortSignal },
  ): Promise<{
    /** The message's id, its `$.mid`. */
    id: string;
  }> {
    this.#assertOpen();
    const { message, signal } = checkSendMessage(payload, options);
    return this.#send(message, signal);
  }

  /** How many messages wait in the outbox. */
  async pendingMessagesCount(): Promise<number> {
    this.#assertOpen();
    await this.#parts.sender.flushDeletes();
    return this.#parts.outbox.countStored();
  }

  /** Resolves once every message enqueued before this call has been acknowledged by the hub. */
  async waitEnqueuedMessagesSent(options?: { signal?: AbortSignal }): Promise<void> {
    this.#assertOpen();
    const signal = readWaitOptions(options);
    const { done, cancel } = this.#parts.waiters.allUpTo(await this.#parts.outbox.lastId());
    await this.#untilAborted(done, signal, cancel);
  }

  /** The last known desired properties (from the database when offline). Throws `CLIENT_CLOSED` after `close()`. */
  desiredProperties(): DesiredProperties {
    this.#assertOpen();
    return this.#parts.twin.desired();
  }

  /** The desired properties if their version is newer than `version`, else undefined. */
  async desiredPropertiesIfNewer(version: number): Promise<DesiredProperties | undefined> {
    this.#assertOpen();
    if (typeof version !== 'number' || !Number.isFinite(version))
      throw invalidArgument('version must be a number');
    const desired = this.#parts.twin.desired();
    return desired.version > version ? desired : undefined;
  }

  /** Stores a reported-properties patch (JSON merge patch); resolves once durable; sent when online. */
  async updateReportedProperties(patch: Record<string, unknown>): Promise<void> {
    this.#assertOpen();
    await this.#parts.twin.update(patch);
  }

  /**
   * Reported properties as they will be once pending patches are sent, with the last acknowledged version.
   * Throws `CLIENT_CLOSED` after `close()`.
   */
  reportedProperties(): ReportedProperties {
    this.#assertOpen();
    return this.#parts.twin.reported;
  }

  /** Resolves once every reported-properties patch stored so far has been acknowledged by the hub. */
  async waitReportedPropertiesSent(options?: { signal?: AbortSignal }): Promise<void> {
    this.#assertOpen();
    const signal = readWaitOptions(options);
    await this.#untilAborted(this.#parts.twin.waitSent(signal), signal, () => {});
  }

  /** Receives cloud-to-device messages; returns a function that removes the handler. */
  onCloudMessage(handler: CloudMessageHandler): () => void {
    this.#assertOpen();
    const off = this.#parts.cloud.onCloudMessage(handler);
    void this.#parts.session.subscribe(cloudMessageTopic);
    return off;
  }

  /** Answers the direct method `name`; returns a function that removes the handler. */
  onMethod(name: string, handler: MethodHandler): () => void {
    this.#assertOpen();
    return this.#parts.cloud.onMethod(name, handler);
  }

  /**
   * Stops background work, lets in-flight writes finish, and releases the database. Idempotent. Afterwards every
   * method refuses with `CLIENT_CLOSED` (calls that were waiting reject with it); `on`/`off`/`once` and the
   * `workspaceId`, `deviceId` and `connected` getters keep working.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(new SpotflowError('CLIENT_CLOSED', 'The client was closed while this call waited'));
      await disassemble(this.#parts);
    })();
    return this.#closing;
  }

  async #enqueue(
    message: CheckedMessage,
    given?: GivenMid,
    beforeNotify?: (mid: string) => void,
  ): Promise<{ id: string }> {
    // The id is chosen here, so that a large payload's upload can start while the enqueue is made durable.
    const chosen = given ?? { mid: randomUuid(), retry: false };
    // Not for a retried id: that entry may be stored, and its upload done, already.
    if (!chosen.retry) this.#parts.sender.uploadAhead(chosen.mid, message.payload, message.compression);
    let stored: Awaited<ReturnType<OutboxStore['add']>>;
    try {
      stored = await this.#parts.outbox.add(message, chosen);
    } catch (error) {
      this.#parts.sender.forgetAhead(chosen.mid);
      throw error;
    }
    const { mid, dropped } = stored;
    if (dropped) {
      this.#parts.events.emit('outboxFull', dropped);
      void this.#parts.waiters.failDropped();
    }
    beforeNotify?.(mid);
    this.#parts.sender.notify();
    return { id: mid };
  }

  async #send(
    message: CheckedMessage,
    signal: AbortSignal | undefined,
    given?: GivenMid,
  ): Promise<{ id: string }> {
    const waiter = this.#parts.waiters.waiter();
    const { id } = await this.#enqueue(message, given, waiter.expect);
    await this.#untilAborted(waiter.sent, signal, () => waiter.cancel(id));
    return { id };
  }

  static {
    clientInternals.enqueue = (client, message, given) => {
      client.#assertOpen();
      return client.#enqueue(message, given);
    };
    clientInternals.send = (client, message, given, signal) => {
      client.#assertOpen();
      return client.#send(message, signal, given);
    };
  }

  /** Waits for `work`, or rejects when the caller's `signal` aborts (ABORTED) or the client closes (CLIENT_CLOSED). */
  #untilAborted(work: Promise<void>, signal: AbortSignal | undefined, cleanup: () => void): Promise<void> {
    return untilAborted(work, signal ? [signal, this.#closed.signal] : [this.#closed.signal], cleanup);
  }

  #assertOpen(): void {
    if (this.#closing) throw new SpotflowError('CLIENT_CLOSED', 'The client is closed');
  }
}

/** The C2D topic of whatever identity the connection has (it changes if the device is provisioned again). */
const cloudMessageTopic = (credentials: HubCredentials) =>
  `devices/${credentials.hubDeviceId}/messages/devicebound/#`;
