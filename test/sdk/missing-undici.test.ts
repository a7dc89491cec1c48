// undici is an optional peer dependency that only Node's `ca` option needs: without it the Node entry still
// imports, a client without `ca` never asks for it, and a request through a CA-trusting fetch fails with
// DEPENDENCY_MISSING naming the package (test/fixtures/hide-packages.mjs makes it resolve as not installed).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const fixtures = new URL('../fixtures/', import.meta.url);
const http = new URL('../../platform/node/http.ts', import.meta.url).href;

function runWith(hidden: string): { code?: string; message?: string; plainFetch: boolean } {
  const script = `
    const { createNodeFetch } = await import(${JSON.stringify(http)});
    const plainFetch = createNodeFetch() === globalThis.fetch;
    const caFetch = createNodeFetch({ ca: '-----BEGIN CERTIFICATE-----\\nMA==\\n-----END CERTIFICATE-----\\n' });
    try {
      await caFetch('https://127.0.0.1:9/');
      console.log(JSON.stringify({ plainFetch }));
    } catch (error) {
      console.log(JSON.stringify({ plainFetch, code: error.code ?? error.name, message: error.message }));
    }
    await caFetch.close();`;
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      new URL('register-ts.mjs', fixtures).href,
      '--import',
      new URL('hide-packages.mjs', fixtures).href,
      '--input-type=module',
      '-e',
      script,
    ],
    { encoding: 'utf8', env: { ...process.env, SPOTFLOW_HIDE_PACKAGES: hidden }, timeout: 20_000 },
  );
  if (run.status !== 0) throw new Error(`the child failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!);
}

describe('Node without undici', () => {
  it('imports, keeps the plain fetch, and fails a CA-trusting request with DEPENDENCY_MISSING', () => {
    expect(runWith('undici')).toEqual({
      plainFetch: true,
      code: 'DEPENDENCY_MISSING',
      message: 'undici is not installed (the ca option needs it): npm i undici',
    });
  });

  it('with undici, the same request gets as far as the network (the hook, not the script, made it fail)', () => {
    const outcome = runWith('');
    expect(outcome.plainFetch).toBe(true);
    expect(outcome.code).not.toBe('DEPENDENCY_MISSING');
  });
});
