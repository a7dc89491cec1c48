/**
 * Storage faults under a real client: a disk that fills up, a file system remounted read-only, and database files
 * corrupted in their header, in their pages, replaced by something else or emptied. Each ends in a typed error (or,
 * for an empty file, a fresh database), nothing that was committed is lost, and a client whose disk recovers goes on
 * without a restart.
 *
 * The full and read-only disks are small tmpfs mounts (this needs root or CAP_SYS_ADMIN); where mounting is
 * impossible those two cases are skipped and say so.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../src/client.js';
import { isSpotflowError } from '../../src/errors.js';
import type { FaultProxy } from './fault-proxy.js';
import {
  type EmulatorProcess,
  proxyFor,
  startDevice,
  startEmulatorProcess,
  stopEmulatorProcess,
  storedMids,
  until,
} from './harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-reliability-storage-'));
let emulator: EmulatorProcess;
let proxy: FaultProxy;

/** Whether a tmpfs can be mounted here (root in a container may still lack CAP_SYS_ADMIN). */
function canMount(): boolean {
  const probe = join(dataDir, 'probe');
  mkdirSync(probe, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const mountable = canMount();
if (!mountable)
  console.log(
    '[reliability] storage: tmpfs cannot be mounted here; the full and read-only disk cases are skipped',
  );

const mounts: string[] = [];
function tmpfs(name: string, size: string): string {
  const dir = join(dataDir, name);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

beforeAll(async () => {
  emulator = await startEmulatorProcess({ dataDir: join(dataDir, 'emulator') });
  proxy = await proxyFor(emulator);
});
afterAll(async () => {
  await proxy?.close();
  if (emulator) await stopEmulatorProcess(emulator);
  for (const dir of mounts) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

async function deliveredAll(client: DeviceClient, deviceId: string, ids: string[]): Promise<void> {
  await until(() => client.connected, 15_000, 'connected');
  await Promise.race([
    client.waitEnqueuedMessagesSent(),
    new Promise((_, reject) => setTimeout(() => reject(new Error('not delivered within 20 s')), 20_000)),
  ]);
  const stored = new Set(await storedMids(emulator, deviceId));
  expect(ids.filter((id) => !stored.has(id))).toEqual([]);
}

describe.skipIf(!mountable)('a disk that fills up, or turns read-only', () => {
  it('disk full: enqueue rejects DATABASE_UNAVAILABLE, nothing committed is lost, and it goes on once space returns', async () => {
    const dir = tmpfs('full', '3m');
    writeFileSync(join(dir, 'filler'), Buffer.alloc(1024 * 1024));
    const client = await startDevice(emulator, 'tcp', {
      database: join(dir, 'full.db'),
      deviceId: 'disk-full',
    });
    const ids: string[] = [];
    try {
      await until(() => client.connected, 10_000, 'connected');
      proxy.mode = { kind: 'down' }; // offline: the outbox only grows
      await until(() => !client.connected, 10_000, 'offline');
      const payload = 'x'.repeat(16 * 1024);
      let failure: unknown;
      for (let i = 0; i < 1000 && failure === undefined; i++) {
        await client.enqueueMessage({ i, payload }).then(
          ({ id }) => ids.push(id),
          (error: unknown) => {
            failure = error;
          },
        );
      }
      expect(isSpotflowError(failure, 'DATABASE_UNAVAILABLE'), String(failure)).toBe(true);
      expect(ids.length).toBeGreaterThan(10);
      rmSync(join(dir, 'filler'));
      ids.push((await client.enqueueMessage({ after: 'space returned' })).id);
      proxy.mode = { kind: 'pass' };
      await deliveredAll(client, 'disk-full', ids);
    } finally {
      proxy.mode = { kind: 'pass' };
      await client.close();
    }
  }, 60_000);

  it('read-only file system: start rejects DATABASE_UNAVAILABLE, and nothing committed is lost', async () => {
    // Linux refuses to remount a file system read-only while a file on it is open for writing (EBUSY), so the
    // client is closed first: this is a device that boots on a file system that went read-only.
    const dir = tmpfs('readonly', '8m');
    const database = join(dir, 'ro.db');
    let client: DeviceClient = await startDevice(emulator, 'tcp', { database, deviceId: 'read-only' });
    const ids: string[] = [];
    try {
      await until(() => client.connected, 10_000, 'connected');
      proxy.mode = { kind: 'down' };
      await until(() => !client.connected, 10_000, 'offline');
      for (let i = 0; i < 5; i++) ids.push((await client.enqueueMessage({ i })).id);
      await client.close();
      execFileSync('mount', ['-o', 'remount,ro', dir]);
      const failure = await startDevice(emulator, 'tcp', { database, deviceId: 'read-only' }).then(
        async (started) => {
          await started.close();
          return undefined;
        },
        (error: unknown) => error,
      );
      expect(isSpotflowError(failure, 'DATABASE_UNAVAILABLE'), String(failure)).toBe(true);
      execFileSync('mount', ['-o', 'remount,rw', dir]);
      proxy.mode = { kind: 'pass' };
      client = await startDevice(emulator, 'tcp', { database, deviceId: 'read-only' });
      ids.push((await client.enqueueMessage({ after: 'writable again' })).id);
      await deliveredAll(client, 'read-only', ids);
    } finally {
      proxy.mode = { kind: 'pass' };
      await client.close();
    }
  }, 60_000);
});

describe('a corrupted database file', () => {
  /** A closed database holding a registration and a few pending messages. */
  async function makeDatabase(name: string): Promise<string> {
    const file = join(dataDir, `${name}.db`);
    proxy.mode = { kind: 'pass' };
    const client = await startDevice(emulator, 'tcp', { database: file, deviceId: name });
    proxy.mode = { kind: 'down' };
    for (let i = 0; i < 50; i++) await client.enqueueMessage({ i, filler: 'y'.repeat(2000) });
    await client.close();
    proxy.mode = { kind: 'pass' };
    return file;
  }

  function overwrite(file: string, offset: number, bytes: Buffer): void {
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes, 0, bytes.length, offset);
    closeSync(fd);
  }

  it('header, pages, another kind of file: start rejects DATABASE_CORRUPT naming the file; an empty file is a new database', async () => {
    const original = await makeDatabase('corrupt-source');
    const variants: { name: string; damage: (file: string) => void; expect: 'corrupt' | 'fresh' }[] = [
      {
        name: 'header',
        damage: (file) => overwrite(file, 0, Buffer.from('not the sqlite header')),
        expect: 'corrupt',
      },
      {
        name: 'pages',
        damage: (file) => overwrite(file, 4096, Buffer.alloc(8192, 0xa5)),
        expect: 'corrupt',
      },
      {
        name: 'other',
        damage: (file) => writeFileSync(file, '<html>not a database</html>'),
        expect: 'corrupt',
      },
      { name: 'empty', damage: (file) => writeFileSync(file, ''), expect: 'fresh' },
    ];
    for (const variant of variants) {
      const file = join(dataDir, `corrupt-${variant.name}.db`);
      copyFileSync(original, file);
      variant.damage(file);
      const outcome = await startDevice(emulator, 'tcp', {
        database: file,
        deviceId: `corrupt-${variant.name}`,
      }).then(
        async (client) => {
          // Damage in pages may only show when they are read.
          const pending = await client.pendingMessagesCount().catch((error: unknown) => error);
          await client.close();
          return { client, pending };
        },
        (error: unknown) => ({ error }),
      );
      if (variant.expect === 'fresh') {
        expect('pending' in outcome && outcome.pending, variant.name).toBe(0);
      } else if ('error' in outcome) {
        expect(
          isSpotflowError(outcome.error, 'DATABASE_CORRUPT'),
          `${variant.name}: ${String(outcome.error)}`,
        ).toBe(true);
        expect((outcome.error as Error).message).toContain(file);
      } else {
        expect(
          isSpotflowError(outcome.pending, 'DATABASE_CORRUPT'),
          `${variant.name}: ${String(outcome.pending)}`,
        ).toBe(true);
      }
    }
  }, 60_000);
});
