/**
 * Chromium for the browser tests: Debian's `/usr/bin/chromium` driven by playwright-core (no browser download).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type ConsoleMessage, chromium, type Page } from 'playwright-core';
import { inject } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
/** Without the networking flags Chromium floods a closed network with refused connections. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Generous: the machine has 2 cores and runs other test files at the same time. */
export const BROWSER_TIMEOUT_MS = 30_000;

/** The served URL of a built page, e.g. `pageUrl('lock.html')`. */
export function pageUrl(path: string): string {
  return new URL(path, inject('pagesUrl')).href;
}

/**
 * Launches headless Chromium (with `extraArgs` after the usual flags). Note that `browser.newPage()` makes a new context each time (own IndexedDB, own
 * Web Locks); pages that must share storage use one context: `newContext(browser)` then `openPage(context, …)`.
 */
export function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    headless: true,
    timeout: BROWSER_TIMEOUT_MS,
  });
}

export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  context.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  return context;
}

/** Forwards the page's console errors, uncaught errors and failed requests to the test output. */
export function logPageProblems(page: Page, label = page.url() || 'page'): void {
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      console.log(`[${label} console.${message.type()}] ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => console.log(`[${label} pageerror] ${error.stack ?? error.message}`));
  page.on('requestfailed', (request) => {
    // Chromium's own favicon probe is not ours.
    if (!request.url().endsWith('/favicon.ico')) {
      console.log(`[${label} requestfailed] ${request.url()}: ${request.failure()?.errorText}`);
    }
  });
  page.on('crash', () => console.log(`[${label}] page crashed`));
}

/**
 * Opens a built page (`'lock.html'`) in `context` and waits until its script has run: every page's script ends
 * with `markReady()` (pages/ready.ts), which sets `window.__ready`.
 */
export async function openPage(context: BrowserContext, path: string, label = path): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  logPageProblems(page, label);
  await gotoPage(page, path);
  return page;
}

/** Navigates `page` to a built page and waits for its `markReady()`. */
export async function gotoPage(page: Page, path: string): Promise<void> {
  await page.goto(pageUrl(path), { waitUntil: 'load', timeout: BROWSER_TIMEOUT_MS });
  const state = await page.waitForFunction(
    () => {
      const scope = globalThis as { __ready?: boolean; __buildError?: string };
      return scope.__buildError ?? scope.__ready === true;
    },
    null,
    { timeout: BROWSER_TIMEOUT_MS },
  );
  const buildError = await state.jsonValue();
  if (typeof buildError === 'string') throw new Error(buildError);
}

export interface KillableBrowser {
  browser: Browser;
  /** The default context: persistent, on the user data dir. */
  context: BrowserContext;
  /** SIGKILLs the whole browser (every process of its group, as a power cut would) and waits for it to exit. */
  kill(): Promise<void>;
}

/**
 * Starts Chromium on `userDataDir` as our own child, so a test can kill it outright (`kill()`) and start it again
 * on the same directory to see what survived. Connects over CDP.
 */
export async function startKillableBrowser(userDataDir: string): Promise<KillableBrowser> {
  const portFile = join(userDataDir, 'DevToolsActivePort');
  // A killed browser leaves the file behind; a stale one would point at a dead port.
  rmSync(portFile, { force: true });
  const child: ChildProcess = spawn(
    CHROMIUM,
    [
      '--headless=new',
      `--user-data-dir=${userDataDir}`,
      '--remote-debugging-port=0',
      '--enable-logging=stderr',
      ...CHROMIUM_ARGS,
      'about:blank',
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    // Chromium's own account of its IndexedDB (a corruption it found, a store it deleted) goes to the test's log.
    for (const line of chunk.split('\n')) if (line.includes('indexed_db')) console.log(`[chromium] ${line}`);
    stderr = (stderr + chunk).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
    // Every process of the group gone, not only the first: a power cut leaves none, and a storage process still
    // dying would still hold the profile's IndexedDB files when the next browser opens them.
    const deadline = Date.now() + 10_000;
    while (groupAlive(child.pid!) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
  };
  try {
    const port = await waitForPortFile(portFile, child, () => stderr);
    const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, {
      timeout: BROWSER_TIMEOUT_MS,
    });
    const context = browser.contexts()[0];
    if (context === undefined) throw new Error('Chromium started without a default context');
    context.setDefaultTimeout(BROWSER_TIMEOUT_MS);
    return { browser, context, kill };
  } catch (error) {
    await kill();
    throw error;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForPortFile(file: string, child: ChildProcess, stderr: () => string): Promise<number> {
  const deadline = Date.now() + BROWSER_TIMEOUT_MS;
  for (;;) {
    if (existsSync(file)) {
      const port = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
      if (port > 0) return port;
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Chromium exited before it was ready: ${stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`Chromium wrote no DevToolsActivePort in time: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts Chromium on `profile` (see {@link startKillableBrowser}) and opens the test page `path` in it, with the
 * page's problems logged under `label`; `onConsole` hears every console message from the start. `cleanup` is given
 * the browser's kill, so that a failing test leaves no browser behind.
 */
export async function openKillablePage(
  profile: string,
  path: string,
  options: {
    label: string;
    cleanup: (undo: () => unknown) => void;
    onConsole?: (message: ConsoleMessage) => void;
  },
): Promise<{ chromium: KillableBrowser; page: Page }> {
  const chromium = await startKillableBrowser(profile);
  options.cleanup(() => chromium.kill());
  const page = await chromium.context.newPage();
  logPageProblems(page, options.label);
  if (options.onConsole) page.on('console', options.onConsole);
  await gotoPage(page, path);
  return { chromium, page };
}
