/**
 * Twenty SIGKILLs of a sending process at random moments (test/fixtures/outbox-writer.mjs: four concurrent writers
 * printing each id once its enqueue resolved), restarted each time on the same database; then a client drains it.
 * Counted on the emulator: every printed id received, duplicates reported. (test/sdk/durability.test.ts kills once
 * per case, with the emulator down; this is the long run.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { report, root, startDevice, storedMids, until } from './harness.js';
import { proxiedEmulatorPerFile } from './proxied-emulator.js';

const site = proxiedEmulatorPerFile('sigkill');

/** Runs the writer until `lifeMs` after it started, SIGKILLs it, and returns the ids it printed. */
async function runAndKill(database: string, lifeMs: number): Promise<string[]> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(root, 'test', 'fixtures', 'outbox-writer.mjs'),
      JSON.stringify({
        instance: site.emulator.instance,
        provisioningToken: site.emulator.provisioningToken,
        deviceId: 'sigkilled',
        database,
        ca: site.emulator.ca,
        writers: 4,
      }),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const ids: string[] = [];
  let started!: () => void;
  const isStarted = new Promise<void>((resolve) => {
    started = resolve;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'started') started();
    const id = line.split(' ')[2];
    if (id) ids.push(id);
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_, signal) => resolve(signal)),
  );
  await Promise.race([isStarted, exited]);
  await new Promise((resolve) => setTimeout(resolve, lifeMs));
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return ids;
}

describe('a sending process SIGKILLed twenty times', () => {
  it('loses nothing whose enqueue resolved', async () => {
    const database = join(site.dataDir, 'device.db');
    // Provisioned once; every writer starts from the stored registration.
    const first = await startDevice(site.emulator, 'tcp', { database, deviceId: 'sigkilled' });
    await first.close();
    const printed: string[] = [];
    // Seeded, so a failure can be replayed: lives between 100 and 600 ms.
    let seed = 20_250_101;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let kill = 0; kill < 20; kill++) printed.push(...(await runAndKill(database, 100 + random() * 500)));
    expect(printed.length).toBeGreaterThan(100);

    const client = await startDevice(site.emulator, 'tcp', { database, deviceId: 'sigkilled' });
    try {
      await until(() => client.connected, 10_000, 'connected');
      await Promise.race([
        client.waitEnqueuedMessagesSent(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('not drained within 30 s')), 30_000)),
      ]);
    } finally {
      await client.close();
    }
    const stored = await storedMids(site.emulator, 'sigkilled');
    const distinct = new Set(stored);
    const lost = printed.filter((id) => !distinct.has(id));
    const mine = new Set(printed);
    report({
      fault: 'sending process SIGKILL ×20',
      transport: 'tcp',
      enqueued: printed.length,
      received: printed.length - lost.length,
      lost: lost.length,
      duplicates: stored.filter((id) => mine.has(id)).length - (printed.length - lost.length),
      recoveryMs: undefined,
      resumeMs: undefined,
    });
    expect(lost).toEqual([]);
  }, 120_000);
});
