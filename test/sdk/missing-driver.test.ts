/**
 * better-sqlite3 is an optional peer dependency: a Node user who has not installed it must be told so, by a typed
 * error naming the package, when a client starts, and importing the SDK must not fail before that.
 *
 * The driver is installed in this repository (for development), so its absence is a fault that cannot be caused
 * otherwise: the child process runs with a module hook (test/fixtures/hide-packages.mjs) under which
 * `better-sqlite3` resolves as Node resolves a package that is not installed (ERR_MODULE_NOT_FOUND).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/client.js';

const fixtures = new URL('../fixtures/', import.meta.url);
const dirs = tempDir('spotflow-missing-driver-');
afterAll(() => dirs.cleanup());

function runWithout(hidden: string, database: string) {
  return spawnSync(
    process.execPath,
    [
      '--import',
      new URL('register-ts.mjs', fixtures).href,
      '--import',
      new URL('hide-packages.mjs', fixtures).href,
      fileURLToPath(new URL('start-without-driver.ts', fixtures)),
      database,
    ],
    { encoding: 'utf8', env: { ...process.env, SPOTFLOW_HIDE_PACKAGES: hidden }, timeout: 20_000 },
  );
}

describe('Node platform without better-sqlite3', () => {
  it('imports, then rejects start, lock and open with DEPENDENCY_MISSING naming the package, creating nothing', () => {
    const database = dirs.file('device.db');
    const run = runWithout('better-sqlite3', database);
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { step: string; code?: string; message?: string });
    expect(lines.map((line) => line.step)).toEqual(['lock', 'open', 'start']);
    for (const line of lines) {
      expect(line, line.step).toEqual({
        step: line.step,
        code: 'DEPENDENCY_MISSING',
        message: 'better-sqlite3 is not installed: npm i better-sqlite3',
      });
    }
    expect(existsSync(database)).toBe(false);
    expect(existsSync(`${database}.lock`)).toBe(false);
  });

  it('the same child with nothing hidden uses the driver (the hook, not the fixture, causes the failure)', () => {
    const database = dirs.file('control.db');
    const run = runWithout('', database);
    expect(run.status, run.stderr).toBe(0);
    expect(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { step: 'lock', resolved: true },
      { step: 'open', resolved: true },
      { step: 'start', code: 'DATABASE_LOCKED', message: `Another client owns the database ${database}` },
    ]);
  });
});
