// The kiosk demo (the build in dist/demo/kiosk) on the fixtures of `spotflow-device/testing/playwright`, used as
// the README shows: a technician approves the code the panel shows, readings arrive, a desired change shows on the
// panel. Each test serves the kiosk with a config.json naming a device of its own.
import { test as base, expect } from '@playwright/test';
import { messageJson } from 'spotflow-device/testing';
import { spotflowFixtures } from 'spotflow-device/testing/playwright';
import { serveKiosk } from '../../demo/start/kiosk-server.js';

const kioskRoot = new URL('../../dist/demo/kiosk', import.meta.url).pathname;

const test = base.extend(spotflowFixtures).extend<{ kioskDeviceId: string; kioskUrl: string }>({
  kioskDeviceId: async ({ spotflow }, use) => use(spotflow.deviceId('kiosk')),
  kioskUrl: async ({ spotflow, kioskDeviceId }, use) => {
    const config = {
      instance: spotflow.instance,
      provisioningToken: spotflow.provisioningToken,
      portalUrl: spotflow.portalUrl,
      deviceId: kioskDeviceId,
      database: kioskDeviceId,
    };
    const server = await serveKiosk(kioskRoot, config, '127.0.0.1', 0);
    await use(server.url);
    await server.close();
  },
});

interface Reading {
  temperature: number;
  humidity: number;
  at: string;
}

test('approve, readings arrive, a desired change shows on the panel', async ({
  page,
  spotflow,
  kioskUrl,
  kioskDeviceId: deviceId,
}) => {
  await page.goto(kioskUrl);
  const code = page.getByTestId('verification-code');
  await expect(code).toHaveText(/\S/);
  await spotflow.api.approve((await code.textContent()) ?? '');

  await expect(page.getByTestId('connection-state')).toHaveText('connected');
  const readings = await spotflow.api.waitForMessages(deviceId, 3, { stream: 'readings' });
  for (const reading of readings.map((message) => messageJson<Reading>(message))) {
    expect(reading).toEqual({
      temperature: expect.any(Number),
      humidity: expect.any(Number),
      at: expect.any(String),
    });
  }
  await expect(page.getByTestId('sent-count')).not.toHaveText('0');

  await spotflow.api.patchDesired(deviceId, { samplingIntervalMs: 250 });
  await expect(page.getByTestId('sampling-interval')).toHaveText('250');
  await expect(page.getByTestId('desired-state')).toContainText('250');
  await spotflow.api.waitForTwin(deviceId, (twin) => twin.reported.samplingIntervalMs === 250);
});

test('each test has devices of its own; an unapproved code expires when the emulator clock moves', async ({
  page,
  spotflow,
  kioskUrl,
  kioskDeviceId: deviceId,
}) => {
  expect(await spotflow.api.device(deviceId)).toBeUndefined();
  await page.goto(kioskUrl);
  const operation = await spotflow.api.waitForOperation(deviceId);
  await expect(page.getByTestId('verification-code')).toHaveText(operation.verificationCode);

  const { provisioningOperationLifetimeSeconds } = await spotflow.api.settings();
  spotflow.clock.advance(provisioningOperationLifetimeSeconds * 1000);
  await expect(page.getByTestId('error')).toContainText('PROVISIONING_EXPIRED');
  await expect(spotflow.api.approve(operation.verificationCode)).rejects.toThrow('it is expired');
});

// Runs after the test above in the same worker (one worker, in file order): the clock that test advanced is back at
// the real time.
test('the next test starts at the real time', async ({ spotflow }) => {
  expect(spotflow.clock.offsetMs).toBe(0);
  expect(Math.abs(spotflow.clock.now() - Date.now())).toBeLessThan(1_000);
});
