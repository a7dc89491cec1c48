/**
 * The local Spotflow platform emulator: the device HTTP API, an IoT Hub-compatible MQTT broker (TCP, TLS and
 * WebSocket), device twins, cloud-to-device messages, direct methods, file upload with a blob store, the
 * management API and the portal, all on one port.
 *
 * @example
 * ```ts
 * import { startEmulator } from 'spotflow-device/emulator';
 * const emulator = await startEmulator({ memory: true, port: 0 });
 * console.log(emulator.instance, emulator.provisioningToken);
 * await emulator.close();
 * ```
 *
 * @module spotflow-device/emulator
 */
// Only modules without third-party imports are loaded statically here: the server stack is checked first, then
// the emulator is loaded (see dependencies.ts).
import { requireEmulatorPackages } from './dependencies.js';

await requireEmulatorPackages();
const emulator = await import('./emulator.js');

/**
 * Starts the emulator; resolves once it listens.
 *
 * @function
 */
export const startEmulator: typeof emulator.startEmulator = emulator.startEmulator;
/**
 * Whether `value` can be the emulator's public host name (DNS name or IPv4 address).
 *
 * @function
 */
export const isValidPublicHost: typeof emulator.isValidPublicHost = emulator.isValidPublicHost;
export type { EmulatorClock } from './context.js';
export {
  EmulatorDependencyError,
  emulatorInstallCommand,
  emulatorPackages,
  missingEmulatorPackages,
} from './dependencies.js';
export type {
  ConnectionTimeouts,
  EmulatorLogger,
  EmulatorOptions,
  RunningEmulator,
  WorkspaceSettings,
} from './emulator.js';
export { createLogger, type LogLevel } from './log.js';
