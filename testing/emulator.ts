import type { EmulatorOptions, RunningEmulator } from '../emulator/emulator.js';
import { TestClock } from './clock.js';
import { ManagementClient } from './management-client.js';

/** Options of {@link startTestEmulator}: the emulator's own, plus its clock and the client's default timeout. */
export interface TestEmulatorOptions extends Omit<EmulatorOptions, 'clock'> {
  /** The emulator's clock. Default: a new {@link TestClock} (real time that `clock.advance(ms)` moves forward). */
  clock?: TestClock;
  /** Default bound of the management client's waits and calls, in ms. Default 10 000. */
  timeoutMs?: number;
}

/** A running emulator with its management client and its clock. */
export interface TestEmulator extends RunningEmulator {
  /** The management API of this emulator's workspace. */
  api: ManagementClient;
  /** What the emulator's expiries run on: `clock.advance(ms)` makes tokens and operations expire now. */
  clock: TestClock;
}

/**
 * Starts the emulator for a test: in memory, on a free port, on a {@link TestClock}, with a management client.
 * The server stack (the emulator's optional peer dependencies) is loaded only here, so the rest of
 * `spotflow-device/testing` (the management client against an emulator started elsewhere) works without it.
 *
 * @example
 * ```ts
 * import { startTestEmulator } from 'spotflow-device/testing';
 * const emulator = await startTestEmulator();
 * const client = await DeviceClient.start({ instance: emulator.instance, provisioningToken: emulator.provisioningToken, … });
 * await emulator.api.approveDevice('my-device');
 * await emulator.api.waitForMessages('my-device', 1);
 * await emulator.close();
 * ```
 */
export async function startTestEmulator(options: TestEmulatorOptions = {}): Promise<TestEmulator> {
  const { clock = new TestClock(), timeoutMs, ...rest } = options;
  const { startEmulator } = await import('../emulator/index.js');
  const emulator = await startEmulator({ memory: true, port: 0, ...rest, clock });
  const api = new ManagementClient({
    // Plain HTTP on the one port, whatever scheme the instance advertises (the port speaks both).
    instance: `http://localhost:${emulator.port}`,
    workspaceId: emulator.workspaceId,
    apiToken: emulator.apiToken,
    timeoutMs,
  });
  return Object.assign(emulator, { api, clock });
}
