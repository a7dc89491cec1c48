/** Deno (devDependency `deno`): the contract suites, the end-to-end scenario and kill -9 inside it (runtimes.ts). */
import { runtimeContracts, runtimeKill, runtimeScenario } from './runtimes.js';

runtimeContracts('deno');
runtimeScenario('deno');
runtimeKill('deno');
