// The MqttConnector contract (test/contract/mqtt-contract.ts) against the browser adapter: MQTT.js's browser build
// over WebSockets. The emulator runs in the Node test; the page reaches its management side through functions the
// test exposes (`__emulator*`), and its broker cross-origin.
import { createBrowserMqttConnector } from '../../../platform/browser/mqtt.js';
import type { MqttConnection } from '../../../src/ports.js';
import { type MqttContractContext, mqttContract } from '../../contract/mqtt-contract.js';
import { exposeContract, markReady } from '../harness/in-page.js';
import './globals.js';

const connector = createBrowserMqttConnector();
const connections: MqttConnection[] = [];

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

exposeContract<MqttContractContext>(mqttContract, {
  context: (options) => ({
    connector,
    url: (options as { url: string }).url,
    provision: () => globalThis.__emulatorProvision(),
    storedMessages: async (deviceId) =>
      (await globalThis.__emulatorMessages(deviceId)).map((m) => ({
        mid: m.mid,
        payload: fromBase64(m.payloadBase64),
      })),
    sendCloudMessage: (deviceId, body, properties = {}) =>
      globalThis.__emulatorCloudMessage(deviceId, body, properties),
    dropConnection: (deviceId) => globalThis.__emulatorDrop(deviceId),
    isConnected: (deviceId) => globalThis.__emulatorIsConnected(deviceId),
    track: (connection) => connections.push(connection),
  }),
  afterEach: async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.end(true)));
  },
});

markReady();
