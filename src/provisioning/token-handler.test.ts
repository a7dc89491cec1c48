/**
 * The token handler's pacing of SAS renewals when the device's clock is wrong: hours ahead of the platform's, or
 * jumping back when NTP corrects it, and backoff that grows over minutes.
 *
 * These are unit tests with a fake clock on purpose: the emulator can run its own clock behind the device's
 * (test/sdk/credentials.test.ts does, for the first renewals), but it cannot move the device's clock back under a
 * running client, and minutes of backoff do not fit in a test. So vitest's fake timers drive `Date`,
 * `performance.now()` and the timers; the platform is a stand-in `register` that issues SAS tokens by the
 * platform's (correct) clock after a 50 ms round trip, as the real API does. Everything else is the real handler.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { realClock } from '../../test/helpers/clock.js';
import { SpotflowError } from '../errors.js';
import { parseConnectionString } from '../iothub/connection-string.js';
import type { Logger } from '../logger.js';
import type { Clock } from '../ports.js';
import type { StateStore } from '../store/state.js';
import { sha256Hex } from '../util/sha256.js';
import type { ProvisioningApi, Registration } from './api.js';
import { type StoredRegistration, TokenHandler } from './token-handler.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

interface Device {
  handler: TokenHandler;
  /** Platform times (ms epoch, the correct clock) of every `register` call. */
  registers: number[];
  /** How many times the handler announced new credentials (each one is an MQTT reconnect). */
  changes: () => number;
  warnings: string[];
  /** Sets how far the device's clock is ahead of the platform's (negative: behind). */
  setDeviceAhead(ms: number): void;
  /** Sets the lifetime of the SAS tokens the platform issues from now on (may be negative: a broken server). */
  setSasLifetime(ms: number): void;
}

const handlers: TokenHandler[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2025, 0, 15, 12) });
});

afterEach(async () => {
  for (const handler of handlers.splice(0)) {
    const stopping = handler.stop();
    await vi.runOnlyPendingTimersAsync();
    await stopping;
  }
  vi.useRealTimers();
});

/**
 * A token handler on `api` and `clock`, established from a stored registration (a registration token that does not
 * expire, and a SAS from long ago, so that the handler renews it as soon as it starts), not started yet.
 */
async function establishedHandler(
  api: ProvisioningApi,
  clock: Clock,
  token: Partial<StoredRegistration> = {},
) {
  const stored: StoredRegistration = {
    instance: 'https://platform.example.com',
    provisioningTokenHash: await sha256Hex('provisioning-token'),
    requestedDeviceId: 'dev',
    registrationToken: 'registration-token',
    registrationTokenExpiresAt: null,
    registrationTokenRenewAt: null,
    // A SAS from long ago: the handler renews it as soon as it starts.
    hub: {
      hostName: 'hub.example.com',
      hubDeviceId: 'ws:dev',
      workspaceId: 'ws',
      deviceId: 'dev',
      sasToken: 'SharedAccessSignature sr=hub.example.com%2Fdevices%2Fws%253Adev&sig=old&se=1',
      sasExpiresAt: 1000,
      sasRenewAt: 500,
    },
    ...token,
  };
  const values = new Map<string, unknown>([['registration', stored]]);
  const state = {
    get: async (key: string) => values.get(key),
    set: async (key: string, value: unknown) => void values.set(key, value),
  } as unknown as StateStore;
  const warnings: string[] = [];
  const required: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
  const handler = new TokenHandler(
    api,
    state,
    {
      instance: 'https://platform.example.com',
      provisioningToken: 'provisioning-token',
      deviceId: 'dev',
      pollIntervalMs: 10,
      onProvisioningOperation: () => {},
    },
    clock,
    log,
    { provisioningRequired: (reason) => void required.push(reason), error() {} },
  );
  handlers.push(handler);
  await handler.establish(undefined);
  return { handler, warnings, required };
}

async function device(options: { deviceAheadMs: number; sasLifetimeMs: number }): Promise<Device> {
  let aheadMs = options.deviceAheadMs;
  let lifetimeMs = options.sasLifetimeMs;
  const registers: number[] = [];
  const api = {
    async register(): Promise<Registration> {
      await new Promise((resolve) => setTimeout(resolve, 50));
      registers.push(Date.now());
      const se = Math.floor((Date.now() + lifetimeMs) / SECOND);
      const sas = `SharedAccessSignature sr=hub.example.com%2Fdevices%2Fws%253Adev&sig=s${registers.length}&se=${se}`;
      return {
        credentials: parseConnectionString(
          `HostName=hub.example.com;DeviceId=ws:dev;SharedAccessSignature=${sas}`,
        ),
        registrationTokenLifetimeMs: undefined,
        platformTime: undefined,
      };
    },
  } as unknown as ProvisioningApi;
  const { handler, warnings } = await establishedHandler(api, {
    ...realClock(),
    now: () => Date.now() + aheadMs,
  });
  let changes = 0;
  handler.onChange(() => changes++);
  handler.start();
  return {
    handler,
    registers,
    changes: () => changes,
    warnings,
    setDeviceAhead: (ms) => {
      aheadMs = ms;
    },
    setSasLifetime: (ms) => {
      lifetimeMs = ms;
    },
  };
}

/** A `register` that issues 1 h SAS tokens by the platform's clock and tells nothing of its time. */
async function registering(): Promise<Pick<ProvisioningApi, 'register'>> {
  return {
    async register(): Promise<Registration> {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const se = Math.floor((Date.now() + HOUR) / SECOND);
      const sas = `SharedAccessSignature sr=hub.example.com%2Fdevices%2Fws%253Adev&sig=s&se=${se}`;
      return {
        credentials: parseConnectionString(
          `HostName=hub.example.com;DeviceId=ws:dev;SharedAccessSignature=${sas}`,
        ),
        registrationTokenLifetimeMs: undefined,
        platformTime: undefined,
      };
    },
  };
}

/** The time between consecutive register calls, rounded to seconds. */
function gapsInSeconds(times: number[]): number[] {
  return times.slice(1).map((time, i) => Math.round((time - times[i]!) / SECOND));
}

/** What the session does when the hub answers CONNECT with CONNACK 4: refuses the current SAS. */
async function hubRefuses(device: Device): Promise<void> {
  const refused = device.handler.refused(await device.handler.current(), new AbortController().signal);
  refused.catch(() => {});
}

describe('TokenHandler pacing', () => {
  it('a device clock 3 h ahead (every 1 h SAS looks expired on arrival): no tight loop, renewals back off from 10 s, one warning', async () => {
    const dev = await device({ deviceAheadMs: 3 * HOUR, sasLifetimeMs: HOUR });
    await vi.advanceTimersByTimeAsync(SECOND);
    // The SAS from the database is renewed at once; the new one is kept although it looks expired.
    expect(dev.registers).toHaveLength(1);
    expect(dev.changes()).toBe(1);

    await vi.advanceTimersByTimeAsync(4 * HOUR);
    const gaps = gapsInSeconds(dev.registers);
    // 10 s, doubling while every renewal brings another SAS that looks expired, up to 30 minutes.
    expect(gaps.slice(0, 8)).toEqual([10, 20, 40, 80, 160, 320, 640, 1280]);
    expect(gaps.slice(8).every((gap) => gap === 1800)).toBe(true);
    expect(dev.changes()).toBe(dev.registers.length);
    expect(dev.warnings.filter((message) => message.includes('clock'))).toHaveLength(1);
  });

  it('a platform that issues SAS tokens already expired, refused by the hub each time: refusals back off too', async () => {
    const dev = await device({ deviceAheadMs: 0, sasLifetimeMs: -MINUTE });
    await vi.advanceTimersByTimeAsync(SECOND);
    expect(dev.registers).toHaveLength(1);
    // The session connects with each new SAS and the hub refuses it at once.
    dev.handler.onChange(() => void hubRefuses(dev));
    await hubRefuses(dev);
    await vi.advanceTimersByTimeAsync(30 * MINUTE);
    const gaps = gapsInSeconds(dev.registers);
    expect(gaps.slice(0, 5)).toEqual([10, 20, 40, 80, 160]);
    expect(gaps.slice(5).every((gap) => gap === 300)).toBe(true);
    expect(gaps.length).toBeLessThan(15);
  });

  it('a clock that NTP corrects back by 1 h: a refused SAS is renewed after at most 10 s, not after an hour', async () => {
    const dev = await device({ deviceAheadMs: HOUR, sasLifetimeMs: 4 * HOUR });
    await vi.advanceTimersByTimeAsync(SECOND);
    expect(dev.registers).toHaveLength(1);
    dev.setDeviceAhead(0);
    await hubRefuses(dev);
    // 10 s after the renewal at 0 s (the register call itself takes 50 ms).
    await vi.advanceTimersByTimeAsync(8.9 * SECOND);
    expect(dev.registers).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(0.5 * SECOND);
    expect(dev.registers).toHaveLength(2);
    // …and the next refusal (of the SAS just issued) waits twice as long, measured on the monotonic clock.
    await hubRefuses(dev);
    await vi.advanceTimersByTimeAsync(19 * SECOND);
    expect(dev.registers).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(SECOND);
    expect(dev.registers).toHaveLength(3);
  });

  it('a clock corrected back by 1 h does not delay the scheduled renewal by that hour', async () => {
    const dev = await device({ deviceAheadMs: HOUR, sasLifetimeMs: 4 * HOUR });
    await vi.advanceTimersByTimeAsync(SECOND);
    expect(dev.registers).toHaveLength(1);
    dev.setDeviceAhead(0);
    // The 4 h SAS had 3 h left by the device's clock when it came: it is renewed 1.5 h after it was issued (SPEC §2
    // step 4) by the monotonic clock, not 2.5 h later when the corrected wall clock reaches the stored time.
    await vi.advanceTimersByTimeAsync(1.5 * HOUR - 5 * SECOND);
    expect(dev.registers).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10 * SECOND);
    expect(dev.registers).toHaveLength(2);
    expect(dev.warnings.filter((message) => message.includes('clock'))).toHaveLength(0);
  });

  it('short-lived SAS tokens with a correct clock are still renewed halfway through their lifetime', async () => {
    const dev = await device({ deviceAheadMs: 0, sasLifetimeMs: 4 * SECOND });
    await vi.advanceTimersByTimeAsync(20 * SECOND);
    const gaps = gapsInSeconds(dev.registers);
    expect(gaps.length).toBeGreaterThanOrEqual(8);
    expect(gaps.every((gap) => gap >= 1 && gap <= 2)).toBe(true);
    expect(dev.warnings).toEqual([]);
  });

  it('a hub refusing a healthy SAS: renewed at once when the last renewal is long past; a second refusal in a row waits 20 s', async () => {
    const dev = await device({ deviceAheadMs: 0, sasLifetimeMs: HOUR });
    await vi.advanceTimersByTimeAsync(MINUTE);
    expect(dev.registers).toHaveLength(1);
    await hubRefuses(dev);
    await vi.advanceTimersByTimeAsync(SECOND);
    expect(dev.registers).toHaveLength(2);
    await hubRefuses(dev);
    await vi.advanceTimersByTimeAsync(18 * SECOND);
    expect(dev.registers).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2 * SECOND);
    expect(dev.registers).toHaveLength(3);
  });

  it('a platform that tells neither its time nor lifetimes, device clock 1 day ahead: each 300 s token looks expired, refreshes back off 10 s … 1 min', async () => {
    const refreshes: number[] = [];
    const { handler } = await establishedHandler(
      {
        ...(await registering()),
        async refresh() {
          await new Promise((resolve) => setTimeout(resolve, 50));
          refreshes.push(Date.now());
          return {
            registrationToken: `rt${refreshes.length}`,
            expiresAt: Date.now() + 300 * SECOND,
            platformTime: undefined,
          };
        },
      } as unknown as ProvisioningApi,
      { ...realClock(), now: () => Date.now() + 24 * HOUR },
      {
        registrationTokenExpiresAt: Date.now() + 300 * SECOND,
        registrationTokenRenewAt: Date.now() + 150 * SECOND,
      },
    );
    handler.start();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    // The stored token looks due by the device's clock: refreshed at once, then 10 s, doubling, at most a minute.
    const gaps = gapsInSeconds(refreshes);
    expect(gaps.slice(0, 3)).toEqual([10, 20, 40]);
    expect(gaps.slice(3).every((gap) => gap === 60)).toBe(true);
    expect(refreshes.length).toBeLessThanOrEqual(14);
  });

  it('a platform that refuses every registration it has just issued: provisioning again backs off from 10 s, no loop', async () => {
    let inits = 0;
    const refused = () =>
      new SpotflowError('REGISTRATION_INVALID', 'The platform refused the registration token (401)');
    const later = () => new Promise((resolve) => setTimeout(resolve, 50));
    const { handler, required } = await establishedHandler(
      {
        async init() {
          await later();
          inits++;
          return {
            id: `op${inits}`,
            verificationCode: 'ABC-123',
            expiresAt: Date.now() + HOUR,
            platformTime: undefined,
          };
        },
        async complete() {
          await later();
          return {
            pending: false,
            registrationToken: `rt${inits}`,
            expiresAt: undefined,
            platformTime: undefined,
          };
        },
        async refresh() {
          await later();
          throw refused();
        },
        async register() {
          await later();
          throw refused();
        },
      } as unknown as ProvisioningApi,
      realClock(),
    );
    handler.start();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    // 10 s, 20 s, … (up to half taken off at random), at most 5 min: a dozen in 10 minutes at the very most.
    expect(inits).toBeGreaterThanOrEqual(4);
    expect(inits).toBeLessThanOrEqual(12);
    expect(required.length).toBe(inits);
  });
});
