/**
 * Devices whose wall clock is wrong (issue 21): no RTC battery, an RTC set ahead, NTP stepping the clock while the
 * client runs. The platform (the emulator) keeps the right time on a StillClock; the device reads the same clock
 * through a WrongWallClock, whose wall time is off (and jumps when the test says) while its monotonic time and
 * timers are right. One test per row of the table, each counting what the device asked of the platform
 * (the emulator's `request` log lines): 0 lost, 0 `provisioningRequired`, no new provisioning operation.
 */
import { describe, it } from 'vitest';
import { createNodePlatform } from '../../platform/node/index.js';
import type { DeviceClient } from '../../src/client.js';
import { startClient, tempDir } from '../helpers/client.js';
import { StillClock, WrongWallClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { connected, display, operations, recordingLogger } from '../helpers/provisioning.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;
const YEAR = 365 * DAY;

const REFRESH = '/devices/registration-tokens/refresh';
const REGISTER = '/devices/register';
const INIT = '/provisioning-operations/init';
const COMPLETE = '/provisioning-operations/complete';

type Settings = NonNullable<Parameters<typeof startTestEmulator>[0]>['settings'];

/** An emulator on the test's StillClock (the platform's time is right), its log kept for counting. */
async function platform(settings: Settings) {
  const clock = new StillClock();
  const log = recordingLogger(() => clock.now());
  const emulator = await startTestEmulator({
    clock,
    logger: log,
    settings: { autoApprove: true, ...settings },
  });
  const dirs = tempDir('spotflow-wrong-clock-');
  /** Lines `message` logged from `mark` on (an index into the log) whose fields `match`. */
  const count = (message: string, mark: number, match: (fields: Record<string, unknown>) => boolean) =>
    log.entries.slice(mark).filter((entry) => entry.message === message && match(entry.fields)).length;
  return {
    clock,
    emulator,
    dirs,
    /** Where the log is now: counts from here on leave out what came before. */
    mark: () => log.entries.length,
    /** Requests to `path` (answered with `status`, when given) since `mark`. */
    requests: (path: string, mark = 0, status?: number) =>
      count('request', mark, (f) => f.path === path && (status === undefined || f.status === status)),
    refusedConnects: (mark = 0) => count('MQTT connection refused', mark, () => true),
    connects: (mark = 0) => count('device connected', mark, () => true),
    /** Clients to close when the test ends. */
    clients: [] as DeviceClient[],
    async close() {
      for (const client of this.clients) await client.close();
      await emulator.close();
      dirs.cleanup();
    },
  };
}

type Platform = Awaited<ReturnType<typeof platform>>;

/** Runs `test` on a new platform with `settings`, and closes the platform and every client it tracked after it. */
async function onPlatform(settings: Settings, test: (bed: Platform) => Promise<void>): Promise<void> {
  const bed = await platform(settings);
  try {
    await test(bed);
  } finally {
    await bed.close();
  }
}

/** A device on `database` reading `wall` (the platform's time, off by what the test says), with what it reports kept. */
async function device(
  bed: Platform,
  database: string,
  wall: WrongWallClock,
  extra: Partial<Parameters<typeof startClient>[1]> = {},
) {
  const client = await startClient(bed.emulator, { database, deviceId: 'clocky', clock: wall, ...extra });
  bed.clients.push(client);
  const required: string[] = [];
  client.on('provisioningRequired', ({ reason }) => required.push(reason));
  const errors: string[] = [];
  client.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
  return { client, required, errors };
}

/** Moves the clock `totalMs` in steps of `stepMs`, enqueueing one message at each step; their ids. */
async function walkSending(client: DeviceClient, clock: StillClock, totalMs: number, stepMs: number) {
  const ids: string[] = [];
  for (let done = 0; done < totalMs; done += stepMs) {
    ids.push((await client.enqueueMessage({ at: done })).id);
    await clock.advance(Math.min(stepMs, totalMs - done));
    await clock.quiet();
  }
  return ids;
}

/** The first delivery of each message, in order (at-least-once may add duplicates). */
async function delivered(emulator: TestEmulator, deviceId: string): Promise<string[]> {
  return (await emulator.api.allMessages(deviceId)).filter((m) => !m.duplicate).map((m) => m.mid);
}

/**
 * A device provisioned and run with a right clock (one message sent), closed, then started again on the same
 * database with its wall clock `aheadMs` off, and connected. `mark` is where the platform's log was at the restart.
 */
async function restarted(bed: Platform, name: string, aheadMs: number) {
  const database = bed.dirs.file(name);
  const first = await device(bed, database, new WrongWallClock(bed.clock, 0));
  await connected(first.client);
  const { id } = await first.client.sendMessage('before the restart');
  await first.client.close();
  const mark = bed.mark();
  const wall = new WrongWallClock(bed.clock, aheadMs);
  const dev = await device(bed, database, wall);
  await connected(dev.client);
  return { ...dev, wall, mark, sent: [id] };
}

/** `fetch` whose answers carry `date` instead of the platform's Date header (undefined: none at all). */
function fetchWithDate(date: string | undefined): typeof fetch {
  const base = createNodePlatform().fetch;
  return async (input, init) => {
    const response = await base(input, init);
    const headers = new Headers(response.headers);
    if (date === undefined) headers.delete('date');
    else headers.set('date', date);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}

// Minutes of the test's clock, walked in steps with real pauses between them: more than the default 30 s when the
// machine is busy.
describe.concurrent('a device with a wrong wall clock', { timeout: 90_000 }, () => {
  it('restarted 2 years ahead, corrected after 30 s (60 s SAS): keeps its registration, stays online, no provisioning', async ({
    expect,
  }) => {
    await onPlatform({ sasTokenLifetimeSeconds: 60, registrationTokenLifetimeSeconds: 3600 }, async (bed) => {
      const dev = await restarted(bed, 'ahead.db', 2 * YEAR);
      const { wall, mark, sent } = dev;
      const ids = await walkSending(dev.client, bed.clock, 30 * SECOND, SECOND);
      wall.jump(-2 * YEAR); // NTP sets the clock
      ids.push(...(await walkSending(dev.client, bed.clock, 150 * SECOND, 5 * SECOND)));
      await dev.client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });

      expect(await delivered(bed.emulator, 'clocky')).toEqual([...sent, ...ids]);
      expect(dev.required).toEqual([]);
      expect(await operations(bed.emulator)).toHaveLength(1);
      expect(bed.requests(INIT, mark) + bed.requests(COMPLETE, mark)).toBe(0);
      // The SAS (60 s) is renewed every 30 s of the monotonic clock: at the restart (it looked expired) and 6 more.
      expect(bed.requests(REGISTER, mark)).toBeGreaterThanOrEqual(6);
      expect(bed.requests(REGISTER, mark)).toBeLessThanOrEqual(8);
      expect(bed.requests(REFRESH, mark)).toBeLessThanOrEqual(1);
      expect(bed.refusedConnects(mark)).toBe(0);
      await connected(dev.client); // (the last renewal's reconnect may still be under way)
      expect(dev.errors.filter((e) => !e.startsWith('NETWORK'))).toEqual([]);
    });
  });

  it('1 day ahead, registration tokens of 300 s: refreshed every 150 s, not in a loop', async ({
    expect,
  }) => {
    await onPlatform({ registrationTokenLifetimeSeconds: 300 }, async (bed) => {
      const dev = await device(bed, bed.dirs.file('day.db'), new WrongWallClock(bed.clock, DAY));
      await connected(dev.client);
      const ids = await walkSending(dev.client, bed.clock, 10 * MINUTE, 10 * SECOND);
      await dev.client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });

      expect(await delivered(bed.emulator, 'clocky')).toEqual(ids);
      // 600 s / 150 s.
      expect(bed.requests(REFRESH)).toBeGreaterThanOrEqual(3);
      expect(bed.requests(REFRESH)).toBeLessThanOrEqual(5);
      expect(bed.requests(REGISTER)).toBe(1);
      expect(bed.requests(REFRESH, 0, 401) + bed.requests(REGISTER, 0, 401)).toBe(0);
      expect(dev.required).toEqual([]);
      expect(await operations(bed.emulator)).toHaveLength(1);
    });
  });

  it('a new device 2 years ahead: waits for the technician past "pending" polls, starts once approved', async ({
    expect,
  }) => {
    await onPlatform({ autoApprove: false }, async (bed) => {
      const shown = display();
      const starting = startClient(bed.emulator, {
        database: bed.dirs.file('new.db'),
        deviceId: 'clocky',
        clock: new WrongWallClock(bed.clock, 2 * YEAR),
        onProvisioningOperation: shown.onProvisioningOperation,
      });
      let outcome = 'pending';
      starting.then(
        () => (outcome = 'started'),
        (error) => (outcome = String(error?.code)),
      );
      const op = await shown.nth(0);
      // The operation is pending through several polls (50 ms apart, on real time), and start waits.
      await waitFor(() => bed.requests(COMPLETE) >= 3 || outcome !== 'pending');
      expect(outcome).toBe('pending');
      expect((await bed.emulator.api.approve(op.id)).status).toBe(200);
      const client = await starting;
      bed.clients.push(client);
      await connected(client);
      const { id } = await client.sendMessage('approved');
      expect(await delivered(bed.emulator, 'clocky')).toEqual([id]);
      expect(shown.seen).toHaveLength(1);
      expect(bed.requests(INIT)).toBe(1);
      expect(await operations(bed.emulator)).toHaveLength(1);
    });
  });

  it('restarted 1 year behind, registration tokens and SAS of 60 s: renewed on time, the hub never drops it', async ({
    expect,
  }) => {
    await onPlatform({ sasTokenLifetimeSeconds: 60, registrationTokenLifetimeSeconds: 60 }, async (bed) => {
      const dev = await restarted(bed, 'behind.db', -YEAR);
      const { mark, sent } = dev;
      const ids = await walkSending(dev.client, bed.clock, 5 * MINUTE, 5 * SECOND);
      await dev.client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });

      expect(await delivered(bed.emulator, 'clocky')).toEqual([...sent, ...ids]);
      expect(dev.required).toEqual([]);
      expect(await operations(bed.emulator)).toHaveLength(1);
      expect(bed.requests(REFRESH, mark, 401) + bed.requests(REGISTER, mark, 401)).toBe(0);
      expect(bed.refusedConnects(mark)).toBe(0);
      // Every 30 s of the monotonic clock: 10 of each in 5 minutes, and one refresh at the start to learn the time.
      expect(bed.requests(REGISTER, mark)).toBeGreaterThanOrEqual(8);
      expect(bed.requests(REGISTER, mark)).toBeLessThanOrEqual(11);
      expect(bed.requests(REFRESH, mark)).toBeGreaterThanOrEqual(8);
      expect(bed.requests(REFRESH, mark)).toBeLessThanOrEqual(12);
      expect(bed.connects(mark)).toBeLessThanOrEqual(bed.requests(REGISTER, mark) + 1);
      await connected(dev.client); // (the last renewal's reconnect may still be under way)
    });
  });

  it('running, the clock jumps 2 days ahead then 1 day back: one register within 5 s to learn the time (no token rotation), nothing else', async ({
    expect,
  }) => {
    await onPlatform({ registrationTokenLifetimeSeconds: 300 }, async (bed) => {
      const wall = new WrongWallClock(bed.clock, 0);
      const dev = await device(bed, bed.dirs.file('jumps.db'), wall);
      await connected(dev.client);
      const ids = await walkSending(dev.client, bed.clock, MINUTE, 5 * SECOND);
      expect(bed.requests(REFRESH)).toBe(0);
      expect(bed.requests(REGISTER)).toBe(1);
      wall.jump(2 * DAY);
      // Noticed within 5 s (it may be a suspend, which the monotonic clock did not see): one register to learn the
      // time; a refresh would rotate the token, which a kill at the wrong moment would leave revoked.
      ids.push(...(await walkSending(dev.client, bed.clock, 10 * SECOND, 5 * SECOND)));
      expect(bed.requests(REGISTER)).toBe(2);
      ids.push(...(await walkSending(dev.client, bed.clock, 50 * SECOND, 5 * SECOND)));
      expect(bed.requests(REGISTER)).toBe(2);
      const mark = bed.mark();
      wall.jump(-DAY); // a step back needs nothing
      ids.push(...(await walkSending(dev.client, bed.clock, 20 * SECOND, 5 * SECOND)));
      expect(bed.requests(REFRESH, mark)).toBe(0);
      ids.push(...(await walkSending(dev.client, bed.clock, 7 * MINUTE, 10 * SECOND)));
      await dev.client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });

      expect(await delivered(bed.emulator, 'clocky')).toEqual(ids);
      expect(dev.required).toEqual([]);
      // Tokens of 300 s are refreshed every 150 s, whatever the wall clock did: 3 or 4 in the 10 minutes.
      expect(bed.requests(REFRESH)).toBeGreaterThanOrEqual(3);
      expect(bed.requests(REFRESH)).toBeLessThanOrEqual(5);
      expect(bed.requests(REGISTER)).toBe(2);
      expect(bed.refusedConnects()).toBe(0);
      expect(bed.connects()).toBe(1);
    });
  });

  it.for([
    { name: 'no Date header', date: undefined },
    { name: 'a garbled Date header', date: 'Tue, 99 Foo 20x5 25:61:61 GMT' },
  ])(
    "$name from the platform, clock 1 day ahead, tokens of 300 s: register's remaining lifetime tells the time, no storm",
    async ({ date }, { expect }) => {
      await onPlatform({ registrationTokenLifetimeSeconds: 300 }, async (bed) => {
        const fetch = fetchWithDate(date);
        const dev = await device(bed, bed.dirs.file('nodate.db'), new WrongWallClock(bed.clock, DAY), {
          fetch,
        });
        await connected(dev.client);
        const ids = await walkSending(dev.client, bed.clock, 10 * MINUTE, 10 * SECOND);
        await dev.client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });

        expect(await delivered(bed.emulator, 'clocky')).toEqual(ids);
        expect(dev.required).toEqual([]);
        expect(dev.errors.filter((e) => !e.startsWith('NETWORK'))).toEqual([]);
        // register's tokenRemainingLifetime against the token's expiry tells the platform's time instead: every 150 s.
        expect(bed.requests(REFRESH)).toBeGreaterThanOrEqual(3);
        expect(bed.requests(REFRESH)).toBeLessThanOrEqual(5);
        expect(bed.requests(REFRESH, 0, 401)).toBe(0);
      });
    },
  );
});
