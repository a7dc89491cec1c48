/**
 * The contract of the `MqttConnector` port (src/ports.ts), run against a real emulator for every adapter and
 * transport: MQTT.js over TCP, TLS and WebSockets in Node; WebSockets in browsers. Framework-free: each case
 * throws on failure. The runner supplies the emulator through the context.
 */
import type { MqttConnection, MqttConnectOptions, MqttConnector, MqttMessage } from '../../src/ports.js';
import { bytesEqual, deepEqual, equal, eventually, fail, ok, rejectsWithCode, within } from './assert.js';
import type { ContractCase } from './database-contract.js';

export interface ContractDevice {
  deviceId: string;
  hubDeviceId: string;
  iotHubHostName: string;
  /** The SAS token. */
  password: string;
}

export interface MqttContractContext {
  /** The adapter under test, configured to trust the emulator's CA where the platform can (Node's `ca`). */
  connector: MqttConnector;
  /** The emulator's broker URL for the transport under test. */
  url: string;
  /** Provisions a new device (a fresh name each call). */
  provision(): Promise<ContractDevice>;
  /** Telemetry the emulator stored for the device, oldest first. */
  storedMessages(deviceId: string): Promise<{ mid: string | null; payload: Uint8Array }[]>;
  /** Queues a cloud-to-device message (`properties` go to the topic's property bag). */
  sendCloudMessage(deviceId: string, body: string, properties?: Record<string, string>): Promise<void>;
  /** Makes the emulator drop the device's connection. */
  dropConnection(deviceId: string): Promise<void>;
  isConnected(deviceId: string): Promise<boolean>;
  /** Remembers a connection so that the runner ends it after the case. */
  track(connection: MqttConnection): void;
}

const text = new TextEncoder();
const fromBytes = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const SETTLE_MS = 5_000;

export function connectOptions(ctx: MqttContractContext, device: ContractDevice): MqttConnectOptions {
  return {
    url: ctx.url,
    clientId: device.hubDeviceId,
    username: `${device.iotHubHostName}/${device.hubDeviceId}/?api-version=2021-04-12`,
    password: device.password,
    keepAliveSeconds: 60,
    connectTimeoutMs: 5_000,
  };
}

async function connect(ctx: MqttContractContext, device: ContractDevice): Promise<MqttConnection> {
  const connection = await ctx.connector.connect(connectOptions(ctx, device));
  ctx.track(connection);
  return connection;
}

const telemetryTopic = (device: ContractDevice, mid: string) =>
  `devices/${device.hubDeviceId}/messages/events/stream-name=contract&%24.mid=${mid}`;
const c2dTopic = (device: ContractDevice) => `devices/${device.hubDeviceId}/messages/devicebound/#`;

/** Resolves on the first close, with its error. */
function closed(connection: MqttConnection): Promise<Error | undefined> {
  return new Promise((resolve) => connection.onClose(resolve));
}

/** Collects handled messages; each handler call waits for `gate` (resolved at once by default). */
function collector(connection: MqttConnection) {
  const received: MqttMessage[] = [];
  let gate: Promise<void> = Promise.resolve();
  connection.setMessageHandler(async (message) => {
    received.push(message);
    await gate;
  });
  return {
    received,
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return release;
    },
    failNext(error: Error): void {
      gate = Promise.reject(error);
      gate.catch(() => {});
    },
  };
}

export const mqttContract: ContractCase<MqttContractContext>[] = [
  {
    name: 'connects, and a QoS 1 publish resolves once the broker has stored the message',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      ok(await ctx.isConnected(device.deviceId), 'the emulator sees the device');
      await connection.publish(telemetryTopic(device, 'm-1'), text.encode('hello'), 1);
      const stored = await ctx.storedMessages(device.deviceId);
      equal(stored.length, 1);
      equal(stored[0]!.mid, 'm-1');
      bytesEqual(stored[0]!.payload, text.encode('hello'));
    },
  },
  {
    name: 'publishes at QoS 0, with binary payloads unchanged',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const bytes = new Uint8Array(1024).map((_, i) => (i * 7) % 256);
      await connection.publish(telemetryTopic(device, 'q0'), bytes, 0);
      const stored = await eventually(
        async () => {
          const messages = await ctx.storedMessages(device.deviceId);
          return messages.length > 0 ? messages : undefined;
        },
        SETTLE_MS,
        'the QoS 0 message being stored',
      );
      bytesEqual(stored[0]!.payload, bytes);
    },
  },
  {
    // A plain Uint8Array (not a Buffer) that is a window into a larger buffer: only its own bytes may go out.
    name: 'publishes a Uint8Array view into a larger buffer as exactly its bytes',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const backing = new Uint8Array(64).map((_, i) => i);
      const view = backing.subarray(10, 20);
      await connection.publish(telemetryTopic(device, 'view'), view, 1);
      const stored = await ctx.storedMessages(device.deviceId);
      equal(stored.length, 1);
      bytesEqual(stored[0]!.payload, new Uint8Array([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]));
    },
  },
  {
    name: 'resolves 200 concurrent QoS 1 publishes, all stored in order',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const count = 200;
      await within(
        Promise.all(
          Array.from({ length: count }, (_, i) =>
            connection.publish(telemetryTopic(device, `c-${i}`), text.encode(`payload ${i}`), 1),
          ),
        ),
        10_000,
        '200 publishes',
      );
      const stored = await ctx.storedMessages(device.deviceId);
      deepEqual(
        stored.map((message) => message.mid),
        Array.from({ length: count }, (_, i) => `c-${i}`),
      );
      equal(fromBytes(stored[count - 1]!.payload), `payload ${count - 1}`);
    },
  },
  {
    name: 'refuses a bad SAS with CONNECTION_REFUSED and keeps the password out of the error',
    async run(ctx) {
      const device = await ctx.provision();
      const signature = /sig=([^&]+)/.exec(device.password)?.[1];
      ok(signature, 'the SAS token has a signature');
      const forgedSignature = 'Zm9yZ2VkLXNpZ25hdHVyZS1mb3ItdGVzdGluZw%3D%3D';
      const forged = device.password.replace(signature, forgedSignature);
      const error = await rejectsWithCode(
        ctx.connector.connect({ ...connectOptions(ctx, device), password: forged }),
        'CONNECTION_REFUSED',
      );
      const shown = `${error.message} ${String(error)} ${String((error as { cause?: unknown }).cause)}`;
      for (const secret of [forged, forgedSignature, signature, 'SharedAccessSignature', 'sig=']) {
        ok(!shown.includes(secret), `the error shows part of the password (${secret.slice(0, 6)}…)`);
      }
      ok(!(await ctx.isConnected(device.deviceId)), 'no connection is left behind');
    },
  },
  {
    name: "refuses another device's SAS with CONNECTION_REFUSED",
    async run(ctx) {
      const [device, other] = await Promise.all([ctx.provision(), ctx.provision()]);
      await rejectsWithCode(
        ctx.connector.connect({ ...connectOptions(ctx, device), password: other.password }),
        'CONNECTION_REFUSED',
      );
    },
  },
  {
    name: 'subscribes to the topics IoT Hub grants a device',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      await connection.subscribe([
        c2dTopic(device),
        '$iothub/twin/res/#',
        '$iothub/twin/PATCH/properties/desired/#',
        '$iothub/methods/POST/#',
      ]);
    },
  },
  {
    name: 'rejects a refused subscription with PROTOCOL, and the connection stays usable',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      await rejectsWithCode(connection.subscribe(['$iothub/twin/res/#', '#']), 'PROTOCOL');
      await rejectsWithCode(
        connection.subscribe(['devices/someone-else/messages/devicebound/#']),
        'PROTOCOL',
      );
      await connection.publish(telemetryTopic(device, 'after-refusal'), text.encode('x'), 1);
      equal((await ctx.storedMessages(device.deviceId)).length, 1);
    },
  },
  {
    name: 'hands QoS 0 messages (twin responses) to the handler',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const { received } = collector(connection);
      await connection.subscribe(['$iothub/twin/res/#']);
      await connection.publish('$iothub/twin/GET/?$rid=7', new Uint8Array(0), 0);
      await eventually(() => received.length > 0, SETTLE_MS, 'the twin response');
      equal(received[0]!.topic, '$iothub/twin/res/200/?$rid=7');
      ok('desired' in JSON.parse(fromBytes(received[0]!.payload)), 'a twin document');
    },
  },
  {
    name: 'hands cloud-to-device messages to the handler, in order, with topic and payload',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const { received } = collector(connection);
      await connection.subscribe([c2dTopic(device)]);
      await ctx.sendCloudMessage(device.deviceId, 'first', { kind: 'a' });
      await ctx.sendCloudMessage(device.deviceId, 'second');
      await eventually(() => received.length === 2, SETTLE_MS, 'two C2D messages');
      deepEqual(
        received.map((message) => fromBytes(message.payload)),
        ['first', 'second'],
      );
      ok(received[0]!.payload instanceof Uint8Array, 'payload is a Uint8Array');
      // The property bag follows the prefix; IoT Hub puts its system properties ($.mid, $.to, …) first.
      const prefix = `devices/${device.hubDeviceId}/messages/devicebound/`;
      const topic = received[0]!.topic;
      ok(topic.startsWith(prefix), `topic ${topic}`);
      ok(topic.slice(prefix.length).split('&').includes('kind=a'), `property bag of ${topic}`);
    },
  },
  {
    name: 'keeps messages that arrive before a handler is set, and delivers them once it is',
    async run(ctx) {
      const device = await ctx.provision();
      await ctx.sendCloudMessage(device.deviceId, 'early');
      const connection = await connect(ctx, device);
      // The case is a message that has arrived before the handler is set: wait for its PUBLISH, not for a time.
      let packets = 0;
      connection.onPacket(() => packets++);
      await connection.subscribe([c2dTopic(device)]);
      // MQTT.js hands a PUBLISH to the adapter in the same turn as it reports the packet: once counted, it is in.
      await eventually(() => packets >= 2, SETTLE_MS, 'the SUBACK and the PUBLISH');
      const { received } = collector(connection);
      await eventually(() => received.length === 1, SETTLE_MS, 'the early message');
      equal(fromBytes(received[0]!.payload), 'early');
    },
  },
  {
    name: 'acknowledges a QoS 1 message only after the handler settles: a drop before that means redelivery',
    async run(ctx) {
      const device = await ctx.provision();
      const first = await connect(ctx, device);
      const firstInbox = collector(first);
      const release = firstInbox.hold();
      await first.subscribe([c2dTopic(device)]);
      await ctx.sendCloudMessage(device.deviceId, 'keep me');
      await eventually(() => firstInbox.received.length === 1, SETTLE_MS, 'the first delivery');
      const gone = closed(first);
      await ctx.dropConnection(device.deviceId);
      await within(gone, SETTLE_MS, 'the close');
      release(); // too late: the connection that could acknowledge it is gone

      const second = await connect(ctx, device);
      const secondInbox = collector(second);
      await second.subscribe([c2dTopic(device)]);
      await eventually(() => secondInbox.received.length === 1, SETTLE_MS, 'the redelivery');
      equal(fromBytes(secondInbox.received[0]!.payload), 'keep me');
      equal(secondInbox.received[0]!.topic, firstInbox.received[0]!.topic, 'the same message ($.mid)');
      // Once the handler resolved the message was acknowledged: the emulator moves on to the next one.
      await ctx.sendCloudMessage(device.deviceId, 'next');
      await eventually(() => secondInbox.received.length === 2, SETTLE_MS, 'the next message');
      equal(fromBytes(secondInbox.received[1]!.payload), 'next');
    },
  },
  {
    name: 'does not acknowledge a message whose handler rejects: closes with an error, and it is redelivered',
    async run(ctx) {
      const device = await ctx.provision();
      const first = await connect(ctx, device);
      const inbox = collector(first);
      inbox.failNext(new Error('cannot take it now'));
      const gone = closed(first);
      await first.subscribe([c2dTopic(device)]);
      await ctx.sendCloudMessage(device.deviceId, 'retry me');
      const error = await within(gone, SETTLE_MS, 'the close after the handler failed');
      ok(error instanceof Error, 'closed with an error');

      const second = await connect(ctx, device);
      const again = collector(second);
      await second.subscribe([c2dTopic(device)]);
      await eventually(() => again.received.length === 1, SETTLE_MS, 'the redelivery');
      equal(fromBytes(again.received[0]!.payload), 'retry me');
    },
  },
  {
    name: 'calls onClose once, with an error, when the broker drops the connection; later calls reject NETWORK',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const calls: (Error | undefined)[] = [];
      connection.onClose((error) => calls.push(error));
      const gone = closed(connection);
      await ctx.dropConnection(device.deviceId);
      const error = await within(gone, SETTLE_MS, 'the close');
      ok(error instanceof Error, 'onClose got an error');
      await within(
        rejectsWithCode(connection.publish(telemetryTopic(device, 'late'), text.encode('x'), 1), 'NETWORK'),
        SETTLE_MS,
        'a publish after the close',
      );
      await within(
        rejectsWithCode(connection.subscribe([c2dTopic(device)]), 'NETWORK'),
        SETTLE_MS,
        'subscribe',
      );
      // A listener added after the close still hears of it.
      const late = await within(closed(connection), SETTLE_MS, 'a late onClose');
      equal(late, error);
      await connection.end();
      // Once, after all of the above went through the adapter (a second call would have come by now).
      equal(calls.length, 1, 'onClose calls');
    },
  },
  {
    name: 'calls onClose without an error after end(), and rejects later publishes with NETWORK',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const gone = closed(connection);
      await connection.publish(telemetryTopic(device, 'before-end'), text.encode('x'), 1);
      await within(connection.end(), SETTLE_MS, 'end()');
      equal(await within(gone, SETTLE_MS, 'the close'), undefined);
      await rejectsWithCode(
        connection.publish(telemetryTopic(device, 'after-end'), text.encode('x'), 1),
        'NETWORK',
      );
      await connection.end(); // harmless
      await eventually(async () => !(await ctx.isConnected(device.deviceId)), SETTLE_MS, 'the disconnect');
    },
  },
  {
    name: 'rejects in-flight publishes with NETWORK when the connection drops (none hangs)',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      const gone = closed(connection);
      // The hub closes the connection of a device that publishes outside its topics, without a PUBACK.
      const forbidden = connection.publish('some/other/topic', text.encode('x'), 1);
      const after = Array.from({ length: 50 }, (_, i) =>
        connection.publish(telemetryTopic(device, `f-${i}`), text.encode('y'), 1),
      );
      await within(rejectsWithCode(forbidden, 'NETWORK'), SETTLE_MS, 'the unacknowledged publish');
      const outcomes = await within(Promise.allSettled(after), SETTLE_MS, 'the publishes behind it');
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') equal((outcome.reason as { code?: string }).code, 'NETWORK');
      }
      ok((await within(gone, SETTLE_MS, 'the close')) instanceof Error, 'closed with an error');
    },
  },
  {
    name: 'rejects with ABORTED when the signal is already aborted, or aborts during the connect',
    async run(ctx) {
      const device = await ctx.provision();
      const already = new AbortController();
      already.abort();
      await rejectsWithCode(ctx.connector.connect(connectOptions(ctx, device), already.signal), 'ABORTED');
      const during = new AbortController();
      const connecting = ctx.connector.connect(connectOptions(ctx, device), during.signal);
      during.abort();
      await rejectsWithCode(connecting, 'ABORTED');
      await new Promise((resolve) => setTimeout(resolve, 100));
      ok(!(await ctx.isConnected(device.deviceId)), 'the aborted connection was not left open');
    },
  },
  {
    name: 'serves a new connection for the same device after the previous one ended',
    async run(ctx) {
      const device = await ctx.provision();
      const first = await connect(ctx, device);
      await first.end(true);
      const second = await connect(ctx, device);
      await second.publish(telemetryTopic(device, 'second'), text.encode('x'), 1);
      const stored = await ctx.storedMessages(device.deviceId);
      if (stored.length !== 1) fail(`expected 1 stored message, got ${stored.length}`);
    },
  },
  {
    name: 'calls onPacket for packets from the broker (a PUBACK among them)',
    async run(ctx) {
      const device = await ctx.provision();
      const connection = await connect(ctx, device);
      let packets = 0;
      connection.onPacket(() => packets++);
      await connection.publish(telemetryTopic(device, 'packet'), text.encode('x'), 1);
      ok(packets >= 1, 'onPacket was called by the time the publish resolved');
    },
  },
];
