/**
 * The network faults, run for one transport: link reset every 2 s, black hole, stall, throttle to 64 kB/s, and
 * flapping every 3 s. For each, a device sends at a steady rate through the fault proxy; the figures are counted on
 * the emulator (nothing lost, duplicates and time to recover reported), and a second device closes in the middle
 * of the fault, which must settle within the session's grace period.
 *
 * Time bounds are wide enough for a busy 2-core machine; SPOTFLOW_RELIABILITY_PATIENT=1 widens them further (used
 * to measure the SDK before the reliability work, whose recovery took minutes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../src/client.js';
import type { FaultProxy } from './fault-proxy.js';
import { networkFaults, sleep } from './faults.js';
import {
  count,
  type EmulatorProcess,
  proxyFor,
  report,
  startDevice,
  startEmulatorProcess,
  stopEmulatorProcess,
  type Transport,
  until,
  Workload,
} from './harness.js';

const patient = process.env.SPOTFLOW_RELIABILITY_PATIENT === '1';
/** The session's grace period for in-flight acknowledgements at close (src/iothub/session.ts). */
const closeGraceMs = 2000;

interface CaseFacts {
  faultStartedAt: number;
  faultEndedAt: number;
  /** `performance.now()` of each `disconnected` event of the counted device. */
  disconnects: number[];
}

/** Checks beyond the counts, by fault. */
const checks: Record<string, (facts: CaseFacts) => void> = {
  'black hole 20 s': ({ faultStartedAt, disconnects }) => {
    // The SDK notices the dead link within 15 s of the last packet while publishes wait (keep-alive 60 s).
    const noticed = disconnects.find((at) => at > faultStartedAt);
    expect(noticed).toBeDefined();
    expect(noticed! - faultStartedAt).toBeLessThan(15_000 + 2000);
  },
};

/**
 * Registers the network fault cases for `transport` (one emulator process and one proxy for the file); `only` names
 * the faults to run (all by default). The network-*.test.ts files run one fault each, so that the cases, which mostly
 * wait through their faults, run side by side in separate workers.
 */
export function describeNetworkFaults(transport: Transport, only?: readonly string[]): void {
  const unknown = only?.filter((name) => !networkFaults.some((fault) => fault.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`no such network fault: ${unknown.join(', ')}`);
  const dataDir = mkdtempSync(join(tmpdir(), `spotflow-reliability-${transport}-`));
  let emulator: EmulatorProcess;
  let proxy: FaultProxy;

  beforeAll(async () => {
    emulator = await startEmulatorProcess({ dataDir: join(dataDir, 'emulator'), tls: transport !== 'tcp' });
    proxy = await proxyFor(emulator);
  });
  afterAll(async () => {
    await proxy?.close();
    if (emulator) await stopEmulatorProcess(emulator);
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe(`network faults over ${transport}`, () => {
    for (const [index, fault] of networkFaults.entries()) {
      if (only !== undefined && !only.includes(fault.name)) continue;
      it(
        `${fault.name}: nothing lost, sending recovers, close() settles during the fault`,
        async () => {
          proxy.mode = { kind: 'pass' };
          const deviceId = `${transport}-${index}`;
          const device = await startDevice(emulator, transport, {
            database: join(dataDir, `${deviceId}.db`),
            deviceId,
          });
          const closing = await startDevice(emulator, transport, {
            database: join(dataDir, `${deviceId}-closing.db`),
            deviceId: `${deviceId}-closing`,
          });
          const facts: CaseFacts = { faultStartedAt: 0, faultEndedAt: 0, disconnects: [] };
          device.on('disconnected', () => facts.disconnects.push(performance.now()));
          const workload = new Workload(device, 100, 1024);
          let closeMs: number | undefined;
          try {
            await until(() => device.connected && closing.connected, 10_000, 'connected');
            workload.start();
            await until(() => workload.enqueued.length >= 100, 10_000, 'warm-up');

            facts.faultStartedAt = performance.now();
            const faulting = fault.run(proxy);
            // The second device has messages in flight when it is told to close, in the middle of the fault.
            await sleep(fault.closeAfterMs);
            // Durable and handed to the sender before close() is called (not a guess at how long that takes).
            await Promise.all(Array.from({ length: 20 }, (_, i) => closing.enqueueMessage({ i })));
            closeMs = await timeClose(closing, patient ? 30_000 : 10_000);
            await faulting;
            facts.faultEndedAt = performance.now();
            workload.faultEnded();

            await sleep(2000);
            await workload.stop();
            const drainBoundMs = patient ? 120_000 : fault.recoveryBoundMs + 20_000;
            const drained = await until(() => workload.unacknowledged === 0, drainBoundMs, 'drained').then(
              () => true,
              () => false,
            );
            const figures = await count(emulator, deviceId, workload, { fault: fault.name, transport });
            // What the device still holds is pending, not lost: its outbox keeps it (counted, then subtracted).
            const pending = await device.pendingMessagesCount();
            figures.pendingAtEnd = pending;
            figures.lost -= Math.min(pending, workload.unacknowledged);
            if (!drained) figures.recoveryMs = `> ${drainBoundMs}`;
            figures.closeMs = closeMs === undefined ? `> ${patient ? 30_000 : 10_000}` : Math.round(closeMs);
            figures.disconnects = facts.disconnects.length;
            if (fault.name.startsWith('black hole')) {
              const noticed = facts.disconnects.find((at) => at > facts.faultStartedAt);
              figures.deadLinkNoticedMs =
                noticed === undefined ? undefined : Math.round(noticed - facts.faultStartedAt);
            }
            report(figures);
            expect(drained, `not every message acknowledged within ${drainBoundMs} ms`).toBe(true);
            expect(figures.lost).toBe(0);
            expect(figures.received).toBe(figures.enqueued);
            expect(closeMs).toBeLessThan(closeGraceMs + 1500);
            expect(figures.recoveryMs).toBeLessThan(fault.recoveryBoundMs);
            checks[fault.name]?.(facts);
          } finally {
            proxy.mode = { kind: 'pass' };
            await workload.stop().catch(() => {});
            workload.dispose();
            // Bounded: a close that hangs (the SDK before its reliability work) must not hold the suite.
            await Promise.race([Promise.all([closing.close(), device.close()]), sleep(10_000)]);
          }
        },
        patient ? 600_000 : 120_000,
      );
    }
  });
}

/** How long `close()` takes, or undefined when it has not settled within `boundMs`. */
async function timeClose(client: DeviceClient, boundMs: number): Promise<number | undefined> {
  const started = performance.now();
  const settled = await Promise.race([client.close().then(() => true), sleep(boundMs).then(() => false)]);
  return settled ? performance.now() - started : undefined;
}
