import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The acceptance scenario as a user would run it: a plain Node script using only the package's public
// API (demo/node-acceptance.mjs) against the emulator in its own process.
describe('acceptance: 10,000 messages in batches, compression, a file upload and a forced disconnect', () => {
  it('delivers every message', () => {
    const run = spawnSync(process.execPath, ['demo/node-acceptance.mjs'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const output = `${run.stdout}${run.stderr}`;
    expect(output, output).toContain('ACCEPTANCE PASSED');
    expect(run.status, output).toBe(0);
    expect(output).toMatch(/enqueued 10000 messages/);
  }, 130_000);
});
