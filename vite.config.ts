import { defineConfig } from 'vitest/config';
import { longestFirstSequencer } from './test/helpers/longest-first.js';

/**
 * The longest files, started first in this order, so that no worker is left alone with one of them at the end (on a
 * fresh clone vitest has no durations yet and starts the largest files first: these fault files are three lines
 * long). Those that mostly wait (through a fault, a deadline) are interleaved with those that keep a core busy. A
 * file not listed keeps vitest's order, after these.
 */
const longestFirst = [
  'test/bench/smoke-browser.test.ts',
  'test/bench/smoke-node.test.ts',
  'test/reliability/network-tcp-black-hole.test.ts',
  'test/reliability/network-tls-black-hole.test.ts',
  'test/reliability/network-wss-black-hole.test.ts',
  'test/reliability/sigkill.test.ts',
  'test/reliability/network-tcp-stall.test.ts',
  'test/reliability/network-tcp-reset.test.ts',
  'test/reliability/hostile-provisioning.test.ts',
  'test/reliability/network-tls-reset.test.ts',
  'test/reliability/network-wss-reset.test.ts',
  'test/sdk/acceptance.test.ts',
  'test/reliability/emulator-kill.test.ts',
  'test/reliability/network-tcp-flapping.test.ts',
  'test/reliability/network-tls-flapping.test.ts',
  'test/reliability/network-wss-flapping.test.ts',
  'test/reliability/network-tcp-throttle.test.ts',
  'test/demo/start.test.ts',
  'test/emulator/cli.test.ts',
  'test/sdk/wrong-clock.test.ts',
  'test/reliability/dead-link.test.ts',
  'test/emulator/dependencies.test.ts',
  'test/sdk/twin.test.ts',
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'platform/**/*.test.ts', 'emulator/**/*.test.ts'],
    exclude: ['test/browser/**', 'node_modules/**', 'dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Three on two cores: much of the suite waits on real sockets, faults and deadlines rather than computing.
    maxWorkers: 3,
    sequence: { sequencer: longestFirstSequencer(longestFirst) },
  },
});
