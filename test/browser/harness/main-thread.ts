/**
 * How long the page's main thread was busy per task, from a Chromium trace: wall time (`dur`, what a long task
 * observer reports) and thread CPU time (`tdur`). On a machine busy with other work, wall time includes the time
 * the OS gave the CPU to others; CPU time is what the page's own code cost.
 */
import type { Browser, Page } from 'playwright-core';

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

export interface MainThreadTasks {
  /** Longest task by wall time, ms. */
  longestWallMs: number;
  /** Longest task by thread CPU time, ms. */
  longestCpuMs: number;
  /** Tasks whose CPU time exceeded 50 ms. */
  overBudget: number;
}

/**
 * Starts tracing `page`'s renderer; the returned function stops and summarises its main thread's tasks.
 *
 * @example
 * const stop = await traceMainThread(browser, page);
 * await doWork();
 * const { longestCpuMs } = await stop();
 */
export async function traceMainThread(browser: Browser, page: Page): Promise<() => Promise<MainThreadTasks>> {
  await browser.startTracing(page, { categories: ['toplevel'] });
  return async () => {
    const parsed = JSON.parse((await browser.stopTracing()).toString('utf8')) as
      | { traceEvents: TraceEvent[] }
      | TraceEvent[];
    const events = Array.isArray(parsed) ? parsed : parsed.traceEvents;
    const mainThreads = new Set(
      events
        .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
        .map((e) => `${e.pid}:${e.tid}`),
    );
    const tasks = events.filter(
      (e) =>
        e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask' && mainThreads.has(`${e.pid}:${e.tid}`),
    );
    const ms = (us: number | undefined) => Math.round((us ?? 0) / 100) / 10;
    return {
      longestWallMs: Math.max(0, ...tasks.map((t) => ms(t.dur))),
      longestCpuMs: Math.max(0, ...tasks.map((t) => ms(t.tdur))),
      overBudget: tasks.filter((t) => ms(t.tdur) > 50).length,
    };
  };
}
