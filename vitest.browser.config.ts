/**
 * The browser tests: vitest files in test/browser/ run in Node and drive Debian's Chromium with playwright-core.
 * The pages are built once and served for the whole run (test/browser/harness/global-setup.ts).
 * Run alone with `npx vitest run --config vitest.browser.config.ts`.
 */
import { defineConfig } from 'vitest/config';
import { longestFirstSequencer } from './test/helpers/longest-first.js';

/**
 * The longest files (a fresh clone's durations), started first in this order, so that no worker is left alone with
 * one of them at the end: vitest, without durations, starts the largest files first, and put sdk-kill-folds (84 s)
 * and bundlers (66 s) late. A file not listed keeps vitest's order, after these.
 */
const longestFirst = [
  'test/browser/sdk-kill-folds.test.ts',
  'test/browser/bundlers.test.ts',
  'test/browser/sdk-backlog.test.ts',
  'test/browser/database-faults.test.ts',
  'test/browser/sdk-storage-full.test.ts',
  'test/browser/sdk-shared.test.ts',
  'test/browser/database.test.ts',
  'test/browser/database-opfs.test.ts',
  'test/browser/sdk-storage-faults.test.ts',
  'test/browser/kiosk.test.ts',
  'test/browser/sdk-options.test.ts',
  'test/browser/portal-forms.test.ts',
  'test/browser/sdk-offline.test.ts',
  'test/browser/portal.test.ts',
  'test/browser/opfs-store-kill.test.ts',
  'test/browser/storage-default.test.ts',
  'test/browser/sdk-storage-wiped.test.ts',
  'test/browser/compression.test.ts',
];

export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    globalSetup: ['test/browser/harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    pool: 'forks',
    // Each file starts its own Chromium: two at a time on a 2-core machine.
    maxWorkers: 2,
    // A worker runs file after file without loading playwright-core, vite and the harness again for each (a fresh
    // module graph per file cost 141 s of the half's worker time at load 10). No file changes what another imports:
    // each keeps its state in its own module (re-run per file), registers its hooks there, and mocks nothing.
    isolate: false,
    sequence: { sequencer: longestFirstSequencer(longestFirst) },
  },
});
