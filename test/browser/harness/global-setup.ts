/**
 * vitest globalSetup of the browser tests: builds the pages once and serves them for the whole run.
 * Test files read the address with `inject('pagesUrl')` (see `pageUrl` in browser.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildPages } from './build-pages.js';
import { serveStatic } from './static-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the built pages are served: `http://127.0.0.1:<port>/`. */
    pagesUrl: string;
    /** The directory of the built pages, for tests that inspect the build output. */
    pagesDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const outDir = mkdtempSync(join(tmpdir(), 'spotflow-browser-pages-'));
  const started = Date.now();
  let server: Awaited<ReturnType<typeof serveStatic>>;
  try {
    await buildPages(outDir);
    server = await serveStatic(outDir);
  } catch (error) {
    rmSync(outDir, { recursive: true, force: true });
    throw error;
  }
  console.log(`browser test pages built in ${Date.now() - started} ms`);
  project.provide('pagesUrl', server.url);
  project.provide('pagesDir', outDir);
  return async () => {
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
  };
}
