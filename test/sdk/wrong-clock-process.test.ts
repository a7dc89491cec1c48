/**
 * The device under a wrong wall clock end to end: a child process runs the compiled SDK (dist/) with
 * `--import test/fixtures/wrong-date.mjs`, which makes its `Date.now()` and `new Date()` read 2 years ahead while
 * `performance.now()` and the timers stay right (as libfaketime does to a whole process, but for Date alone). The
 * emulator runs here on the real clock, with 4 s SAS and registration tokens so that renewals come every 2 s. Then
 * the child's clock is set right (stepped back 2 years, as NTP would) while it runs.
 *
 * Real time passes here (the child has no fake clock); nothing is counted by sleeping: the test waits for the
 * emulator to have seen the renewals, then compares the requests it logged with the time that passed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { tempDir } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { startTestEmulator } from '../helpers/emulator.js';
import { operations, recordingLogger } from '../helpers/provisioning.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const YEAR = 365 * 24 * 3600_000;

interface Line {
  event?: string;
  level?: string;
  message?: string;
  id?: string;
  wall?: number;
  reason?: string;
  code?: string;
}

/** The child, its printed lines (parsed), and a way to send it a command. */
function startDevice(config: Record<string, unknown>, aheadMs: number) {
  const startedAt = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      join(root, 'test', 'fixtures', 'wrong-date.mjs'),
      join(root, 'test', 'fixtures', 'wrong-clock-device.mjs'),
      JSON.stringify(config),
    ],
    { env: { ...process.env, WRONG_CLOCK_AHEAD_MS: String(aheadMs) }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const lines: Line[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (text) => lines.push(JSON.parse(text) as Line));
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    lines,
    exited,
    stderr: () => stderr,
    /** Real time since the child was started. */
    elapsedMs: () => performance.now() - startedAt,
    command: (text: string) => child.stdin!.write(`${text}\n`),
    /** No more commands: the child exits once it is done. */
    end: () => child.stdin!.end(),
    events: (event: string) => lines.filter((line) => line.event === event),
    kill: () => child.kill('SIGKILL'),
  };
}

describe('a device process whose Date is 2 years ahead, then set right', () => {
  it('keeps its credentials fresh at the platform pace, no provisioning again, nothing lost', {
    timeout: 60_000,
  }, async ({ expect }) => {
    if (!existsSync(join(root, 'dist', 'src', 'client.js'))) throw new Error('run `npm run build` first');
    const log = recordingLogger();
    const emulator = await startTestEmulator({
      logger: log,
      settings: { autoApprove: true, sasTokenLifetimeSeconds: 4, registrationTokenLifetimeSeconds: 4 },
    });
    const dirs = tempDir('spotflow-wrong-clock-process-');
    const requests = (path: string, status?: number) =>
      log.entries.filter(
        (e) =>
          e.message === 'request' &&
          e.fields.path === path &&
          (status === undefined || e.fields.status === status),
      ).length;
    const device = startDevice(
      {
        instance: emulator.instance,
        provisioningToken: emulator.provisioningToken,
        database: dirs.file('device.db'),
        deviceId: 'wrong-date',
      },
      2 * YEAR,
    );
    try {
      await waitFor(() => device.events('connected').length > 0, 15_000);
      // The child's wall clock really is 2 years ahead.
      const [clock] = device.events('clock');
      expect(Math.abs(clock!.wall! - (Date.now() + 2 * YEAR))).toBeLessThan(60_000);

      device.command('send 5');
      // Three SAS renewals and three refreshes (every 2 s) with the clock 2 years ahead…
      await waitFor(
        () => requests('/devices/register') >= 4 && requests('/devices/registration-tokens/refresh') >= 3,
        15_000,
      );
      device.command(`jump ${-2 * YEAR}`);
      await waitFor(() => device.events('jumped').length === 1);
      device.command('send 5');
      const registers = requests('/devices/register');
      // …and three more after it was set right.
      await waitFor(() => requests('/devices/register') >= registers + 3, 15_000);
      device.command('close');
      device.end();
      await waitFor(() => device.events('closed').length === 1, 15_000);
      const elapsedMs = device.elapsedMs();

      const ids = device.events('enqueued').map((line) => line.id);
      expect(ids).toHaveLength(10);
      const stored = (await emulator.api.allMessages('wrong-date'))
        .filter((m) => !m.duplicate)
        .map((m) => m.mid);
      expect(stored).toEqual(ids);
      expect(device.events('provisioningRequired')).toEqual([]);
      expect(requests('/provisioning-operations/init')).toBe(1);
      expect(await operations(emulator)).toHaveLength(1);
      expect(requests('/devices/register', 401) + requests('/devices/registration-tokens/refresh', 401)).toBe(
        0,
      );
      // One of each every 2 s (half of the 4 s lifetimes), plus the first; before the fix, thousands of refreshes.
      const paced = Math.ceil(elapsedMs / 2000) + 2;
      expect(requests('/devices/registration-tokens/refresh')).toBeLessThanOrEqual(paced);
      expect(requests('/devices/register')).toBeLessThanOrEqual(paced);
      const warnings = device.lines.filter((line) => line.level === 'warn').map((line) => line.message);
      expect(
        warnings.filter((message) => message?.includes("clock is 2 years ahead of the platform's")),
        String(warnings),
      ).toHaveLength(1);
      expect(device.events('error').filter((line) => line.code !== 'NETWORK')).toEqual([]);
      expect(await device.exited).toBe(0);
    } finally {
      if (process.env.WRONG_CLOCK_DEBUG) {
        console.log(JSON.stringify(device.lines), device.stderr());
        const paths = [
          '/devices/registration-tokens/refresh',
          '/devices/register',
          '/provisioning-operations/init',
        ];
        console.log(
          'requests',
          Object.fromEntries(paths.map((path) => [path, requests(path)])),
          device.elapsedMs(),
        );
      }
      device.kill();
      await emulator.close();
      dirs.cleanup();
    }
  });
});
