/**
 * Builds the browser test pages (every `test/browser/pages/*.html` and the scripts they load) with vite, once per
 * run, into `outDir`. Pages import the SDK's browser code by relative path as TypeScript source.
 *
 * All pages are built together; if that fails, each page is built on its own, so that one broken page fails only
 * its own tests: in its place goes a page that reports the build error (`openPage` throws it).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

export const pagesDir = fileURLToPath(new URL('../pages/', import.meta.url));

export async function buildPages(outDir: string): Promise<void> {
  const pages = readdirSync(pagesDir)
    .filter((file) => file.endsWith('.html'))
    .map((file) => file.slice(0, -'.html'.length));
  try {
    await buildSome(outDir, pages, true);
    return;
  } catch (error) {
    console.log(`building the pages together failed (${firstLine(error)}); building each on its own`);
  }
  for (const [i, page] of pages.entries()) {
    try {
      await buildSome(outDir, [page], i === 0);
    } catch (error) {
      console.log(`browser test page ${page}.html failed to build: ${plain(error)}`);
      writeFileSync(join(outDir, `${page}.html`), brokenPage(page, error));
    }
  }
}

function buildSome(outDir: string, pages: string[], emptyOutDir: boolean) {
  return build({
    configFile: false,
    root: pagesDir,
    base: './',
    logLevel: 'warn',
    clearScreen: false,
    build: {
      outDir,
      emptyOutDir,
      target: 'es2022',
      // Readable stacks in failure messages.
      minify: false,
      sourcemap: true,
      reportCompressedSize: false,
      // Large wasm and chunks are expected here.
      chunkSizeWarningLimit: 4_000,
      rollupOptions: { input: Object.fromEntries(pages.map((page) => [page, `${pagesDir}${page}.html`])) },
    },
    worker: { format: 'es' },
  });
}

/** The error as text without the colour codes of the build's output. */
function plain(error: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escapes
  return String(error).replace(/\u001b\[[0-9;]*m/g, '');
}

function brokenPage(page: string, error: unknown): string {
  const message = plain(error);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body><script>
globalThis.__buildError = ${JSON.stringify(`the page ${page}.html failed to build: ${message}`)};
</script></body></html>`;
}

function firstLine(error: unknown): string {
  return String(error).split('\n')[0] ?? '';
}
