/**
 * The browser tests: vitest files in test/browser/ run in Node and drive Debian's Chromium with playwright-core.
 * The pages are built once and served for the whole run (test/browser/harness/global-setup.ts).
 * Run alone with `npx vitest run --config vitest.browser.config.ts`.
 */
import { defineConfig } from 'vitest/config';

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
  },
});
