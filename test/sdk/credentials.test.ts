/**
 * The token handler against a real emulator (SPEC §2 steps 4-5, §3 CONNACK 4/5): SAS renewal before expiry,
 * a hub that refuses the credentials, a revoked registration token (background provisioning while messages keep
 * being queued), and the background refresh of the registration token. Lifetimes are seconds, so the renewal
 * times are half of them (SPEC §2 step 4 for lifetimes under 25 minutes).
 *
 * Each test runs its own emulator, so the slow ones (they wait for real lifetimes to pass) run concurrently.
 */
import { createServer, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { describe, it } from 'vitest';
import type { DeviceClient } from '../../src/client.js';
import { isSpotflowError } from '../../src/errors.js';
import { ProvisioningApi } from '../../src/provisioning/api.js';
import { eventOnce, memoryLogger, startClient, tempDir } from '../helpers/client.js';
import { realClock, StillClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { call, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import {
  approving,
  connected,
  decodedPayload,
  display,
  recordingLogger,
  refusedRegister,
  storedRegistration,
} from '../helpers/provisioning.js';

type Emulator = TestEmulator & { log: ReturnType<typeof recordingLogger> };

/**
 * An emulator whose log keeps every line; with `clock`, the emulator reads its time and waits on its timers (the SAS
 * expiry that closes a connection fires when the test moves the clock), and the log reads its time too.
 */
async function emulatorWith(
  options: Parameters<typeof startTestEmulator>[0],
  clock?: StillClock,
): Promise<Emulator> {
  const log = recordingLogger(clock ? () => clock.now() : Date.now);
  const emulator = await startTestEmulator({ ...(clock ? { clock } : {}), ...options, logger: log });
  return Object.assign(emulator, { log });
}

/** Every stored message of the device, with `after` paging. */
async function allMessages(emulator: TestEmulator, deviceId: string) {
  const items: { mid: string; duplicate: boolean; payloadBase64: string }[] = [];
  let after = 0;
  for (;;) {
    const page = await emulator.api.messages(deviceId, `?limit=1000&after=${after}`);
    items.push(...page.items);
    if (page.next === null) return items;
    after = page.next;
  }
}

/** The first delivery of each message, in order: at-least-once may add duplicates, never lose or reorder. */
function firstDeliveries(items: { mid: string; duplicate: boolean }[]): string[] {
  return items.filter((item) => !item.duplicate).map((item) => item.mid);
}

/**
 * How many lines `message` the emulator logged from `mark` on (an index into its log, `emulator.log.entries.length`
 * taken earlier: with a clock that stands still, "since a time" would also count the lines written at that time).
 */
const logged = (
  emulator: Emulator,
  message: string,
  mark = 0,
  match: (fields: Record<string, unknown>) => boolean = () => true,
) =>
  emulator.log.entries.slice(mark).filter((entry) => entry.message === message && match(entry.fields)).length;
const registered = (emulator: Emulator, mark = 0) => logged(emulator, 'device registered', mark);
const connects = (emulator: Emulator, mark = 0) => logged(emulator, 'device connected', mark);
const refusedConnects = (emulator: Emulator, mark = 0) => logged(emulator, 'MQTT connection refused', mark);
const refusedRegisters = (emulator: Emulator, mark = 0) =>
  logged(emulator, 'request refused', mark, refusedRegister);

describe.concurrent('credentials', () => {
  it('renews the SAS before it expires and reconnects with it, across several renewals, losing no message', async ({
    expect,
  }) => {
    // Time passes only when the test moves the clock both the client and the emulator read: each step reaches the
    // next renewal (half of the 6 s lifetime), however slow the machine is.
    const clock = new StillClock();
    const dirs = tempDir();
    const emulator = await emulatorWith(
      { settings: { autoApprove: true, sasTokenLifetimeSeconds: 6 } },
      clock,
    );
    let client: DeviceClient | undefined;
    try {
      client = await startClient(emulator, { database: dirs.file('renew.db'), deviceId: 'renewer', clock });
      let clientConnects = 0;
      client.on('connected', () => clientConnects++);
      const errors: string[] = [];
      client.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
      await connected(client);
      clientConnects = 1;

      const ids: string[] = [];
      for (let renewal = 1; renewal <= 3; renewal++) {
        for (let n = 0; n < 5; n++) ids.push((await client.enqueueMessage({ n: ids.length })).id);
        const reconnected = eventOnce(client, 'connected');
        await clock.advance(3000);
        await reconnected;
        expect(registered(emulator)).toBe(1 + renewal);
      }
      await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });

      const registrations = emulator.log.entries.filter((entry) => entry.message === 'device registered');
      expect(registrations).toHaveLength(4);
      // Each SAS lives at least 5 s (`se` is whole seconds): every renewal came at half of it, well before it expired.
      for (let i = 1; i < registrations.length; i++) {
        const gap = registrations[i]!.at - registrations[i - 1]!.at;
        expect(gap).toBeGreaterThanOrEqual(2500);
        expect(gap).toBeLessThanOrEqual(3000);
      }
      // A renewed SAS is used at once: one connection per registration, and the hub never refused one.
      expect(refusedConnects(emulator)).toBe(0);
      expect(connects(emulator)).toBe(4);
      expect(clientConnects).toBe(4);
      expect(errors.filter((error) => !error.startsWith('NETWORK'))).toEqual([]);

      const items = await allMessages(emulator, 'renewer');
      expect(firstDeliveries(items)).toEqual(ids);
      expect(items.filter((item) => !item.duplicate).map(decodedPayload)).toEqual(ids.map((_, n) => ({ n })));
    } finally {
      await client?.close();
      await emulator.close();
      dirs.cleanup();
    }
  });

  it('many renewals and refreshes in a row: all succeed, and the token handler does not pile up listeners', async ({
    expect,
  }) => {
    // A 2 s SAS and a 2 s registration token make the client renew and refresh at every second of the test's clock,
    // as a device does over weeks of normal lifetimes. Node warns (MaxListenersExceededWarning) when an AbortSignal
    // collects more than 10 abort listeners: one left behind per wait would grow for the life of the client.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(String(warning.stack));
    process.on('warning', onWarning);
    const clock = new StillClock();
    const dirs = tempDir();
    const database = dirs.file('many.db');
    const emulator = await emulatorWith(
      { settings: { autoApprove: true, sasTokenLifetimeSeconds: 2, registrationTokenLifetimeSeconds: 2 } },
      clock,
    );
    let client: DeviceClient | undefined;
    try {
      client = await startClient(emulator, { database, deviceId: 'many-renewals', clock });
      const required: string[] = [];
      client.on('provisioningRequired', ({ reason }) => required.push(reason));
      await connected(client);
      const ids: string[] = [];
      const renewals = 12;
      for (let step = 1; step <= renewals; step++) {
        for (let n = 0; n < 3; n++) ids.push((await client.enqueueMessage({ n: ids.length })).id);
        const token = storedRegistration(database)!.registrationToken;
        const reconnected = eventOnce(client, 'connected');
        await clock.advance(1000);
        await reconnected;
        await waitFor(() => storedRegistration(database)!.registrationToken !== token);
      }
      await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });
      // Exactly one registration and one connection per step: no CONNECT ever carried an expired SAS.
      expect(registered(emulator)).toBe(1 + renewals);
      expect(connects(emulator)).toBe(1 + renewals);
      expect(refusedConnects(emulator)).toBe(0);
      expect(refusedRegisters(emulator)).toBe(0);
      expect(required).toEqual([]);
      expect(firstDeliveries(await allMessages(emulator, 'many-renewals'))).toEqual(ids);
      expect(warnings.filter((warning) => warning.startsWith('MaxListenersExceededWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await client?.close();
      await emulator.close();
      dirs.cleanup();
    }
  });

  it('a SAS that expired during an outage is refused by the hub (CONNACK 4): registers again, reconnects, no hammering', async ({
    expect,
  }) => {
    const clock = new StillClock();
    const dirs = tempDir();
    const data = tempDir('spotflow-emulator-');
    const settings = { autoApprove: true, sasTokenLifetimeSeconds: 3 };
    let emulator: Emulator | undefined = await emulatorWith(
      { memory: false, dataDir: data.dir, settings },
      clock,
    );
    const { port } = emulator;
    let client: DeviceClient | undefined;
    try {
      client = await startClient(emulator, { database: dirs.file('outage.db'), deviceId: 'outage', clock });
      await connected(client);
      const { id: before } = await client.sendMessage({ phase: 'before' });
      const first = emulator;
      emulator = undefined;
      await first.close();
      const queued: string[] = [];
      for (let n = 0; n < 3; n++) queued.push((await client.enqueueMessage({ phase: 'outage', n })).id);
      // Every SAS the emulator issued before it stopped expires (3 s) while it is away.
      await clock.advance(3200);

      emulator = await emulatorWith({ memory: false, dataDir: data.dir, settings, port }, clock);
      // A refused CONNECT makes the token handler pace its next renewal (10 s after the last): time goes on until
      // the client is back.
      await clock.walkUntil(() => client!.connected, { stepMs: 500, maxMs: 30_000 });
      await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });
      const items = await allMessages(emulator, 'outage');
      expect(firstDeliveries(items)).toEqual([before, ...queued]);

      // Whether the session's CONNECT with the expired SAS (refused with CONNACK 4) or the token handler's retry
      // came first, the client got a new SAS with very few calls.
      const expiredRefusals = logged(emulator, 'MQTT connection refused', 0, (f) =>
        String(f.reason).includes('expired'),
      );
      expect(refusedConnects(emulator)).toBe(expiredRefusals);
      expect(expiredRefusals).toBeLessThanOrEqual(2);
      expect(registered(emulator)).toBeGreaterThanOrEqual(1);
      expect(registered(emulator)).toBeLessThanOrEqual(2);
      expect(refusedRegisters(emulator)).toBe(0);
    } finally {
      await client?.close();
      await emulator?.close();
      dirs.cleanup();
      data.cleanup();
    }
  });

  it('the hub refuses a SAS it considers expired (clock skew): exactly one refusal, one new registration, reconnected', async ({
    expect,
  }) => {
    // The emulator's clock is moved forward so that the hub sees the device's SAS as expired while the device's
    // own clock says it is far from due: the only way to make the hub refuse a SAS the client would not renew by
    // itself. (A test hook of the emulator, standing in for a skewed hub clock.)
    let skewMs = 0;
    const clock = new StillClock();
    const dirs = tempDir();
    const emulator = await emulatorWith(
      { settings: { autoApprove: true }, now: () => clock.now() + skewMs },
      clock,
    );
    let client: DeviceClient | undefined;
    try {
      client = await startClient(emulator, { database: dirs.file('skew.db'), deviceId: 'skewed', clock });
      await connected(client);
      expect(registered(emulator)).toBe(1);
      skewMs = 2 * 3600_000;
      const mark = emulator.log.entries.length;
      const reconnected = eventOnce(client, 'connected');
      expect((await emulator.api.request('DELETE', '/devices/skewed/connection')).status).toBe(204);
      await reconnected;
      const { id } = await client.sendMessage('after the refusal');
      expect(firstDeliveries(await allMessages(emulator, 'skewed'))).toEqual([id]);
      // Nothing more happens: a minute of the client's time passes, second by second, so every pacing interval a
      // loop of refusals and registrations would wait for (10 s, then 20 s) falls due.
      await clock.walk(60_000, 1000);
      expect(refusedConnects(emulator, mark)).toBe(1);
      expect(logged(emulator, 'MQTT connection refused', 0, (f) => f.reason === 'SAS token expired')).toBe(1);
      expect(registered(emulator, mark)).toBe(1);
      expect(connects(emulator, mark)).toBe(1);
      expect(client.connected).toBe(true);
    } finally {
      await client?.close();
      await emulator.close();
      dirs.cleanup();
    }
  });

  it("a device clock 3 h ahead of the platform: the SAS is timed by the platform's Date header (renewed after 30 min, not 10 s), one warning, no register loop", async ({
    expect,
  }) => {
    // The emulator's clock runs 3 h behind the device's, which is what a device whose clock is 3 h ahead sees (an
    // RTC not yet corrected by NTP): each 1 h SAS has an `se` 2 h in the past by the device's clock, while the hub,
    // whose clock is right, accepts it. The answer's Date header tells the device the platform's time, so the SAS
    // is known to live 1 h and is renewed halfway, by the monotonic clock.
    const clock = new StillClock();
    const dirs = tempDir();
    const emulator = await emulatorWith(
      {
        settings: { autoApprove: true, sasTokenLifetimeSeconds: 3600 },
        now: () => clock.now() - 3 * 3600_000,
      },
      clock,
    );
    const logger = memoryLogger();
    let client: DeviceClient | undefined;
    try {
      client = await startClient(emulator, {
        database: dirs.file('ahead.db'),
        deviceId: 'ahead',
        logger,
        clock,
      });
      await connected(client);
      const { id } = await client.sendMessage('with a SAS that looks expired by the device clock');
      expect(firstDeliveries(await allMessages(emulator, 'ahead'))).toEqual([id]);

      // 29 minutes of the client's time, 30 s at a time: no renewal yet.
      await clock.walk(29 * 60_000, 30_000);
      expect(registered(emulator)).toBe(1);
      expect(connects(emulator)).toBe(1);
      expect(client.connected).toBe(true);

      // At 30 minutes, one renewal and its reconnect. The clock then stands still until the client itself is
      // connected again: a step of the clock while the registration or the CONNACK is still on its way would reach
      // that exchange's 30 s timeout (timed by the same clock) on a slow machine, and the retry would look like the
      // register loop this test guards against.
      await clock.walk(60_000, 30_000);
      await waitFor(
        () => registered(emulator) === 2 && connects(emulator) === 2 && client?.connected,
        30_000,
      );
      // Well past the renewal, nothing more: no second renewal, no reconnect.
      await clock.walk(5 * 60_000, 30_000);
      expect(registered(emulator)).toBe(2);
      expect(connects(emulator)).toBe(2);
      const renewals = emulator.log.entries.filter((entry) => entry.message === 'device registered');
      expect(renewals[1]!.at - renewals[0]!.at).toBe(30 * 60_000);
      expect(refusedConnects(emulator)).toBe(0);
      const warnings = logger.lines.filter((line) => line.startsWith('warn') && line.includes('clock'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain("The device's clock is 3 hours ahead of the platform's");
      const { id: later } = await client.sendMessage('after the renewal');
      expect(firstDeliveries(await allMessages(emulator, 'ahead'))).toEqual([id, later]);
    } finally {
      await client?.close();
      await emulator.close();
      dirs.cleanup();
    }
  });

  it('a platform that does not answer: the TIMEOUT error does not carry the registration token (not even deep inside)', async ({
    expect,
  }) => {
    // A server that accepts connections and never answers, so the request times out (ky's TimeoutError holds the
    // Request, headers included): the emulator cannot be made to hang, so a bare socket server stands in for it.
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const api = new ProvisioningApi(`http://127.0.0.1:${port}`, fetch, realClock(), { timeoutMs: 200 });
      const secret = 'SECRET-REGISTRATION-TOKEN-2f6c1e';
      const error = await api.register(secret).then(
        () => expect.unreachable('register resolved'),
        (e: unknown) => e,
      );
      expect(isSpotflowError(error, 'TIMEOUT')).toBe(true);
      expect((error as Error).message).toBe("The platform's answer to register did not arrive within 0.2 s");
      const shown = [
        inspect(error),
        inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
        JSON.stringify(error),
        String((error as Error).stack),
      ];
      expect(shown.filter((text) => text.includes(secret))).toHaveLength(0);
      expect((error as Error).cause).toBeUndefined();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a hub that keeps refusing (workspace disabled) is not hammered', async ({ expect }) => {
    const clock = new StillClock();
    const dirs = tempDir();
    const emulator = await emulatorWith({ settings: { autoApprove: true } }, clock);
    let client: DeviceClient | undefined;
    try {
      client = await startClient(emulator, {
        database: dirs.file('refusing.db'),
        deviceId: 'refused',
        clock,
      });
      await connected(client);
      const errors: string[] = [];
      client.on('error', (error) => errors.push(error.code));
      const mark = emulator.log.entries.length;
      // Disabling the workspace closes the device's connection (as the hub would); every reconnect is refused.
      await emulator.api.settings({ disabled: true });
      await waitFor(() => errors.includes('WORKSPACE_DISABLED'));
      // CONNACK 5, then a register call answered 423: the session waits for new credentials instead of
      // reconnecting, and the token handler backs off (10 s): 3 s of the client's time bring nothing new.
      await clock.walk(3000, 500);
      expect(refusedConnects(emulator, mark)).toBe(1);
      expect(refusedRegisters(emulator, mark)).toBe(1);
      expect(client.connected).toBe(false);
    } finally {
      await client?.close();
      await emulator.close();
      dirs.cleanup();
    }
  });

  it('a revoked registration token: provisioning again in the background while messages are queued, then delivered', async ({
    expect,
  }) => {
    const clock = new StillClock();
    const dirs = tempDir();
    const emulator = await emulatorWith({ settings: { sasTokenLifetimeSeconds: 4 } }, clock);
    let client: DeviceClient | undefined;
    try {
      const shown = display();
      const starting = startClient(emulator, {
        database: dirs.file('revoked.db'),
        deviceId: 'revoked',
        onProvisioningOperation: shown.onProvisioningOperation,
        clock,
      });
      await emulator.api.approve((await shown.nth(0)).id);
      client = await starting;
      const required: string[] = [];
      client.on('provisioningRequired', ({ reason }) => required.push(reason));
      await connected(client);

      const revoked = await emulator.api.request('DELETE', '/devices/revoked/registration-token');
      expect(revoked.status).toBe(200);
      expect(revoked.body.revoked).toBeGreaterThanOrEqual(1);

      // At half the SAS lifetime the client registers, is refused (401), and provisions again in the background.
      await clock.advance(2000);
      const second = await shown.nth(1, 6000);
      expect(required).toHaveLength(1);
      expect(refusedRegisters(emulator)).toBe(1);
      const pending = await emulator.api.request('GET', '/provisioning-operations?status=pending');
      expect(
        pending.body.map((op: { provisioningOperationId: string }) => op.provisioningOperationId),
      ).toEqual([second.id]);

      // When the old SAS expires (on the emulator's clock, the test's) the hub drops the connection, and it cannot
      // come back until the new approval.
      await clock.advance(2100);
      await waitFor(() => refusedConnects(emulator) >= 1, 2000);
      const queued: string[] = [];
      for (let n = 0; n < 5; n++) queued.push((await client.enqueueMessage({ n })).id);
      expect(await client.pendingMessagesCount()).toBe(5);
      await clock.walk(1000, 250);
      expect(await client.pendingMessagesCount()).toBe(5);
      expect(client.connected).toBe(false);

      // The next SAS lives an hour, so any registration after the approval below is one the client did not need.
      await emulator.api.settings({ sasTokenLifetimeSeconds: 3600 });
      const mark = emulator.log.entries.length;
      expect((await emulator.api.approve(second.id)).status).toBe(200);
      await connected(client);
      await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });
      expect(firstDeliveries(await allMessages(emulator, 'revoked'))).toEqual(queued);
      expect(required).toHaveLength(1);
      expect(shown.seen).toHaveLength(2);

      // The new registration is used as it is: no second registration and no second reconnect afterwards, even
      // once the hammering guard (10 s after the failed renewal) has passed, second by second.
      await clock.walk(12_000, 1000);
      expect(registered(emulator, mark)).toBe(1);
      expect(connects(emulator, mark)).toBe(1);
    } finally {
      await client?.close();
      await emulator.close();
      dirs.cleanup();
    }
  });

  it('refreshes the registration token before it expires: the old one is refused afterwards, no re-provisioning', async ({
    expect,
  }) => {
    const clock = new StillClock();
    const dirs = tempDir();
    const emulator = await emulatorWith(
      { settings: { autoApprove: true, registrationTokenLifetimeSeconds: 4, sasTokenLifetimeSeconds: 6 } },
      clock,
    );
    const database = dirs.file('refresh.db');
    let client: DeviceClient | undefined;
    try {
      const shown = approving(emulator);
      client = await startClient(emulator, {
        database,
        deviceId: 'refresher',
        onProvisioningOperation: shown.onProvisioningOperation,
        clock,
      });
      const required: string[] = [];
      client.on('provisioningRequired', ({ reason }) => required.push(reason));
      const errors: string[] = [];
      client.on('error', (error) => errors.push(error.code));
      await connected(client);
      const original = storedRegistration(database)!.registrationToken;

      // Each token is refreshed at half its 4 s lifetime, four times in a row: over those 8 s the original would have
      // expired twice over, and the SAS renewals (every ~3 s) need a valid one.
      const tokens = new Set([original]);
      for (let refresh = 1; refresh <= 4; refresh++) {
        await clock.advance(2000);
        await waitFor(() => tokens.add(storedRegistration(database)!.registrationToken).size === refresh + 1);
      }
      expect(tokens.size).toBe(5);
      expect(required).toEqual([]);
      expect(shown.seen).toHaveLength(1);
      expect(errors.filter((code) => code !== 'NETWORK')).toEqual([]);
      expect(registered(emulator)).toBeGreaterThanOrEqual(3);
      expect(refusedRegisters(emulator)).toBe(0);
      const { id } = await client.sendMessage('still registered');
      expect(firstDeliveries(await allMessages(emulator, 'refresher'))).toContain(id);

      // The platform revoked each token it replaced: the original no longer registers, the current one does.
      const register = (token: string) =>
        call(emulator.instance, 'PUT', '/devices/register', {
          token,
          json: { connectionStringType: 'SharedAccessSignature' },
        });
      expect((await register(original)).status).toBe(401);
      expect((await register(storedRegistration(database)!.registrationToken)).status).toBe(200);
    } finally {
      await client?.close();
      await emulator.close();
      dirs.cleanup();
    }
  });
});
