/**
 * The Node.js platform: better-sqlite3 storage, a SQLite-backed file lock, MQTT.js over TCP/TLS/WebSockets,
 * zlib Brotli and `fetch` (undici when a custom CA is trusted). This is the only place that picks Node packages.
 * `spotflow-device` resolves here in Node.js.
 *
 * @module spotflow-device/node
 */
import { DeviceClient as CoreDeviceClient } from '../../src/client.js';
import { optionalString, type StartOptions } from '../../src/options.js';
import type { Platform } from '../../src/ports.js';
import { createNodeClock } from './clock.js';
import { createNodeCompressor } from './compression.js';
import { createNodeDatabaseOpener } from './database.js';
import { createNodeFetch } from './http.js';
import { createNodeLock } from './lock.js';
import { createNodeMqttConnector } from './mqtt.js';

/** Options of {@link createNodePlatform}. */
export interface NodePlatformOptions {
  /** Extra trusted CA certificate(s), PEM, for HTTPS and MQTT over TLS; verification stays on either way. */
  ca?: string;
}

/**
 * The Node.js {@link Platform}, for {@link DeviceClient.startOn} (which {@link DeviceClient.start} calls with it).
 *
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

/** {@link StartOptions} plus what only Node has. */
export type NodeStartOptions = StartOptions & {
  /**
   * Extra trusted CA certificate(s), PEM, for HTTPS and MQTT over TLS (e.g. the emulator's), added to the system's
   * roots. Verification always stays on.
   */
  ca?: string;
};

/** The most a `ca` may hold: a bundle of many certificates fits, a file read by mistake does not. */
const maxCaLength = 1024 * 1024;

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
  static override start(options: NodeStartOptions): Promise<DeviceClient> {
    // Anything but an object goes to the core as it is, which refuses it with the same message in every runtime.
    if (typeof options !== 'object' || options === null)
      return DeviceClient.startOn(createNodePlatform(), options);
    let ca: string | undefined;
    try {
      ca = optionalString(options.ca, 'ca', maxCaLength);
    } catch (error) {
      return Promise.reject(error);
    }
    // `ca` is the platform's, not the core's: the core refuses options it does not know.
    const { ca: _, ...core } = options;
    return DeviceClient.startOn(createNodePlatform(ca === undefined ? {} : { ca }), core);
  }
}

export * from '../../src/index.js';
export type { NodeFetchOptions } from './http.js';
export type { NodeMqttOptions } from './mqtt.js';
