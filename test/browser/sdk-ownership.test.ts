import { describe, expect, it } from 'vitest';
import {
  beginStart,
  deviceOptions,
  emulatorAndBrowser,
  emulatorHasAll,
  pageConnected,
  started,
  startInPage,
} from './device-page.js';
import { newContext, openPage } from './harness/index.js';

const bed = emulatorAndBrowser();

describe('one owner per database across tabs', () => {
  it('refuses a second tab with DATABASE_LOCKED; a waiting tab takes over when the owner closes', async () => {
    const context = await newContext(bed.browser);
    const options = deviceOptions(bed.emulator, {
      database: `shared-${Date.now()}`,
      deviceId: 'shared-panel',
    });
    const owner = await openPage(context, 'device.html', 'owner');
    await startInPage(owner, options);
    await pageConnected(owner);

    const second = await openPage(context, 'device.html', 'second');
    await beginStart(second, options);
    await expect(started(second)).rejects.toThrow(/DATABASE_LOCKED/);

    const waiting = await openPage(context, 'device.html', 'waiting');
    await beginStart(waiting, { ...options, waitForLock: true });
    // Still waiting while the owner works.
    const { id: ownerId } = await owner.evaluate(() => device.client!.sendMessage({ from: 'owner' }));
    expect(await waiting.evaluate(() => device.client === undefined && device.startError === undefined)).toBe(
      true,
    );

    await owner.close();
    await started(waiting);
    await pageConnected(waiting);
    const { id: takeoverId } = await waiting.evaluate(() => device.client!.sendMessage({ from: 'waiting' }));
    await emulatorHasAll(bed.emulator, 'shared-panel', [ownerId, takeoverId]);
    await context.close();
  });

  it('ends a wait for the lock with ABORTED when the start signal aborts', async () => {
    const context = await newContext(bed.browser);
    const options = deviceOptions(bed.emulator, { database: `abort-${Date.now()}`, deviceId: 'abort-panel' });
    const owner = await openPage(context, 'device.html', 'owner');
    await startInPage(owner, options);
    const waiting = await openPage(context, 'device.html', 'waiting');
    const error = await waiting.evaluate(async (options) => {
      try {
        await spotflow.DeviceClient.start({
          ...(options as never as Parameters<typeof spotflow.DeviceClient.start>[0]),
          waitForLock: true,
          signal: AbortSignal.timeout(300),
        });
        return 'started';
      } catch (error) {
        return (error as { code?: string }).code;
      }
    }, options);
    expect(['ABORTED', 'TIMEOUT']).toContain(error);
    await context.close();
  });
});
