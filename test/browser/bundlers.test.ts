// The browser SDK in the apps people build: the packed package, installed into a throwaway app, built by vite,
// webpack, Parcel, esbuild and Rollup as the README's "Bundlers" table says (test/browser/bundlers/recipes.ts),
// served from its own origin; in Chromium each page provisions against the emulator, sends messages (one
// compressed), is reloaded, sends again, and every message arrives in order. Each bundle is checked for Node code
// and its gzip sizes are printed.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { installOffline, pack } from './bundlers/install.js';
import { recipes } from './bundlers/recipes.js';
import {
  BROWSER_TIMEOUT_MS,
  type Browser,
  launchBrowser,
  logPageProblems,
  newContext,
} from './harness/index.js';
import { type StaticServer, serveStatic } from './harness/static-server.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = join(repo, 'test/fixtures/bundlers');
const apps = mkdtempSync(join(tmpdir(), 'spotflow-bundlers-'));
const built = new Map<string, { error?: unknown; ms: number }>();
const sizes: Record<string, Record<string, number>> = {};

let emulator: TestEmulator;
let browser: Browser;

beforeAll(async () => {
  const started = Date.now();
  const tarball = pack(repo, apps);
  installOffline(repo, apps, tarball);
  const installed = Date.now();
  for (const recipe of recipes) {
    const app = join(apps, recipe.name);
    cpSync(fixtures, app, { recursive: true });
    symlinkSync('../node_modules', join(app, 'node_modules'), 'dir');
    mkdirSync(join(app, 'dist'), { recursive: true });
    const start = Date.now();
    try {
      await recipe.build(app);
      built.set(recipe.name, { ms: Date.now() - start });
    } catch (error) {
      built.set(recipe.name, { error, ms: Date.now() - start });
    }
  }
  const timings = [...built].map(([name, { ms }]) => `${name} ${ms} ms`).join(', ');
  console.log(`bundler apps: pack + offline install ${installed - started} ms; builds: ${timings}`);
  emulator = await startTestEmulator({ settings: { autoApprove: true } });
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  if (Object.keys(sizes).length > 0) console.log(`bundle gzip kB:\n${table(sizes)}`);
  await browser?.close();
  await emulator?.close();
  rmSync(apps, { recursive: true, force: true });
});

/** Every file under `dir`, relative to it. */
function filesOf(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

const gzipKb = (bytes: Buffer) => Math.round(gzipSync(bytes, { level: 9 }).byteLength / 102.4) / 10;

/** The app's output, its JS split into the page's own, the database worker's and the compression worker's. */
function output(name: string) {
  const dist = join(apps, name, 'dist');
  const files = filesOf(dist).filter((file) => !file.endsWith('.map'));
  const read = (file: string) => readFileSync(join(dist, file));
  const js = files.filter((file) => file.endsWith('.js'));
  const isDatabaseWorker = (file: string) => read(file).includes("Cannot load sql.js's WebAssembly");
  const isCompressionWorker = (file: string) => read(file).includes('The compression worker failed');
  const page = js.filter((file) => !isDatabaseWorker(file) && !isCompressionWorker(file));
  const wasm = files.filter((file) => file.endsWith('.wasm'));
  // Each wasm is the one its worker names (bundlers rename them).
  const namedBy = (workers: string[]) =>
    wasm.filter((file) => workers.some((w) => read(w).includes(basename(file))));
  const databaseWorker = js.filter(isDatabaseWorker);
  const compressionWorker = js.filter(isCompressionWorker);
  return {
    files,
    read,
    js,
    databaseWorker,
    compressionWorker,
    page,
    sqlWasm: namedBy(databaseWorker),
    brotliWasm: namedBy(compressionWorker),
  };
}

function table(rows: Record<string, Record<string, number>>): string {
  const columns = Object.keys(Object.values(rows)[0] ?? {});
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(['bundler', ...columns]),
    line(['---', ...columns.map(() => '---:')]),
    ...Object.entries(rows).map(([name, row]) => line([name, ...columns.map((c) => String(row[c]))])),
  ].join('\n');
}

async function openApp(context: BrowserContext, url: string, label: string): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  logPageProblems(page, label);
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.title === 'ready');
  return page;
}

/** What the app's page holds (src/main.js of the fixture), seen from `page.evaluate`. */
interface PageGlobals {
  document: { title: string };
  app: {
    events: { name: string; id?: string; message?: string }[];
    start(options: Record<string, unknown>): Promise<string>;
    send(payload: string, compression: string): Promise<string>;
    pending(): Promise<number>;
    close(): Promise<void>;
  };
}

/** Starts the client in the page, enqueues `texts` (each with its compression), waits until all were sent. */
async function sendFromPage(
  page: Page,
  options: Record<string, unknown>,
  texts: [string, string][],
): Promise<string[]> {
  return page.evaluate(
    async ({ options, texts }) => {
      const { app } = globalThis as unknown as PageGlobals;
      await app.start(options);
      const ids: string[] = [];
      for (const [text, compression] of texts) ids.push(await app.send(text, compression));
      const deadline = Date.now() + 30_000;
      const sent = () => new Set(app.events.filter((e) => e.name === 'messageSent').map((e) => e.id));
      while (!ids.every((id) => sent().has(id))) {
        if (Date.now() > deadline)
          throw new Error(`sent only ${sent().size} of ${ids.length}: ${JSON.stringify(app.events)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // `messageSent` comes with the PUBACK; the message leaves the outbox in a write just after. A reload before
      // that write is stored sends it again (at least once, under the same id), which is not what this test is
      // about: wait until the outbox says it is empty (a read sees only stored writes).
      while ((await app.pending()) > 0) {
        if (Date.now() > deadline)
          throw new Error(`${await app.pending()} still pending after they were sent`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return ids;
    },
    { options, texts },
  );
}

describe.each(recipes.map((recipe) => [recipe.name, recipe] as const))(
  'an app built by %s',
  (name, recipe) => {
    it(`builds ${recipe.step ? 'with the one step the README gives' : 'with zero configuration'}`, () => {
      const result = built.get(name);
      if (result?.error) throw result.error;
      const { databaseWorker, compressionWorker, page, sqlWasm, brotliWasm } = output(name);
      expect(databaseWorker).toHaveLength(1);
      expect(compressionWorker).toHaveLength(1);
      expect(page.length).toBeGreaterThan(0);
      expect(sqlWasm).toHaveLength(1);
      expect(brotliWasm).toHaveLength(1);
    });

    it('holds no Node code: no node: import, no better-sqlite3, no undici, nothing of the emulator', () => {
      const { js, read, databaseWorker, compressionWorker, page, sqlWasm, brotliWasm } = output(name);
      // Module specifiers, in code (an unminified bundle keeps comments that name packages).
      const nodeOnly = String.raw`(?:node:[\w/]+|fs|net|tls|zlib|crypto|os|path|child_process|better-sqlite3|undici|aedes|ws|mqtt-packet|@peculiar/x509|hono|@hono/node-server)`;
      const banned = [
        new RegExp(String.raw`\bfrom\s*["']${nodeOnly}["']`),
        new RegExp(String.raw`\b(?:import|require)\s*\(\s*["']${nodeOnly}["']`),
        /better-sqlite3 is not installed/,
        /spotflow-emulator/,
      ];
      for (const file of js) {
        const text = read(file).toString('utf8');
        for (const pattern of banned) expect(pattern.test(text), `${file} matches ${pattern}`).toBe(false);
      }
      const gzip = (files: string[]) => gzipKb(Buffer.concat(files.map(read)));
      sizes[name] = {
        pageJs: gzip(page),
        databaseWorkerJs: gzip(databaseWorker),
        defaultJs: gzip([...page, ...databaseWorker]),
        sqlWasm: gzip(sqlWasm),
        lazyCompressionJs: gzip(compressionWorker),
        lazyBrotliWasm: gzip(brotliWasm),
      };
    });

    it('provisions in Chromium, sends (one message compressed), survives a reload, and every message arrives', async () => {
      if (built.get(name)?.error) throw new Error(`${name} did not build`);
      const server: StaticServer = await serveStatic(join(apps, name, 'dist'));
      const context = await newContext(browser);
      try {
        const deviceId = `bundled-by-${name}`;
        const options = {
          provisioningToken: emulator.provisioningToken,
          instance: emulator.instance,
          database: `bundlers-${name}`,
          deviceId,
          provisioningPollIntervalMs: 200,
          reconnectInitialDelayMs: 200,
          reconnectMaxDelayMs: 1_000,
        };
        const compressible = JSON.stringify({
          readings: Array.from({ length: 200 }, (_, i) => ({ sensor: 'a', i })),
        });
        const first: [string, string][] = [
          [compressible, 'smallest'],
          ['{"n":1}', 'none'],
          ['{"n":2}', 'none'],
        ];
        const page = await openApp(context, server.url, name);
        const ids = await sendFromPage(page, options, first);
        await page.reload({ waitUntil: 'load' });
        await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.title === 'ready');
        ids.push(...(await sendFromPage(page, options, [['{"n":3}', 'none']])));
        const errors = await page.evaluate(() =>
          (globalThis as unknown as PageGlobals).app.events.filter((e) => e.name === 'error'),
        );
        expect(errors).toEqual([]);
        await page.evaluate(() => (globalThis as unknown as PageGlobals).app.close());

        const stored = await emulator.api.allMessages(deviceId);
        expect(stored.map((m) => m.mid)).toEqual(ids);
        expect(stored.map((m) => Buffer.from(m.payloadBase64, 'base64').toString('utf8'))).toEqual([
          ...first.map(([text]) => text),
          '{"n":3}',
        ]);
        expect(stored[0].properties['content-encoding']).toBe('br');
      } finally {
        await context.close();
        await server.close();
      }
    }, 120_000);
  },
);
