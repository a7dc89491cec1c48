/**
 * The Deno platform: the Node platform's parts (Deno provides Node's `fs`, `net`, `tls`, `zlib`) with the built-in
 * `node:sqlite` (so no native build) and Deno's HTTP client for an extra CA. `spotflow-device` resolves here on Deno
 * (the `deno` export condition).
 *
 * @module spotflow-device/deno
 */
import type { Platform } from '../../src/ports.js';
import { loadNodeSqlite } from '../node/node-sqlite.js';
import {
  createServerPlatform,
  ServerDeviceClient,
  ServerDeviceStore,
  type ServerPlatformOptions,
  type ServerRuntime,
} from '../node/server-platform.js';
import { createDenoFetch } from './http.js';

const deno: ServerRuntime = { name: 'deno', sqlite: loadNodeSqlite, fetch: createDenoFetch };

/** The Deno {@link Platform}, for {@link DeviceClient.startOn} (which {@link DeviceClient.start} calls with it). */
export function createDenoPlatform(options: ServerPlatformOptions = {}): Platform {
  return createServerPlatform(deno, options);
}

/** The device client on Deno: `start` wired to {@link createDenoPlatform}. */
export class DeviceClient extends ServerDeviceClient {
  protected static override readonly runtime = deno;
}

/** The device store on Deno: `open` wired to the platform's SQLite. */
export class DeviceStore extends ServerDeviceStore {
  protected static override readonly runtime = deno;
}

export * from '../../src/index.js';
export type {
  ServerDeviceClient,
  ServerDeviceStore,
  ServerPlatformOptions,
  ServerStartOptions,
} from '../node/server-platform.js';
