/**
 * Test helpers for apps built on the device SDK: the emulator started for a test ({@link startTestEmulator}), a
 * typed client of its management API ({@link ManagementClient}) with bounded waits, and a clock that tests move
 * ({@link TestClock}). Node only. The fixture for `@playwright/test` is in `spotflow-device/testing/playwright`.
 *
 * @example
 * ```ts
 * import { startTestEmulator, messageJson } from 'spotflow-device/testing';
 * const emulator = await startTestEmulator();
 * // … start your device against emulator.instance / emulator.provisioningToken …
 * await emulator.api.approve(codeYourDeviceShows);
 * const [first] = await emulator.api.waitForMessages('my-device', 1, { stream: 'readings' });
 * console.log(messageJson(first!));
 * await emulator.close();
 * ```
 */
export type {
  CloudMessageView,
  ConnectionEntry,
  DeviceView,
  MethodResultView,
  OperationStatus,
  OperationView,
  ProblemView,
  TwinSectionDocument,
  TwinView,
} from '../emulator/http/wire.js';
export type { WorkspaceSettings } from '../emulator/state/workspace.js';
export { TestClock } from './clock.js';
export { startTestEmulator, type TestEmulator, type TestEmulatorOptions } from './emulator.js';
export { EmulatorApiError, WaitTimeoutError } from './errors.js';
export {
  ManagementClient,
  type ManagementClientOptions,
  type MessageQuery,
  type MessageWaitOptions,
  type MethodCallOptions,
} from './management-client.js';
export { type EmulatorMessage, messageJson, messageText } from './messages.js';
export type { WaitOptions } from './wait.js';
