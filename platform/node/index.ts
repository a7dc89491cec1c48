/**
 * The Node.js platform: better-sqlite3 storage, a SQLite-backed file lock, MQTT.js over TCP/TLS/WebSockets,
 * zlib Brotli and `fetch` (undici when a custom CA is trusted). This is the only place that picks Node packages.
 */
import { DeviceClient as CoreDeviceClient } from '../../src/client.js';
import type { StartOptions } from '../../src/options.js';
import type { Platform } from '../../src/ports.js';
import { createNodeClock } from './clock.js';
import { createNodeCompressor } from './compression.js';
import { createNodeDatabaseOpener } from './database.js';
import { createNodeFetch } from './http.js';
import { createNodeLock } from './lock.js';
import { createNodeMqttConnector } from './mqtt.js';

export interface NodePlatformOptions {
  /** Extra trusted CA certificate(s), PEM, for HTTPS and MQTT over TLS; verification stays on either way. */
  ca?: string;
}

/**
 * @example
 * const platform = createNodePlatform({ ca: readFileSync('emulator-ca.pem', 'utf8') });
 */
export function createNodePlatform(options: NodePlatformOptions = {}): Platform {
  const fetch = createNodeFetch(options.ca === undefined ? {} : { ca: options.ca });
  return {
    name: 'node',
    database: createNodeDatabaseOpener(),
    lock: createNodeLock(),
    mqtt: createNodeMqttConnector(options.ca === undefined ? {} : { ca: options.ca }),
    compressor: createNodeCompressor(),
    fetch,
    defaultTransport: 'tcp',
    clock: createNodeClock(),
    close: async () => {
      await fetch.close?.();
    },
  };
}

export {
  createNodeClock,
  createNodeCompressor,
  createNodeDatabaseOpener,
  createNodeFetch,
  createNodeLock,
  createNodeMqttConnector,
};

/**
 * The device client on Node.js: {@link CoreDeviceClient} with `start` wired to {@link createNodePlatform}.
 *
 * @example
 * ```ts
 * import { DeviceClient } from 'spotflow-device';
 * const client = await DeviceClient.start({ provisioningToken, database: './device.db', deviceId: 'pump-7' });
 * await client.enqueueMessage({ temperature: 21.5 }, { stream: 'telemetry' });
 * ```
 */
export class DeviceClient extends CoreDeviceClient {
  static override start(options: StartOptions): Promise<DeviceClient> {
    const ca = typeof options?.ca === 'string' ? options.ca : undefined;
    return DeviceClient.startOn(createNodePlatform(ca === undefined ? {} : { ca }), options);
  }
}

export * from '../../src/index.js';
