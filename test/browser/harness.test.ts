// The harness itself: the build, the static server, the contract bridge, long tasks and the killable browser.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  collectLongTasks,
  launchBrowser,
  newContext,
  openPage,
  pageUrl,
  runContractCase,
  startKillableBrowser,
} from './harness/index.js';

let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  context = await newContext(browser);
  page = await openPage(context, 'smoke.html');
});
afterAll(async () => {
  await browser?.close();
});

describe('browser harness', () => {
  it('builds the wasm into the output and serves it as application/wasm', async () => {
    const wasm = readdirSync(join(inject('pagesDir'), 'assets')).filter((file) => file.endsWith('.wasm'));
    expect(wasm.some((file) => file.startsWith('sql-wasm-browser'))).toBe(true);
    const response = await fetch(pageUrl(`assets/${wasm[0]}`));
    expect(response.headers.get('content-type')).toBe('application/wasm');
    expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });

  it('serves pages from 127.0.0.1, another origin than the emulator on localhost', () => {
    expect(new URL(page.url()).hostname).toBe('127.0.0.1');
  });

  it('runs a contract case in the page', async () => {
    await runContractCase(page, 'runs SQL in sql.js loaded from the build', { expected: 42 });
  });

  it('reports a failing case with its message, stack and cause', async () => {
    const failure = await runContractCase(page, 'fails with the message and stack of the error').then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toContain('deliberate failure');
    expect(failure?.stack).toContain('caused by TypeError: the cause');
    expect(failure?.stack).toMatch(/smoke|assets/);
    await expect(runContractCase(page, 'no such case')).rejects.toThrow('no contract case named');
  });

  it('collects long tasks', async () => {
    const longTasks = await collectLongTasks(page);
    await runContractCase(page, 'blocks the main thread for 300 ms');
    // The browser reports a long task some time after it ended: wait for the report, bounded.
    await expect
      .poll(async () => Math.max(0, ...(await longTasks())), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(250);
  });

  it('kills a browser outright and restarts it on the same profile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotflow-chromium-'));
    try {
      const first = await startKillableBrowser(dir);
      const writer = await openPage(first.context, 'smoke.html', 'before kill');
      await writer.evaluate(() => (globalThis as any).__smoke.put('key', 'survived'));
      await first.kill();
      const second = await startKillableBrowser(dir);
      try {
        const reader = await openPage(second.context, 'smoke.html', 'after kill');
        const value = await reader.evaluate(() => (globalThis as any).__smoke.get('key'));
        expect(value).toBe('survived');
      } finally {
        await second.kill();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
