#!/usr/bin/env node
// Runs the whole suite and ends with the one line CI reads: `N passed, N failed`.
// Three runs, one after the other: the Node suite (vite.config.ts), the browser tests (vitest.browser.config.ts,
// Chromium driven from Node) and a real `@playwright/test` run on the fixtures of `spotflow-device/testing`
// (test/playwright/). Their counts are summed.
// Exits non-zero when anything failed, or when no test ran at all.
// Arguments are passed to the vitest runs (e.g. a file filter), and those that are not flags to Playwright as its
// file filters; a run that then matches no file counts nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const filtered = args.length > 0 ? ['--passWithNoTests'] : [];

/** A vitest run; its counts from vitest's JSON report. */
function vitest(config, report) {
  return {
    command: [
      'vitest',
      'run',
      `--config=${config}`,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...filtered,
      ...args,
    ],
    report,
    env: {},
    counts(results) {
      // A file that fails to load counts as a failure even though it holds no test results.
      const unloaded = results.testResults.filter(
        (file) => file.status === 'failed' && file.assertionResults.length === 0,
      ).length;
      return { passed: results.numPassedTests, failed: results.numFailedTests + unloaded };
    },
  };
}

/** The Playwright run; its counts from Playwright's JSON report (a flaky test passed on a retry). */
function playwright(report) {
  const files = args.filter((arg) => !arg.startsWith('-'));
  return {
    command: [
      'playwright',
      'test',
      '--config=test/playwright/playwright.config.ts',
      '--reporter=list,json',
      ...(args.length > 0 ? ['--pass-with-no-tests'] : []),
      ...files,
    ],
    report,
    env: { PLAYWRIGHT_JSON_OUTPUT_FILE: report },
    counts(results) {
      const { expected, unexpected, flaky } = results.stats;
      return { passed: expected + flaky, failed: unexpected + (results.errors?.length ?? 0) };
    },
  };
}

const suites = [
  { name: 'node', ...vitest('vite.config.ts', 'vitest-results.json') },
  {
    name: 'browser',
    ...vitest('vitest.browser.config.ts', join(tmpdir(), `spotflow-vitest-browser-${process.pid}.json`)),
  },
  { name: 'playwright', ...playwright(join(tmpdir(), `spotflow-playwright-${process.pid}.json`)) },
];

let passed = 0;
let failed = 0;
for (const suite of suites) {
  rmSync(suite.report, { force: true });
  const started = Date.now();
  const run = spawnSync('npx', suite.command, { stdio: 'inherit', env: { ...process.env, ...suite.env } });
  let suitePassed = 0;
  let suiteFailed = 0;
  if (existsSync(suite.report)) {
    ({ passed: suitePassed, failed: suiteFailed } = suite.counts(
      JSON.parse(readFileSync(suite.report, 'utf8')),
    ));
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
