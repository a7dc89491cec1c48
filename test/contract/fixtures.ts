import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixtures = new URL('../fixtures/', import.meta.url);

export interface RunningFixture {
  process: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves once a stdout line satisfies `match`; rejects if the child exits first or time runs out. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code or signal. */
  exited: Promise<number | NodeJS.Signals | null>;
}

/** Runs `test/fixtures/<name>` (TypeScript) in a child `node`, with the repository's modules. */
export function runFixture(name: string, args: string[]): RunningFixture {
  const child = spawn(
    process.execPath,
    ['--import', new URL('register-ts.mjs', fixtures).href, fileURLToPath(new URL(name, fixtures)), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const wake of waiters) wake();
      resolve(signal ?? code);
    });
  });
  const waitForLine = (match: (line: string) => boolean, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      let seen = 0;
      const check = () => {
        for (; seen < lines.length; seen++) {
          if (match(lines[seen]!)) return done();
        }
        if (child.exitCode !== null || child.signalCode !== null) {
          done(
            new Error(`fixture ${name} exited before the expected output; stderr: ${stderr.slice(0, 2000)}`),
          );
        }
      };
      const timer = setTimeout(
        () =>
          done(
            new Error(`fixture ${name} printed no expected line in time; stderr: ${stderr.slice(0, 2000)}`),
          ),
        timeoutMs,
      );
      const done = (error?: Error) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      waiters.add(check);
      check();
    });
  return { process: child, lines, waitForLine, exited };
}
