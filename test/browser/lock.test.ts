// The Lock port in Chromium: the contract against Web Locks in one page, and one owner across pages of a context.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockCases } from '../contract/lock-contract.js';
import { launchBrowser, newContext, openPage, runContractCase } from './harness/index.js';
import './pages/globals.js';

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  page = await openPage(await newContext(browser), 'lock.html');
});
afterAll(async () => {
  await browser?.close();
});

describe('Lock contract (Web Locks, Chromium)', () => {
  it.each(lockCases(true).map((c) => c.name))('%s', (name) => runContractCase(page, name));
});

describe('Web Locks across pages of one context', () => {
  let context: BrowserContext;
  let a: Page;
  let b: Page;
  let n = 0;
  const fresh = () => `pages-${Date.now()}-${++n}`;
  const tryAcquire = (page: Page, name: string) =>
    page.evaluate((name) => globalThis.__locks!.tryAcquire(name), name);
  const startWaiting = (page: Page, name: string) =>
    page.evaluate((name) => globalThis.__locks!.startWaiting(name), name);
  const state = (page: Page, name: string) => page.evaluate((name) => globalThis.__locks!.state(name), name);
  /** Waits (bounded) until the page's acquire of `name` is no longer waiting, and returns its state. */
  async function settled(page: Page, name: string): Promise<string | undefined> {
    await page.waitForFunction((name) => globalThis.__locks!.state(name) !== 'waiting', name, {
      timeout: 15_000,
    });
    return state(page, name);
  }

  beforeAll(async () => {
    context = await newContext(browser);
    [a, b] = await Promise.all([
      openPage(context, 'lock.html', 'page A'),
      openPage(context, 'lock.html', 'page B'),
    ]);
  });
  afterAll(async () => {
    await context?.close();
  });

  it('refuses page B with DATABASE_LOCKED while page A holds the lock, and lets it in after release', async () => {
    const name = fresh();
    expect(await tryAcquire(a, name)).toBe('held');
    expect(await tryAcquire(b, name)).toBe('DATABASE_LOCKED');
    await a.evaluate((name) => globalThis.__locks!.release(name), name);
    expect(await tryAcquire(b, name)).toBe('held');
    expect(await tryAcquire(a, name)).toBe('DATABASE_LOCKED');
    await b.evaluate((name) => globalThis.__locks!.release(name), name);
  });

  it('hands the lock to waiting page B when page A releases it', async () => {
    const name = fresh();
    expect(await tryAcquire(a, name)).toBe('held');
    await startWaiting(b, name);
    expect(await state(b, name)).toBe('waiting');
    await a.evaluate((name) => globalThis.__locks!.release(name), name);
    expect(await settled(b, name)).toBe('held');
    expect(await tryAcquire(a, name)).toBe('DATABASE_LOCKED');
    await b.evaluate((name) => globalThis.__locks!.release(name), name);
  });

  it('hands the lock to waiting page B when page A is closed', async () => {
    const name = fresh();
    const owner = await openPage(context, 'lock.html', 'page A2');
    expect(await tryAcquire(owner, name)).toBe('held');
    await startWaiting(b, name);
    expect(await state(b, name)).toBe('waiting');
    await owner.close();
    expect(await settled(b, name)).toBe('held');
    await b.evaluate((name) => globalThis.__locks!.release(name), name);
  });

  it('ends page B’s wait with ABORTED; the lock then goes to nobody but the next taker', async () => {
    const name = fresh();
    expect(await tryAcquire(a, name)).toBe('held');
    await startWaiting(b, name);
    await b.evaluate((name) => globalThis.__locks!.abort(name), name);
    expect(await settled(b, name)).toBe('ABORTED');
    await a.evaluate((name) => globalThis.__locks!.release(name), name);
    expect(await tryAcquire(a, name)).toBe('held');
    await a.evaluate((name) => globalThis.__locks!.release(name), name);
  });

  it('keeps pages of another context apart (their own Web Locks)', async () => {
    const name = fresh();
    expect(await tryAcquire(a, name)).toBe('held');
    const other = await openPage(await newContext(browser), 'lock.html', 'other context');
    expect(await tryAcquire(other, name)).toBe('held');
    await other.context().close();
    await a.evaluate((name) => globalThis.__locks!.release(name), name);
  });

  it('refuses with DATABASE_UNAVAILABLE where Web Locks are missing (insecure contexts)', async () => {
    expect(await a.evaluate((name) => globalThis.__locks!.withoutWebLocks(name), fresh())).toBe(
      'DATABASE_UNAVAILABLE',
    );
  });
});
