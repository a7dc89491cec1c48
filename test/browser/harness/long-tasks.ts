/** Long tasks (main-thread work over 50 ms) in a page, as the browser reports them. */
import type { Page } from 'playwright-core';

/** The part of the DOM's PerformanceObserver used here (this file is type-checked without DOM types). */
interface Observer {
  observe(options: { type: string; buffered: boolean }): void;
  takeRecords(): { duration: number }[];
}
type ObserverClass = new (callback: (list: { getEntries(): { duration: number }[] }) => void) => Observer;

interface Recorder {
  durations: number[];
  observer: Observer;
}

function install(): void {
  const scope = globalThis as { __longTasks?: Recorder };
  if (scope.__longTasks !== undefined) return;
  const durations: number[] = [];
  const PerformanceObserver = (globalThis as unknown as { PerformanceObserver: ObserverClass })
    .PerformanceObserver;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) durations.push(entry.duration);
  });
  observer.observe({ type: 'longtask', buffered: true });
  scope.__longTasks = { durations, observer };
}

/** Takes what the browser has reported so far (a task's report can lag its end: poll for one you expect). */
async function read(): Promise<number[]> {
  const recorder = (globalThis as { __longTasks?: Recorder }).__longTasks;
  if (recorder === undefined) return [];
  for (const entry of recorder.observer.takeRecords()) recorder.durations.push(entry.duration);
  return [...recorder.durations];
}

/**
 * Starts recording the long tasks of `page` (from now on, and from the start of every later navigation) and
 * returns a function that reads their durations in ms so far. Long tasks are only reported for the page's main
 * thread, not for its workers, and not for
 * work done directly inside `page.evaluate` (a DevTools call): measure work the page runs in its own tasks.
 *
 * @example
 * const longTasks = await collectLongTasks(page);
 * await page.evaluate(() => doWork());
 * expect(Math.max(0, ...(await longTasks()))).toBeLessThan(200);
 */
export async function collectLongTasks(page: Page): Promise<() => Promise<number[]>> {
  await page.addInitScript(install);
  await page.evaluate(install);
  return () => page.evaluate(read);
}
