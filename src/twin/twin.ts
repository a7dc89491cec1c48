/**
 * The device twin (SPEC §3, §4), put together from one module per job: `requests.ts` ($rid request/response),
 * `twin-state.ts` (desired and acknowledged reported state, identity, applied in order), `reported-queue.ts`
 * (stored reported patches, merged and sent). This module owns the connection, routes twin messages, handles
 * desired patches (a gap fetches the full twin) and decides when the identity has changed.
 */
import { asSpotflowError, SpotflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DesiredProperties } from '../options.js';
import type { Clock, Database, MqttConnection, MqttMessage } from '../ports.js';
import { cloneJson, type JsonObject } from './merge-patch.js';
import { ReportedQueue } from './reported-queue.js';
import { TwinRequests } from './requests.js';
import { checkReportedPatch } from './twin-rules.js';
import { parseJsonObject, TwinState } from './twin-state.js';

/** The device twin's reported properties, as the device knows them. */
export interface ReportedProperties {
  /** The version the hub gave the last acknowledged patch (0 before the first). */
  version: number;
  /** Acknowledged values with the pending patches applied: what the hub will hold once they are sent. */
  values: JsonObject;
}

export interface TwinEvents {
  desiredProperties(desired: DesiredProperties): void;
  reportedPropertiesSent(reported: { version: number }): void;
  error(error: SpotflowError): void;
}

/**
 * Desired properties with versions (a gap, and every (re)connect, fetches the full twin, so nothing changed while
 * the device was away is missed), and reported-property patches that are stored first, merged in order, and sent
 * when online.
 */
export class TwinManager {
  #connection: MqttConnection | undefined;

  private constructor(
    private readonly state: TwinState,
    private readonly requests: TwinRequests,
    private readonly queue: ReportedQueue,
    private readonly events: TwinEvents,
    private readonly log: Logger,
  ) {}

  static async open(
    db: Database,
    device: string,
    clock: Clock,
    events: TwinEvents,
    log: Logger,
  ): Promise<TwinManager> {
    const state = await TwinState.load(db, device, (desired) => events.desiredProperties(desired));
    const requests = new TwinRequests(clock);
    // The queue reads the connection through the twin, its one owner; `twin` is set before any call can come.
    let twin!: TwinManager;
    const queue = await ReportedQueue.load(db, device, clock, state, requests, () => twin.#connection, {
      reportedPropertiesSent: (reported) => events.reportedPropertiesSent(reported),
      error: (error) => twin.#report(error),
    });
    twin = new TwinManager(state, requests, queue, events, log);
    return twin;
  }

  /** Topic prefixes this module handles and must be subscribed to. */
  static readonly topics = ['$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#'];

  desired(): DesiredProperties {
    return this.state.desired();
  }

  get reported(): ReportedProperties {
    const acknowledged = this.state.reported;
    return { version: acknowledged.version, values: cloneJson(this.queue.applyPending(acknowledged.values)) };
  }

  /** Checks and stores a reported-property patch; resolves once it is durable. */
  update(patch: unknown): Promise<void> {
    return this.queue.add(checkReportedPatch(patch));
  }

  /** Resolves when no update is being stored. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Resolves when every patch updated so far (stored, or still being stored) has been acknowledged by the hub. */
  waitSent(signal?: AbortSignal): Promise<void> {
    return this.queue.waitSent(signal);
  }

  /**
   * The device has another identity on the hub (provisioned again under a new device id, or in another
   * workspace). What is known of the twin belongs to the old identity, and its versions mean nothing to the new
   * one: forget it, durably, so the new identity's twin is taken on the next connect whatever its versions.
   * Pending reported patches stay: they are this same device's state, and go to its new identity.
   * `identity` (the new hub device id) is recorded with the reset, so `connected` will not reset again.
   */
  identityChanged(identity?: string): Promise<void> {
    return this.state.reset(identity, () => this.queue.resetPacing());
  }

  /**
   * A new connection: fetch the whole twin, then send what is pending (without waiting out a retry backoff).
   * `identity` is the connection's hub device id: when it is not the one the stored state belongs to, the state
   * is reset first ({@link TwinManager.identityChanged}). Checked against the database on every connect, this
   * also covers a re-provisioning whose process ended before it connected again.
   */
  async connected(connection: MqttConnection, identity?: string): Promise<void> {
    this.#connection = connection;
    try {
      if (identity !== undefined && identity !== this.state.identity) {
        if (this.state.identity === undefined) {
          // The first connect (or a database from before the identity was kept): the state is this identity's.
          await this.state.recordIdentity(identity);
        } else {
          this.log.info('The device has a new identity on the hub: its twin state starts over', {
            deviceId: identity,
          });
          await this.identityChanged(identity);
        }
      }
      await this.#fetchFullTwin(connection);
    } catch (error) {
      if (this.#connection === connection) this.#report(error);
    }
    if (this.#connection !== connection) return;
    this.queue.sendNow();
  }

  disconnected(): void {
    this.#connection = undefined;
    this.queue.stopWaiting();
    // Answers to requests made on the lost connection will never come. Failing them now frees the sending of
    // pending patches to start again on the next connection, rather than after the response timeout.
    this.requests.failAll(
      new SpotflowError('NETWORK', 'The connection closed before the hub answered a twin request'),
    );
  }

  /** Every message on the twin topics. */
  async handle(message: MqttMessage): Promise<void> {
    if (message.topic.startsWith('$iothub/twin/res/')) {
      this.requests.answer(message.topic, message.payload);
      return;
    }
    const versionText = new URLSearchParams(message.topic.split('?')[1] ?? '').get('$version');
    const patch = parseJsonObject(message.payload);
    const version = Number(versionText ?? (patch?.$version as unknown));
    if (!patch || !Number.isSafeInteger(version)) {
      this.log.warn('Ignoring a malformed desired-properties patch');
      return;
    }
    if ((await this.state.applyDesiredPatch(version, patch)) !== 'gap') return;
    // Some patch was missed: only the full twin tells the truth. Not awaited: its answer is applied in order
    // after this patch, and a handler that waits for a response could hold up the delivery of it.
    const connection = this.#connection;
    if (!connection) return;
    void this.#fetchFullTwin(connection).catch((error) => {
      if (this.#connection === connection) this.#report(error);
    });
  }

  async #fetchFullTwin(connection: MqttConnection): Promise<void> {
    await this.requests.send(connection, 'GET/', new Uint8Array(), (response) =>
      this.state.applyFullTwin(response),
    );
  }

  #report(error: unknown): void {
    this.events.error(asSpotflowError(error, 'Twin handling failed'));
  }
}
