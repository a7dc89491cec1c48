/**
 * The emulator's server stack is an optional peer dependency of spotflow-device: without it, both entries (the
 * `spotflow-emulator` CLI and `spotflow-device/emulator`) must say in one message what to install, rather than fail
 * with a module-not-found stack trace.
 *
 * Every package is installed in this repository, so a missing one is a fault that cannot be caused otherwise: the
 * child runs with a module hook (test/fixtures/hide-packages.mjs) under which the listed packages resolve as Node
 * resolves packages that are not installed.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const install = 'npm i -D aedes ws mqtt-packet @peculiar/x509 better-sqlite3 hono @hono/node-server';

function node(hidden: string, args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', './test/fixtures/register-ts.mjs', '--import', './test/fixtures/hide-packages.mjs', ...args],
    { encoding: 'utf8', env: { ...process.env, SPOTFLOW_HIDE_PACKAGES: hidden }, timeout: 20_000 },
  );
}

describe('emulator without its server stack', () => {
  it('the CLI prints one line naming the missing packages and the install command, and exits 1', () => {
    const run = node('aedes,@peculiar/x509', ['emulator/cli.ts', '--memory', '--port', '0']);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `spotflow-emulator: The Spotflow emulator needs packages that are not installed (aedes, @peculiar/x509): ${install}\n`,
    );
  });

  it('--help still works', () => {
    const run = node('aedes', ['emulator/cli.ts', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage: spotflow-emulator');
  });

  it('importing the library entry rejects with EmulatorDependencyError naming the packages', () => {
    const script =
      "import('./emulator/index.ts').then(() => console.log('loaded'), (e) => console.log(JSON.stringify({ name: e.name, code: e.code, missing: e.missing, message: e.message })))";
    const run = node('better-sqlite3', ['--input-type=module', '-e', script]);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      name: 'EmulatorDependencyError',
      code: 'EMULATOR_DEPENDENCIES_MISSING',
      missing: ['better-sqlite3'],
      message: `The Spotflow emulator needs packages that are not installed (better-sqlite3): ${install}`,
    });
  });

  it('with everything installed, the library entry loads', () => {
    const run = node('', [
      '--input-type=module',
      '-e',
      "await import('./emulator/index.ts'); console.log('loaded')",
    ]);
    expect(run.stdout.trim(), run.stderr).toBe('loaded');
  });
});
