import type { Client } from 'aedes';
import mqttPacket from 'mqtt-packet';

interface PendingAck {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The live MQTT connection of each device. QoS 1 deliveries to a device (cloud-to-device messages) are written
 * here with packet ids of our own and resolve on the device's PUBACK, so a message leaves the emulator's queue
 * only once the device has really taken it.
 */
export class DeviceLinks {
  readonly #links = new Map<
    string,
    {
      client: Client;
      acks: Map<number, PendingAck>;
      nextId: number;
      /** Topic filters of SUBSCRIBEs read but not yet answered: aedes registers them before it writes the SUBACK. */
      unanswered: Map<string, number>;
    }
  >();

  attach(deviceId: string, client: Client): void {
    // A new connection can register before the old one's disconnect is handled (a browser's WebSocket close still
    // on its way when the device connects again); that disconnect then no longer finds its link. What waited for the
    // old connection's PUBACK will not get it: fail it now, or the delivery waiting on it would hold the queue.
    const replaced = this.#links.get(deviceId);
    if (replaced !== undefined && replaced.client !== client) rejectPending(replaced.acks);
    const link = {
      client,
      acks: new Map<number, PendingAck>(),
      nextId: 1,
      unanswered: new Map<string, number>(),
    };
    this.#links.set(deviceId, link);
    // aedes parses every incoming packet here; we watch for the PUBACKs of our own deliveries, and for SUBSCRIBEs,
    // so that nothing is delivered on a subscription before its SUBACK has gone out (see `answered`).
    const parser = (client as unknown as { _parser: NodeJS.EventEmitter })._parser;
    parser.on('packet', (packet: mqttPacket.Packet) => {
      if (packet.cmd === 'subscribe') {
        for (const { topic } of packet.subscriptions) {
          link.unanswered.set(topic, (link.unanswered.get(topic) ?? 0) + 1);
        }
        return;
      }
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return;
      const pending = link.acks.get(packet.messageId);
      link.acks.delete(packet.messageId);
      pending?.resolve();
    });
  }

  /** Forgets the device's link if it is still this client (a newer connection may have replaced it). */
  detach(deviceId: string, client: Client): void {
    const link = this.#links.get(deviceId);
    if (link?.client !== client) return;
    this.#links.delete(deviceId);
    rejectPending(link.acks);
  }

  client(deviceId: string): Client | undefined {
    return this.#links.get(deviceId)?.client;
  }

  /**
   * The SUBACK of these topic filters has been written (aedes's `subscribe` event): deliveries on them may start.
   * Until then a PUBLISH could reach the device before the SUBACK, and a client such as MQTT.js, reading nothing past
   * a message it has no handler for yet, would never see the SUBACK its subscribe waits for.
   */
  answered(deviceId: string, client: Client, topics: readonly string[]): void {
    const link = this.#links.get(deviceId);
    if (link?.client !== client) return;
    for (const topic of topics) {
      const left = (link.unanswered.get(topic) ?? 0) - 1;
      if (left > 0) link.unanswered.set(topic, left);
      else link.unanswered.delete(topic);
    }
  }

  /** Whether the device's connection holds this subscription, answered with a SUBACK. */
  isSubscribed(deviceId: string, topicFilter: string): boolean {
    if (this.#links.get(deviceId)?.unanswered.has(topicFilter)) return false;
    const client = this.client(deviceId);
    const subscriptions = (client as unknown as { subscriptions?: Record<string, unknown> } | undefined)
      ?.subscriptions;
    return subscriptions !== undefined && topicFilter in subscriptions;
  }

  /** Sends at QoS 0 (twin responses, desired patches, method requests). */
  send(deviceId: string, topic: string, payload: Buffer): boolean {
    const client = this.client(deviceId);
    if (!client) return false;
    client.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, () => {});
    return true;
  }

  /** Sends at QoS 1; resolves on PUBACK, rejects when the device goes away first. */
  sendAcknowledged(deviceId: string, topic: string, payload: Buffer): Promise<void> {
    const link = this.#links.get(deviceId);
    if (!link) return Promise.reject(new Error('device is not connected'));
    // Ids from the top half of the range, so they never meet aedes's own counter (which we never drive at QoS 1).
    const messageId = 32768 + (link.nextId++ % 32767);
    return new Promise<void>((resolve, reject) => {
      link.acks.set(messageId, { resolve, reject });
      mqttPacket.writeToStream(
        { cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false },
        link.client.conn,
      );
    });
  }

  connectedDeviceIds(): string[] {
    return [...this.#links.keys()];
  }

  closeAll(): void {
    for (const { client } of this.#links.values()) client.close();
  }
}

function rejectPending(acks: Map<number, PendingAck>): void {
  for (const pending of acks.values()) pending.reject(new Error('device disconnected before acknowledging'));
  acks.clear();
}
