// The Compressor port in Chromium: the contract against brotli-wasm in its worker, and its lazy loading (a worker,
// and its wasm, fetched by the first compress() only, and fetched again after a failed load).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compressionContract } from '../contract/compression-contract.js';
import { gotoPage, launchBrowser, newContext, openPage, runContractCase } from './harness/index.js';
import './pages/globals.js';

let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  browser = await launchBrowser();
  context = await newContext(browser);
  // Node's zlib decodes what the page compressed: an implementation independent of the one under test.
  await context.exposeFunction('__brotliDecompress', (base64: string) =>
    brotliDecompressSync(Buffer.from(base64, 'base64')).toString('base64'),
  );
});
afterAll(async () => {
  await browser?.close();
});

describe('Compressor contract (brotli-wasm, Chromium)', () => {
  let page: Page;
  beforeAll(async () => {
    page = await openPage(context, 'compression.html');
  });
  it.each(compressionContract.map((c) => c.name))('%s', (name) => runContractCase(page, name));
});

/** The build's Brotli files: the compression worker (with brotli-wasm's loader in it) and the wasm. */
function brotliFiles() {
  const assets = join(inject('pagesDir'), 'assets');
  const files = readdirSync(assets).filter((file) => !file.endsWith('.map'));
  const code = (file: string) => readFileSync(join(assets, file), 'utf8');
  const wasm = files.find((file) => /^brotli_wasm_bg.*\.wasm$/.test(file));
  if (wasm === undefined) throw new Error(`no brotli wasm among the built assets: ${files.join(', ')}`);
  const worker = files.find((file) => file.endsWith('.js') && code(file).includes(wasm));
  if (worker === undefined) throw new Error('no built worker refers to the brotli wasm');
  return {
    wasm,
    worker,
    isBrotli: (url: string) => [wasm, worker].includes(new URL(url).pathname.split('/').pop()!),
  };
}

/** The chunks a page loads before any dynamic import: its entry, what that imports statically, and its preloads. */
function staticChunks(page: string): { entry: string; loaded: Set<string> } {
  const dir = inject('pagesDir');
  const html = readFileSync(join(dir, page), 'utf8');
  const entry = /<script type="module"[^>]*src="\.\/assets\/([^"]+\.js)"/.exec(html)?.[1];
  if (entry === undefined) throw new Error(`no entry script in ${page}`);
  const loaded = new Set<string>();
  const pending = [
    entry,
    ...[...html.matchAll(/rel="modulepreload"[^>]*href="\.\/assets\/([^"]+)"/g)].map((m) => m[1]!),
  ];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (loaded.has(file)) continue;
    loaded.add(file);
    const code = readFileSync(join(dir, 'assets', file), 'utf8');
    // `import … from "./x.js"` and `import "./x.js"`, not `import("./x.js")`.
    for (const match of code.matchAll(/^\s*(?:import|export)\b[^('"]*?["']\.\/([^"']+\.js)["']/gm))
      pending.push(match[1]!);
  }
  return { entry, loaded };
}

describe('lazy Brotli', () => {
  it('runs in a worker of its own, with its own wasm, that the page names but does not load', () => {
    const { wasm, worker } = brotliFiles();
    const { entry, loaded } = staticChunks('compression.html');
    expect(loaded.has(entry)).toBe(true);
    expect([...loaded]).not.toContain(worker);
    const loadedCode = [...loaded].map((file) =>
      readFileSync(join(inject('pagesDir'), 'assets', file), 'utf8'),
    );
    expect(loadedCode.some((code) => code.includes(wasm))).toBe(false);
    expect(loadedCode.some((code) => code.includes(worker))).toBe(true);
  });

  it('fetches the worker and its wasm at the first compress() only', async () => {
    const { isBrotli, wasm, worker } = brotliFiles();
    const fresh = await newContext(browser);
    try {
      const page = await fresh.newPage();
      const urls: string[] = [];
      page.on('request', (request) => urls.push(request.url()));
      await gotoPage(page, 'compression.html');
      expect(urls.filter(isBrotli)).toEqual([]);
      expect(await page.evaluate(() => globalThis.__compress!('smallest'))).toBeGreaterThan(0);
      const loaded = new Set(urls.filter(isBrotli).map((url) => new URL(url).pathname.split('/').pop()));
      expect(loaded).toEqual(new Set([worker, wasm]));
      // Loaded once: later calls reuse it.
      const before = urls.length;
      await page.evaluate(() => globalThis.__compress!('fastest'));
      expect(urls.slice(before).filter(isBrotli)).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it.each([
    ['the brotli wasm', 'wasm'],
    ['the worker script', 'worker'],
  ] as const)(
    'rejects with a NETWORK error naming the package when %s fails to load, and loads on a later call',
    async (_, which) => {
      const file = brotliFiles()[which];
      const fresh = await newContext(browser);
      try {
        const page = await openPage(fresh, 'compression.html', 'failing load');
        const blocked = (url: URL) => url.pathname.endsWith(`/${file}`);
        await fresh.route(blocked, (route) => route.abort('internetdisconnected'));
        const failure = await page.evaluate(() =>
          globalThis.__compress!('fastest').then(
            () => undefined,
            (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
          ),
        );
        expect(failure).toMatchObject({ code: 'NETWORK', message: expect.stringContaining('brotli-wasm') });
        await fresh.unroute(blocked);
        expect(await page.evaluate(() => globalThis.__compress!('fastest'))).toBeGreaterThan(0);
      } finally {
        await fresh.close();
      }
    },
  );

  it('ends its worker when idle (Brotli keeps its memory otherwise) and starts another for the next call', async () => {
    const page = await openPage(context, 'compression.html', 'idle worker');
    const counts = () => page.evaluate(() => ({ ...globalThis.__workers! }));
    const before = await counts();
    expect(await page.evaluate(() => globalThis.__compressQuicklyIdle!('smallest'))).toBeGreaterThan(0);
    expect((await counts()).started).toBe(before.started + 1);
    await page.waitForFunction((ended) => globalThis.__workers!.ended > ended, before.ended, {
      timeout: 5_000,
    });
    expect(await page.evaluate(() => globalThis.__compressQuicklyIdle!('fastest'))).toBeGreaterThan(0);
    expect(await counts()).toMatchObject({ started: before.started + 2, ended: before.ended + 1 });
  });
});
