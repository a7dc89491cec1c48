/**
 * How the panel and the service page start their clients: the same options and `shared: true`, so that both windows
 * use one device on one database (one of them owns the database and the connection, the other relays to it).
 */
import type { BrowserStartOptions } from '../../../platform/browser/index.js';
import type { KioskConfig } from './config.js';

export function deviceOptions(
  config: KioskConfig,
  more: Pick<BrowserStartOptions, 'onProvisioningOperation' | 'signal' | 'waitForLock'>,
): BrowserStartOptions {
  return {
    provisioningToken: config.provisioningToken,
    instance: config.instance,
    deviceId: config.deviceId,
    database: config.database,
    shared: true,
    // A panel on a local network: ask for approval often and come back quickly after an outage.
    provisioningPollIntervalMs: 1000,
    reconnectInitialDelayMs: 500,
    reconnectMaxDelayMs: 5000,
    logger: { debug() {}, info() {}, warn: console.warn, error: console.error },
    ...more,
  };
}
