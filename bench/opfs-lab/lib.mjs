// Shared helpers: spawn/kill chromium in its own process group, /proc io accounting, tiny HTTP server.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

/** Where results, logs and profiles go (not the repo: profiles grow to hundreds of MB); OPFS_LAB_OUT overrides. */
export const LAB = process.env.OPFS_LAB_OUT ?? path.join(os.tmpdir(), 'spotflow-opfs-lab');
fs.mkdirSync(path.join(LAB, 'logs'), { recursive: true });
fs.mkdirSync(path.join(LAB, 'profiles'), { recursive: true });
/** The pages the browser loads (page.html and its worker), beside this file. */
const WWW = new URL('./www/', import.meta.url).pathname;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid: Number(pid), state: rest[0], ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return null;
  }
}
export function allProcs() {
  const out = [];
  for (const d of fs.readdirSync('/proc'))
    if (/^\d+$/.test(d)) {
      const s = readStat(d);
      if (s) out.push(s);
    }
  return out;
}
// Processes in pgid OR descendants of root pid.
export function treeOf(rootPid) {
  const procs = allProcs();
  const set = new Set();
  for (const p of procs) if (p.pgrp === rootPid) set.add(p.pid);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs)
      if (!set.has(p.pid) && (set.has(p.ppid) || p.pid === rootPid)) {
        set.add(p.pid);
        grew = true;
      }
  }
  return [...set];
}
export function ioOf(pids) {
  let wb = 0,
    rb = 0,
    cwb = 0,
    wchar = 0,
    syscw = 0;
  for (const pid of pids) {
    try {
      const t = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
      const g = (k) => Number((t.match(new RegExp(`^${k}: (\\d+)`, 'm')) || [0, 0])[1]);
      wb += g('write_bytes');
      rb += g('read_bytes');
      cwb += g('cancelled_write_bytes');
      wchar += g('wchar');
      syscw += g('syscw');
    } catch {}
  }
  return { write_bytes: wb, read_bytes: rb, cancelled_write_bytes: cwb, wchar, syscw };
}
export function perProcIo(pids) {
  const r = {};
  for (const pid of pids) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const t = cmd.match(/--type=(\S+)/),
        st = cmd.match(/--utility-sub-type=(\S+)/);
      const type = (t ? t[1] : 'browser') + (st ? `:${st[1].split('.').pop()}` : '');
      r[pid] = { type, ...ioOf([pid]) };
    } catch {}
  }
  return r;
}
export function diskstats(dev = 'vda') {
  const line = fs
    .readFileSync('/proc/diskstats', 'utf8')
    .split('\n')
    .find((l) => l.trim().split(/\s+/)[2] === dev);
  const f = line.trim().split(/\s+/);
  // fields: 3 reads, 7 writes completed, 9 sectors written, 14.. ; flush requests completed = field 19 (index 18)
  return { writes: Number(f[7]), sectorsWritten: Number(f[9]), flushes: Number(f[18] || 0) };
}

export const CHROMIUM_ARGS = (profile) => [
  '--headless=new',
  `--user-data-dir=${profile}`,
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--enable-logging=stderr',
];
export function launch(profile, urls, logFile, extraArgs = []) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn('/usr/bin/chromium', [...CHROMIUM_ARGS(profile), ...extraArgs, ...urls], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.on('error', (e) => console.error('spawn error', e));
  return child;
}
export function groupAlive(pgid) {
  return allProcs().some((p) => p.pgrp === pgid && p.state !== 'Z');
}
export async function killGroup(child, timeoutMs = 20000) {
  const pgid = child.pid;
  const members = treeOf(pgid);
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {}
  // also any descendant outside the group (never observed, but be thorough) — only our own tree
  for (const pid of members) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  const t0 = Date.now();
  while (
    groupAlive(pgid) ||
    members.some((pid) => {
      const s = readStat(pid);
      return s && s.state !== 'Z';
    })
  ) {
    if (Date.now() - t0 > timeoutMs) throw new Error('group did not die');
    await sleep(20);
  }
  await sleep(50);
  return Date.now() - t0;
}

const MIME = { '.html': 'text/html', '.js': 'text/javascript' };
// handler(req, url, body) -> object (JSON reply) | undefined (404)
export function startServer(handler) {
  return new Promise((resolve) => {
    const srv = http.createServer(async (req, res) => {
      const url = new URL(req.url, 'http://x');
      if (req.method === 'GET' && url.pathname.startsWith('/www/')) {
        const f = path.join(WWW, path.basename(url.pathname));
        try {
          const body = fs.readFileSync(f);
          res.writeHead(200, {
            'content-type': MIME[path.extname(f)] || 'application/octet-stream',
            'cache-control': 'no-store',
          });
          return res.end(body);
        } catch {
          res.writeHead(404);
          return res.end();
        }
      }
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', async () => {
        let data = null;
        try {
          data = body ? JSON.parse(body) : null;
        } catch {}
        try {
          const out = await handler(req, url, data);
          if (out === undefined) {
            res.writeHead(404);
            return res.end();
          }
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
          res.end(JSON.stringify(out));
        } catch (e) {
          res.writeHead(500);
          res.end(String(e));
        }
      });
    });
    srv.keepAliveTimeout = 60000;
    srv.listen(0, '127.0.0.1', () => resolve({ srv, port: srv.address().port }));
  });
}

/**
 * Named signals between the page and the scripts: `wait(name)` resolves once `signal(name)` was called (before or
 * after), and `finished` once `done()` was.
 */
export function signals() {
  const raised = {};
  const waiters = {};
  let done;
  const finished = new Promise((resolve) => {
    done = resolve;
  });
  return {
    raised,
    finished,
    done: () => done(),
    signal(name) {
      raised[name] = true;
      for (const wake of waiters[name] || []) wake();
    },
    async wait(name) {
      if (raised[name]) return;
      await new Promise((resolve) => {
        waiters[name] ||= [];
        waiters[name].push(resolve);
      });
    },
  };
}
