/**
 * The Node.js platform: better-sqlite3 storage (on the main thread, or in a worker thread when asked: database.ts),
 * a SQLite-backed file lock, MQTT.js over TCP/TLS/WebSockets, zlib Brotli and `fetch` (undici when a custom CA is
 * trusted). This is the only place that picks Node packages.
 * `spotflow-device` resolves here in Node.js.
 *
 * @module spotflow-device/node
 */
import { DeviceClient as CoreDeviceClient } from '../../src/client.js';
import type { Platform } from '../../src/ports.js';
import { createNodeClock } from './clock.js';
import { createNodeCompressor } from './compression.js';
import { createNodeDatabaseOpener } from './database.js';
import { createNodeFetch } from './http.js';
import { createNodeLock } from './lock.js';
import { createNodeMqttConnector } from './mqtt.js';
import { loadNodeDriver } from './node-driver.js';
import {
  createServerPlatform,
  ServerDeviceStore,
  type ServerPlatformOptions,
  type ServerRuntime,
  type ServerStartOptions,
  serverStart,
} from './server-platform.js';

/** Options of {@link createNodePlatform}. */
export type NodePlatformOptions = ServerPlatformOptions;

const node: ServerRuntime = {
  name: 'node',
  sqlite: loadNodeDriver,
  database: () => createNodeDatabaseOpener(),
  fetch: (ca) => createNodeFetch(ca === undefined ? {} : { ca }),
};

/**
 * The Node.js {@link Platform}, for {@link DeviceClient.startOn} (which {@link DeviceClient.start} calls with it).
 *
 * @example
 * const platform = createNodePlatform({ ca: readFileSync('emulator-ca.pem', 'utf8') });
 */
export function createNodePlatform(options: NodePlatformOptions = {}): Platform {
  return createServerPlatform(node, options);
}

export {
  createNodeClock,
  createNodeCompressor,
  createNodeDatabaseOpener,
  createNodeFetch,
  createNodeLock,
  createNodeMqttConnector,
};

/** The start options plus what only server runtimes have (`ca`). */
export type NodeStartOptions = ServerStartOptions;

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
    try {
      return DeviceClient.startOn(...serverStart(options, createNodePlatform));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/**
 * One database for the many devices a process hosts (a gateway): one file, lock and connection, one fsync per
 * round for all of them. See {@link ServerDeviceStore.open}.
 *
 * @example
 * ```ts
 * import { DeviceClient, DeviceStore } from 'spotflow-device';
 * const store = await DeviceStore.open('./gateway.db');
 * const pump = await DeviceClient.start({ provisioningToken, store, deviceId: 'pump-7' });
 * ```
 */
export class DeviceStore extends ServerDeviceStore {
  protected static override readonly runtime = node;
}

export * from '../../src/index.js';
export type { NodeDatabaseOptions } from './database.js';
export type { NodeFetchOptions } from './http.js';
export type { NodeMqttOptions } from './mqtt.js';
export type {
  ServerDeviceStore,
  ServerPlatformOptions,
  ServerStartOptions,
} from './server-platform.js';
