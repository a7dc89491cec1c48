import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDevice, until } from './harness.js';
import { proxiedEmulatorPerFile } from './proxied-emulator.js';

const site = proxiedEmulatorPerFile('close', { tls: true });

describe('close() on a black-holed link', () => {
  for (const transport of ['tls', 'wss'] as const) {
    it(`settles within its 2 s grace period with publishes in flight (${transport})`, async () => {
      site.proxy.mode = { kind: 'pass' };
      const client = await startDevice(site.emulator, transport, {
        database: join(site.dataDir, `close-${transport}.db`),
        deviceId: `close-${transport}`,
      });
      let closed = false;
      try {
        await until(() => client.connected, 10_000, 'connected');
        await client.sendMessage('before the black hole');
        site.proxy.mode = { kind: 'blackhole' };
        const droppedBefore = site.proxy.droppedFromDevice;
        for (let i = 0; i < 10; i++) await client.enqueueMessage({ i });
        // The publishes are written (and swallowed by the black hole) before close is called.
        await until(
          () => site.proxy.droppedFromDevice - droppedBefore >= 10 * 20,
          10_000,
          'publishes written',
        );
        const started = performance.now();
        await client.close();
        closed = true;
        const elapsed = performance.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(1900); // it did wait for the acknowledgements
        expect(elapsed).toBeLessThan(2000 + 1500);
      } finally {
        site.proxy.mode = { kind: 'pass' };
        if (!closed) await client.close();
      }
    }, 30_000);
  }
});
