// What the browser cases need: a vite build of a page that imports `spotflow-device` by its package name (the
// package linked into a throwaway app, as a user installs it), a static server for it, and Debian's Chromium driven by
// playwright-core (never a downloaded browser).
import { spawn } from 'node:child_process';
import {
  createReadStream,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { basename, extname, join, normalize } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'vite';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A user's app in `dir`: `node_modules/spotflow-device` linked to this repository (or, with `packages`, those
 * packages linked from this repository's node_modules), and `files` (name → content).
 * Returns `build(outDir, external)`, which runs vite and returns the built assets (name → bytes).
 */
export function userApp(dir, files, packages = ['spotflow-device']) {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  for (const name of packages) {
    const target = name === 'spotflow-device' ? repo : join(repo, 'node_modules', name);
    symlinkSync(target, join(dir, 'node_modules', name), 'dir');
  }
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return async (outDir, external = []) => {
    await build({
      configFile: false,
      root: dir,
      base: './',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, reportCompressedSize: false, rollupOptions: { external } },
      worker: { format: 'es', rollupOptions: { external } },
    });
    const assets = join(outDir, 'assets');
    return new Map(readdirSync(assets).map((file) => [file, readFileSync(join(assets, file))]));
  };
}

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** Serves `root` on 127.0.0.1 (a secure context, and another origin than the emulator's `localhost`). */
export async function serveStatic(root) {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    let size = -1;
    try {
      if (file.startsWith(root)) size = statSync(file).isFile() ? statSync(file).size : -1;
    } catch {
      // 404 below
    }
    if (size < 0) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(response);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** The flags of test/browser/harness/browser.ts: without them Chromium floods a closed network with retries. */
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: chromiumArgs,
    headless: true,
    timeout: 30_000,
  });
}

/** Resident memory of the browser's renderer processes (the page and its workers), MB. */
export async function rendererMemoryMb(browser) {
  const session = await browser.newBrowserCDPSession();
  const { processInfo } = await session.send('SystemInfo.getProcessInfo');
  await session.detach();
  let kb = 0;
  for (const { id } of processInfo.filter((p) => p.type === 'renderer')) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${id}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/**
 * Traces `page`'s renderer (as test/browser/harness/main-thread.ts does); the returned function stops and gives the
 * longest main-thread task by thread CPU time and by wall time, in ms.
 */
export async function traceMainThread(browser, page) {
  await browser.startTracing(page, { categories: ['toplevel'] });
  return async () => {
    const parsed = JSON.parse((await browser.stopTracing()).toString('utf8'));
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
    return {
      longestCpuMs: Math.max(0, ...tasks.map((t) => (t.tdur ?? 0) / 1000)),
      longestWallMs: Math.max(0, ...tasks.map((t) => (t.dur ?? 0) / 1000)),
    };
  };
}

/**
 * Chromium started as our own child (its own process group) on an on-disk `userDataDir`, connected over CDP, so
 * that its processes can be read from outside (`/proc/<pid>/io`, `/proc/<pid>/status`): what it writes to disk and
 * how much memory it holds. `context` is the default (persistent) context: its IndexedDB lives in `userDataDir`.
 * `close()` disconnects, then ends the whole process group (SIGTERM, SIGKILL if it is still there after 10 s).
 */
export async function startOwnBrowser(userDataDir, extraArgs = []) {
  const child = spawn(
    '/usr/bin/chromium',
    [
      '--headless=new',
      `--user-data-dir=${userDataDir}`,
      '--remote-debugging-port=0',
      ...chromiumArgs,
      ...extraArgs,
      'about:blank',
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let stderr = '';
  const lines = createInterface({ input: child.stderr });
  // Chromium announces its DevTools endpoint on stderr once it listens: wait for that line, bounded.
  const endpoint = new Promise((resolve) =>
    lines.on('line', (line) => {
      stderr = `${stderr}${line}\n`.slice(-4_000);
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
    }),
  );
  let timer;
  const endGroup = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    signalGroup(child.pid, 'SIGTERM');
    let killTimer;
    await Promise.race([
      exited,
      new Promise((resolve) => {
        killTimer = setTimeout(resolve, 10_000);
      }),
    ]);
    clearTimeout(killTimer);
    signalGroup(child.pid, 'SIGKILL');
    await exited;
  };
  try {
    const url = await Promise.race([
      endpoint,
      exited.then(() => {
        throw new Error(`Chromium exited before it was ready: ${stderr}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Chromium did not listen in 30 s: ${stderr}`)), 30_000);
      }),
    ]);
    clearTimeout(timer);
    const browser = await chromium.connectOverCDP(url, { timeout: 30_000 });
    const context = browser.contexts()[0];
    if (context === undefined) throw new Error('Chromium started without a default context');
    return {
      browser,
      context,
      pid: child.pid,
      /** Every live process of this browser (the process group and every descendant of the browser process). */
      processes: () => browserProcesses(child.pid),
      async close() {
        await browser.close().catch(() => {});
        await endGroup();
      },
    };
  } catch (error) {
    clearTimeout(timer);
    await endGroup();
    throw error;
  }
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * The processes of the browser whose main process is `rootPid`: its process group plus every descendant (a
 * process may leave the group), each with its Chromium `--type` (`browser` for the main process).
 */
export function browserProcesses(rootPid) {
  const all = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command (which may hold spaces and parentheses): state, ppid, pgrp, …
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.push({ pid: Number(entry), ppid: Number(ppid), pgrp: Number(pgrp) });
    } catch {
      // gone meanwhile
    }
  }
  const inTree = new Set([rootPid]);
  for (let grown = true; grown; ) {
    grown = false;
    for (const p of all) {
      if (!inTree.has(p.pid) && (inTree.has(p.ppid) || p.pgrp === rootPid)) {
        inTree.add(p.pid);
        grown = true;
      }
    }
  }
  return [...inTree].flatMap((pid) => {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
      const type =
        args.find((a) => a.startsWith('--type='))?.slice(7) ?? (pid === rootPid ? 'browser' : 'other');
      const utility = args.find((a) => a.startsWith('--utility-sub-type='))?.slice(19);
      return [{ pid, type: utility ? `${type}:${utility.split('.').at(-1)}` : type }];
    } catch {
      return [];
    }
  });
}

/**
 * One reading of the disk writes of `processes` (from `browserProcesses`): `write_bytes` and
 * `cancelled_write_bytes` of `/proc/<pid>/io` each, by pid. `write_bytes` of a process includes its exited threads
 * and the children it has reaped, so a process that exits between two readings moves its count to its parent.
 */
export function readIo(processes) {
  const byPid = new Map();
  for (const { pid, type } of processes) {
    try {
      const io = readFileSync(`/proc/${pid}/io`, 'utf8');
      const field = (name) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
      byPid.set(pid, { type, write: field('write_bytes'), cancelled: field('cancelled_write_bytes') });
    } catch {
      // exited meanwhile: not in this reading
    }
  }
  return byPid;
}

/**
 * What the browser wrote between two `readIo` readings: the sum of every process's growth (a process only in
 * `after` started in between and counts whole), by process type, and the processes of `before` gone by `after`
 * (their last counts moved to the parent that reaped them, which is how they stay counted; a process reaped by
 * no live member of the tree would be lost: `gone` says whether that could have happened).
 */
export function ioBetween(before, after) {
  let written = 0;
  let cancelled = 0;
  const byType = {};
  for (const [pid, now] of after) {
    const was = before.get(pid) ?? { write: 0, cancelled: 0 };
    const grew = now.write - was.write;
    written += grew;
    cancelled += now.cancelled - was.cancelled;
    if (grew !== 0) byType[now.type] = (byType[now.type] ?? 0) + grew;
  }
  const gone = [...before].filter(([pid]) => !after.has(pid)).map(([pid, { type }]) => ({ pid, type }));
  return { written, cancelled, byType, gone };
}

/**
 * Resident memory of `processes` (from `browserProcesses`), MB: `total` (shared pages counted in each process that
 * maps them) and by process type.
 */
export function residentMb(processes) {
  let total = 0;
  const byType = {};
  for (const { pid, type } of processes) {
    try {
      const mb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      total += mb;
      byType[type] = (byType[type] ?? 0) + mb;
    } catch {
      // gone
    }
  }
  return { total, byType };
}

/** Bytes of the files under `path` (their sizes; 0 if it does not exist). */
export function treeBytes(path) {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.isFile() ? stat.size : 0;
  let bytes = 0;
  for (const entry of readdirSync(path)) bytes += treeBytes(join(path, entry));
  return bytes;
}

/** The file system `path` is on (the longest mount point above it): `{ type, mount }`. */
export function filesystemOf(path) {
  let found = { type: 'unknown', mount: '/' };
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mount, type] = line.split(' ');
    if (mount === undefined) continue;
    const within = mount === '/' || path === mount || path.startsWith(`${mount}/`);
    if (within && mount.length >= found.mount.length) found = { type, mount };
  }
  return found;
}

/**
 * The highest number among the blob files of an IndexedDB blob directory (`….indexeddb.blob`), 0 if none. Chromium
 * stores each large value (64 KiB or more: a database image, or a chunk of one) in a new file, numbered in sequence, so the difference
 * between two readings counts the large values written in between, even those deleted since.
 */
export function lastBlobNumber(path) {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory())
    return /^[0-9a-f]+$/.test(basename(path)) ? Number.parseInt(basename(path), 16) : 0;
  let last = 0;
  for (const entry of readdirSync(path)) last = Math.max(last, lastBlobNumber(join(path, entry)));
  return last;
}
