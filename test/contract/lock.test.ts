import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeLock } from '../../platform/node/lock.js';
import { runFixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'spotflow-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lock = createNodeLock();

describe('Node lock', () => {
  it('refuses a second owner in the same process with DATABASE_LOCKED', async () => {
    const name = join(dir, 'same-process.db');
    const first = await lock.acquire(name);
    const refused = lock.acquire(name);
    await expect(refused).rejects.toMatchObject({ name: 'SpotflowError', code: 'DATABASE_LOCKED' });
    await expect(refused).rejects.toThrow(`Another client owns the database ${name}`);
    // A second Lock object is no different.
    await expect(createNodeLock().acquire(name)).rejects.toMatchObject({ code: 'DATABASE_LOCKED' });
    await first.release();
  });

  it('can be taken again after release, and release is idempotent', async () => {
    const name = join(dir, 'released.db');
    const first = await lock.acquire(name);
    await first.release();
    await first.release();
    const second = await lock.acquire(name);
    await second.release();
  });

  it('keeps locks of different databases apart', async () => {
    const a = await lock.acquire(join(dir, 'a.db'));
    const b = await lock.acquire(join(dir, 'b.db'));
    await Promise.all([a.release(), b.release()]);
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
