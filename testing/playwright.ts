/**
 * Fixtures for `@playwright/test`: one emulator per worker, a fresh namespace of devices for each test.
 *
 * @example
 * ```ts
 * import { test as base, expect } from '@playwright/test';
 * import { spotflowFixtures } from 'spotflow-device/testing/playwright';
 *
 * const test = base.extend(spotflowFixtures);
 *
 * test('a reading arrives', async ({ page, spotflow }) => {
 *   const deviceId = spotflow.deviceId('kiosk');
 *   // … open your app with spotflow.instance, spotflow.provisioningToken and deviceId …
 *   await spotflow.api.approve(await page.getByTestId('code').innerText());
 *   await spotflow.api.waitForMessages(deviceId, 1);
 * });
 * ```
 */
import type { Fixtures } from '@playwright/test';
import type { WorkspaceSettings } from '../emulator/state/workspace.js';
import type { TestClock } from './clock.js';
import { startTestEmulator, type TestEmulator, type TestEmulatorOptions } from './emulator.js';
import type { ManagementClient } from './management-client.js';

/** What a test gets as `spotflow`: the worker's emulator, seen through a namespace of device ids of its own. */
export interface SpotflowTestContext {
  /** The instance URL devices are given. */
  instance: string;
  /** The provisioning token devices are given. */
  provisioningToken: string;
  /** The emulator's workspace. */
  workspaceId: string;
  /** The portal (API token in the fragment). */
  portalUrl: string;
  /** PEM of the CA behind the emulator's TLS certificate. */
  ca: string;
  /** The management API (the whole workspace: use ids from {@link SpotflowTestContext.deviceId}). */
  api: ManagementClient;
  /**
   * The emulator's clock: `advance(ms)` moves it forward at once. Every test starts at the real time (the fixture
   * rewinds the clock after each test).
   */
  clock: TestClock;
  /**
   * A device id that belongs to this test alone, e.g. `kiosk` → `w0-t3-kiosk` (the same name gives the same id
   * within the test). After the test its devices' pending operations are cancelled, their registration tokens
   * revoked and their connections dropped.
   */
  deviceId(name?: string): string;
}

/** The per-test fixtures of {@link spotflowFixtures}. */
export interface SpotflowTestFixtures {
  /** The test's view of the worker's emulator. */
  spotflow: SpotflowTestContext;
}

/** The per-worker fixtures of {@link spotflowFixtures}. */
export interface SpotflowWorkerFixtures {
  /** Options of the worker's emulator (`test.use({ spotflowEmulatorOptions: { … } })` at the top of a file). */
  spotflowEmulatorOptions: TestEmulatorOptions;
  /** The worker's emulator, started before its first test that uses `spotflow`, closed after its last. */
  spotflowEmulator: TestEmulator;
}

let testsInWorker = 0;

/** Pass to `test.extend`: adds `spotflow` (per test) and `spotflowEmulator` (per worker). */
export const spotflowFixtures: Fixtures<SpotflowTestFixtures, SpotflowWorkerFixtures> = {
  spotflowEmulatorOptions: [{}, { scope: 'worker', option: true }],
  spotflowEmulator: [
    async ({ spotflowEmulatorOptions }, use) => {
      const emulator = await startTestEmulator(spotflowEmulatorOptions);
      await use(emulator);
      await emulator.close();
    },
    { scope: 'worker' },
  ],
  spotflow: async ({ spotflowEmulator: emulator }, use, testInfo) => {
    const prefix = `w${testInfo.workerIndex}-t${++testsInWorker}`;
    const devices = new Set<string>();
    const settings = await emulator.api.settings();
    await use({
      instance: emulator.instance,
      provisioningToken: emulator.provisioningToken,
      workspaceId: emulator.workspaceId,
      portalUrl: emulator.portalUrl,
      ca: emulator.ca,
      api: emulator.api,
      clock: emulator.clock,
      deviceId(name = 'device') {
        const id = `${prefix}-${name}`;
        devices.add(id);
        return id;
      },
    });
    await cleanUp(emulator, devices, settings);
    emulator.clock.rewind();
  },
};

/**
 * Leaves nothing of the test behind for the next one: its devices are shut out, the settings set back (the clock is
 * rewound after this, when nothing of the test can still act on the time it saw).
 */
async function cleanUp(
  emulator: TestEmulator,
  devices: Set<string>,
  settings: WorkspaceSettings,
): Promise<void> {
  const { api } = emulator;
  for (const operation of await api.operations('pending')) {
    if (devices.has(operation.deviceId)) await api.cancel(operation.verificationCode).catch(() => {});
  }
  for (const device of await api.devices()) {
    if (!devices.has(device.deviceId)) continue;
    await api.revokeRegistrationToken(device.deviceId);
    if (device.connected) await api.dropConnection(device.deviceId).catch(() => {});
  }
  const now = await api.settings();
  const changed = Object.fromEntries(
    Object.entries(settings).filter(([key, value]) => now[key as keyof typeof now] !== value),
  );
  if (Object.keys(changed).length > 0) await api.updateSettings(changed);
}
