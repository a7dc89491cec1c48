#!/usr/bin/env node
// Runs the whole suite and ends with the one line CI reads: `N passed, N failed`.
// Three runs: the Node suite (vite.config.ts), the browser tests (vitest.browser.config.ts, Chromium driven from
// Node) and a real `@playwright/test` run on the fixtures of `spotflow-device/testing` (test/playwright/). The Node
// and browser runs start together (much of both waits on sockets, faults and deadlines rather than computing), and
// Playwright starts once either has ended. Each line of their output is prefixed with its run's name. Their counts
// are summed.
// SPOTFLOW_TEST_SERIAL=1 runs the three one after the other, with their output as it comes (to measure one alone).
// Exits non-zero when anything failed, or when no test ran at all.
// Arguments are passed to the vitest runs (e.g. a file filter), and those that are not flags to Playwright as its
// file filters; a run that then matches no file counts nothing.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const filtered = args.length > 0 ? ['--passWithNoTests'] : [];

/** A vitest run; its counts from vitest's JSON report. */
function vitest(config, report, options = []) {
  return {
    command: [
      'vitest',
      'run',
      `--config=${config}`,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...options,
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

const serial = process.env.SPOTFLOW_TEST_SERIAL === '1';

const suites = [
  // Beside the browser tests, two workers instead of vite.config.ts's three: five files at once on two cores (each
  // browser file with its own Chromium) failed tests' time bounds at load 13.
  { name: 'node', ...vitest('vite.config.ts', 'vitest-results.json', serial ? [] : ['--maxWorkers=2']) },
  {
    name: 'browser',
    ...vitest('vitest.browser.config.ts', join(tmpdir(), `spotflow-vitest-browser-${process.pid}.json`)),
  },
  { name: 'playwright', ...playwright(join(tmpdir(), `spotflow-playwright-${process.pid}.json`)) },
];

/** Runs one suite to its end; its counts, and a line that says them. */
async function run(suite) {
  rmSync(suite.report, { force: true });
  const started = Date.now();
  const child = spawn('npx', suite.command, {
    stdio: serial ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...suite.env },
  });
  if (!serial) {
    for (const [from, to] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ]) {
      // Whole lines, each with the run's name, so that the two runs' output can be told apart.
      let rest = '';
      from.setEncoding('utf8');
      from.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop();
        if (lines.length > 0) to.write(lines.map((line) => `[${suite.name}] ${line}\n`).join(''));
      });
      from.on('end', () => {
        if (rest !== '') to.write(`[${suite.name}] ${rest}\n`);
      });
    }
  }
  const status = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
  let suitePassed = 0;
  let suiteFailed = 0;
  if (existsSync(suite.report)) {
    ({ passed: suitePassed, failed: suiteFailed } = suite.counts(
      JSON.parse(readFileSync(suite.report, 'utf8')),
    ));
  }
  if (status !== 0 && suiteFailed === 0) suiteFailed = 1;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (suite.name !== 'node') rmSync(suite.report, { force: true });
  const line = `${suite.name} tests: ${suitePassed} passed, ${suiteFailed} failed (${seconds} s)`;
  console.log(line);
  return { passed: suitePassed, failed: suiteFailed, line };
}

const [node, browser, playwrightRun] = suites;
const started = Date.now();
let results;
if (serial) {
  results = [];
  for (const suite of suites) results.push(await run(suite));
} else {
  // Playwright (one Chromium, about 20 s) starts as soon as either vitest run has ended, beside the other.
  const nodeRun = run(node);
  const browserRun = run(browser);
  const playwrightDone = Promise.race([nodeRun, browserRun]).then(() => run(playwrightRun));
  results = await Promise.all([nodeRun, browserRun, playwrightDone]);
  // The three lines again, together, after the last run's output.
  for (const { line } of results) console.log(line);
}
const passed = results.reduce((sum, result) => sum + result.passed, 0);
const failed = results.reduce((sum, result) => sum + result.failed, 0);
console.log(`all runs: ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
