// The page's fetch against the emulator, cross-origin (pages on 127.0.0.1, the emulator on localhost), in Chromium.
import { createServer } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { fetchContract } from '../contract/fetch-contract.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { launchBrowser, newContext, openPage, runContractCase } from './harness/index.js';

let browser: Browser;
let page: Page;
let emulator: TestEmulator;
let options: Record<string, string>;

/** A loopback port that was free a moment ago and has nothing listening now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  [emulator, browser] = await Promise.all([startTestEmulator(), launchBrowser()]);
  page = await openPage(await newContext(browser), 'fetch.html');
  options = {
    baseUrl: `http://localhost:${emulator.port}`,
    provisioningToken: emulator.provisioningToken,
    apiToken: emulator.apiToken,
    workspaceId: emulator.workspaceId,
    unreachableUrl: `http://localhost:${await closedPort()}/`,
  };
});
afterAll(async () => {
  await Promise.all([browser?.close(), emulator?.close()]);
});

describe('fetch contract (Chromium, cross-origin to the emulator)', () => {
  it.each(fetchContract.map((c) => c.name))('%s', (name) => runContractCase(page, name, options));
});
