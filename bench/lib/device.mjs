// Our SDK as the benchmarks use it: a Node client on a database file in the run's directory.
import { join } from 'node:path';
import { DeviceClient } from 'spotflow-device';

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Starts a client for `name` against `emulator` (MQTT over TLS when `tls`), provisioning it on first use.
 *
 * @param {object} emulator from startEmulator
 * @param {{ dir: string, name: string, tls?: boolean, database?: string, store?: unknown, [option: string]: unknown }} options
 */
export function startDevice(emulator, { dir, name, tls = false, database, ...rest }) {
  return DeviceClient.start({
    provisioningToken: emulator.provisioningToken,
    instance: emulator.instanceFor(tls),
    // On a DeviceStore (`store` in rest) a device has no file of its own.
    ...(rest.store === undefined ? { database: database ?? join(dir, `${name}.db`) } : {}),
    deviceId: name,
    ca: emulator.ca,
    provisioningPollIntervalMs: 50,
    reconnectInitialDelayMs: 100,
    reconnectMaxDelayMs: 1_000,
    logger: silentLogger,
    onProvisioningOperation() {},
    ...rest,
  });
}

export async function waitConnected(client, timeoutMs = 30_000) {
  if (client.connected) return;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the client did not connect in time')), timeoutMs);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** `count` enqueues of `payload` by `callers` concurrent callers; resolves when every one is durable. */
export async function enqueueMany(client, count, payload, callers, options) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(callers, count) }, async () => {
      while (next < count) {
        next++;
        await client.enqueueMessage(payload, options);
      }
    }),
  );
}

/** Messages per second. */
export const rate = (count, ms) => count / (ms / 1000);
