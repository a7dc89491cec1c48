#!/usr/bin/env node
/**
 * `npm run build`: the steps that make dist/, each announced with its time, so that `npm start` on a slow machine
 * says what it is doing instead of half a minute of silence. Stops at the first step that fails, with its code.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../', import.meta.url));
const bin = (name) => `node_modules/.bin/${name}`;
const steps = [
  ['the SDK and the emulator (tsc)', bin('tsc'), ['-p', 'tsconfig.build.json']],
  ['the browser platform (tsc)', bin('tsc'), ['-p', 'tsconfig.browser.json']],
  ['the browser workers (esbuild)', process.execPath, ['scripts/build-browser-workers.mjs']],
  ['the kiosk demo (vite)', bin('vite'), ['build', '-c', 'demo/kiosk/vite.config.ts', '--logLevel', 'warn']],
  [
    'the emulator portal (vite)',
    bin('vite'),
    ['build', '-c', 'emulator/portal/vite.config.ts', '--logLevel', 'warn'],
  ],
];

const started = performance.now();
for (const [index, [label, command, args]] of steps.entries()) {
  const stepStarted = performance.now();
  process.stdout.write(`build ${index + 1}/${steps.length}: ${label}… `);
  const result = spawnSync(command, args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    process.stdout.write('failed\n');
    process.exit(result.status ?? 1);
  }
  process.stdout.write(`${((performance.now() - stepStarted) / 1000).toFixed(1)} s\n`);
}
console.log(`build: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
