/**
 * `close()` on a black-holed link: the device has publishes in flight, the proxy drops every byte from then on
 * (sockets kept, so nothing tells the device), and `close()` must settle within the session's 2 s grace period
 * rather than wait for the keep-alive. Over TLS and over WebSockets (whose stream ends differently).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultProxy } from './fault-proxy.js';
import {
  type EmulatorProcess,
  proxyFor,
  startDevice,
  startEmulatorProcess,
  stopEmulatorProcess,
  until,
} from './harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-reliability-close-'));
let emulator: EmulatorProcess;
let proxy: FaultProxy;

beforeAll(async () => {
  emulator = await startEmulatorProcess({ dataDir: join(dataDir, 'emulator'), tls: true });
  proxy = await proxyFor(emulator);
});
afterAll(async () => {
  await proxy?.close();
  if (emulator) await stopEmulatorProcess(emulator);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('close() on a black-holed link', () => {
  for (const transport of ['tls', 'wss'] as const) {
    it(`settles within its 2 s grace period with publishes in flight (${transport})`, async () => {
      proxy.mode = { kind: 'pass' };
      const client = await startDevice(emulator, transport, {
        database: join(dataDir, `close-${transport}.db`),
        deviceId: `close-${transport}`,
      });
      let closed = false;
      try {
        await until(() => client.connected, 10_000, 'connected');
        await client.sendMessage('before the black hole');
        proxy.mode = { kind: 'blackhole' };
        const droppedBefore = proxy.droppedFromDevice;
        for (let i = 0; i < 10; i++) await client.enqueueMessage({ i });
        // The publishes are written (and swallowed by the black hole) before close is called.
        await until(() => proxy.droppedFromDevice - droppedBefore >= 10 * 20, 10_000, 'publishes written');
        const started = performance.now();
        await client.close();
        closed = true;
        const elapsed = performance.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(1900); // it did wait for the acknowledgements
        expect(elapsed).toBeLessThan(2000 + 1500);
      } finally {
        proxy.mode = { kind: 'pass' };
        if (!closed) await client.close();
      }
    }, 30_000);
  }
});
