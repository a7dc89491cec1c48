import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodePlatform, type DeviceStore, type NodeStartOptions } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import type { Logger } from '../../src/logger.js';
import type { Clock, Platform } from '../../src/ports.js';
import type { TestEmulator } from './emulator.js';

/** A logger that keeps lines for assertions (and shows nothing). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  };
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

/** A temporary directory for databases, removed by `cleanup`. */
export function tempDir(prefix = 'spotflow-sdk-'): {
  dir: string;
  file: (name: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file: (name) => join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Starts a real client (Node platform) against the emulator, trusting its CA (or the `ca` given); `clock` replaces
 * the platform's (a `StillClock` from `./clock.js`, so the test decides when time passes), and `fetch` its fetch.
 */
export function startClient(
  emulator: TestEmulator,
  options: Partial<NodeStartOptions> &
    // A database of its own, or its rows in a DeviceStore.
    ({ database: string } | { store: DeviceStore; deviceId: string }) & {
      clock?: Clock;
      fetch?: typeof globalThis.fetch;
      /** Replaces parts of the Node platform (a test that must hold a write, say). */
      wrapPlatform?: (platform: Platform) => Platform;
    },
): Promise<DeviceClient> {
  const { ca = emulator.ca, clock, fetch, wrapPlatform = (platform) => platform, ...core } = options;
  const platform = createNodePlatform({ ca });
  return DeviceClient.startOn(
    wrapPlatform({ ...platform, ...(clock ? { clock } : {}), ...(fetch ? { fetch } : {}) }),
    {
      provisioningToken: emulator.provisioningToken,
      instance: emulator.instance,
      logger: memoryLogger(),
      provisioningPollIntervalMs: 50,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 500,
      onProvisioningOperation: () => {},
      ...core,
    },
  );
}

export function eventOnce<T>(client: DeviceClient, event: string, timeoutMs = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event within ${timeoutMs} ms`)), timeoutMs);
    client.once(event as never, (payload: unknown) => {
      clearTimeout(timer);
      resolve(payload as T);
    });
  });
}

/** The argument of test/fixtures/outbox-writer.mjs: four writers on `database`, trusting the emulator's CA. */
export function outboxWriterConfig(emulator: TestEmulator, deviceId: string, database: string) {
  return {
    instance: emulator.instance,
    provisioningToken: emulator.provisioningToken,
    deviceId,
    database,
    ca: emulator.ca,
    writers: 4,
  };
}
