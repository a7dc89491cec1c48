// `npm run bench --smoke`, the cases that run Node only (see smoke.ts); and an unknown case is refused.
import { describe, expect, it } from 'vitest';
import { nodeCases, runBench, smokeCases } from './smoke.js';

smokeCases('npm run bench --smoke: the Node cases', nodeCases);

describe('npm run bench', () => {
  it('refuses an unknown case', async () => {
    const run = await runBench(['--case', 'no-such-case']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown case');
  });
});
