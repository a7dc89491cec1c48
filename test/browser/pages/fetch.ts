// The fetch contract (test/contract/fetch-contract.ts) with the page's own fetch, against an emulator on another
// origin (the Node side passes its address as the case options).
import { type FetchContractContext, fetchContract } from '../../contract/fetch-contract.js';
import { exposeContract, markReady } from '../harness/in-page.js';

exposeContract<FetchContractContext>(fetchContract, {
  context: (options) => ({
    ...(options as Omit<FetchContractContext, 'fetch'>),
    // As the browser platform does: the window's fetch refuses to run with another `this`.
    fetch: (input, init) => globalThis.fetch(input, init),
  }),
});

markReady();
