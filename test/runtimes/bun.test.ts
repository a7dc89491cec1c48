/** Bun (devDependency `bun`): the contract suites, the end-to-end scenario and kill -9 inside it (runtimes.ts). */
import { runtimeContracts, runtimeKill, runtimeScenario } from './runtimes.js';

runtimeContracts('bun');
runtimeScenario('bun');
runtimeKill('bun');
