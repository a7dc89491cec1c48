/** Deno (devDependency `deno`): the contract suites, the end-to-end scenario and kill -9 inside it (runtimes.ts). */
import { runtimeContracts, runtimeKill, runtimeScenario } from './runtimes.js';

runtimeContracts('deno');
runtimeScenario('deno');
runtimeKill('deno');
// Node's rule (better-sqlite3, else node:sqlite), tested where better-sqlite3 does not load: this machine's Node 20
// has no node:sqlite.
runtimeContracts('deno', { nodeEntry: true });
