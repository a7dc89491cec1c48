#!/usr/bin/env node
// Runs the whole suite and ends with the one line CI reads: `N passed, N failed`.
// Two vitest runs, one after the other: the Node suite (vite.config.ts) and the browser tests
// (vitest.browser.config.ts, Chromium driven from Node). Their counts are summed.
// Exits non-zero when anything failed, or when no test ran at all.
// Arguments are passed to both runs (e.g. a file filter); a run that then matches no file counts nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const suites = [
  { name: 'node', config: 'vite.config.ts', report: 'vitest-results.json' },
  {
    name: 'browser',
    config: 'vitest.browser.config.ts',
    report: join(tmpdir(), `spotflow-vitest-browser-${process.pid}.json`),
  },
];

let passed = 0;
let failed = 0;
for (const suite of suites) {
  rmSync(suite.report, { force: true });
  const started = Date.now();
  const run = spawnSync(
    'npx',
    [
      'vitest',
      'run',
      `--config=${suite.config}`,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${suite.report}`,
      ...(args.length > 0 ? ['--passWithNoTests'] : []),
      ...args,
    ],
    { stdio: 'inherit' },
  );
  let suitePassed = 0;
  let suiteFailed = 0;
  if (existsSync(suite.report)) {
    const results = JSON.parse(readFileSync(suite.report, 'utf8'));
    suitePassed = results.numPassedTests;
    suiteFailed = results.numFailedTests;
    // A file that fails to load counts as a failure even though it holds no test results.
    suiteFailed += results.testResults.filter(
      (file) => file.status === 'failed' && file.assertionResults.length === 0,
    ).length;
  }
  if (run.status !== 0 && suiteFailed === 0) suiteFailed = 1;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (suite.name !== 'node') rmSync(suite.report, { force: true });
  console.log(`${suite.name} tests: ${suitePassed} passed, ${suiteFailed} failed (${seconds} s)`);
  passed += suitePassed;
  failed += suiteFailed;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
