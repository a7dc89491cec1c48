#!/usr/bin/env node
// `npm run bench`: every figure against the best alternative, measured in the same run on the same machine.
// Prints a table and writes bench/results.json (see bench/README.md for how to read it).
//
//   npm run bench                          every case (≤ 15 min)
//   npm run bench -- --case enqueue,e2e    some cases (their rows in results.json are replaced, the rest kept)
//   npm run bench -- --case backlog --backlog-levels 100000,1000000
//   npm run bench -- --smoke --out /tmp/r.json   each case once, tiny (what CI runs through test/bench/)
//   npm run bench -- --list
//   node bench/run.mjs --print                 the table of bench/results.json, nothing run
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { misses, table } from './lib/harness.mjs';

const caseNames = [
  'enqueue',
  'e2e',
  'runtimes',
  'azure',
  'backlog',
  'browser',
  'browser-writes',
  'browser-shared',
  'compression',
  'fleet',
  'floor',
  'alloc',
  'emulator-retention',
  'bundle',
];

const { values: args } = parseArgs({
  options: {
    case: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    out: { type: 'string' },
    list: { type: 'boolean', default: false },
    print: { type: 'boolean', default: false },
    'backlog-levels': { type: 'string' },
    'fleet-clients': { type: 'string' },
    'fleet-seconds': { type: 'string' },
    // `shared` (default): the fleet's devices on one DeviceStore, as a gateway runs them; `own`: a file each.
    'fleet-store': { type: 'string' },
  },
});

const cases = await Promise.all(caseNames.map((name) => import(`./cases/${name}.mjs`)));
if (args.list) {
  for (const c of cases) console.log(`${c.name.padEnd(12)} ${c.description}`);
  process.exit(0);
}
if (args.print) {
  // The table of the results written last (for bench/README.md), without running anything.
  const file = args.out ?? fileURLToPath(new URL('./results.json', import.meta.url));
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  console.log(table(saved));
  const missed = misses(saved);
  if (missed.length > 0) console.log(`\n${missed.join('\n')}`);
  process.exit(0);
}
const wanted = args.case ? args.case.split(',').map((s) => s.trim()) : caseNames;
for (const name of wanted) {
  if (!caseNames.includes(name)) {
    console.error(`unknown case ${name}; cases: ${caseNames.join(', ')}`);
    process.exit(2);
  }
}
if (!existsSync(fileURLToPath(new URL('../dist/emulator/cli.js', import.meta.url)))) {
  console.error('dist/ is missing: `npm run bench` builds first');
  process.exit(2);
}

const smoke = args.smoke;
const runs = Number(args.runs ?? (smoke ? 1 : 5));
const warmup = Number(args.warmup ?? (smoke ? 0 : 1));
const out = args.out ?? fileURLToPath(new URL('./results.json', import.meta.url));
const options = {
  backlogLevels: args['backlog-levels']?.split(',').map(Number),
  fleetClients: args['fleet-clients'] === undefined ? undefined : Number(args['fleet-clients']),
  fleetSeconds: args['fleet-seconds'] === undefined ? undefined : Number(args['fleet-seconds']),
  fleetStore: args['fleet-store'] ?? 'shared',
};
if (!['shared', 'own'].includes(options.fleetStore)) {
  console.error(`--fleet-store is shared or own, not ${options.fleetStore}`);
  process.exit(2);
}

const rows = [];
const failed = [];
const began = Date.now();
for (const c of cases.filter((c) => wanted.includes(c.name))) {
  const dir = mkdtempSync(join(tmpdir(), `spotflow-bench-${c.name}-`));
  const started = Date.now();
  console.log(`\n== ${c.name}: ${c.description}`);
  try {
    const caseRows = await c.run({ smoke, runs, warmup, dir, options, log: (s) => console.log(`   ${s}`) });
    rows.push(...caseRows);
    console.log(table(caseRows));
    console.log(`   (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed.push(c.name);
    console.error(`case ${c.name} failed: ${error?.stack ?? error}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Rows of the cases run now replace theirs; rows of other cases stay (each row carries its own date and commit).
let previous = [];
if (!smoke && args.out === undefined && existsSync(out)) {
  try {
    previous = JSON.parse(readFileSync(out, 'utf8')).filter((r) => !wanted.includes(r.case));
  } catch {
    previous = [];
  }
}
const ordered = [...previous, ...rows].sort((a, b) => caseNames.indexOf(a.case) - caseNames.indexOf(b.case));
writeFileSync(out, `${JSON.stringify(ordered, null, 2)}\n`);
if (args.out === undefined) {
  // In the repository's own style, so that the committed file passes `npm run lint`.
  spawnSync(
    fileURLToPath(new URL('../node_modules/.bin/biome', import.meta.url)),
    ['format', '--write', out],
    {
      stdio: 'ignore',
    },
  );
}

console.log(
  `\nspotflow-device benchmark (${runs} runs after ${warmup} warm-up; ${((Date.now() - began) / 1000).toFixed(0)} s)\n`,
);
console.log(table(rows));
const missed = misses(rows);
if (missed.length > 0) console.log(`\n${missed.join('\n')}`);
console.log(`\nwrote ${out}\n`);
if (failed.length > 0) {
  console.error(`failed cases: ${failed.join(', ')}`);
  process.exit(1);
}
// Handles a case may leave behind (a browser, an emulator) must not keep the process alive.
process.exit(0);
