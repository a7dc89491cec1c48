// The benchmarks are not tests, but they must keep working: each case once, tiny (`--smoke`), completing and
// writing valid results. The figures of a smoke run mean nothing. The cases are run in two groups, one file each, so
// that the two run beside each other (those that drive Chromium, and the rest): one run of them all took 70 s on a
// quiet machine and 155 s at load 11.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/** The cases that drive Chromium (compression and bundle too); the rest run Node only. */
export const chromiumCases = (name: string) =>
  name.startsWith('browser') || name === 'compression' || name === 'bundle';
export const nodeCases = (name: string) => !chromiumCases(name);

export function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bench/run.mjs', ...args],
      { cwd: repo, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** One test: every listed case that `pick` takes, once, tiny; each must write rows of the results file's shape. */
export function smokeCases(title: string, pick: (name: string) => boolean): void {
  const dir = mkdtempSync(join(tmpdir(), 'spotflow-bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe(title, () => {
    it('runs each case once and writes a valid results file', async () => {
      const listed = await runBench(['--list']);
      expect(listed.code).toBe(0);
      const cases = listed.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]!)
        .filter(pick);
      expect(cases.length).toBeGreaterThan(0);

      const out = join(dir, 'results.json');
      const run = await runBench(['--smoke', '--case', cases.join(','), '--out', out]);
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      const rows = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>[];
      expect(Array.isArray(rows)).toBe(true);
      for (const name of cases)
        expect(
          rows.some((row) => row.case === name),
          `rows of ${name}`,
        ).toBe(true);
      for (const row of rows) {
        expect(row).toMatchObject({
          name: expect.any(String),
          unit: expect.any(String),
          ours: expect.any(Number),
          runs: 1,
          date: expect.any(String),
          commit: expect.any(String),
          machine: expect.any(String),
        });
        for (const key of ['baseline', 'ratio', 'target', 'met', 'spread']) expect(row).toHaveProperty(key);
        expect(Number.isFinite(row.ours)).toBe(true);
        if (typeof row.baseline === 'number' && row.baseline !== 0)
          expect(row.ratio).toEqual(expect.any(Number));
        if (row.target !== null) expect(typeof row.met === 'boolean' || row.met === null).toBe(true);
      }
      // The table is printed.
      expect(run.stdout).toContain('| case');
    }, 160_000);
  });
}
