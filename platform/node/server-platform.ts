/**
 * The platform every server runtime shares (Node, Bun, Deno all provide Node's `fs`, `net`, `tls` and `zlib`):
 * the SQLite store and lock, MQTT.js, zlib Brotli and the clock. What differs is passed in: which SQLite binding
 * and how `fetch` trusts an extra CA.
 */
import { DeviceClient as CoreDeviceClient } from '../../src/client.js';
import { optionalString, type StartOptions, type StoreStartOptions } from '../../src/options.js';
import type { DatabaseOpener, Platform } from '../../src/ports.js';
import { DeviceStore as CoreDeviceStore } from '../../src/store/device-store.js';
import { createNodeClock } from './clock.js';
import { createNodeCompressor } from './compression.js';
import { createSqliteDatabaseOpener } from './database.js';
import { createSqliteLock } from './lock.js';
import { createNodeMqttConnector } from './mqtt.js';
import type { SqliteDriverLoader } from './sqlite-driver.js';

/** `fetch`, and what closes the connections it keeps to trust a CA (absent when it keeps none). */
export type PlatformFetch = typeof fetch & { close?: () => Promise<void> };

/** What one server runtime brings. */
export interface ServerRuntime {
  /** `node`, `bun`, `deno`: the platform's name. */
  name: string;
  sqlite: SqliteDriverLoader;
  /** The databases' opener, when not the in-thread store over `sqlite` (Node's may run SQLite in a worker thread). */
  database?: () => DatabaseOpener;
  /** `fetch` trusting `ca` as well as the system roots (the global `fetch` when there is none). */
  fetch(ca: string | undefined): PlatformFetch;
}

/** The options of every server runtime's platform factory. */
export interface ServerPlatformOptions {
  /** Extra trusted CA certificate(s), PEM, for HTTPS and MQTT over TLS; verification stays on either way. */
  ca?: string;
}

export function createServerPlatform(runtime: ServerRuntime, options: ServerPlatformOptions): Platform {
  const fetch = runtime.fetch(options.ca);
  return {
    name: runtime.name,
    ...serverStorage(runtime),
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

/** The runtime's database opener and file lock. */
function serverStorage(runtime: ServerRuntime): Pick<Platform, 'database' | 'lock'> {
  return {
    database: runtime.database?.() ?? createSqliteDatabaseOpener(runtime.sqlite),
    lock: createSqliteLock(runtime.sqlite),
  };
}

/** {@link StartOptions} (or {@link StoreStartOptions}) plus what only server runtimes have. */
export type ServerStartOptions = (StartOptions | StoreStartOptions) & {
  /**
   * Extra trusted CA certificate(s), PEM, for HTTPS and MQTT over TLS (e.g. the emulator's), added to the system's
   * roots. Verification always stays on.
   */
  ca?: string;
};

/** The most a `ca` may hold: a bundle of many certificates fits, a file read by mistake does not. */
const maxCaLength = 1024 * 1024;

/**
 * What a server entry's `DeviceClient.start` hands to `startOn`: the platform made with the `ca` option, and the
 * rest of the options (the core refuses options it does not know). Throws INVALID_ARGUMENT for a bad `ca`.
 */
export function serverStart(
  options: ServerStartOptions,
  createPlatform: (options: ServerPlatformOptions) => Platform,
): [Platform, StartOptions | StoreStartOptions] {
  // Anything but an object goes to the core as it is, which refuses it with the same message in every runtime.
  if (typeof options !== 'object' || options === null) return [createPlatform({}), options];
  const ca = optionalString(options.ca, 'ca', maxCaLength);
  const { ca: _, ...core } = options;
  return [createPlatform(ca === undefined ? {} : { ca }), core];
}

/**
 * The device client of a server runtime other than Node (Bun, Deno): `start` makes the platform of the runtime its
 * entry's subclass names.
 */
export abstract class ServerDeviceClient extends CoreDeviceClient {
  /**
   * Set by each entry's subclass.
   * @internal
   */
  protected static readonly runtime: ServerRuntime;

  static override start(options: ServerStartOptions): Promise<ServerDeviceClient> {
    try {
      // biome-ignore lint/complexity/noThisInStatic: the entry's subclass, whose runtime and instances these are
      return this.startOn(...serverStart(options, (o) => createServerPlatform(this.runtime, o)));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** The device store of a server runtime: `open` uses the runtime its entry's subclass names. */
export abstract class ServerDeviceStore extends CoreDeviceStore {
  /**
   * Set by each entry's subclass.
   * @internal
   */
  protected static readonly runtime: ServerRuntime;

  /**
   * Opens (creating if needed) the store at `path`, a file created readable by its owner only. Rejects with
   * `DATABASE_LOCKED` while another process holds it; `signal` aborts the wait.
   */
  static open(path: string, options: { signal?: AbortSignal } = {}): Promise<ServerDeviceStore> {
    // biome-ignore lint/complexity/noThisInStatic: the entry's subclass, whose runtime and instances these are
    const runtime = this.runtime;
    // biome-ignore lint/complexity/noThisInStatic: as above
    return this.openOn({ ...serverStorage(runtime), clock: createNodeClock() }, path, options);
  }
}
