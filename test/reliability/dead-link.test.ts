import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSpotflowError } from '../../src/errors.js';
import { startDevice, storedMids, until } from './harness.js';
import { proxiedEmulatorPerFile } from './proxied-emulator.js';

const site = proxiedEmulatorPerFile('dead-link');

describe('a dead link while sending', () => {
  it('is noticed within 15 s of the last packet with default options, and nothing is lost', async () => {
    const client = await startDevice(site.emulator, 'tcp', {
      database: join(site.dataDir, 'dead-link.db'),
      deviceId: 'dead-link',
    });
    try {
      await until(() => client.connected, 10_000, 'connected');
      await client.sendMessage('before the black hole');
      const disconnected = new Promise<{ error?: Error; at: number }>((resolve) =>
        client.once('disconnected', ({ error }) => resolve({ error, at: performance.now() })),
      );
      site.proxy.mode = { kind: 'blackhole' };
      const lastPacketAt = site.proxy.lastToDeviceAt;
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await client.enqueueMessage({ i })).id);

      const outcome = await Promise.race([
        disconnected,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 25_000)),
      ]);
      expect(outcome, 'no disconnect within 25 s').toBeDefined();
      const noticedAfter = outcome!.at - lastPacketAt;
      expect(noticedAfter).toBeGreaterThanOrEqual(15_000 - 50);
      expect(noticedAfter).toBeLessThan(15_000 + 2000);
      expect(isSpotflowError(outcome!.error, 'NETWORK')).toBe(true);
      expect(outcome!.error!.message).toMatch(
        /^No packet from the hub for 15 s while \d+ operations? awaited/,
      );

      site.proxy.mode = { kind: 'pass' };
      await Promise.race([
        client.waitEnqueuedMessagesSent(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('not delivered within 20 s')), 20_000)),
      ]);
      const stored = new Set(await storedMids(site.emulator, 'dead-link'));
      expect(ids.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      site.proxy.mode = { kind: 'pass' };
      await client.close();
    }
  }, 60_000);
});
