/**
 * How each bundler builds the throwaway app (test/fixtures/bundlers/): its own documented default setup, run through
 * its API with the versions pinned in this repository's devDependencies, plus, for esbuild and Rollup, the one step
 * the README's "Bundlers" table gives (they follow neither `new Worker(new URL(…))` nor `new URL('./x.wasm', …)`).
 * Each build writes the app's page to `<app>/dist/index.html`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as commonjsPlugin from '@rollup/plugin-commonjs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { build as esbuild } from 'esbuild';
import HtmlWebpackPlugin from 'html-webpack-plugin';
import { type Plugin, rollup } from 'rollup';
import { build as viteBuild } from 'vite';
import webpack from 'webpack';

const require = createRequire(import.meta.url);
// Its types (without "type": "module") make TypeScript see the whole module where the ES default export is.
const commonjs = commonjsPlugin.default as unknown as () => Plugin;
const fixtures = fileURLToPath(new URL('../../fixtures/bundlers/', import.meta.url));

/** The README's step for bundlers that follow no `new URL(…, import.meta.url)`, run as a user runs it, in the app. */
export const copyStep =
  'cp node_modules/spotflow-device/dist/platform/browser/*-worker.js node_modules/spotflow-device/dist/platform/browser/*.wasm dist/';

export interface Recipe {
  name: string;
  /** What the app needs beyond the bundler's default setup. */
  step?: string;
  build(app: string): Promise<void>;
}

/** A page of your own that loads the bundle (esbuild and Rollup write no HTML): the app's, naming the output. */
function staticPage(app: string): void {
  const page = readFileSync(join(fixtures, 'index.html'), 'utf8').replace('./src/main.js', './main.js');
  writeFileSync(join(app, 'dist/index.html'), page);
}

export const recipes: Recipe[] = [
  {
    name: 'vite',
    // `vite build` without a config file.
    build: async (app) => {
      await viteBuild({ root: app, configFile: false, logLevel: 'warn', build: { outDir: 'dist' } });
    },
  },
  {
    name: 'webpack',
    // webpack's getting-started setup, with html-webpack-plugin writing the page.
    build: (app) =>
      new Promise<void>((resolve, reject) => {
        const compiler = webpack({
          mode: 'production',
          context: app,
          entry: './src/main.js',
          output: { path: join(app, 'dist'), clean: true },
          plugins: [new HtmlWebpackPlugin()],
        });
        compiler.run((error, stats) => {
          compiler.close(() => {});
          if (error) reject(error);
          else if (stats?.hasErrors()) reject(new Error(stats.toString({ all: false, errors: true })));
          else resolve();
        });
      }),
  },
  {
    name: 'parcel',
    // `parcel build index.html`: the default config, source maps and optimisation on.
    build: async (app) => {
      const { Parcel } = await import('@parcel/core');
      await new Parcel({
        entries: join(app, 'index.html'),
        defaultConfig: require.resolve('@parcel/config-default'),
        mode: 'production',
        shouldAutoInstall: false,
        shouldDisableCache: true,
        cacheDir: join(app, '.parcel-cache'),
        defaultTargetOptions: { distDir: join(app, 'dist') },
        logLevel: 'warn',
      }).run();
    },
  },
  {
    name: 'esbuild',
    step: copyStep,
    // `esbuild src/main.js --bundle --format=esm --splitting --minify --outdir=dist`, then the copy step.
    build: async (app) => {
      await esbuild({
        absWorkingDir: app,
        entryPoints: ['src/main.js'],
        bundle: true,
        format: 'esm',
        splitting: true,
        minify: true,
        outdir: 'dist',
        logLevel: 'warning',
      });
      execFileSync('sh', ['-c', copyStep], { cwd: app });
      staticPage(app);
    },
  },
  {
    name: 'rollup',
    step: copyStep,
    // rollup.config.js with @rollup/plugin-node-resolve ({ browser: true }) and @rollup/plugin-commonjs, then the step.
    build: async (app) => {
      const bundle = await rollup({
        input: join(app, 'src/main.js'),
        plugins: [nodeResolve({ browser: true }), commonjs()],
        // Rollup leaves an import it cannot resolve in the output, with a warning: that is a failure here.
        onwarn: (warning) => {
          if (warning.code === 'UNRESOLVED_IMPORT') throw new Error(warning.message);
        },
      });
      await bundle.write({ dir: join(app, 'dist'), format: 'es' });
      await bundle.close();
      execFileSync('sh', ['-c', copyStep], { cwd: app });
      staticPage(app);
    },
  },
];
