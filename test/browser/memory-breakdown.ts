/**
 * Where a page's memory is, through CDP: the JS heap and ArrayBuffer backing stores of the page and of each of its
 * dedicated workers, the WebAssembly memories and the large byte arrays alive, and the renderers' resident size
 * before and after a forced GC (the difference is garbage not yet collected). Diagnostics for the backlog test.
 */
import { readFileSync } from 'node:fs';
import type { Browser, CDPSession, Page } from 'playwright-core';

export interface ThreadMemory {
  /** JS heap used, MB. */
  heapMb: number;
  /** ArrayBuffer backing stores (typed arrays; not wasm memory), MB. */
  backingMb: number;
}

export interface MemoryBreakdown {
  rendererMbBeforeGc: number;
  rendererMbAfterGc: number;
  /** Each thread (the page, then its workers) before and after the GC. */
  beforeGc: ThreadMemory[];
  afterGc: ThreadMemory[];
}

type Send = (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>;

const mb = (bytes: number) => Math.round(bytes / 104857.6) / 10;

/** Resident memory of the browser's renderer processes (the page and its workers), in MB. */
export async function rendererMemoryMb(browser: Browser): Promise<number> {
  return residentMb(await rendererPids(browser));
}

/** Samples the renderers' resident memory every 20 ms until `stop()`, which returns the highest in MB. */
export async function sampleRendererPeak(browser: Browser): Promise<() => number> {
  const pids = await rendererPids(browser);
  let peak = residentMb(pids);
  const timer = setInterval(() => {
    peak = Math.max(peak, residentMb(pids));
  }, 20);
  return () => {
    clearInterval(timer);
    return Math.max(peak, residentMb(pids));
  };
}

async function rendererPids(browser: Browser): Promise<number[]> {
  const session = await browser.newBrowserCDPSession();
  const { processInfo } = (await session.send('SystemInfo.getProcessInfo')) as {
    processInfo: { type: string; id: number }[];
  };
  await session.detach();
  return processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
}

function residentMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    let status = '';
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {} // a renderer that has gone away counts nothing
    kb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  }
  return Math.round(kb / 1024);
}

export async function memoryBreakdown(browser: Browser, page: Page): Promise<MemoryBreakdown> {
  const rendererMbBeforeGc = await rendererMemoryMb(browser);
  const session = await page.context().newCDPSession(page);
  try {
    const workers = await workerSenders(session);
    const pageSend: Send = (method, params) => session.send(method as never, params as never);
    const threads = [pageSend, ...workers];
    const beforeGc: ThreadMemory[] = [];
    for (const send of threads) beforeGc.push(await threadMemory(send));
    for (const send of threads) await send('HeapProfiler.collectGarbage');
    const rendererMbAfterGc = await rendererMemoryMb(browser);
    const afterGc: ThreadMemory[] = [];
    for (const send of threads) afterGc.push(await threadMemory(send));
    return { rendererMbBeforeGc, rendererMbAfterGc, beforeGc, afterGc };
  } finally {
    await session.detach();
  }
}

async function threadMemory(send: Send): Promise<ThreadMemory> {
  const usage = (await send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
  return {
    heapMb: mb(usage.usedSize),
    backingMb: mb(usage.backingStorageSize ?? 0),
  };
}

/** A sender for each dedicated worker of the page (CDP's non-flat sessions: one message channel per target). */
async function workerSenders(session: CDPSession): Promise<Send[]> {
  const attached: string[] = [];
  const onAttached = (event: { sessionId: string; targetInfo: { type: string; url: string } }) => {
    if (event.targetInfo.type === 'worker') attached.push(event.sessionId);
  };
  session.on('Target.attachedToTarget', onAttached);
  await session.send('Target.setAutoAttach', {
    autoAttach: true,
    waitForDebuggerOnStart: false,
    flatten: false,
  });
  // Existing workers are reported before setAutoAttach's answer.
  session.off('Target.attachedToTarget', onAttached);
  let nextId = 1;
  const pending = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  session.on('Target.receivedMessageFromTarget', (event: { message: string }) => {
    const message = JSON.parse(event.message) as {
      id?: number;
      result?: Record<string, unknown>;
      error?: unknown;
    };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (waiter === undefined) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
    else waiter.resolve(message.result ?? {});
  });
  return attached.map(
    (sessionId): Send =>
      (method, params) =>
        new Promise((resolve, reject) => {
          const id = nextId++;
          pending.set(id, { resolve, reject });
          setTimeout(() => reject(new Error(`${method}: no answer from the worker`)), 20_000).unref();
          session
            .send('Target.sendMessageToTarget', {
              sessionId,
              message: JSON.stringify({ id, method, params: params ?? {} }),
            })
            .catch(reject);
        }),
  );
}
