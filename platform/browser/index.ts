/**
 * The browser entry (`spotflow-device` in browsers, `spotflow-device/browser`): the browser's `DeviceClient`, its
 * platform and adapters, and the core's public API.
 *
 * @module spotflow-device/browser
 */

export * from '../../src/index.js';
export type { BrowserCompressorOptions } from './compression.js';
export type { BrowserDatabaseOptions } from './database.js';
export { type BrowserStartOptions, DeviceClient } from './device-client.js';
export type { BrowserLockOptions } from './lock.js';
export {
  type BrowserPlatformOptions,
  browserDefaultOutboxLimits,
  createBrowserClock,
  createBrowserCompressor,
  createBrowserDatabaseOpener,
  createBrowserLock,
  createBrowserMqttConnector,
  createBrowserPlatform,
} from './platform.js';
