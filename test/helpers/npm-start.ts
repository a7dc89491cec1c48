/**
 * Runs the `npm start` demo (dist/demo/start/index.js, built by `npm run build`) as a child process with its own
 * directories, reads what it prints as a user would, and stops it. For the `npm start` and technician-flow tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = join(import.meta.dirname, '../../dist/demo/start/index.js');

export interface StartedDemo {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the match once `pattern` appears in the output (bounded). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface DemoUrls {
  kiosk: string;
  portal: string;
  instance: string;
  workspaceId: string;
  apiToken: string;
}

/** A directory for demo runs (emulator and demo state); `cleanup()` kills what still runs and removes it. */
export function demoRunner(prefix = 'spotflow-npm-start-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const running: ChildProcess[] = [];
  return {
    dir,
    run(args: string[]): StartedDemo {
      const child = spawn(
        process.execPath,
        [script, '--data-dir', join(dir, 'emulator'), '--demo-dir', join(dir, 'demo'), ...args],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      running.push(child);
      return watch(child);
    },
    killAll(): void {
      for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    },
    cleanup(): void {
      this.killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function watch(child: ChildProcess): StartedDemo {
  let output = '';
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const check of waiters) check();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (match) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${pattern} did not appear within ${timeoutMs} ms; output:\n${output}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => setTimeout(check, 10));
        check();
      });
    },
  };
}

/** The URLs and credentials the demo printed. */
export async function demoUrls(started: StartedDemo): Promise<DemoUrls> {
  await started.waitFor(/Press Ctrl\+C to stop/);
  const text = started.output();
  return {
    kiosk: text.match(/Kiosk panel:\s+(\S+)/)![1]!,
    portal: text.match(/Portal:\s+(\S+)/)![1]!,
    instance: text.match(/Instance:\s+(\S+)/)![1]!,
    workspaceId: text.match(/Workspace:\s+(\S+)/)![1]!,
    apiToken: text.match(/API token (\S+)\)/)![1]!,
  };
}

/** A call to the emulator's management API, as a technician's tools make it. */
export function management(urls: DemoUrls, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${urls.instance}/workspaces/${urls.workspaceId}${path}`, {
    method,
    headers: { authorization: `Bearer ${urls.apiToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
