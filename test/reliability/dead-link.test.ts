/**
 * A dead link noticed while sending, through the real stack: default options (keep-alive 60 s), publishes
 * outstanding, and the proxy black-holes every byte (sockets kept open, so nothing tells the device). The device
 * must drop the connection within 15 s of the last packet it got, and deliver everything once the link is back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSpotflowError } from '../../src/errors.js';
import type { FaultProxy } from './fault-proxy.js';
import {
  type EmulatorProcess,
  proxyFor,
  startDevice,
  startEmulatorProcess,
  stopEmulatorProcess,
  storedMids,
  until,
} from './harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-reliability-dead-link-'));
let emulator: EmulatorProcess;
let proxy: FaultProxy;

beforeAll(async () => {
  emulator = await startEmulatorProcess({ dataDir: join(dataDir, 'emulator') });
  proxy = await proxyFor(emulator);
});
afterAll(async () => {
  await proxy?.close();
  if (emulator) await stopEmulatorProcess(emulator);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a dead link while sending', () => {
  it('is noticed within 15 s of the last packet with default options, and nothing is lost', async () => {
    const client = await startDevice(emulator, 'tcp', {
      database: join(dataDir, 'dead-link.db'),
      deviceId: 'dead-link',
    });
    try {
      await until(() => client.connected, 10_000, 'connected');
      await client.sendMessage('before the black hole');
      const disconnected = new Promise<{ error?: Error; at: number }>((resolve) =>
        client.once('disconnected', ({ error }) => resolve({ error, at: performance.now() })),
      );
      proxy.mode = { kind: 'blackhole' };
      const lastPacketAt = proxy.lastToDeviceAt;
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

      proxy.mode = { kind: 'pass' };
      await Promise.race([
        client.waitEnqueuedMessagesSent(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('not delivered within 20 s')), 20_000)),
      ]);
      const stored = new Set(await storedMids(emulator, 'dead-link'));
      expect(ids.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      proxy.mode = { kind: 'pass' };
      await client.close();
    }
  }, 60_000);
});
