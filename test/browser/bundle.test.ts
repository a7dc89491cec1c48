// What a kiosk developer's bundle gets: a vite build of a page that imports `spotflow-device` by its package name
// resolves the `browser` condition, holds no Node built-in, no better-sqlite3 and nothing of the emulator, and
// loads Brotli only on demand. The sizes are printed for the notes.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const app = mkdtempSync(join(tmpdir(), 'spotflow-bundle-'));

interface Built {
  files: Map<string, Buffer>;
}

/** A vite build with the user's defaults; with `external`, those packages are left out (an ES worker keeps them). */
async function buildApp(outDir: string, external: string[] = []): Promise<Built> {
  await build({
    configFile: false,
    root: app,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, reportCompressedSize: false, rollupOptions: { external } },
    ...(external.length > 0 ? { worker: { format: 'es' as const, rollupOptions: { external } } } : {}),
  });
  const assets = join(outDir, 'assets');
  return {
    files: new Map(readdirSync(assets).map((file) => [file, readFileSync(join(assets, file))])),
  };
}

const kb = (bytes: number) => Math.round(bytes / 102.4) / 10;
const gzipKb = (bytes: Buffer) => kb(gzipSync(bytes, { level: 9 }).byteLength);

let full: Built;
let ownCode: Built;

beforeAll(async () => {
  if (!existsSync(join(repo, 'dist/platform/browser/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  // A user's project: the package installed (linked) under its name, and a page that imports it.
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(repo, join(app, 'node_modules', 'spotflow-device'), 'dir');
  writeFileSync(join(app, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>\n');
  writeFileSync(
    join(app, 'main.js'),
    "import { DeviceClient } from 'spotflow-device';\nglobalThis.start = (options) => DeviceClient.start(options);\n",
  );
  full = await buildApp(join(app, 'out'));
  ownCode = await buildApp(join(app, 'own'), ['mqtt', 'sql.js', 'brotli-wasm']);
}, 120_000);
afterAll(() => rmSync(app, { recursive: true, force: true }));

describe('a browser bundle of spotflow-device', () => {
  it('holds no Node built-in, no better-sqlite3, nothing of the emulator', () => {
    for (const [file, bytes] of full.files) {
      if (!file.endsWith('.js')) continue;
      const text = bytes.toString('utf8');
      for (const banned of [
        /from\s*["']node:/,
        /import\(\s*["']node:/,
        /require\(\s*["'](?:node:)?(?:fs|net|tls|zlib|crypto|os|path|child_process)["']/,
        /better-sqlite3/,
        /\baedes\b/,
        /@peculiar\/x509/,
        /\bundici\b/,
        /spotflow-emulator/,
      ]) {
        expect(banned.test(text), `${file} matches ${banned}`).toBe(false);
      }
    }
  });

  it('puts sql.js in a worker chunk and Brotli in a worker of its own, loaded only on demand', () => {
    const names = [...full.files.keys()];
    const entry = names.find((name) => name.startsWith('index-') && name.endsWith('.js'))!;
    const worker = names.find((name) => name.startsWith('database-worker') && name.endsWith('.js'));
    const sqlWasm = names.find((name) => name.startsWith('sql-wasm') && name.endsWith('.wasm'));
    const brotliWasm = names.find((name) => name.includes('brotli') && name.endsWith('.wasm'));
    // Every other JS file is the compression worker, with brotli-wasm's loader in it.
    const brotliJs = names.filter((name) => name.endsWith('.js') && name !== entry && name !== worker);
    expect(brotliJs).toEqual([expect.stringMatching(/^compression-worker/)]);
    expect(worker && sqlWasm && brotliWasm).toBeTruthy();
    expect(full.files.get(brotliJs[0]!)!.toString('utf8')).toContain(brotliWasm);
    // The entry names the worker's file (to start it on demand) and never the wasm.
    const entryText = full.files.get(entry)!.toString('utf8');
    expect(entryText).toContain(brotliJs[0]);
    expect(entryText).not.toContain(brotliWasm);

    const own = [...ownCode.files].filter(([name]) => name.endsWith('.js'));
    const figures = {
      sdkOwnCodeGzipKb: gzipKb(Buffer.concat(own.map(([, bytes]) => bytes))),
      defaultBundleJsGzipKb: gzipKb(Buffer.concat([full.files.get(entry)!, full.files.get(worker!)!])),
      sqlWasmGzipKb: gzipKb(full.files.get(sqlWasm!)!),
      lazyBrotliJsGzipKb: gzipKb(Buffer.concat(brotliJs.map((name) => full.files.get(name)!))),
      lazyBrotliWasmGzipKb: gzipKb(full.files.get(brotliWasm!)!),
    };
    console.log(`browser bundle sizes: ${JSON.stringify(figures)}`);
  });
});
