/**
 * The `MqttConnector` port in browsers: MQTT.js's browser build over WebSockets (`wss:`; `ws:` only where the core
 * allows it, loopback or `allowInsecure`). The page's WebSocket trusts what the browser trusts.
 */
import mqtt from 'mqtt';
import type { MqttConnector } from '../../src/ports.js';
import { connectWithMqttJs, type MqttJsFlavour } from '../mqttjs/connection.js';

const browserMqttJs: MqttJsFlavour = {
  connect: (url, options) => mqtt.connect(url, options),
  schemes: new Set(['ws:', 'wss:']),
};

/**
 * @example
 * const connection = await createBrowserMqttConnector().connect({ url: 'wss://hub/$iothub/websocket', clientId,
 *   username, password: sasToken, keepAliveSeconds: 60, connectTimeoutMs: 30_000 });
 */
export function createBrowserMqttConnector(): MqttConnector {
  return { connect: (options, signal) => connectWithMqttJs(browserMqttJs, options, signal) };
}
