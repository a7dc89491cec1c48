/**
 * The `MqttConnector` port on Node: the shared MQTT.js connection (platform/mqttjs) with MQTT.js's Node build,
 * which reaches `mqtt:`, `mqtts:`, `ws:` and `wss:`. What is Node's own here is TLS: an extra trusted CA for
 * `mqtts:` and `wss:`, added to the default roots; verification stays on either way.
 */
import mqtt from 'mqtt';
import type { MqttConnector } from '../../src/ports.js';
import { connectWithMqttJs, type MqttJsFlavour } from '../mqttjs/connection.js';
import { trustedCertificates } from './http.js';

/** Options of {@link createNodeMqttConnector}. */
export interface NodeMqttOptions {
  /** Extra trusted CA certificate(s), PEM, for `mqtts:` and `wss:`, added to the default roots. */
  ca?: string;
}

const SCHEMES: ReadonlySet<string> = new Set(['mqtt:', 'mqtts:', 'ws:', 'wss:']);

/**
 * @example
 * const connection = await createNodeMqttConnector({ ca }).connect({ url: 'mqtts://hub:8883', clientId, username,
 *   password: sasToken, keepAliveSeconds: 230, connectTimeoutMs: 30_000 });
 */
export function createNodeMqttConnector(options: NodeMqttOptions = {}): MqttConnector {
  const ca = options.ca === undefined ? undefined : trustedCertificates(options.ca);
  const flavour: MqttJsFlavour = {
    connect: (url, clientOptions) => mqtt.connect(url, clientOptions),
    schemes: SCHEMES,
    clientOptions: (url) =>
      ca !== undefined && (url.protocol === 'mqtts:' || url.protocol === 'wss:') ? { ca } : {},
  };
  return { connect: (connectOptions, signal) => connectWithMqttJs(flavour, connectOptions, signal) };
}
