/**
 * The tests every server runtime other than Node gets (bun.test.ts, deno.test.ts call these): the database, lock
 * and MQTT contract suites run inside the runtime (contract-runner.ts), one vitest test per case, and the
 * end-to-end scenario (device-scenario.mjs) against the emulator over TLS. The runtimes come from npm
 * (devDependencies `bun`, `deno`); the emulator runs here, on Node.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseContract } from '../contract/database-contract.js';
import { lockCases } from '../contract/lock-contract.js';
import { mqttContract } from '../contract/mqtt-contract.js';
import { startClient, tempDir } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import type { RunnerConfig } from './contract-runner.js';
import { leftOutMqttCases } from './left-out.js';

export type Runtime = 'bun' | 'deno';

const root = join(import.meta.dirname, '..', '..');
const transports: RunnerConfig['transports'] = ['mqtt', 'mqtts'];

/** Starts `script` (TypeScript or JavaScript, run as the runtime runs it) in the runtime, in the repository. */
export function spawnRuntime(runtime: Runtime, script: string, args: string[]): ChildProcess {
  const bin = join(root, 'node_modules', '.bin', runtime);
  // Deno: every permission (what a device's process has), and `./x.js` imports resolved to `./x.ts` as tsc does.
  const flags = runtime === 'deno' ? ['run', '-A', '--unstable-sloppy-imports'] : [];
  return spawn(bin, [...flags, script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `script` to its end (killed after `timeoutMs`); its stdout lines and its stderr. */
export async function runToEnd(
  runtime: Runtime,
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<{ lines: string[]; stderr: string; exit: number | string | null }> {
  const child = spawnRuntime(runtime, script, args);
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = await new Promise<number | string | null>((resolve) =>
    child.once('close', (code, signal) => resolve(signal ?? code)),
  );
  clearTimeout(timer);
  return { lines, stderr, exit };
}

interface CaseResult {
  suite: string;
  name: string;
  error?: string;
}

/** The contract suites inside `runtime`: one test per case, failing with the case's own error. */
export function runtimeContracts(runtime: Runtime): void {
  describe(`contract suites on ${runtime}`, () => {
    let emulator: TestEmulator;
    const results = new Map<string, CaseResult>();
    let failure = '';

    beforeAll(async () => {
      emulator = await startTestEmulator();
      // One device per MQTT case and transport, and a spare each (a case that reconnects provisions again).
      const count = mqttContract.length * transports.length * 2;
      const devices = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const device = await provisionDevice(emulator, `${runtime}-contract-${i}`);
          return { ...device, password: device.sasToken };
        }),
      );
      const config: RunnerConfig = {
        runtime,
        emulator: {
          port: emulator.port,
          workspaceId: emulator.workspaceId,
          apiToken: emulator.apiToken,
          ca: emulator.ca,
        },
        devices,
        transports,
      };
      const run = await runToEnd(
        runtime,
        'test/runtimes/contract-runner.ts',
        [JSON.stringify(config)],
        90_000,
      );
      const lines = run.lines.map((line) => JSON.parse(line) as CaseResult & { done?: true });
      for (const line of lines) {
        if (line.done !== true) results.set(`${line.suite}: ${line.name}`, line);
      }
      if (!lines.some((line) => line.done)) {
        failure = `the runner ended (${run.exit}) before it was done; stderr: ${run.stderr.slice(0, 3000)}`;
      }
    }, 120_000);
    afterAll(() => emulator?.close());

    const cases = [
      ...databaseContract.map(({ name }) => `database: ${name}`),
      ...lockCases(false).map(({ name }) => `lock: ${name}`),
      ...transports.flatMap((transport) =>
        mqttContract
          .filter(({ name }) => !leftOutMqttCases.has(name))
          .map(({ name }) => `mqtt ${transport}: ${name}`),
      ),
    ];
    for (const [name, reason] of leftOutMqttCases) it.skip(`mqtt: ${name} (left out: ${reason})`, () => {});
    it.each(cases)('%s', (key) => {
      const result = results.get(key);
      if (result === undefined) throw new Error(`not run on ${runtime}. ${failure}`);
      if (result.error !== undefined) throw new Error(`on ${runtime}: ${result.error}`);
    });
  });
}

/** The end-to-end scenario inside `runtime`, checked against what the emulator stored. */
export function runtimeScenario(runtime: Runtime): void {
  describe(`DeviceClient on ${runtime}`, () => {
    const dirs = tempDir(`spotflow-${runtime}-e2e-`);
    let emulator: TestEmulator;
    beforeAll(async () => {
      emulator = await startTestEmulator({ tls: true, settings: { autoApprove: true } });
    });
    afterAll(async () => {
      await emulator?.close();
      dirs.cleanup();
    });

    it("imports 'spotflow-device', verifies TLS, owns its database, and delivers compressed messages and a file upload over TLS", async () => {
      const deviceId = `${runtime}-e2e`;
      const config = {
        instance: emulator.instance,
        provisioningToken: emulator.provisioningToken,
        deviceId,
        database: dirs.file(`${deviceId}.db`),
        ca: emulator.ca,
      };
      expect(config.instance).toMatch(/^https:/);
      const run = await runToEnd(
        runtime,
        'test/runtimes/device-scenario.mjs',
        [JSON.stringify(config)],
        60_000,
      );
      expect(run.exit, run.stderr.slice(0, 3000)).toBe(0);
      const seen = JSON.parse(run.lines[0] ?? '{}') as {
        untrusted: string;
        second: string;
        ids: string[];
        bigId: string;
      };
      expect(seen).toMatchObject({ untrusted: 'TLS', second: 'DATABASE_LOCKED' });

      const stored = await emulator.api.allMessages(deviceId);
      expect(stored.map((m) => m.mid)).toEqual([...seen.ids, seen.bigId]);
      for (const [i, message] of stored.slice(0, 64).entries()) {
        expect(message.properties['content-encoding']).toBe('br');
        // The emulator stores the payload as decoded (it would refuse bytes that were not Brotli).
        const body = JSON.parse(Buffer.from(message.payloadBase64, 'base64').toString());
        expect(body.i).toBe(i);
      }
      const big = stored[64];
      expect(big.properties['has-externalized-payload']).toBe('true');
      expect(Buffer.from(big.payloadBase64, 'base64').equals(Buffer.alloc(2_000_000, 7))).toBe(true);
    }, 90_000);
  });
}

/**
 * Durable before resolved, across a real `kill -9` of the runtime: the writer (test/fixtures/outbox-writer.mjs)
 * prints each id once its enqueue resolved, is SIGKILLed mid-burst, restarts in the same runtime on the same
 * database and drains it; every printed id must reach the emulator.
 */
export function runtimeKill(runtime: Runtime): void {
  describe(`kill -9 on ${runtime}`, () => {
    const dirs = tempDir(`spotflow-${runtime}-kill-`);
    let emulator: TestEmulator;
    beforeAll(async () => {
      emulator = await startTestEmulator({ settings: { autoApprove: true } });
    });
    afterAll(async () => {
      await emulator?.close();
      dirs.cleanup();
    });

    it('delivers every message whose enqueue resolved before the SIGKILL', async () => {
      const deviceId = `${runtime}-killed`;
      const database = dirs.file(`${deviceId}.db`);
      // Provisioned here (Node, better-sqlite3): the runtime's driver then opens a database another one made.
      const first = await startClient(emulator, { database, deviceId });
      await first.close();
      const config = {
        instance: emulator.instance,
        provisioningToken: emulator.provisioningToken,
        deviceId,
        database,
        ca: emulator.ca,
        writers: 4,
      };
      const child = spawnRuntime(runtime, 'test/fixtures/outbox-writer.mjs', [JSON.stringify(config)]);
      const printed: string[] = [];
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const id = line.split(' ')[2];
        if (id !== undefined) printed.push(id);
      });
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
      try {
        await waitFor(() => printed.length >= 300 || child.exitCode !== null, 20_000);
      } finally {
        child.kill('SIGKILL');
      }
      expect(await exited, stderr.slice(0, 2000)).toBe('SIGKILL');
      expect(printed.length).toBeGreaterThanOrEqual(300);

      const drain = await runToEnd(
        runtime,
        'test/fixtures/outbox-writer.mjs',
        [JSON.stringify({ ...config, drain: true })],
        30_000,
      );
      expect(drain.exit, drain.stderr.slice(0, 2000)).toBe(0);
      const stored = new Set((await emulator.api.allMessages(deviceId)).map((message) => message.mid));
      expect(printed.filter((id) => !stored.has(id))).toEqual([]);
    }, 60_000);
  });
}
