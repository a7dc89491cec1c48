/**
 * The browser's `DeviceClient`: the core client with `start` wired to the browser platform, and, with
 * `shared: true`, a client whose calls go to whichever context of the origin owns the device (shared/).
 */
import { readWaitOptions } from '../../src/call-arguments.js';
import {
  checkBatchCompletion,
  checkMessage,
  checkMessageCompletion,
  checkSendMessage,
} from '../../src/checked-message.js';
import { DeviceClient as CoreDeviceClient } from '../../src/client.js';
import { checkListener, type DeviceClientEvents } from '../../src/client-events.js';
import type { CloudMessageHandler, MethodHandler } from '../../src/cloud-messages/cloud-messages.js';
import { invalidArgument } from '../../src/errors.js';
import type { DesiredProperties, OutboxLimits, StartOptions } from '../../src/options.js';
import type {
  BatchCompletionOptions,
  MessageCompletionOptions,
  MessageOptions,
} from '../../src/outbox/message-options.js';
import type { ReportedProperties } from '../../src/twin/twin.js';
import { checkReportedPatch } from '../../src/twin/twin-rules.js';
import type { MessagePayload } from '../../src/util/json.js';
import { randomUuid } from '../../src/util/uuid.js';
import { createBrowserClock } from './clock.js';
import {
  type BrowserPlatformOptions,
  browserDefaultOutboxLimits,
  createBrowserPlatform,
} from './platform.js';
import { SharedDevice } from './shared/shared-device.js';

/** {@link StartOptions} plus what only browsers have. */
export interface BrowserStartOptions extends StartOptions, BrowserPlatformOptions {
  /**
   * `true`: any number of tabs, windows, iframes and dedicated workers of this origin start a client on the same
   * `database` and each gets a full client. One of them owns the database and the connection, the others relay their
   * calls to it, and when it closes or dies another takes over; every event reaches every context's listeners, and a
   * cloud-to-device message or a direct method goes to one context that registered a handler for it (the README's
   * multi-window section). Default `false`: a second client on the database gets `DATABASE_LOCKED` (or waits, with
   * `waitForLock`). Every context of one device must pass it.
   */
  shared?: boolean;
}

/**
 * The device client in browsers: {@link CoreDeviceClient} with `start` wired to {@link createBrowserPlatform}.
 * `database` names the database that holds the device's state (see `BrowserPlatformOptions.storage` for where).
 *
 * @example
 * ```ts
 * import { DeviceClient } from 'spotflow-device';
 * const client = await DeviceClient.start({ provisioningToken, database: 'kiosk', deviceId: 'panel-3' });
 * await client.enqueueMessage({ temperature: 21.5 }, { stream: 'telemetry' });
 * ```
 */
export class DeviceClient extends CoreDeviceClient {
  static override start(options: BrowserStartOptions): Promise<DeviceClient> {
    let platform: BrowserPlatformOptions;
    let core: StartOptions;
    let shared: boolean;
    try {
      ({ platform, core, shared } = splitBrowserOptions(options));
    } catch (error) {
      return Promise.reject(error);
    }
    if (!shared) return DeviceClient.startOn(createBrowserPlatform(platform), core);
    return SharedDevice.start({
      core,
      // The owner's database lock is already held (it elected the owner): the client takes that one.
      platform: (held) => ({ ...createBrowserPlatform(platform), lock: { acquire: async () => held } }),
      clock: createBrowserClock(),
      waitForLock: platform.waitForLock === true,
    }).then((device) => new SharedDeviceClient(device));
  }
}

/**
 * A client of a shared device: every call checked here, as the core client checks it, then run by the shared device
 * (here if this context owns it, else by the owner). Each member of {@link CoreDeviceClient} is overridden (a test
 * checks it), as the core's own state is never set on this instance.
 */
class SharedDeviceClient extends DeviceClient {
  readonly #device: SharedDevice;

  constructor(device: SharedDevice) {
    super();
    this.#device = device;
  }

  override get workspaceId(): string {
    return this.#device.snapshot.workspaceId;
  }

  override get deviceId(): string {
    return this.#device.snapshot.deviceId;
  }

  override get connected(): boolean {
    return this.#device.snapshot.connected;
  }

  override on<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ) {
    checkListener(event, listener);
    return this.#device.events.on(event, listener);
  }

  override off<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ) {
    checkListener(event, listener);
    this.#device.events.off(event, listener);
  }

  override once<K extends keyof DeviceClientEvents>(
    event: K,
    listener: (payload: DeviceClientEvents[K]) => void,
  ) {
    checkListener(event, listener);
    return this.#device.events.once(event, listener);
  }

  override async enqueueMessage<T>(
    payload: MessagePayload<T>,
    options?: MessageOptions,
  ): Promise<{ id: string }> {
    this.#device.assertOpen();
    return this.#enqueue(checkMessage(payload, options));
  }

  override async enqueueBatchCompletion(options: BatchCompletionOptions): Promise<{ id: string }> {
    this.#device.assertOpen();
    return this.#enqueue(checkBatchCompletion(options));
  }

  override async enqueueMessageCompletion(options: MessageCompletionOptions): Promise<{ id: string }> {
    this.#device.assertOpen();
    return this.#enqueue(checkMessageCompletion(options));
  }

  override async sendMessage<T>(
    payload: MessagePayload<T>,
    options?: MessageOptions & { signal?: AbortSignal },
  ): Promise<{ id: string }> {
    this.#device.assertOpen();
    const { message, signal } = checkSendMessage(payload, options);
    return (await this.#device.call('send', [message, randomUuid()], signal)) as { id: string };
  }

  override async pendingMessagesCount(): Promise<number> {
    return (await this.#device.call('pendingCount', [])) as number;
  }

  override async waitEnqueuedMessagesSent(options?: { signal?: AbortSignal }): Promise<void> {
    this.#device.assertOpen();
    await this.#device.call('waitSent', [], readWaitOptions(options));
  }

  override desiredProperties(): DesiredProperties {
    this.#device.assertOpen();
    return this.#device.snapshot.desired;
  }

  override async desiredPropertiesIfNewer(version: number): Promise<DesiredProperties | undefined> {
    this.#device.assertOpen();
    if (typeof version !== 'number' || !Number.isFinite(version))
      throw invalidArgument('version must be a number');
    const desired = this.#device.snapshot.desired;
    return desired.version > version ? desired : undefined;
  }

  override async updateReportedProperties(patch: Record<string, unknown>): Promise<void> {
    this.#device.assertOpen();
    await this.#device.call('updateReported', [checkReportedPatch(patch)]);
  }

  override reportedProperties(): ReportedProperties {
    this.#device.assertOpen();
    return this.#device.snapshot.reported;
  }

  override async waitReportedPropertiesSent(options?: { signal?: AbortSignal }): Promise<void> {
    this.#device.assertOpen();
    await this.#device.call('waitReportedSent', [], readWaitOptions(options));
  }

  override onCloudMessage(handler: CloudMessageHandler): () => void {
    return this.#device.onCloudMessage(handler);
  }

  override onMethod(name: string, handler: MethodHandler): () => void {
    return this.#device.onMethod(name, handler);
  }

  override close(): Promise<void> {
    return this.#device.close();
  }

  /** The message's id is chosen here, so that a retry after a takeover cannot store it twice. */
  async #enqueue(message: ReturnType<typeof checkMessage>): Promise<{ id: string }> {
    return (await this.#device.call('enqueue', [message, randomUuid()])) as { id: string };
  }
}

/** Checks and takes out the browser-only options; the core checks the rest (and refuses what it does not know). */
function splitBrowserOptions(options: BrowserStartOptions): {
  platform: BrowserPlatformOptions;
  core: StartOptions;
  shared: boolean;
} {
  if (typeof options !== 'object' || options === null) return { platform: {}, core: options, shared: false };
  const { waitForLock, sqlWasmUrl, storage, shared, ...core } = options;
  if (shared !== undefined && typeof shared !== 'boolean') throw invalidArgument('shared must be a boolean');
  if (waitForLock !== undefined && typeof waitForLock !== 'boolean') {
    throw invalidArgument('waitForLock must be a boolean');
  }
  if (
    sqlWasmUrl !== undefined &&
    (typeof sqlWasmUrl !== 'string' || sqlWasmUrl === '' || sqlWasmUrl.length > 4096)
  ) {
    throw invalidArgument('sqlWasmUrl must be a non-empty URL string');
  }
  if (storage !== undefined && storage !== 'indexeddb' && storage !== 'opfs') {
    throw invalidArgument("storage must be 'indexeddb' or 'opfs'");
  }
  if (core.transport === 'tcp') {
    throw invalidArgument(
      'browsers reach MQTT only over WebSockets: leave transport out or set it to websocket',
    );
  }
  return {
    platform: {
      ...(waitForLock === undefined ? {} : { waitForLock }),
      ...(sqlWasmUrl === undefined ? {} : { sqlWasmUrl }),
      ...(storage === undefined ? {} : { storage }),
    },
    core: withDefaultLimits(core),
    shared: shared === true,
  };
}

/** The caller's outbox limits over the browser's defaults; anything but an object is left for the core to refuse. */
function withDefaultLimits(core: StartOptions): StartOptions {
  const given = core.outboxLimits;
  if (given !== undefined && (typeof given !== 'object' || given === null)) return core;
  const limits: OutboxLimits = { ...browserDefaultOutboxLimits };
  for (const [key, value] of Object.entries(given ?? {})) {
    if (value !== undefined) (limits as Record<string, unknown>)[key] = value;
  }
  return { ...core, outboxLimits: limits };
}
