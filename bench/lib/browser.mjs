// What the browser cases need: a vite build of a page that imports `spotflow-device` by its package name (the
// package linked into a throwaway app, as a user installs it), a static server for it, and Debian's Chromium driven by
// playwright-core (never a downloaded browser).
import {
  createReadStream,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'vite';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A user's app in `dir`: `node_modules/spotflow-device` linked to this repository (or, with `packages`, those
 * packages linked from this repository's node_modules), and `files` (name → content).
 * Returns `build(outDir, external)`, which runs vite and returns the built assets (name → bytes).
 */
export function userApp(dir, files, packages = ['spotflow-device']) {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  for (const name of packages) {
    const target = name === 'spotflow-device' ? repo : join(repo, 'node_modules', name);
    symlinkSync(target, join(dir, 'node_modules', name), 'dir');
  }
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return async (outDir, external = []) => {
    await build({
      configFile: false,
      root: dir,
      base: './',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, reportCompressedSize: false, rollupOptions: { external } },
      worker: { format: 'es', rollupOptions: { external } },
    });
    const assets = join(outDir, 'assets');
    return new Map(readdirSync(assets).map((file) => [file, readFileSync(join(assets, file))]));
  };
}

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** Serves `root` on 127.0.0.1 (a secure context, and another origin than the emulator's `localhost`). */
export async function serveStatic(root) {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    let size = -1;
    try {
      if (file.startsWith(root)) size = statSync(file).isFile() ? statSync(file).size : -1;
    } catch {
      // 404 below
    }
    if (size < 0) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(response);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** The flags of test/browser/harness/browser.ts: without them Chromium floods a closed network with retries. */
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: chromiumArgs,
    headless: true,
    timeout: 30_000,
  });
}

/** Resident memory of the browser's renderer processes (the page and its workers), MB. */
export async function rendererMemoryMb(browser) {
  const session = await browser.newBrowserCDPSession();
  const { processInfo } = await session.send('SystemInfo.getProcessInfo');
  await session.detach();
  let kb = 0;
  for (const { id } of processInfo.filter((p) => p.type === 'renderer')) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${id}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/**
 * Traces `page`'s renderer (as test/browser/harness/main-thread.ts does); the returned function stops and gives the
 * longest main-thread task by thread CPU time and by wall time, in ms.
 */
export async function traceMainThread(browser, page) {
  await browser.startTracing(page, { categories: ['toplevel'] });
  return async () => {
    const parsed = JSON.parse((await browser.stopTracing()).toString('utf8'));
    const events = Array.isArray(parsed) ? parsed : parsed.traceEvents;
    const mainThreads = new Set(
      events
        .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
        .map((e) => `${e.pid}:${e.tid}`),
    );
    const tasks = events.filter(
      (e) =>
        e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask' && mainThreads.has(`${e.pid}:${e.tid}`),
    );
    return {
      longestCpuMs: Math.max(0, ...tasks.map((t) => (t.tdur ?? 0) / 1000)),
      longestWallMs: Math.max(0, ...tasks.map((t) => (t.dur ?? 0) / 1000)),
    };
  };
}
