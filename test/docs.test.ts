import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `npm run docs` (typedoc.json) treats every warning as an error: an undocumented public export, a type a public
// export uses but no entry exports, or a broken {@link} fails it. Building it here makes such a doc fail CI.
const out = mkdtempSync(join(tmpdir(), 'spotflow-api-docs-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('API reference', () => {
  it('builds from the doc comments without a warning', { timeout: 120_000 }, () => {
    const run = spawnSync(process.execPath, ['node_modules/typedoc/bin/typedoc', '--out', out], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
  });
});
