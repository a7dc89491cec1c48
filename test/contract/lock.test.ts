import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeLock } from '../../platform/node/lock.js';
import { runFixture } from './fixtures.js';
import { type LockContractContext, lockCases } from './lock-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'spotflow-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lock = createNodeLock();
let counter = 0;

// Node never waits for the owner: only the refusing cases apply.
const ctx: LockContractContext = {
  createLock: () => createNodeLock(),
  supportsWaiting: false,
  freshName: () => join(dir, `contract-${++counter}.db`),
};

describe('Lock contract (SQLite file lock)', () => {
  it.each(lockCases(ctx.supportsWaiting))('$name', ({ run }) => run(ctx));
});

describe('Node lock', () => {
  it('names the database in its DATABASE_LOCKED error', async () => {
    const name = join(dir, 'same-process.db');
    const first = await lock.acquire(name);
    await expect(lock.acquire(name)).rejects.toMatchObject({
      name: 'SpotflowError',
      code: 'DATABASE_LOCKED',
      message: `Another client owns the database ${name}`,
    });
    await first.release();
  });

  it('creates its lock file with mode 0600', async () => {
    const name = join(dir, 'mode.db');
    const handle = await lock.acquire(name);
    expect(statSync(`${name}.lock`).mode & 0o777).toBe(0o600);
    await handle.release();
  });

  it('refuses while another process holds it, and frees it when that process is killed with SIGKILL', async () => {
    const name = join(dir, 'other-process.db');
    const child = runFixture('lock-holder.ts', [name]);
    try {
      await child.waitForLine((line) => line === 'locked');
      await expect(lock.acquire(name)).rejects.toMatchObject({ code: 'DATABASE_LOCKED' });
    } finally {
      child.process.kill('SIGKILL');
    }
    expect(await child.exited).toBe('SIGKILL');
    const handle = await lock.acquire(name);
    await handle.release();
  });

  it('rejects a lock path it cannot create with DATABASE_UNAVAILABLE', async () => {
    await expect(lock.acquire(join(dir, 'missing', 'x.db'))).rejects.toMatchObject({
      code: 'DATABASE_UNAVAILABLE',
    });
  });
});
