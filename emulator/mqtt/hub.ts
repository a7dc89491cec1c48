import { randomUUID } from 'node:crypto';
import { Aedes, type Client } from 'aedes';
import { deviceIdFromHubId, type EmulatorContext, hubDeviceId } from '../context.js';
import type { JsonObject } from '../state/merge-patch.js';
import { sectionDocument, type TwinSection } from '../state/twins.js';
import { allowedSubscription, authenticateDevice } from './authenticate.js';
import { handleDevicePublish, TelemetryRejected } from './device-requests.js';
import { MethodCalls } from './methods.js';
import { formatPropertyBag } from './property-bag.js';

/** The IoT Hub side of the emulator: an aedes broker that speaks IoT Hub's device MQTT dialect. */
export class IotHubBroker {
  readonly methods: MethodCalls;
  #broker!: Aedes;
  /** When each connection's SAS token expires: IoT Hub closes the connection then. */
  readonly #sasExpiry = new WeakMap<Client, number>();
  /** Devices whose queued C2D messages are being written, so one flush runs at a time per device. */
  readonly #flushing = new Set<string>();

  private constructor(private readonly context: EmulatorContext) {
    this.methods = new MethodCalls(context);
  }

  static async start(context: EmulatorContext): Promise<IotHubBroker> {
    const hub = new IotHubBroker(context);
    hub.#broker = await Aedes.createBroker({
      connectTimeout: 10_000,
      authenticate: (client, username, password, done) => {
        const outcome = authenticateDevice(context, client, username, password);
        if ('error' in outcome) {
          context.log.warn('MQTT connection refused', { clientId: client.id, reason: outcome.error.message });
          done(outcome.error, false);
        } else {
          hub.#sasExpiry.set(client, outcome.expiresAt);
          done(null, true);
        }
      },
      authorizePublish: (client, packet, done) => {
        if (packet.qos === 2) {
          // IoT Hub supports QoS 0 and 1 only and closes the connection on QoS 2.
          context.log.warn('QoS 2 publish refused; closing the connection', { clientId: client?.id });
          done(new Error('QoS 2 is not supported'));
          return;
        }
        hub.#onPublish(client, packet.topic, Buffer.from(packet.payload), done);
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
    client?.close();
    return client !== undefined;
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

  /** Queues a cloud-to-device message and delivers it now if the device listens. */
  sendCloudMessage(deviceId: string, properties: Record<string, string>, payload: Buffer): string {
    const mid = properties['$.mid'] ?? randomUUID();
    this.context.cloudMessages.add(deviceId, mid, properties, payload);
    void this.#flushCloudMessages(deviceId);
    return mid;
  }

  async close(): Promise<void> {
    this.context.links.closeAll();
    await new Promise<void>((resolve) => this.#broker.close(() => resolve()));
  }

  #onPublish(
    client: Client | null,
    topic: string,
    payload: Buffer,
    done: (error?: Error | null) => void,
  ): void {
    const deviceId = client && deviceIdFromHubId(this.context, client.id);
    if (!deviceId) {
      done(new Error('publish from an unknown client'));
      return;
    }
    try {
      handleDevicePublish(this.context, this.methods, deviceId, topic, payload);
      done(null);
    } catch (error) {
      const reason = error instanceof TelemetryRejected ? error.message : `internal error: ${String(error)}`;
      this.context.log.warn('publish refused; closing the connection', {
        deviceId,
        topic: topic.slice(0, 200),
        reason,
      });
      done(error instanceof Error ? error : new Error(reason));
    }
  }

  #wireEvents(): void {
    const { context } = this;
    this.#broker.on('client', (client) => {
      const deviceId = deviceIdFromHubId(context, client.id);
      if (!deviceId) return;
      context.links.attach(deviceId, client);
      context.devices.touch(deviceId);
      context.log.info('device connected', { deviceId });
      this.#closeAtSasExpiry(deviceId, client);
    });
    this.#broker.on('clientDisconnect', (client) => {
      const deviceId = deviceIdFromHubId(context, client.id);
      if (!deviceId) return;
      context.links.detach(deviceId, client);
      context.devices.touch(deviceId);
      context.log.info('device disconnected', { deviceId });
    });
    this.#broker.on('subscribe', (subscriptions, client) => {
      const deviceId = client && deviceIdFromHubId(context, client.id);
      if (!deviceId) return;
      const c2dTopic = `devices/${hubDeviceId(context, deviceId)}/messages/devicebound/#`;
      if (subscriptions.some((s) => s.topic === c2dTopic)) void this.#flushCloudMessages(deviceId);
    });
    this.#broker.on('clientError', (client, error) => {
      context.log.debug('client error', { clientId: client?.id, error: error.message });
    });
    this.#broker.on('connectionError', (_client, error) => {
      context.log.debug('connection error', { error: error.message });
    });
  }

  /** Like IoT Hub, drops a connection when the SAS token it authenticated with expires. */
  #closeAtSasExpiry(deviceId: string, client: Client): void {
    const expiresAt = this.#sasExpiry.get(client);
    if (expiresAt === undefined) return;
    const check = () => {
      if (client.closed) return;
      const left = expiresAt - this.context.now();
      if (left > 0) {
        // Timers cap at about 24.8 days; long-lived tokens are checked again then.
        setTimeout(check, Math.min(left, 2 ** 31 - 1)).unref();
        return;
      }
      this.context.log.info('SAS token expired; closing the connection', { deviceId });
      client.close();
    };
    check();
  }

  /** Writes queued C2D messages in order, each removed from the queue only on the device's PUBACK. */
  async #flushCloudMessages(deviceId: string): Promise<void> {
    const topic = `devices/${hubDeviceId(this.context, deviceId)}/messages/devicebound/#`;
    if (this.#flushing.has(deviceId)) return;
    this.#flushing.add(deviceId);
    try {
      for (;;) {
        if (!this.context.links.isSubscribed(deviceId, topic)) return;
        const next = this.context.cloudMessages.pending(deviceId)[0];
        if (!next) return;
        const bag = formatPropertyBag({ ...next.properties, '$.mid': next.mid });
        const base = `devices/${hubDeviceId(this.context, deviceId)}/messages/devicebound/`;
        await this.context.links.sendAcknowledged(deviceId, `${base}${bag}`, next.payload);
        this.context.cloudMessages.acknowledge(next.sequence);
      }
    } catch (error) {
      this.context.log.debug('C2D delivery interrupted', { deviceId, error: String(error) });
    } finally {
      this.#flushing.delete(deviceId);
    }
  }
}

export { sectionDocument };
