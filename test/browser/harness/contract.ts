/** Node-side half of the contract bridge: runs one case of a page's `exposeContract` suite. */
import type { Page } from 'playwright-core';
import type { CaseResult } from './in-page.js';

/** The case names a page exposes (when the suite cannot be imported in Node). */
export function listContractCases(page: Page): Promise<string[]> {
  return page.evaluate(() => globalThis.__contract!.list());
}

/**
 * Runs the case `name` in `page`; throws with the page's message and stack if it fails. `options` (JSON) reaches
 * the page's context factory.
 */
export async function runContractCase(page: Page, name: string, options?: unknown): Promise<void> {
  const result: CaseResult = await page.evaluate(
    ([name, options]) => {
      const bridge = globalThis.__contract;
      if (bridge === undefined) return { ok: false, error: 'the page exposes no contract (exposeContract)' };
      return bridge.run(name, options);
    },
    [name, options] as const,
  );
  if (!result.ok) {
    const error = new Error(`in the page: ${result.error.split('\n')[0]}`);
    error.stack = `Error (in the page): ${result.error}`;
    throw error;
  }
}
