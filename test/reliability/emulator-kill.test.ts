/**
 * The platform dies under the device: the emulator process is SIGKILLed three times while a device sends, and
 * restarted each time on the same data directory and port. Counted on the emulator: nothing lost, duplicates
 * reported, and how soon sending resumed after each restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultProxy } from './fault-proxy.js';
import {
  count,
  type EmulatorProcess,
  proxyFor,
  report,
  startDevice,
  startEmulatorProcess,
  stopEmulatorProcess,
  until,
  Workload,
} from './harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-reliability-kill-'));
const emulatorDir = join(dataDir, 'emulator');
let emulator: EmulatorProcess;
let proxy: FaultProxy;

beforeAll(async () => {
  emulator = await startEmulatorProcess({ dataDir: emulatorDir });
  proxy = await proxyFor(emulator);
});
afterAll(async () => {
  await proxy?.close();
  if (emulator) await stopEmulatorProcess(emulator);
  rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the emulator SIGKILLed mid-stream', () => {
  it('three times, restarted on the same data directory: nothing lost, sending resumes each time', async () => {
    const device = await startDevice(emulator, 'tcp', {
      database: join(dataDir, 'device.db'),
      deviceId: 'killed',
    });
    const workload = new Workload(device, 100, 256);
    const resumes: number[] = [];
    try {
      await until(() => device.connected, 10_000, 'connected');
      workload.start();
      for (let kill = 0; kill < 3; kill++) {
        // Mid-stream: killed once the hub has acknowledged a good run of messages since the last restart.
        const ackedBefore = workload.acknowledged;
        await until(() => workload.acknowledged >= ackedBefore + 100, 15_000, 'sending before the kill');
        await stopEmulatorProcess(emulator, 'SIGKILL');
        await sleep(1000);
        emulator = await startEmulatorProcess({ dataDir: emulatorDir, port: emulator.port });
        const back = performance.now();
        const sentBefore = workload.acknowledged;
        await until(() => workload.acknowledged > sentBefore, 15_000, 'sending resumed after the restart');
        resumes.push(Math.round(performance.now() - back));
      }
      workload.faultEnded();
      await sleep(1000);
      await workload.stop();
      await until(() => workload.unacknowledged === 0, 30_000, 'every message acknowledged');
      const figures = await count(emulator, 'killed', workload, {
        fault: 'emulator SIGKILL ×3',
        transport: 'tcp',
      });
      figures.resumeAfterRestartMs = resumes;
      report(figures);
      expect(figures.lost).toBe(0);
      expect(figures.received).toBe(figures.enqueued);
      for (const ms of resumes) expect(ms).toBeLessThan(8000);
    } finally {
      await workload.stop().catch(() => {});
      workload.dispose();
      await device.close();
    }
  }, 90_000);
});
