// The browser store when IndexedDB fails under a running client (issue 17, "Done when" 1): writes failing at random
// mid-stream (injected inside the database worker from here, no production hook), with and without the link
// dropping, and the database deleted by another page of the origin. Every check is on exact sets: each resolved
// enqueue arrived under its own id with its own payload, no rejected one arrived, nothing arrived that was not
// enqueued, and the client kept sending after the faults stopped without a restart.
//
// Faults are seeded: each run logs its seed; SPOTFLOW_TEST_SEED=<seed> repeats the choices (the order of
// transactions still depends on timing), SPOTFLOW_TEST_FAULTS=throwQuota,abortAtOnce,abortLater picks the shapes
// (harness/storage-faults.ts says what each does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deviceOptions, pageConnected, startInPage } from './device-page.js';
import { type Browser, launchBrowser, newContext, openPage } from './harness/index.js';
import {
  Arrivals,
  clientState,
  databaseWorker,
  deleteIdb,
  faultShapes,
  idbExists,
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
} from './harness/storage-faults.js';

/** Small and large payloads: over 16 KB the sender reads the payload by row id when it sends. */
const SIZES = [120, 20_000, 300, 2_000, 17_000, 80, 600, 40_000];

let browser: Browser;
const dirs: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});
afterAll(async () => {
  await browser?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function startLink(): Promise<Link> {
  const dir = mkdtempSync(join(tmpdir(), 'spotflow-browser-faults-'));
  dirs.push(dir);
  const link = await Link.start(dir);
  cleanups.push(() => link.close());
  return link;
}

async function startClient(
  link: Link,
  name: string,
): Promise<{ page: Page; deviceId: string; database: string }> {
  const context = await newContext(browser);
  cleanups.push(() => context.close());
  const page = await openPage(context, 'device.html', name);
  const database = `${name}-${Date.now()}`;
  const deviceId = name;
  // IndexedDB's faults and its deletion are what these tests are about: not the default store where OPFS exists.
  await startInPage(page, deviceOptions(link.emulator, { database, deviceId, storage: 'indexeddb' }));
  await pageConnected(page);
  return { page, deviceId, database };
}

function resolvedIds(outcomes: readonly Outcome[]): string[] {
  return outcomes.flatMap((o) => (o.id === undefined ? [] : [o.id]));
}

describe('IndexedDB writes failing at random under a running client', () => {
  async function run(options: { disturbLink: boolean }): Promise<void> {
    const seed = testSeed();
    const label = options.disturbLink ? 'faults+link' : 'faults';
    console.log(
      `${label}: seed ${seed} (SPOTFLOW_TEST_SEED=${seed} repeats the same fault choices; ` +
        `SPOTFLOW_TEST_FAULTS=${faultShapes().join(',')} picks the fault shapes)`,
    );
    const started = Date.now();
    const link = await startLink();
    const { page, deviceId } = await startClient(
      link,
      options.disturbLink ? 'faults-link-panel' : 'faults-panel',
    );
    const worker = await databaseWorker(page);
    // 20 % of read-write transactions fail: journal appends, folds and deletes alike.
    const shapes = faultShapes();
    await patchDatabaseWorker(worker, { seed, share: 0.2, shapes, active: true });
    await startWorkload(page, { prefix: 'f', callers: 8, sizes: SIZES, max: 1_200 });

    const disturbances: string[] = [];
    if (options.disturbLink) {
      // Until the burst ends: drop the connection every 0.3–0.9 s, and twice stop the emulator for 0.5–1.5 s.
      const next = random(seed ^ 0x5eed);
      let pauses = 0;
      const progress = progressWatch(page);
      while ((await progress()) === 'running') {
        await new Promise((resolve) => setTimeout(resolve, 300 + next() * 600));
        if (pauses < 2 && next() < 0.3) {
          pauses++;
          const ms = Math.round(500 + next() * 1_000);
          await link.pause();
          await new Promise((resolve) => setTimeout(resolve, ms));
          await link.resume();
          disturbances.push(`down ${ms} ms`);
        } else {
          await link.drop(deviceId);
          disturbances.push('drop');
        }
      }
    }
    const faulty = await stopWorkload(page, { timeoutMs: 40_000 });
    const stats = await patchStats(worker);
    await patchDatabaseWorker(worker, { active: false });
    const burstMs = Date.now() - started;

    // The faults stopped: the same client, no restart. Every enqueue now resolves and everything resolved arrives.
    await startWorkload(page, { prefix: 'after', callers: 8, sizes: SIZES, max: 40 });
    const after = await stopWorkload(page);
    const outcomes = [...faulty, ...after];
    const arrivals = new Arrivals(() => link.emulator, deviceId);
    const wait = await waitForArrivals(arrivals, resolvedIds(outcomes), { page, timeoutMs: 20_000 });
    const verdict = judge(outcomes, arrivals.all);
    console.log(
      `${label}: ${summary(verdict)}; worker ${JSON.stringify(stats)}; link ${disturbances.join(', ') || 'up'}; ` +
        `burst ${burstMs} ms; delivery wait ${wait.ended} after ${wait.ms} ms (${wait.missing} missing); ` +
        `after the faults: ${after.filter((o) => o.id === undefined).length} of ${after.length} rejected; ` +
        `client ${await clientState(page)}`,
    );
    expect(problems(verdict)).toEqual(NO_PROBLEMS);
    expect(after.filter((o) => o.id === undefined).map((o) => `${o.tag}: ${o.code} ${o.message}`)).toEqual(
      [],
    );
    expect(wait.ended).toBe('all arrived');
    // Not vacuous: the faults did reach enqueues.
    expect(verdict.rejected).toBeGreaterThan(0);
  }

  it(
    'delivers every resolved enqueue with its own payload and no rejected one, and keeps sending after',
    () => run({ disturbLink: false }),
    60_000,
  );

  it('the same while the link drops and goes down now and then', () => run({ disturbLink: true }), 60_000);
});

describe('the database deleted by another page of the origin', () => {
  it('recreates its storage and keeps enqueueing and sending, losing nothing that resolved', async () => {
    const link = await startLink();
    const { page, deviceId, database } = await startClient(link, 'deleted-db-panel');
    // An app that backs off 50 ms after a failed enqueue, so a client that fails every call does not spin.
    await startWorkload(page, {
      prefix: 'c',
      callers: 8,
      sizes: [200, 20_000, 500],
      max: 1_000_000,
      rejectionDelayMs: 50,
    });
    await page.waitForFunction(() => device.resolved.length >= 200, null, { timeout: 30_000, polling: 50 });

    const other = await openPage(page.context(), 'device.html', 'other page');
    const deletion = await deleteIdb(other, database);
    const deletedAt = Date.now();
    // Enqueues numbered from here started after the database was gone.
    const boundary = await page.evaluate(
      () => (globalThis as unknown as { __spotflowWorkload: { next: number } }).__spotflowWorkload.next,
    );
    const afterDeletion = (outcomes: Outcome[]) => outcomes.filter((o) => Number(o.tag.slice(1)) >= boundary);
    let recovered = true;
    try {
      await page.waitForFunction(
        (boundary) =>
          (
            globalThis as unknown as { __spotflowWorkload: { outcomes: { tag: string; id?: string }[] } }
          ).__spotflowWorkload.outcomes.filter(
            (o) => o.id !== undefined && Number(o.tag.slice(1)) >= boundary,
          ).length >= 200,
        boundary,
        { timeout: 20_000, polling: 100 },
      );
    } catch {
      recovered = false;
    }
    const recoveredMs = Date.now() - deletedAt;
    const outcomes = await stopWorkload(page, { now: true });
    const later = afterDeletion(outcomes);
    const firstResolvedLater = later.findIndex((o) => o.id !== undefined);
    const exists = await idbExists(other, database);
    const arrivals = new Arrivals(() => link.emulator, deviceId);
    const wait = await waitForArrivals(arrivals, resolvedIds(outcomes), { page, timeoutMs: 15_000 });
    const verdict = judge(outcomes, arrivals.all);
    const laterRejections = judge(later, []).rejections;
    console.log(
      `deleted database: ${deletion}; ${summary(verdict)}; after the deletion ${later.length} enqueues, ` +
        `${later.filter((o) => o.id !== undefined).length} resolved (first resolved was #${firstResolvedLater}), ` +
        `rejections ${JSON.stringify(laterRejections)}; ${recovered ? `200 resolved within ${recoveredMs} ms` : 'never recovered in 20 s'}; ` +
        `IndexedDB database exists again: ${exists}; delivery wait ${wait.ended} after ${wait.ms} ms; ` +
        `client ${await clientState(page)}`,
    );
    expect(deletion).toMatch(/^deleted/);
    expect(recovered, `no enqueue resolved after the deletion: ${JSON.stringify(laterRejections)}`).toBe(
      true,
    );
    expect(exists).toBe(true);
    expect(problems(verdict)).toEqual(NO_PROBLEMS);
    expect(wait.ended).toBe('all arrived');
  }, 60_000);
});
