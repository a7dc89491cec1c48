/**
 * A real `@playwright/test` run of the kiosk demo on `spotflow-device/testing/playwright`'s fixtures (part of
 * `npm test`, after `npm run build`): Debian's Chromium, never a downloaded browser.
 * Alone: `npx playwright test -c test/playwright`.
 */
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  outputDir: '../../test-results/playwright',
  timeout: 30_000,
  expect: { timeout: 15_000 },
  // One worker: one emulator and one Chromium, on a 2-core machine that runs the rest of the suite too.
  workers: 1,
  forbidOnly: true,
  reporter: 'list',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: '/usr/bin/chromium', args: ['--disable-gpu', '--disable-quic'] },
    // The kiosk's hooks (demo/kiosk/README.md) are `data-test` attributes.
    testIdAttribute: 'data-test',
    trace: 'retain-on-failure',
  },
});
