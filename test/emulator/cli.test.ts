import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/emulator.js';

const cli = 'dist/emulator/cli.js';
let child: ChildProcess | undefined;

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

function start(args: string[], env: Record<string, string> = {}) {
  child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = createInterface({ input: child.stdout! });
  return new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child!.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
}

function exited(process: ChildProcess) {
  return new Promise<number | null>((resolve) => process.once('exit', (code) => resolve(code)));
}

describe('spotflow-emulator command', () => {
  it('prints one JSON line with the credentials, serves them, and exits cleanly on SIGTERM', async () => {
    const line = await start(['--memory', '--port', '0', '--json', '--log-level', 'warn']);
    const ready = JSON.parse(line);
    expect(ready).toEqual({
      instance: expect.stringMatching(/^http:\/\/localhost:\d+$/),
      provisioningToken: expect.any(String),
      workspaceId: expect.any(String),
      apiToken: expect.any(String),
      caFile: expect.stringMatching(/ca\.crt$/),
    });
    const init = await call(ready.instance, 'POST', '/provisioning-operations/init', {
      token: ready.provisioningToken,
      json: { deviceId: 'cli-device' },
    });
    expect(init.status).toBe(200);
    const running = child!;
    running.kill('SIGTERM');
    expect(await exited(running)).toBe(0);
  });

  it('takes options from environment variables and auto-approves', async () => {
    const ready = JSON.parse(
      await start([], {
        SPOTFLOW_EMULATOR_MEMORY: '1',
        SPOTFLOW_EMULATOR_PORT: '0',
        SPOTFLOW_EMULATOR_JSON: 'true',
        SPOTFLOW_EMULATOR_AUTO_APPROVE: '1',
        SPOTFLOW_EMULATOR_PROVISIONING_TOKEN: 'fixed-provisioning-token',
        SPOTFLOW_EMULATOR_LOG_LEVEL: 'silent',
      }),
    );
    expect(ready.provisioningToken).toBe('fixed-provisioning-token');
    const token = ready.provisioningToken;
    const init = await call(ready.instance, 'POST', '/provisioning-operations/init', { token, json: {} });
    const complete = await call(ready.instance, 'PUT', '/provisioning-operations/complete', {
      token,
      json: { provisioningOperationId: init.body.provisioningOperationId },
    });
    expect(complete.status).toBe(200);
  });

  it('prints the credentials for people and stops on SIGINT', async () => {
    const first = await start(['--memory', '--port', '0', '--log-level', 'silent']);
    expect(first).toBe('Spotflow platform emulator is running.');
    const running = child!;
    running.kill('SIGINT');
    expect(await exited(running)).toBe(0);
  });

  it('rejects unknown flags with usage and exit code 2', async () => {
    child = spawn(process.execPath, [cli, '--no-such-flag'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    expect(await exited(child)).toBe(2);
    expect(stderr).toContain('Usage: spotflow-emulator');
  });
});
