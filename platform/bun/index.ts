/**
 * The Bun platform: the Node platform's parts (Bun provides Node's `fs`, `net`, `tls`, `zlib`) with Bun's built-in
 * SQLite (`bun:sqlite`, so no native build) and Bun's `fetch` for an extra CA. `spotflow-device` resolves here on
 * Bun (the `bun` export condition).
 *
 * @module spotflow-device/bun
 */
import type { Platform } from '../../src/ports.js';
import {
  createServerPlatform,
  ServerDeviceClient,
  ServerDeviceStore,
  type ServerPlatformOptions,
  type ServerRuntime,
} from '../node/server-platform.js';
import { createBunFetch } from './http.js';
import { loadBunSqlite } from './sqlite.js';

const bun: ServerRuntime = { name: 'bun', sqlite: loadBunSqlite, fetch: createBunFetch };

/** The Bun {@link Platform}, for {@link DeviceClient.startOn} (which {@link DeviceClient.start} calls with it). */
export function createBunPlatform(options: ServerPlatformOptions = {}): Platform {
  return createServerPlatform(bun, options);
}

/** The device client on Bun: `start` wired to {@link createBunPlatform}. */
export class DeviceClient extends ServerDeviceClient {
  protected static override readonly runtime = bun;
}

/** The device store on Bun: `open` wired to the platform's SQLite. */
export class DeviceStore extends ServerDeviceStore {
  protected static override readonly runtime = bun;
}

export * from '../../src/index.js';
export type {
  ServerDeviceClient,
  ServerDeviceStore,
  ServerPlatformOptions,
  ServerStartOptions,
} from '../node/server-platform.js';
