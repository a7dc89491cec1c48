#!/usr/bin/env node
/**
 * Builds the browser platform's two workers as self-contained ES modules, each with its WebAssembly beside it, over
 * what `tsc -p tsconfig.browser.json` wrote to dist/platform/browser/:
 *
 *   database-worker.js     our store + sql.js's browser build    -> sql-wasm-browser.wasm
 *   compression-worker.js  our compressor + brotli-wasm's loader -> brotli_wasm_bg.wasm
 *
 * Each worker finds its wasm with `new URL('./<file>.wasm', import.meta.url)`, the one form vite, webpack 5 and
 * Parcel 2 all follow (they emit the file and rewrite the URL), and which points at the copied file when a bundler
 * follows nothing (esbuild, Rollup: the README's one copy step). The JS that loads each wasm is bundled from the
 * same package as the wasm, so they always match, whatever sql.js or brotli-wasm an app installs itself.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = fileURLToPath(new URL('../', import.meta.url));
const out = join(repo, 'dist/platform/browser');
/** An installed package's directory (some export no package.json, so it is not resolved through `exports`). */
const packageDir = (name) => join(repo, 'node_modules', name);

/** name@version and license of a bundled package, for the banner. */
function provenance(name) {
  const manifest = JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8'));
  return `${name}@${manifest.version} (${manifest.license})`;
}

/** A module whose default export is the URL of `file` next to the built worker. */
const besideWorker = (file) => `export default new URL('./${file}', import.meta.url).href;\n`;

const workers = [
  {
    name: 'database-worker',
    bundles: 'sql.js',
    wasm: { from: join(packageDir('sql.js'), 'dist/sql-wasm-browser.wasm'), as: 'sql-wasm-browser.wasm' },
    plugin: {
      name: 'sql-wasm-url',
      setup(esbuild) {
        // sql.js's browser build is a UMD script; as an ES module its loader is simply the default export (webpack
        // misreads the UMD tail inside a bundled worker: `initSqlJs` came out undefined). It sets `module = undefined`
        // to stop Emscripten's own exports, which needs a `module` to assign in a strict ES module.
        esbuild.onLoad({ filter: /sql\.js[\\/]dist[\\/]sql-wasm-browser\.js$/ }, ({ path }) => {
          const source = readFileSync(path, 'utf8');
          const tail = source.lastIndexOf("if (typeof exports === 'object' && typeof module === 'object'){");
          if (tail < 0)
            throw new Error('sql.js no longer ends its browser build with the UMD tail expected here');
          return {
            contents: `let module;\n${source.slice(0, tail)}export default initSqlJs;\n`,
            loader: 'js',
          };
        });
        // The source imports the wasm with vite's `?url` (the repo's own pages are built by vite from source).
        esbuild.onResolve({ filter: /^sql\.js\/dist\/sql-wasm-browser\.wasm\?url$/ }, () => ({
          path: 'sql-wasm-browser.wasm',
          namespace: 'beside-worker',
        }));
        esbuild.onLoad({ filter: /.*/, namespace: 'beside-worker' }, ({ path }) => ({
          contents: besideWorker(path),
          loader: 'js',
        }));
      },
    },
  },
  {
    name: 'compression-worker',
    bundles: 'brotli-wasm',
    wasm: {
      from: join(packageDir('brotli-wasm'), 'pkg.web/brotli_wasm_bg.wasm'),
      as: 'brotli_wasm_bg.wasm',
    },
    plugin: {
      name: 'brotli-wasm-url',
      setup(esbuild) {
        // brotli-wasm names its wasm without `./`, which webpack would look up as a package.
        esbuild.onLoad({ filter: /brotli-wasm[\\/]pkg\.web[\\/]brotli_wasm\.js$/ }, ({ path }) => {
          const source = readFileSync(path, 'utf8');
          const named = "new URL('brotli_wasm_bg.wasm', import.meta.url)";
          if (!source.includes(named)) throw new Error(`brotli-wasm no longer loads its wasm as ${named}`);
          return { contents: source.replace(named, "new URL('./brotli_wasm_bg.wasm', import.meta.url)") };
        });
      },
    },
  },
];

for (const worker of workers) {
  await build({
    entryPoints: [join(repo, `platform/browser/${worker.name}.ts`)],
    outfile: join(out, `${worker.name}.js`),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Whitespace and comments only (names stay readable); the app's bundler minifies the rest.
    minifyWhitespace: true,
    legalComments: 'inline',
    // package.json's `sideEffects` is for apps' bundlers; here every import of our own source stays, in order
    // (compression-fetches.js must run before brotli-wasm starts loading).
    ignoreAnnotations: true,
    banner: {
      js: `// spotflow-device ${worker.name}, self-contained: bundles ${provenance(worker.bundles)}, whose wasm is ./${worker.wasm.as}.`,
    },
    plugins: [worker.plugin],
    logLevel: 'warning',
  });
  rmSync(join(out, worker.wasm.as), { force: true }); // a copy keeps its mode: sql.js ships its wasm executable
  writeFileSync(join(out, worker.wasm.as), readFileSync(worker.wasm.from));
  // tsc's map described the unbundled module this file replaced.
  rmSync(join(out, `${worker.name}.js.map`), { force: true });
}
