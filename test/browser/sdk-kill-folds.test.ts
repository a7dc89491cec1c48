// Whole-browser SIGKILLs (a kiosk losing power) across journal folds (issue 17, "Done when" 3). sdk-offline.test.ts
// kills before the first fold; here one caller enqueues small messages (each its own journal record) with the link
// down, so every resolved enqueue can only come back from what the profile stored, and the whole browser is
// SIGKILLed at seeded points. A fold is seen from inside the database worker: its first put on `pages`
// (harness/storage-faults.ts). After each restart the database must open (no new
// provisioning) and hold at least everything resolved so far; at the end every resolved enqueue must arrive at the
// emulator under its own id with its own payload. Each test names its store: all but the OPFS one are about
// IndexedDB (its folds, journal puts and LevelDB), which is no longer the default where OPFS exists.
//
// - Across folds: past two folds (> 4,000 journal records), killed at seeded random points and just after folds
//   started. Journal records come at the pace of strict IndexedDB commits (~230/s here), so this takes ~45 s on a
//   quiet machine (over 2 minutes when the 2 cores are shared with other browser tests).
// - During a fold: one of a fold's transactions (its chunk puts, the switch of `meta`, the deletes after it) is kept
//   uncommitted by freezing the database worker right after its request went out (nothing read after its writes),
//   and the browser is killed during the freeze. Skipped: see below.
//
// - Inside folds: large messages (24 KiB), so that a fold stores megabytes over many transactions and a kill soon
//   after a fold started lands while one of them is open (the worker's own count says so; no freezing).
//
// The kills across folds lose nothing. The kills inside folds, and the held kill, make Chromium lose the origin's
// whole IndexedDB in about half the runs: at a later start it logs "Got corruption … Unknown corruption" and
// "IndexedDB recovering from a corrupted (and deleted) database", and `indexedDB.open` fails once with "Internal error
// opening backing store". Our reading (it matches a public write-up of this Chromium behaviour; one step of it seen
// here): LevelDB re-uses a log whose tail a kill tore (a record's header written, its payload not; after one kill here
// the log ended "header claims 20382 bytes, 0 follow"), the next start appends after the torn record, and the start
// after that cannot read the log and deletes the backing store. The longer a write takes, the likelier a kill tears one, so folds of large pages are the worst case; any write
// can be torn. Plain IndexedDB writes of 512 KiB, killed 10 times, did not hit it. Both tests stay skipped until the
// store keeps a copy outside IndexedDB's LevelDB (see the closing note of 2026-12-07, second session).
//
// With `storage: 'opfs'` (the origin private file system, platform/browser/opfs-store.ts) the same large messages
// are killed at seeded counts and inside folds (held once the fold's chunks are in its journal and written into the
// file, before that file is flushed): nothing is lost, and the database opens every time.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { beginStart, deviceOptions, pageConnected } from './device-page.js';
import { type KillableBrowser, openKillablePage } from './harness/index.js';
import { scratch } from './harness/scratch.js';
import {
  Arrivals,
  databaseWorker,
  FOLD_MARK,
  HOLD_MARK,
  idbContents,
  Link,
  type Outcome,
  patchDatabaseWorker,
  patchStats,
  payloadText,
  random,
  startWorkload,
  testSeed,
  type WorkerPatchStats,
  waitForArrivals,
  workloadOutcomes,
} from './harness/storage-faults.js';

/** Small payloads; one caller, so that each enqueue is its own journal record (concurrent ones share one). */
const SMALL = 150;
/** Large payloads: a fold then stores megabytes of pages over many transactions, so a kill lands inside one. */
const LARGE = 24 * 1024;
/** How long a held fold's transaction stays open: the kill comes well within it. */
const HOLD_MS = 8_000;
const DATABASE = 'kiosk-folds';

const { tempDir, cleanup } = scratch();

type Kill =
  | { at: 'resolved'; count: number }
  | { at: 'held fold'; nth: number }
  | { at: 'fold started'; delayMs: number };

/**
 * Runs one burst per kill, each in a browser started on the same profile, kills it as `kills` say, then restarts
 * once more with the link up and checks what arrived.
 */
async function killRounds(
  label: string,
  plan: (next: () => number) => Kill[],
  expected: {
    folds: number;
    journalPuts: number;
    size: number;
    killsInFolds?: number;
    /** Always given: what is counted (journal puts, fold transactions) depends on the store. */
    storage: 'indexeddb' | 'opfs';
  },
): Promise<void> {
  const { size } = expected;
  const seed = testSeed();
  const kills = plan(random(seed));
  console.log(`${label}: seed ${seed} (SPOTFLOW_TEST_SEED=${seed} repeats): ${JSON.stringify(kills)}`);
  const started = Date.now();
  const link = await Link.start(tempDir('spotflow-browser-kill-folds-emulator-'));
  cleanup(() => link.close());
  const profile = tempDir('spotflow-browser-kill-folds-profile-');
  const deviceId = 'fold-killed-panel';
  const options = deviceOptions(link.emulator, {
    database: DATABASE,
    deviceId,
    storage: expected.storage,
  });

  let chromium: KillableBrowser | undefined;
  const opens: string[] = [];
  const folds: number[] = [];
  const held: { at: number; stats: WorkerPatchStats }[] = [];
  const restart = async (): Promise<Page> => {
    let page: Page;
    ({ chromium, page } = await openKillablePage(profile, 'device.html', {
      label: 'kiosk',
      cleanup,
      onConsole: (message) => {
        if (message.text().startsWith(FOLD_MARK)) folds.push(Date.now());
        if (message.text().startsWith(HOLD_MARK))
          held.push({ at: Date.now(), stats: JSON.parse(message.text().slice(HOLD_MARK.length)) });
      },
    }));
    const stored = await idbContents(page, DATABASE);
    // A client that finds no registration provisions again: with the link down that waits for ever. Say so now.
    let provisioning = false;
    page.on('request', (request) => {
      if (request.url().includes('/provisioning-operations/init')) provisioning = true;
    });
    const opening = Date.now();
    await beginStart(page, options);
    const deadline = Date.now() + 30_000;
    while (
      (await page.evaluate(() => device.client === undefined && device.startError === undefined)) === true
    ) {
      if (provisioning && link.down) {
        throw new Error(
          `after a kill the client provisions again (its registration is gone); IndexedDB held: ${stored}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`start() did not finish in 30 s; IndexedDB held: ${stored}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const error = await page.evaluate(() => device.startError);
    if (error !== undefined)
      throw new Error(`start() failed after a kill: ${error}; IndexedDB held: ${stored}`);
    opens.push(`${Date.now() - opening} ms [${stored}]`);
    return page;
  };

  // Provisioned once with the link up, then the link is down for every kill.
  let page = await restart();
  await pageConnected(page);
  await link.pause();
  await page.waitForFunction(() => device.client!.connected === false);

  const resolved = new Map<string, Outcome>();
  const rounds: string[] = [];
  let journalPuts = 0;
  let foldsInBursts = 0;
  let killsInFolds = 0;
  for (const [round, kill] of kills.entries()) {
    if (round > 0) {
      page = await restart();
      // The database opened (start resolved) and holds at least every enqueue that resolved before the kills.
      const pending = await page.evaluate(() => device.client!.pendingMessagesCount());
      expect(pending, `after kill ${round}: pending vs resolved so far`).toBeGreaterThanOrEqual(
        resolved.size,
      );
    }
    const worker = await databaseWorker(page);
    await patchDatabaseWorker(worker, {
      reportFolds: true,
      holdFoldMs: kill.at === 'held fold' ? HOLD_MS : 0,
      holdFoldAt: kill.at === 'held fold' ? kill.nth : 1,
    });
    const foldsBefore = folds.length;
    await startWorkload(page, { prefix: `k${round}-`, callers: 1, sizes: [size], max: 1_000_000 });
    let stats: WorkerPatchStats;
    let outcomes: Outcome[];
    let detail: string;
    if (kill.at === 'resolved') {
      await page.waitForFunction((count) => device.resolved.length >= count, kill.count, {
        timeout: 30_000,
        polling: 20,
      });
      outcomes = await workloadOutcomes(page);
      stats = await patchStats(worker);
      detail = `at ${outcomes.length} resolved`;
    } else if (kill.at === 'held fold') {
      // The worker answers nothing while it holds the transaction: its stats came with the mark.
      const deadline = Date.now() + 30_000;
      while (held.length === 0) {
        if (Date.now() > deadline) throw new Error(`round ${round}: no fold transaction held within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const hold = held.shift()!;
      outcomes = await workloadOutcomes(page);
      stats = hold.stats;
      detail = `${Date.now() - hold.at} ms into holding fold transaction ${kill.nth}`;
      expect(Date.now() - hold.at, 'killed while the transaction is held').toBeLessThan(HOLD_MS - 1_000);
    } else {
      const deadline = Date.now() + 30_000;
      while (folds.length === foldsBefore) {
        if (Date.now() > deadline) throw new Error(`round ${round}: no fold started within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const foldAt = folds[foldsBefore]!;
      await new Promise((resolve) => setTimeout(resolve, kill.delayMs));
      outcomes = await workloadOutcomes(page);
      stats = await patchStats(worker);
      detail = `${Date.now() - foldAt} ms after a fold started`;
    }
    await chromium!.kill();
    // Open as last seen, just before the kill: the kill most likely found it open too.
    if (stats.foldOpen > 0) killsInFolds++;
    foldsInBursts += folds.length - foldsBefore;
    journalPuts += stats.journalPuts;
    for (const outcome of outcomes) if (outcome.id !== undefined) resolved.set(outcome.id, outcome);
    const rejected = outcomes.filter((o) => o.id === undefined);
    expect(rejected.map((o) => `${o.tag}: ${o.code} ${o.message}`)).toEqual([]);
    rounds.push(
      `kill ${round + 1} (${kill.at}) ${detail}: ${outcomes.length} resolved in this run, ` +
        `${stats.journalPuts} journal puts, fold transactions ${stats.foldStarts} started / ` +
        `${stats.foldCompletes} completed / ${stats.foldOpen} open`,
    );
    console.log(`${label}: ${rounds.at(-1)} (${Date.now() - started} ms)`);
  }

  // The last restart, with the link back: everything resolved arrives, each under its own id with its payload.
  page = await restart();
  const pending = await page.evaluate(() => device.client!.pendingMessagesCount());
  expect(pending).toBeGreaterThanOrEqual(resolved.size);
  await link.resume();
  const arrivals = new Arrivals(() => link.emulator, deviceId);
  const wait = await waitForArrivals(arrivals, [...resolved.keys()], { page, timeoutMs: 30_000 });
  const byTag = new Map([...resolved.values()].map((o) => [o.tag, o]));
  const lost = [...resolved.values()].filter((o) => !arrivals.mids().has(o.id!)).map((o) => o.tag);
  const wrong: string[] = [];
  let inFlightArrived = 0;
  for (const arrival of arrivals.all) {
    const own = byTag.get(arrival.tag);
    const holder = arrival.mid === null ? undefined : resolved.get(arrival.mid);
    if (!/^k\d+-\d+$/.test(arrival.tag) || arrival.text !== payloadText(arrival.tag, size)) {
      wrong.push(`corrupt ${arrival.mid}: ${arrival.text.slice(0, 20)}`);
    } else if (holder !== undefined && holder.tag !== arrival.tag) {
      wrong.push(`${arrival.mid} carried ${arrival.tag}, not ${holder.tag}`);
    } else if (own !== undefined && own.id !== arrival.mid) {
      wrong.push(`${arrival.tag} arrived as ${arrival.mid}, not ${own.id}`);
    } else if (own === undefined && !arrival.duplicate) {
      // Enqueued, not yet resolved when the browser died: may be stored or not.
      inFlightArrived++;
    }
  }
  console.log(
    `${label}: ${rounds.join('; ')}; ${resolved.size} resolved in all, ${journalPuts} journal puts, ` +
      `${foldsInBursts} folds started during the bursts, ${killsInFolds} kills with a fold transaction open; after the last restart ${pending} pending, ` +
      `${arrivals.all.length} arrived (${inFlightArrived} were in flight at a kill), ${lost.length} resolved lost; ` +
      `delivery ${wait.ended} in ${wait.ms} ms; ${Date.now() - started} ms in all; start-ups: ${opens.join('; ')}`,
  );
  expect(lost.length === 0 ? 'none' : `${lost.length}: ${lost.slice(0, 8).join(', ')}`).toBe('none');
  expect(wrong.slice(0, 8)).toEqual([]);
  expect(foldsInBursts, 'folds started during the bursts').toBeGreaterThanOrEqual(expected.folds);
  expect(journalPuts, 'journal records written').toBeGreaterThan(expected.journalPuts);
  expect(killsInFolds, 'kills with a fold transaction open').toBeGreaterThanOrEqual(
    expected.killsInFolds ?? 0,
  );
}

describe('SIGKILLs of the whole browser across journal folds', () => {
  it(
    'loses no resolved enqueue and opens the database after every kill, past two folds',
    () =>
      killRounds(
        'kills across folds',
        (next) => [
          { at: 'resolved', count: 200 + Math.floor(next() * 600) },
          { at: 'fold started', delayMs: Math.floor(next() * 200) },
          { at: 'fold started', delayMs: Math.floor(next() * 200) },
          { at: 'resolved', count: 100 + Math.floor(next() * 300) },
        ],
        // Past at least two folds (one per 2,000 journal statements: two per sequential enqueue).
        { folds: 2, journalPuts: 2_000, size: SMALL, storage: 'indexeddb' },
      ),
    150_000,
  );

  // Skipped, fails in about half the runs: Chromium deletes the origin's IndexedDB after kills inside folds (header).
  it.skip(
    'loses no resolved enqueue when killed while folds of large messages store their pages',
    () =>
      killRounds(
        'kills inside folds',
        (next) => [
          { at: 'resolved', count: 50 + Math.floor(next() * 150) },
          { at: 'fold started', delayMs: Math.floor(next() * 100) },
          { at: 'fold started', delayMs: Math.floor(next() * 100) },
          { at: 'fold started', delayMs: Math.floor(next() * 100) },
        ],
        { folds: 3, journalPuts: 200, size: LARGE, killsInFolds: 2, storage: 'indexeddb' },
      ),
    150_000,
  );

  it(
    'storage opfs: loses no resolved enqueue when killed while a fold writes the file',
    () =>
      killRounds(
        'kills inside OPFS folds',
        (next) => [
          // Held once its chunks are in the journal and written into the file, before that file is flushed.
          { at: 'held fold', nth: 1 + Math.floor(next() * 2) },
          { at: 'resolved', count: 100 + Math.floor(next() * 300) },
          { at: 'held fold', nth: 1 },
        ],
        // The held folds are the folds here (each kill inside one is checked to be); none finishes in a burst.
        { folds: 0, journalPuts: -1, size: LARGE, storage: 'opfs' },
      ),
    150_000,
  );

  // Skipped, known to fail in about half the runs: Chromium reports its IndexedDB corrupt after this kill and
  // deletes it (the header above says why). Kept runnable so that the next attempt starts from here.
  it.skip(
    'loses no resolved enqueue when killed while a fold transaction is open',
    () =>
      killRounds(
        'kill during a fold',
        (next) => [
          // A fold's transactions: its chunks, the switch of `meta`, then deletes of what it replaced.
          { at: 'held fold', nth: 1 + Math.floor(next() * 16) },
          { at: 'resolved', count: 100 + Math.floor(next() * 400) },
        ],
        { folds: 1, journalPuts: 1_000, size: SMALL, storage: 'indexeddb' },
      ),
    120_000,
  );
});
