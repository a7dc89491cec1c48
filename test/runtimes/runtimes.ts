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
import { DeviceStore } from '../../platform/node/index.js';
import { databaseContract } from '../contract/database-contract.js';
import { lockCases } from '../contract/lock-contract.js';
import { mqttContract } from '../contract/mqtt-contract.js';
import { outboxWriterConfig, startClient, tempDir } from '../helpers/client.js';
import { provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import type { RunnerConfig } from './contract-runner.js';

export type Runtime = 'bun' | 'deno';

const root = join(import.meta.dirname, '..', '..');

/** A script running in a runtime: its stdout lines and stderr so far, and how it ended. */
export interface RuntimeProcess {
  child: ChildProcess;
  lines: string[];
  stderr(): string;
  /** The exit code, or the signal that ended it. */
  exit: Promise<number | string | null>;
  /** Resolves once `count` lines were printed or the process ended; rejects after `timeoutMs`. */
  printed(count: number, timeoutMs: number): Promise<void>;
}

/** Starts `script` (TypeScript or JavaScript, run as the runtime runs it) in the runtime, in the repository. */
export function startRuntime(runtime: Runtime, script: string, args: string[]): RuntimeProcess {
  const bin = join(root, 'node_modules', '.bin', runtime);
  // Deno: every permission (what a device's process has), and `./x.js` imports resolved to `./x.ts` as tsc does.
  const flags = runtime === 'deno' ? ['run', '-A', '--unstable-sloppy-imports'] : [];
  const child = spawn(bin, [...flags, script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const errors: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => errors.push(chunk));
  const output = createInterface({ input: child.stdout! });
  output.on('line', (line) => lines.push(line));
  const exit = new Promise<number | string | null>((resolve) =>
    child.once('close', (code, signal) => resolve(signal ?? code)),
  );
  const printed = (count: number, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (lines.length < count) return;
        done();
        resolve();
      };
      const ended = () => {
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${count} lines not printed within ${timeoutMs} ms (${lines.length} were)`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        output.off('line', check);
        child.off('close', ended);
      };
      output.on('line', check);
      child.once('close', ended);
      check();
    });
  return { child, lines, stderr: () => errors.join('').slice(0, 3000), exit, printed };
}

/** Runs `script` to its end (killed after `timeoutMs`). */
export async function runToEnd(
  runtime: Runtime,
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<{ lines: string[]; stderr: string; exit: number | string | null }> {
  const run = startRuntime(runtime, script, args);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const exit = await run.exit;
  clearTimeout(timer);
  return { lines: run.lines, stderr: run.stderr(), exit };
}

interface CaseResult {
  suite: string;
  name: string;
  error?: string;
}

/**
 * The contract suites inside `runtime`: one test per case, failing with the case's own error. `nodeEntry`: the
 * database and lock suites of the Node entry's platform instead, whose SQLite rule must pick `node:sqlite` there.
 */
export function runtimeContracts(runtime: Runtime, options: { nodeEntry?: boolean } = {}): void {
  const nodeEntry = options.nodeEntry === true;
  const transports: RunnerConfig['transports'] = nodeEntry ? [] : ['mqtt', 'mqtts'];
  const title = nodeEntry ? `the Node entry's storage on ${runtime}` : `contract suites on ${runtime}`;
  describe(title, () => {
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
        nodeEntry,
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
        failure = `the runner ended (${run.exit}) before it was done; stderr: ${run.stderr}`;
      }
    }, 120_000);
    afterAll(() => emulator?.close());

    if (nodeEntry) {
      it('picks node:sqlite, better-sqlite3 not loading there', () => {
        expect(results.get('driver: node:sqlite'), `driver not reported. ${failure}`).toBeDefined();
      });
    }
    const cases = [
      ...databaseContract.map(({ name }) => `database: ${name}`),
      ...lockCases(false).map(({ name }) => `lock: ${name}`),
      ...transports.flatMap((transport) => mqttContract.map(({ name }) => `mqtt ${transport}: ${name}`)),
    ];
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
      expect(run.exit, run.stderr).toBe(0);
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
 * Runs the writer in `runtime` until 300 enqueues resolved, SIGKILLs it, drains the database in the same runtime;
 * returns each resolved line's fields (`<writer> <n> <id> [<device>]`).
 */
async function killThenDrain(runtime: Runtime, config: object): Promise<string[][]> {
  const writer = startRuntime(runtime, 'test/fixtures/outbox-writer.mjs', [JSON.stringify(config)]);
  try {
    // 'started', then 300 enqueues resolved (or the writer ended early: the checks below say how).
    await writer.printed(301, 20_000);
  } finally {
    writer.child.kill('SIGKILL');
  }
  expect(await writer.exit, writer.stderr()).toBe('SIGKILL');
  // Read after the kill: a line the writer wrote whole before it is as good as one seen before.
  const resolved = writer.lines
    .slice(1)
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] !== undefined);
  expect(resolved.length).toBeGreaterThanOrEqual(300);
  const drain = await runToEnd(
    runtime,
    'test/fixtures/outbox-writer.mjs',
    [JSON.stringify({ ...config, drain: true })],
    30_000,
  );
  expect(drain.exit, drain.stderr).toBe(0);
  return resolved;
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
      const config = outboxWriterConfig(emulator, deviceId, database);
      const acknowledged = (await killThenDrain(runtime, config)).map((fields) => fields[2]!);
      const stored = new Set((await emulator.api.allMessages(deviceId)).map((message) => message.mid));
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    }, 60_000);

    it('delivers every resolved message of two devices on one DeviceStore, each to its own device', async () => {
      const devices = [`${runtime}-store-a`, `${runtime}-store-b`];
      const database = dirs.file(`${runtime}-store.db`);
      // Provisioned here (Node): the runtime's driver then opens a store another one made.
      const store = await DeviceStore.open(database);
      for (const deviceId of devices) await (await startClient(emulator, { store, deviceId })).close();
      await store.close();
      const config = { ...outboxWriterConfig(emulator, devices[0]!, database), devices };
      const acknowledged = await killThenDrain(runtime, config);
      for (const deviceId of devices) {
        const stored = new Set((await emulator.api.allMessages(deviceId)).map((message) => message.mid));
        const own = acknowledged.filter((fields) => fields[3] === deviceId).map((fields) => fields[2]);
        expect(own.length).toBeGreaterThan(0);
        expect(own.filter((id) => !stored.has(id!))).toEqual([]);
      }
    }, 60_000);
  });
}
