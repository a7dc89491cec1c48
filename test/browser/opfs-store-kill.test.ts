// The OPFS store (platform/browser/opfs-store.ts) under whole-browser SIGKILLs, the fault that makes Chromium delete an
// origin's IndexedDB (sdk-kill-folds.test.ts). A worker appends groups carrying 24 KiB payloads, strict, and folds
// every few groups, writing 1.5 MB of 512 KiB chunks (pages/opfs-workload.ts: what the store must hold at any
// position is a function of that position). The browser is killed once a seeded number of groups is acknowledged,
// wherever the worker has got to by then, often inside a fold (the worker reports how much of its time folds take); after each restart the store must open, hold exactly what
// the workload's rule says for the position it holds, and hold every group acknowledged before the kill.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { type KillableBrowser, openKillablePage } from './harness/index.js';
import { scratch } from './harness/scratch.js';
import { random, testSeed } from './harness/storage-faults.js';
import './pages/globals.js';

const ROUNDS = 4;
const SHAPE = { payloadBytes: 24 * 1024, chunkBytes: 512 * 1024, chunks: 16, foldEvery: 4 };
const NAME = 'killed-store';

const { tempDir, cleanup } = scratch();

const call = (page: Page, request: Record<string, unknown>) =>
  page.evaluate((request) => globalThis.__opfs!(request), request);

describe('OPFS store under whole-browser SIGKILLs', () => {
  it('opens after every kill, holding every acknowledged group and exactly the file its position says', async () => {
    const seed = testSeed();
    const next = random(seed);
    const profile = tempDir('spotflow-opfs-kill-');
    let acknowledged = 0;
    let folds = 0;
    const rounds: string[] = [];
    const open = async (): Promise<{ chromium: KillableBrowser; page: Page; last: number; base: number }> => {
      const { chromium, page } = await openKillablePage(profile, 'opfs.html', { label: 'opfs', cleanup });
      const checked = (await call(page, { op: 'workloadOpen', name: NAME, shape: SHAPE })) as {
        base: number;
        last: number;
        problems: string[];
      };
      expect(checked.problems, `after ${rounds.length} kills (seed ${seed})`).toEqual([]);
      expect(checked.last, 'every acknowledged group is there').toBeGreaterThanOrEqual(acknowledged);
      return { chromium, page, last: checked.last, base: checked.base };
    };
    for (let round = 0; round < ROUNDS; round++) {
      const { chromium, page, last, base } = await open();
      await call(page, { op: 'workloadStart', from: last + 1 });
      // The kill comes once a seeded number of groups more is acknowledged (each round folds at least twice: a fold
      // every 4 positions), right after the worker said so: wherever its next steps have got to.
      const target = last + 8 + Math.floor(next() * 40);
      const deadline = Date.now() + 30_000;
      let progress: { acknowledged: number; folds: number; foldMs: number; runMs: number };
      for (;;) {
        progress = (await call(page, { op: 'workloadProgress' })) as typeof progress;
        if (progress.acknowledged >= target) break;
        if (Date.now() > deadline)
          throw new Error(`round ${round}: ${progress.acknowledged} of ${target} in 30 s`);
      }
      await chromium.kill();
      acknowledged = progress.acknowledged;
      folds += progress.folds;
      rounds.push(
        `opened at ${last} (base ${base}), killed after ${progress.acknowledged}: ${progress.folds} folds, ` +
          `${Math.round((100 * progress.foldMs) / progress.runMs)} % of the time in folds`,
      );
    }
    const { chromium, last } = await open();
    await chromium.kill();
    console.log(`OPFS store kills (seed ${seed}): ${rounds.join('; ')}; at the end ${last}`);
    expect(folds, 'folds stored across the rounds').toBeGreaterThan(ROUNDS);
  }, 180_000);
});
