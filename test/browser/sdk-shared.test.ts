/**
 * `shared: true`: tabs of one profile (one origin, so shared storage and locks) use one device. One tab owns the
 * database and the connection, the others relay; when the owner closes or its renderer is killed another takes
 * over. What is checked is what a user relies on: every enqueue that resolved in any tab arrives, none twice under
 * different ids, events reach every tab, handlers run once, and the device never has two connections at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { TestEmulator } from '../helpers/emulator.js';
import {
  deviceOptions,
  emulatorAndBrowser,
  emulatorHasAll,
  pageConnected,
  startInPage,
  startPersistentEmulator,
} from './device-page.js';
import { gotoPage, newContext, openPage, startKillableBrowser } from './harness/index.js';

const bed = emulatorAndBrowser();
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Opens `count` tabs and starts a shared client in each; the first is the owner. */
async function sharedTabs(context: BrowserContext, options: Record<string, unknown>, count: number) {
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) pages.push(await openPage(context, 'device.html', `tab-${i}`));
  // One after another: they queue for the database's lock in this order, so page i + 1 takes over from page i.
  for (const page of pages) await startInPage(page, options);
  return pages;
}

function sharedOptions(emulator: TestEmulator, name: string) {
  return deviceOptions(emulator, { database: `${name}-${Date.now()}`, deviceId: name, shared: true });
}

/** Enqueues `count` messages `{ tab, n }`, 8 at a time; each id is also in `device.resolved` once resolved. */
function enqueueLoop(page: Page, tab: number, count: number): Promise<string[]> {
  return page.evaluate(
    async ({ tab, count }) => {
      const ids: string[] = [];
      const run = async (lane: number) => {
        for (let n = lane; n < count; n += 8) {
          const { id } = await device.client!.enqueueMessage({ tab, n }, { stream: 'telemetry' });
          ids.push(id);
          device.resolved.push(id);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, lane) => run(lane)));
      return ids;
    },
    { tab, count },
  );
}

/** The device's connection history never has two connections open at once; returns how many it had. */
async function expectOneConnectionAtATime(emulator: TestEmulator, deviceId: string): Promise<number> {
  const entries = (await emulator.api.request('GET', `/devices/${deviceId}/connections`)).body as {
    event: string;
  }[];
  let open = 0;
  for (const entry of entries) {
    open += entry.event === 'connected' ? 1 : -1;
    expect(open, JSON.stringify(entries)).toBeLessThanOrEqual(1);
  }
  return entries.filter((entry) => entry.event === 'connected').length;
}

/** Polls `condition` (a read of page state) every 100 ms for up to 15 s. */
async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('the condition did not hold within 15 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function expectAllOnce(emulator: TestEmulator, deviceId: string, ids: string[]): Promise<void> {
  expect(new Set(ids).size).toBe(ids.length);
  const messages = await emulatorHasAll(emulator, deviceId, ids);
  // Duplicates may arrive (at least once), but only under the id the first copy had: one id per payload.
  expectOneIdPerPayload(messages);
}

function expectOneIdPerPayload(messages: unknown[]): void {
  const idOfPayload = new Map<string, string>();
  for (const message of messages as unknown as { mid: string; payloadBase64: string }[]) {
    const known = idOfPayload.get(message.payloadBase64);
    expect(known ?? message.mid, `payload ${atob(message.payloadBase64)}`).toBe(message.mid);
    idOfPayload.set(message.payloadBase64, message.mid);
  }
}

describe('shared: one device for every tab', () => {
  it('lets three tabs and a worker enqueue at once, and tells each of them a desired-properties change', async () => {
    const context = await newContext(bed.browser);
    const options = sharedOptions(bed.emulator, 'shared-three');
    const pages = await sharedTabs(context, options, 3);
    await pageConnected(pages[2]!);
    const workerPage = await openPage(context, 'device-worker.html', 'worker');
    expect(await workerPage.evaluate((options) => inWorker!('start', options), options)).toBe('shared-three');
    // The shared client answers every member of the core client itself (the core's own state is not set on it).
    const notOverridden = await pages[1]!.evaluate(() => {
      const shared = Object.getPrototypeOf(device.client) as object;
      const core = Object.getPrototypeOf(
        (spotflow.DeviceClient as unknown as { prototype: object }).prototype,
      ) as object;
      return Object.getOwnPropertyNames(core).filter(
        (name) => name !== 'constructor' && !Object.hasOwn(shared, name),
      );
    });
    expect(notOverridden).toEqual([]);

    const inTabs = Promise.all(pages.map((page, tab) => enqueueLoop(page, tab, 200)));
    const inWorkerIds = workerPage.evaluate(
      () => inWorker!('enqueue', { tab: 9, count: 200 }) as Promise<string[]>,
    );
    const ids = [...(await inTabs).flat(), ...(await inWorkerIds)];
    expect(ids).toHaveLength(800);
    await expectAllOnce(bed.emulator, 'shared-three', ids);

    const patched = await bed.emulator.api.request('PATCH', '/devices/shared-three/twin/desired', {
      mode: 'eco',
    });
    expect(patched.status).toBe(200);
    for (const page of pages) {
      await page.waitForFunction(() => device.client!.desiredProperties().values.mode === 'eco', null, {
        timeout: 15_000,
      });
      expect(
        await page.evaluate(() => device.events.some((event) => event.name === 'desiredProperties')),
      ).toBe(true);
    }
    const inWorkerDesired = () =>
      workerPage.evaluate(() => inWorker!('desired', {}) as Promise<{ now: unknown; events: unknown[] }>);
    await waitUntil(async () => (await inWorkerDesired()).events.length > 0);
    expect(await inWorkerDesired()).toEqual({ now: { mode: 'eco' }, events: [{ mode: 'eco' }] });
    // Counted by the owner, asked from any tab.
    await pages[1]!.evaluate(() => device.client!.waitEnqueuedMessagesSent());
    // A tab that listens to messageSent hears it for every message, its own and the others'.
    const heard = new Set(
      await pages[2]!.evaluate(() =>
        device.events
          .filter((event) => event.name === 'messageSent')
          .map((event) => (event.detail as { id: string }).id),
      ),
    );
    expect(ids.filter((id) => !heard.has(id))).toEqual([]);
    expect(await pages[2]!.evaluate(() => device.client!.pendingMessagesCount())).toBe(0);
    await expectOneConnectionAtATime(bed.emulator, 'shared-three');
    await context.close();
  });

  it('goes on when the owner tab closes, and when its renderer is killed, while the others enqueue', async () => {
    const context = await newContext(bed.browser);
    const options = sharedOptions(bed.emulator, 'shared-takeover');
    const pages = await sharedTabs(context, options, 4);
    await pageConnected(pages[1]!);

    const first = [enqueueLoop(pages[1]!, 1, 400), enqueueLoop(pages[2]!, 2, 400)];
    await pages[1]!.waitForFunction(() => device.resolved.length > 40, null, { timeout: 15_000 });
    const ownerResolved = await pages[0]!.evaluate(() => device.resolved.length);
    expect(ownerResolved).toBe(0);
    await pages[0]!.close();
    const takenOver = (await Promise.all(first)).flat();

    // pages[1] took over (first in the lock's queue): its renderer is killed while all three enqueue.
    const survivors = pages.slice(1);
    // Settled together (the killed tab's rejects): watched from now, so that rejection is not unhandled.
    // Long enough that the kill lands mid-way on a busy machine too (a crash can take seconds there).
    const secondCount = 3000;
    const second = Promise.allSettled(survivors.map((page, i) => enqueueLoop(page, 10 + i, secondCount)));
    await survivors[2]!.waitForFunction(() => device.resolved.length > 30, null, { timeout: 15_000 });
    const killed = survivors[0]!;
    const resolvedBeforeKill = await killed.evaluate(() => [...device.resolved]);
    const session = await context.newCDPSession(killed);
    const crashed = new Promise((resolve) => killed.once('crash', resolve));
    void session.send('Page.crash').catch(() => {}); // never answered: the session dies with the renderer
    await crashed;
    // Its 400 of the first round, and not yet all of this one: the kill came while the others enqueued.
    const stillEnqueueing = await survivors[1]!.evaluate(() => device.resolved.length);
    expect(stillEnqueueing).toBeLessThan(400 + secondCount);
    const settled = await second;
    const afterKill = settled.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
    expect(settled.filter((result) => result.status === 'fulfilled')).toHaveLength(2);

    const ids = [...takenOver, ...resolvedBeforeKill, ...afterKill];
    await expectAllOnce(bed.emulator, 'shared-takeover', [...new Set(ids)]);
    const connects = await expectOneConnectionAtATime(bed.emulator, 'shared-takeover');
    // The first owner's, the one after the close, the one after the kill: the killed tab did own the device.
    expect(connects).toBeGreaterThanOrEqual(3);
    await context.close();
  });

  it('hands each C2D message and method call to one tab; a message whose tab dies while handling goes to another', async () => {
    const context = await newContext(bed.browser);
    const options = sharedOptions(bed.emulator, 'shared-handlers');
    // The owner is a dedicated worker (its database worker nested in it), with no handlers of its own.
    const workerPage = await openPage(context, 'device-worker.html', 'worker');
    await workerPage.evaluate((options) => inWorker!('start', options), options);
    const pages: Page[] = [];
    for (const tab of [1, 2]) {
      const page = await openPage(context, 'device.html', `tab-${tab}`);
      await startInPage(page, options);
      pages.push(page);
    }
    await pageConnected(pages[0]!);
    for (const [index, page] of pages.entries()) {
      await page.evaluate((stalls) => {
        const handled: string[] = [];
        (globalThis as { handled?: string[] }).handled = handled;
        device.client!.onCloudMessage((message) => {
          // The first tab never finishes with this one: it is killed while handling it.
          if (message.text() === 'stall' && stalls) {
            handled.push('stalled');
            return new Promise<void>(() => {});
          }
          handled.push(`c2d:${message.text()}`);
        });
        device.client!.onMethod('ping', (payload) => {
          handled.push(`method:${JSON.stringify(payload)}`);
          return { status: 200, payload: { pong: payload } };
        });
      }, index === 0);
    }
    const sendCloud = async (body: string) => {
      const sent = await bed.emulator.api.request(
        'POST',
        '/devices/shared-handlers/c2d-messages',
        undefined,
        {
          body,
        },
      );
      expect(sent.status).toBe(202);
    };
    for (let i = 0; i < 5; i++) await sendCloud(`hello ${i}`);
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(
        (await bed.emulator.api.request('POST', '/devices/shared-handlers/methods/ping', { i })).body,
      );
    }
    expect(answers).toEqual([0, 1, 2].map((i) => ({ status: 200, payload: { pong: { i } } })));
    const handledIn = (tabs: Page[]) =>
      Promise.all(tabs.map((page) => page.evaluate(() => (globalThis as { handled?: string[] }).handled!)));
    await waitUntil(
      async () => (await handledIn(pages)).flat().filter((entry) => entry.startsWith('c2d:')).length >= 5,
    );
    const handled = (await handledIn(pages)).flat();
    expect(handled.filter((entry) => entry.startsWith('c2d:')).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `c2d:hello ${i}`),
    );
    expect(handled.filter((entry) => entry.startsWith('method:'))).toHaveLength(3);

    // Handed to the first tab registered, which hangs on it; once that tab is killed, the other tab gets it.
    await sendCloud('stall');
    await sendCloud('after');
    const [first, second] = pages as [Page, Page];
    await waitUntil(async () => (await handledIn([first]))[0]!.includes('stalled'));
    // One message at a time: while the first tab holds 'stall', 'after' waits too.
    expect((await handledIn([second]))[0]).not.toContain('c2d:after');
    const crashed = new Promise((resolve) => first.once('crash', resolve));
    const session = await context.newCDPSession(first);
    void session.send('Page.crash').catch(() => {});
    await crashed;
    await waitUntil(async () => (await handledIn([second]))[0]!.includes('c2d:after'));
    expect(
      (await handledIn([second]))[0]!.filter((entry) => entry === 'c2d:stall' || entry === 'c2d:after'),
    ).toEqual(['c2d:stall', 'c2d:after']);
    await context.close();
  });

  it('delivers every enqueue that resolved in any tab before the whole browser was SIGKILLed mid-burst', async () => {
    const dataDir = tempDir('spotflow-shared-kill-emulator-');
    const profile = tempDir('spotflow-shared-kill-profile-');
    let emulator = await startPersistentEmulator(dataDir);
    const port = emulator.port;
    const options = deviceOptions(emulator, { database: 'kiosk', deviceId: 'shared-killed', shared: true });
    let chromium = await startKillableBrowser(profile);
    try {
      const pages: Page[] = [];
      for (let tab = 0; tab < 3; tab++) {
        const page = await chromium.context.newPage();
        await gotoPage(page, 'device.html');
        await startInPage(page, options);
        pages.push(page);
      }
      // Offline, so that every resolved enqueue can only come back from what the owner stored.
      await emulator.close();
      for (const [tab, page] of pages.entries()) {
        await page.evaluate((tab) => {
          void (async () => {
            for (let n = 0; ; n++) {
              const { id } = await device.client!.enqueueMessage({ tab, n, filler: 'x'.repeat(200) });
              device.resolved.push(id);
            }
          })().catch(() => {});
        }, tab);
      }
      for (const page of pages) {
        await page.waitForFunction(() => device.resolved.length >= 300, null, { timeout: 60_000 });
      }
      const resolved = (
        await Promise.all(pages.map((page) => page.evaluate(() => device.resolved.slice())))
      ).flat();
      await chromium.kill();

      chromium = await startKillableBrowser(profile);
      const page = await chromium.context.newPage();
      await gotoPage(page, 'device.html');
      await startInPage(page, options);
      emulator = await startPersistentEmulator(dataDir, port);
      const messages = await emulatorHasAll(emulator, 'shared-killed', resolved);
      expectOneIdPerPayload(messages);
    } finally {
      await chromium.kill();
      await emulator.close();
    }
  });

  it('refuses to mix shared and unshared clients of one database with DATABASE_LOCKED', async () => {
    const context = await newContext(bed.browser);
    const [plain, shared, second] = [
      await openPage(context, 'device.html', 'plain'),
      await openPage(context, 'device.html', 'shared'),
      await openPage(context, 'device.html', 'second'),
    ];
    const startError = (page: Page, options: Record<string, unknown>) =>
      page.evaluate(async (options) => {
        try {
          await device.start(options as never);
          return 'started';
        } catch (error) {
          return (error as { code?: string }).code;
        }
      }, options);
    const unsharedFirst = sharedOptions(bed.emulator, 'mixed-a');
    await startInPage(plain, { ...unsharedFirst, shared: false });
    expect(await startError(shared, unsharedFirst)).toBe('DATABASE_LOCKED');

    const sharedFirst = sharedOptions(bed.emulator, 'mixed-b');
    await startInPage(shared, sharedFirst);
    expect(await startError(second, { ...sharedFirst, shared: false })).toBe('DATABASE_LOCKED');
    expect(await startError(second, { ...sharedFirst, shared: 'yes' })).toBe('INVALID_ARGUMENT');
    await context.close();
  });
});
