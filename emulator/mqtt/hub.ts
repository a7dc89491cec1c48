import { randomUUID } from 'node:crypto';
import { Aedes, type Client } from 'aedes';
import type mqttPacket from 'mqtt-packet';
import { deviceIdFromHubId, deviceView, type EmulatorContext, hubDeviceId } from '../context.js';
import { maxQueuedCloudMessages } from '../state/cloud-to-device.js';
import type { JsonObject } from '../state/merge-patch.js';
import { sectionDocument, type TwinSection } from '../state/twins.js';
import { allowedSubscription, authenticateDevice } from './authenticate.js';
import { cloudMessageTopic } from './cloud-message-topic.js';
import { handleDevicePublish, TelemetryRejected } from './device-requests.js';
import { MethodCalls } from './methods.js';

/** IoT Hub's longest keep-alive: a device asking for more gets this much (the connection is not refused). */
export const maxKeepAliveSeconds = 1177;

/** The IoT Hub side of the emulator: an aedes broker that speaks IoT Hub's device MQTT dialect. */
export class IotHubBroker {
  readonly methods: MethodCalls;
  #broker!: Aedes;
  /** When each connection's SAS token expires: IoT Hub closes the connection then. */
  readonly #sasExpiry = new WeakMap<Client, number>();
  /** The timer that closes each live connection when its SAS token expires; cleared when the connection ends. */
  readonly #sasTimers = new Map<Client, unknown>();
  /** Each connection's PUBLISHes are handled one after another (decoding is asynchronous), in arrival order. */
  readonly #publishChains = new WeakMap<Client, Promise<void>>();
  /** Devices whose queued C2D messages are being written, so one flush runs at a time per device. */
  readonly #flushing = new Set<string>();
  /** Devices asked to flush while a flush ran (a reconnect racing the old connection's end): run again after it. */
  readonly #flushAgain = new Set<string>();
  /** Why a connection ended, when the emulator (not the device) ended it or an error did; for the history. */
  readonly #closeReasons = new WeakMap<Client, string>();

  private constructor(private readonly context: EmulatorContext) {
    this.methods = new MethodCalls(context);
  }

  static async start(context: EmulatorContext): Promise<IotHubBroker> {
    const hub = new IotHubBroker(context);
    hub.#broker = await Aedes.createBroker({
      connectTimeout: 10_000,
      preConnect: (client, packet, done) => {
        // Like IoT Hub, a longer keep-alive is served as 1177 s rather than refused.
        if ((packet.keepalive ?? 0) > maxKeepAliveSeconds) packet.keepalive = maxKeepAliveSeconds;
        grantAtMostQos1(client);
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        const outcome = authenticateDevice(context, client, username, password);
        if ('error' in outcome) {
          context.log.warn('MQTT connection refused', { clientId: client.id, reason: outcome.error.message });
          done(outcome.error, false);
        } else {
          hub.#sasExpiry.set(client, outcome.expiresAt);
          const previous = context.links.client(outcome.deviceId);
          if (previous && previous !== client) {
            hub.#noteClose(previous, 'replaced by a new connection of the same device');
          }
          done(null, true);
        }
      },
      authorizePublish: (client, packet, done) => {
        if (packet.qos === 2) {
          // IoT Hub supports QoS 0 and 1 only and closes the connection on QoS 2.
          context.log.warn('QoS 2 publish refused; closing the connection', { clientId: client?.id });
          if (client) hub.#noteClose(client, 'QoS 2 publish refused (IoT Hub supports QoS 0 and 1)');
          done(new Error('QoS 2 is not supported'));
          return;
        }
        // IoT Hub keeps no retained messages: it passes the message on with `mqtt-retain=true` instead.
        const retained = packet.retain;
        packet.retain = false;
        if (!client) {
          done(new Error('publish from an unknown client'));
          return;
        }
        const previous = hub.#publishChains.get(client) ?? Promise.resolve();
        const next = previous
          .then(() => hub.#onPublish(client, packet.topic, Buffer.from(packet.payload), retained, done))
          .catch((error: unknown) => context.log.error('publish handling failed', { error: String(error) }));
        hub.#publishChains.set(client, next);
      },
      authorizeSubscribe: (client, subscription, done) => {
        if (!client || !allowedSubscription(client.id, subscription.topic)) {
          context.log.warn('subscription refused', { clientId: client?.id, topic: subscription.topic });
          done(null, null);
          return;
        }
        done(null, { ...subscription, qos: Math.min(subscription.qos, 1) as 0 | 1 });
      },
    });
    hub.#wireEvents();
    return hub;
  }

  /** Hands a new connection (TCP, TLS or WebSocket stream) to the broker. */
  get handle(): Aedes['handle'] {
    return this.#broker.handle;
  }

  isConnected(deviceId: string): boolean {
    return this.context.links.client(deviceId) !== undefined;
  }

  disconnect(deviceId: string): boolean {
    const client = this.context.links.client(deviceId);
    if (client) this.#close(client, 'dropped through the management API');
    return client !== undefined;
  }

  /** Closes every device connection (the workspace was disabled, say). */
  disconnectAll(reason: string): void {
    const ids = this.context.links.connectedDeviceIds();
    if (ids.length > 0)
      this.context.log.info('closing every device connection', { reason, devices: ids.length });
    this.#closeAll(reason);
  }

  pushDesired(deviceId: string, patch: JsonObject, section: TwinSection): void {
    if (!this.context.links.isSubscribed(deviceId, '$iothub/twin/PATCH/properties/desired/#')) return;
    const body = Buffer.from(JSON.stringify({ ...patch, $version: section.version }));
    this.context.links.send(
      deviceId,
      `$iothub/twin/PATCH/properties/desired/?$version=${section.version}`,
      body,
    );
  }

  /**
   * Queues a cloud-to-device message and delivers it now if the device listens. Returns its `$.mid`, or undefined
   * when the device's queue already holds `maxQueuedCloudMessages` (IoT Hub refuses more).
   */
  sendCloudMessage(
    deviceId: string,
    properties: Record<string, string>,
    payload: Buffer,
    expiresAt?: number,
  ): string | undefined {
    this.#dropUndeliverable(deviceId);
    if (this.context.cloudMessages.count(deviceId) >= maxQueuedCloudMessages) return undefined;
    const { '$.mid': given, ...rest } = properties;
    const mid = given ?? randomUUID();
    const queued = this.context.cloudMessages.add(deviceId, mid, rest, payload, expiresAt);
    this.context.events.emit('c2d.queued', {
      deviceId,
      message: {
        mid,
        properties,
        payloadBase64: payload.toString('base64'),
        enqueuedAt: new Date(queued.enqueuedAt).toISOString(),
        expiresAt: new Date(queued.expiresAt).toISOString(),
        deliveryCount: 0,
      },
    });
    void this.#flushCloudMessages(deviceId);
    return mid;
  }

  async close(): Promise<void> {
    this.#closeAll('the emulator stopped');
    for (const timer of this.#sasTimers.values()) this.context.clock.clearTimeout(timer);
    this.#sasTimers.clear();
    await new Promise<void>((resolve) => this.#broker.close(() => resolve()));
  }

  /** Handles one PUBLISH and answers aedes (which then acknowledges, or closes the connection on an error). */
  async #onPublish(
    client: Client,
    topic: string,
    payload: Buffer,
    retained: boolean,
    done: (error?: Error | null) => void,
  ): Promise<void> {
    const deviceId = deviceIdFromHubId(this.context, client.id);
    if (!deviceId) {
      done(new Error('publish from an unknown client'));
      return;
    }
    if (this.context.workspace.settings.disabled) {
      this.context.log.warn('publish refused: the workspace is disabled; closing the connection', {
        deviceId,
      });
      this.#noteClose(client, 'publish refused: the workspace is disabled');
      done(new Error('the workspace is disabled'));
      return;
    }
    try {
      await handleDevicePublish(this.context, this.methods, deviceId, topic, payload, retained);
    } catch (error) {
      const reason = error instanceof TelemetryRejected ? error.message : `internal error: ${String(error)}`;
      this.context.log.warn('publish refused; closing the connection', {
        deviceId,
        topic: topic.slice(0, 200),
        reason,
      });
      this.#noteClose(client, `publish refused: ${reason}`);
      done(error instanceof Error ? error : new Error(reason));
      return;
    }
    done(null);
  }

  #wireEvents(): void {
    const { context } = this;
    this.#broker.on('client', (client) => {
      const deviceId = deviceIdFromHubId(context, client.id);
      if (!deviceId) return;
      context.links.attach(deviceId, client);
      context.devices.touch(deviceId);
      context.log.info('device connected', { deviceId });
      this.#recordConnection(deviceId, 'connected', `MQTT over ${transportOf(client)}`);
      this.#closeAtSasExpiry(deviceId, client);
    });
    this.#broker.on('clientReady', (client) => {
      // A persistent session (clean: false) gets its subscriptions back without a SUBSCRIBE: deliver what waits.
      const deviceId = deviceIdFromHubId(context, client.id);
      if (deviceId) void this.#flushCloudMessages(deviceId);
    });
    this.#broker.on('clientDisconnect', (client) => {
      if (this.#sasTimers.has(client)) context.clock.clearTimeout(this.#sasTimers.get(client));
      this.#sasTimers.delete(client);
      const deviceId = deviceIdFromHubId(context, client.id);
      if (!deviceId) return;
      context.links.detach(deviceId, client);
      context.devices.touch(deviceId);
      context.log.info('device disconnected', { deviceId });
      const reason =
        this.#closeReasons.get(client) ??
        ((client as unknown as { _disconnected?: boolean })._disconnected
          ? 'the device sent DISCONNECT'
          : 'the connection closed without DISCONNECT');
      this.#recordConnection(deviceId, 'disconnected', reason);
    });
    this.#broker.on('subscribe', (subscriptions, client) => {
      const deviceId = client && deviceIdFromHubId(context, client.id);
      if (!deviceId) return;
      context.links.answered(
        deviceId,
        client,
        subscriptions.map((s) => s.topic),
      );
      const c2dTopic = `devices/${hubDeviceId(context, deviceId)}/messages/devicebound/#`;
      if (subscriptions.some((s) => s.topic === c2dTopic)) void this.#flushCloudMessages(deviceId);
    });
    this.#broker.on('clientError', (client, error) => {
      context.log.debug('client error', { clientId: client?.id, error: error.message });
      if (client) this.#noteClose(client, `connection error: ${error.message}`);
    });
    this.#broker.on('connectionError', (_client, error) => {
      context.log.debug('connection error', { error: error.message });
    });
  }

  /** Remembers why a connection is ending (the first reason wins: later errors are consequences). */
  #noteClose(client: Client, reason: string): void {
    if (!this.#closeReasons.has(client)) this.#closeReasons.set(client, reason);
  }

  #close(client: Client, reason: string): void {
    this.#noteClose(client, reason);
    client.close();
  }

  #closeAll(reason: string): void {
    for (const id of this.context.links.connectedDeviceIds()) {
      const client = this.context.links.client(id);
      if (client) this.#noteClose(client, reason);
    }
    this.context.links.closeAll();
  }

  /** Adds to the device's connection history and tells the live stream. */
  #recordConnection(deviceId: string, event: 'connected' | 'disconnected', reason: string): void {
    const { context } = this;
    try {
      const entry = context.connections.record(deviceId, event, reason);
      const lastSeen = context.devices.get(deviceId)?.lastSeen ?? null;
      context.events.emit(event === 'connected' ? 'device.connected' : 'device.disconnected', {
        device: deviceView(context, { deviceId, lastSeen }, this.isConnected(deviceId)),
        entry,
      });
    } catch (error) {
      // The database may already be closed while the last connections wind down at shutdown.
      context.log.debug('connection not recorded', { deviceId, event, error: String(error) });
    }
  }

  /** Like IoT Hub, drops a connection when the SAS token it authenticated with expires. */
  #closeAtSasExpiry(deviceId: string, client: Client): void {
    const expiresAt = this.#sasExpiry.get(client);
    if (expiresAt === undefined) return;
    const check = () => {
      this.#sasTimers.delete(client);
      if (client.closed) return;
      const left = expiresAt - this.context.now();
      if (left > 0) {
        // Timers cap at about 24.8 days; long-lived tokens are checked again then.
        this.#sasTimers.set(client, this.context.clock.setTimeout(check, Math.min(left, 2 ** 31 - 1)));
        return;
      }
      this.context.log.info('SAS token expired; closing the connection', { deviceId });
      this.#close(client, 'the SAS token expired');
    };
    check();
  }

  /**
   * Drops what IoT Hub would no longer deliver (expired, or written `maxCloudMessageDeliveries` times without an
   * acknowledgement), and says so on the live stream.
   */
  #dropUndeliverable(deviceId: string): void {
    for (const { message, reason } of this.context.cloudMessages.dropUndeliverable(deviceId)) {
      this.context.log.info('C2D message dropped', { deviceId, mid: message.mid, reason });
      this.context.events.emit('c2d.dropped', {
        deviceId,
        mid: message.mid,
        reason,
        droppedAt: new Date(this.context.now()).toISOString(),
      });
    }
  }

  /**
   * Writes queued C2D messages in order, each removed from the queue only on the device's PUBACK. Every write
   * counts as a delivery; one the device never acknowledges is written again on its next connection.
   */
  async #flushCloudMessages(deviceId: string): Promise<void> {
    const hubId = hubDeviceId(this.context, deviceId);
    const filter = `devices/${hubId}/messages/devicebound/#`;
    if (this.#flushing.has(deviceId)) {
      this.#flushAgain.add(deviceId);
      return;
    }
    this.#flushing.add(deviceId);
    try {
      for (;;) {
        if (!this.context.links.isSubscribed(deviceId, filter)) return;
        this.#dropUndeliverable(deviceId);
        const next = this.context.cloudMessages.next(deviceId);
        if (!next) return;
        this.context.cloudMessages.countDelivery(next.sequence);
        await this.context.links.sendAcknowledged(deviceId, cloudMessageTopic(hubId, next), next.payload);
        this.context.cloudMessages.acknowledge(next.sequence);
        this.context.events.emit('c2d.delivered', {
          deviceId,
          mid: next.mid,
          deliveredAt: new Date(this.context.now()).toISOString(),
        });
      }
    } catch (error) {
      this.context.log.debug('C2D delivery interrupted', { deviceId, error: String(error) });
    } finally {
      this.#flushing.delete(deviceId);
      if (this.#flushAgain.delete(deviceId)) void this.#flushCloudMessages(deviceId);
    }
  }
}

/** How a connection reached the broker, for the connection history. */
function transportOf(client: Client): string {
  const { req, conn } = client as unknown as {
    req?: { socket?: { encrypted?: boolean } };
    conn?: { encrypted?: boolean };
  };
  if (req) return req.socket?.encrypted ? 'WebSocket (TLS)' : 'WebSocket';
  return conn?.encrypted ? 'TLS' : 'TCP';
}

/**
 * IoT Hub grants at most QoS 1 (a QoS 2 request gets 1 in the SUBACK). aedes fills the SUBACK from the requested
 * QoS before any hook can lower it, so requests are lowered as they are parsed, before aedes sees them.
 */
function grantAtMostQos1(client: Client): void {
  const parser = (client as unknown as { _parser: NodeJS.EventEmitter })._parser;
  parser.prependListener('packet', (packet: mqttPacket.Packet) => {
    if (packet.cmd !== 'subscribe') return;
    for (const subscription of packet.subscriptions) {
      if (subscription.qos > 1) subscription.qos = 1;
    }
  });
}

export { sectionDocument };
