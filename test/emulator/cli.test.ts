import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/emulator.js';

const cli = 'dist/emulator/cli.js';
let child: ChildProcess | undefined;

const dataDirs: string[] = [];
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});
afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  // SIGTERM first: a --memory emulator removes its temporary directory (TLS key included) only when it stops cleanly.
  const running = child;
  child = undefined;
  if (!running || running.exitCode !== null || running.signalCode !== null) return;
  const stopped = exited(running);
  running.kill('SIGTERM');
  const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
  await stopped;
  clearTimeout(timer);
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

/** Starts the CLI in memory on a free port, printing JSON, with `extra` flags; resolves with what it printed. */
async function startedWith(...extra: string[]) {
  return JSON.parse(await start(['--memory', '--port', '0', '--json', '--log-level', 'silent', ...extra]));
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
      portalUrl: expect.stringMatching(/^http:\/\/localhost:\d+\/portal#apiToken=/),
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
    const { code, stderr } = await run(['--no-such-flag']);
    expect(code).toBe(2);
    expect(stderr).toContain('Usage: spotflow-emulator');
  });

  it('prints its version', async () => {
    const { code, stdout } = await run(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it.each([
    [['--memory', '--sas-lifetime', '0'], {}, /--sas-lifetime/],
    [['--memory', '--sas-lifetime', '1.5'], {}, /--sas-lifetime/],
    [['--memory', '--workspace-id', 'has space'], {}, /--workspace-id/],
    [['--memory', '--public-host', 'bad/host'], {}, /--public-host/],
    [['--memory', '--public-port', '0'], {}, /--public-port/],
    [['--memory', '--public-port', '443x'], {}, /--public-port/],
    [['--memory', '--auto-approve', '--no-auto-approve'], {}, /contradict/],
    [['--memory'], { SPOTFLOW_EMULATOR_AUTO_APPROVE: 'maybe' }, /SPOTFLOW_EMULATOR_AUTO_APPROVE/],
    [[], { SPOTFLOW_EMULATOR_MEMORY: '2' }, /SPOTFLOW_EMULATOR_MEMORY/],
  ])('refuses %j %j with usage and exit code 2', async (args, env, message) => {
    // Should a case start after all, its state goes to a directory that is removed afterwards.
    const dataDir = mkdtempSync(join(tmpdir(), 'emulator-cli-refused-'));
    dataDirs.push(dataDir);
    const { code, stderr } = await run(['--port', '0', '--data-dir', dataDir, ...args], env);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('Usage: spotflow-emulator');
  });

  it('reads off values from the environment: SPOTFLOW_EMULATOR_JSON=off prints for people', async () => {
    const first = await start(['--port', '0', '--log-level', 'silent'], {
      SPOTFLOW_EMULATOR_JSON: 'off',
      SPOTFLOW_EMULATOR_MEMORY: 'on',
    });
    expect(first).toBe('Spotflow platform emulator is running.');
  });

  it('applies --auto-approve to its run only; --no-auto-approve and =0 turn it off', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emulator-cli-settings-'));
    dataDirs.push(dataDir);
    const base = ['--data-dir', dataDir, '--port', '0', '--json', '--log-level', 'silent'];
    /** The status `complete` answers right after `init`: 200 when auto-approved, 202 when pending. */
    const completeStatus = async (ready: { instance: string; provisioningToken: string }) => {
      const token = ready.provisioningToken;
      const init = await call(ready.instance, 'POST', '/provisioning-operations/init', { token, json: {} });
      const complete = await call(ready.instance, 'PUT', '/provisioning-operations/complete', {
        token,
        json: { provisioningOperationId: init.body.provisioningOperationId },
      });
      return complete.status;
    };
    const runWith = async (args: string[], env: Record<string, string> = {}) => {
      const ready = JSON.parse(await start([...base, ...args], env));
      const status = await completeStatus(ready);
      const running = child!;
      running.kill('SIGTERM');
      await exited(running);
      return status;
    };
    expect(await runWith(['--auto-approve'])).toBe(200);
    expect(await runWith([])).toBe(202);
    expect(await runWith([], { SPOTFLOW_EMULATOR_AUTO_APPROVE: 'yes' })).toBe(200);
    expect(await runWith([], { SPOTFLOW_EMULATOR_AUTO_APPROVE: '0' })).toBe(202);
    expect(await runWith(['--no-auto-approve'], { SPOTFLOW_EMULATOR_AUTO_APPROVE: 'true' })).toBe(202);
  });

  it('refuses another --workspace-id for an existing data directory, saying why', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emulator-cli-workspace-'));
    dataDirs.push(dataDir);
    const base = ['--data-dir', dataDir, '--port', '0', '--json', '--log-level', 'silent'];
    const ready = JSON.parse(await start([...base, '--workspace-id', 'first-ws']));
    expect(ready.workspaceId).toBe('first-ws');
    const running = child!;
    running.kill('SIGTERM');
    await exited(running);
    const { code, stderr } = await run([...base, '--workspace-id', 'second-ws']);
    expect(code).toBe(1);
    expect(stderr).toContain('belongs to workspace first-ws');
  });

  it('advertises --public-host in the instance URL', async () => {
    const ready = await startedWith('--public-host', 'devbox.local');
    expect(ready.instance).toMatch(/^http:\/\/devbox\.local:\d+$/);
  });

  it('advertises --public-port, leaving the default port out of the instance URL', async () => {
    const ready = await startedWith('--tls', '--public-port', '443');
    expect(ready.instance).toBe('https://localhost');
  });
});

/** Runs the command to its end: exit code and output. */
async function run(args: string[], env: Record<string, string> = {}) {
  child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await exited(child);
  return { code, stdout, stderr };
}
