/**
 * `spotflow-emulator --retain-messages <n>` and SPOTFLOW_EMULATOR_RETAIN_MESSAGES: read like the other flags, bad
 * values refused with usage and exit code 2.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../emulator/http/wire.js';
import { connectDevice } from '../helpers/device-mqtt.js';
import { ManagementClient, provisionDevice, type TestEmulator } from '../helpers/emulator.js';

const cli = 'dist/emulator/cli.js';
const base = ['--memory', '--port', '0', '--json', '--auto-approve', '--log-level', 'silent'];
let child: ChildProcess | undefined;

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});
afterEach(async () => {
  const process = child;
  child = undefined;
  if (!process || process.exitCode !== null || process.signalCode !== null) return;
  const gone = new Promise((resolve) => process.once('exit', resolve));
  process.kill('SIGTERM');
  await gone;
});

/** Starts the CLI; resolves with the emulator it printed, as the test helpers use it. */
async function started(args: string[], env: Record<string, string> = {}): Promise<TestEmulator> {
  child = spawn(process.execPath, [cli, ...base, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child!.stdout! }).once('line', resolve);
    child!.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  const ready = JSON.parse(line);
  const emulator = {
    ...ready,
    port: Number(new URL(ready.instance).port),
    ca: readFileSync(ready.caFile, 'utf8'),
  } as TestEmulator;
  emulator.api = new ManagementClient(emulator);
  return emulator;
}

/** Sends three messages from a new device; resolves with what the emulator kept and dropped. */
async function threeMessages(emulator: TestEmulator) {
  const device = await provisionDevice(emulator, 'cli-retention');
  const client = await connectDevice(emulator, device);
  for (const n of [1, 2, 3]) {
    await client.publishAsync(`devices/${device.hubDeviceId}/messages/events/n=${n}`, `m${n}`, { qos: 1 });
  }
  await client.endAsync();
  const kept = (await emulator.api.allMessages('cli-retention')).map((m) => m.properties.n);
  const devices = (await emulator.api.request<DeviceView[]>('GET', '/devices')).body;
  return { kept, dropped: devices[0]?.droppedMessages };
}

describe('spotflow-emulator --retain-messages', () => {
  it('keeps that many messages per device', async () => {
    expect(await threeMessages(await started(['--retain-messages', '2']))).toEqual({
      kept: ['2', '3'],
      dropped: 1,
    });
  });

  it('reads SPOTFLOW_EMULATOR_RETAIN_MESSAGES', async () => {
    expect(await threeMessages(await started([], { SPOTFLOW_EMULATOR_RETAIN_MESSAGES: '1' }))).toEqual({
      kept: ['3'],
      dropped: 2,
    });
  });

  it('lets the flag win over the variable; 0 keeps every message', async () => {
    const emulator = await started(['--retain-messages', '0'], { SPOTFLOW_EMULATOR_RETAIN_MESSAGES: '1' });
    expect(await threeMessages(emulator)).toEqual({ kept: ['1', '2', '3'], dropped: 0 });
  });

  it('says so in --help, with the default', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, '--help']);
    expect(stdout).toMatch(/--retain-messages <n>.*\n.*default 100000; 0 = keep every message/);
  });

  it.each([
    [['--retain-messages=-1'], {}],
    [['--retain-messages', 'lots'], {}],
    [['--retain-messages', '1.5'], {}],
    [['--retain-messages', '1e6'], {}],
    [['--retain-messages', '99999999999999999999'], {}],
    [[], { SPOTFLOW_EMULATOR_RETAIN_MESSAGES: 'all' }],
  ])('refuses %j %j with usage and exit code 2', async (args, env) => {
    const refused = await promisify(execFile)(process.execPath, [cli, ...base, ...args], {
      env: { ...process.env, ...env },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(refused).toMatchObject({ code: 2 });
    const { stderr } = refused as { stderr: string };
    expect(stderr).toContain('--retain-messages must be a whole number, 0 or more');
    expect(stderr).toContain('Usage: spotflow-emulator');
  });
});
