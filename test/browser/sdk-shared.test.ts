/**
 * `shared: true`: tabs of one profile (one origin, so shared storage and locks) use one device. One tab owns the
 * database and the connection, the others relay; when the owner closes or its renderer is killed another takes
 * over. What is checked is what a user relies on: every enqueue that resolved in any tab arrives, none twice under
 * different ids, events reach every tab, handlers run once, and the device never has two connections at once.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { TestEmulator } from '../helpers/emulator.js';
import {
  deviceOptions,
  emulatorAndBrowser,
  emulatorHasAll,
  pageConnected,
  startInPage,
} from './device-page.js';
import { newContext, openPage } from './harness/index.js';

const bed = emulatorAndBrowser();

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

async function expectAllOnce(emulator: TestEmulator, deviceId: string, ids: string[]): Promise<void> {
  expect(new Set(ids).size).toBe(ids.length);
  const messages = await emulatorHasAll(emulator, deviceId, ids);
  // Duplicates may arrive (at least once), but only under the id the first copy had: one id per payload.
  const idOfPayload = new Map<string, string>();
  for (const message of messages as unknown as { mid: string; payloadBase64: string }[]) {
    const known = idOfPayload.get(message.payloadBase64);
    expect(known ?? message.mid, `payload ${atob(message.payloadBase64)}`).toBe(message.mid);
    idOfPayload.set(message.payloadBase64, message.mid);
  }
}

describe('shared: one device for every tab', () => {
  it('lets three tabs enqueue at once, and tells each of them a desired-properties change', async () => {
    const context = await newContext(bed.browser);
    const options = sharedOptions(bed.emulator, 'shared-three');
    const pages = await sharedTabs(context, options, 3);
    await pageConnected(pages[2]!);
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

    const ids = (await Promise.all(pages.map((page, tab) => enqueueLoop(page, tab, 200)))).flat();
    expect(ids).toHaveLength(600);
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
    // Counted by the owner, asked from any tab.
    await pages[1]!.evaluate(() => device.client!.waitEnqueuedMessagesSent());
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
    const second = Promise.allSettled(survivors.map((page, i) => enqueueLoop(page, 10 + i, 1500)));
    await survivors[2]!.waitForFunction(() => device.resolved.length > 30, null, { timeout: 15_000 });
    const killed = survivors[0]!;
    const resolvedBeforeKill = await killed.evaluate(() => [...device.resolved]);
    const session = await context.newCDPSession(killed);
    const crashed = new Promise((resolve) => killed.once('crash', resolve));
    void session.send('Page.crash').catch(() => {}); // never answered: the session dies with the renderer
    await crashed;
    const stillEnqueueing = await survivors[1]!.evaluate(() => device.resolved.length);
    expect(stillEnqueueing).toBeLessThan(1500);
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

  it('hands each cloud-to-device message and each direct method call to one tab', async () => {
    const context = await newContext(bed.browser);
    const options = sharedOptions(bed.emulator, 'shared-handlers');
    const pages = await sharedTabs(context, options, 3);
    await pageConnected(pages[0]!);
    for (const page of pages.slice(1)) {
      await page.evaluate(() => {
        const handled: string[] = [];
        (globalThis as { handled?: string[] }).handled = handled;
        device.client!.onCloudMessage((message) => {
          handled.push(`c2d:${message.text()}`);
        });
        device.client!.onMethod('ping', (payload) => {
          handled.push(`method:${JSON.stringify(payload)}`);
          return { status: 200, payload: { pong: payload } };
        });
      });
    }
    for (let i = 0; i < 5; i++) {
      const sent = await bed.emulator.api.request(
        'POST',
        '/devices/shared-handlers/c2d-messages',
        undefined,
        {
          body: `hello ${i}`,
        },
      );
      expect(sent.status).toBe(202);
    }
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(
        (await bed.emulator.api.request('POST', '/devices/shared-handlers/methods/ping', { i })).body,
      );
    }
    expect(answers).toEqual([0, 1, 2].map((i) => ({ status: 200, payload: { pong: { i } } })));
    const handledIn = async () =>
      (
        await Promise.all(
          pages.slice(1).map((page) => page.evaluate(() => (globalThis as { handled?: string[] }).handled!)),
        )
      ).flat();
    const deadline = Date.now() + 15_000;
    while (
      (await handledIn()).filter((entry) => entry.startsWith('c2d:')).length < 5 &&
      Date.now() < deadline
    ) {
      await pages[1]!.waitForTimeout(100);
    }
    const handled = await handledIn();
    expect(handled.filter((entry) => entry.startsWith('c2d:')).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `c2d:hello ${i}`),
    );
    expect(handled.filter((entry) => entry.startsWith('method:'))).toHaveLength(3);
    await context.close();
  });
});
