/**
 * Builds the browser test pages (every `test/browser/pages/*.html` and the scripts they load) with vite, once per
 * run, into `outDir`. Pages import the SDK's browser code by relative path as TypeScript source.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

export const pagesDir = fileURLToPath(new URL('../pages/', import.meta.url));

export async function buildPages(outDir: string): Promise<void> {
  const input = Object.fromEntries(
    readdirSync(pagesDir)
      .filter((file) => file.endsWith('.html'))
      .map((file) => [file.slice(0, -'.html'.length), `${pagesDir}${file}`]),
  );
  await build({
    configFile: false,
    root: pagesDir,
    base: './',
    logLevel: 'warn',
    clearScreen: false,
    build: {
      outDir,
      emptyOutDir: true,
      target: 'es2022',
      // Readable stacks in failure messages.
      minify: false,
      sourcemap: true,
      reportCompressedSize: false,
      // Large wasm and chunks are expected here.
      chunkSizeWarningLimit: 4_000,
      rollupOptions: { input },
    },
    worker: { format: 'es' },
  });
}
