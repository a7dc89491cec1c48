/**
 * Bad input to every public method of the SDK, table-driven.
 *
 * Each case asserts: a typed SpotflowError with the expected `code` (via `isSpotflowError`), delivered AT THE CALL
 * (async methods return a rejected promise and never throw synchronously; sync methods such as `onMethod` throw),
 * a message that names what was wrong and quotes no token, and that nothing was stored: the outbox and the
 * reported-properties state (through the public API and read straight from the SQLite file) are unchanged. At the
 * end the emulator must hold exactly what the good calls sent.
 *
 * The client under test runs OFFLINE for the table (the emulator is stopped and later restarted on the same port),
 * so pending messages and pending reported patches stay put and any extra row would be visible.
 *
 * Cases marked `knownBug` document SDK bugs outside the files this test may fix (src/client.ts, src/twin/twin.ts);
 * they run as `it.fails` and must be flipped to `it` once the proposed fix lands.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNodeLock,
  createNodePlatform,
  DeviceClient as NodeDeviceClient,
  type NodeStartOptions,
} from '../../platform/node/index.js';
import { maxPayloadBytes } from '../../src/call-arguments.js';
import { DeviceClient } from '../../src/client.js';
import { isSpotflowError, SpotflowError, type SpotflowErrorCode } from '../../src/errors.js';
import type { StartOptions } from '../../src/options.js';
import { memoryLogger, startClient, tempDir } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

const dirs = tempDir('spotflow-bad-input-');
const emulatorDir = dirs.file('emulator');
let emulator: TestEmulator;

/** A recognisable fake provisioning token: it must never show up in an error message. */
const fakeToken = 'SECRET-provisioning-token-7f3a9c';
/** Every secret an error message must not contain (filled in as tokens become known). */
const secrets: string[] = [fakeToken];

/** One over-limit payload, allocated once and reused (as bytes, as its ArrayBuffer, as a DataView). */
const oversized = new Uint8Array(maxPayloadBytes + 1);

beforeAll(async () => {
  emulator = await startTestEmulator({
    memory: false,
    dataDir: emulatorDir,
    settings: { autoApprove: true },
  });
  secrets.push(emulator.provisioningToken, emulator.apiToken);
});

afterAll(async () => {
  await emulator?.close();
  dirs.cleanup();
});

// ---------------------------------------------------------------------------------------------------------------
// Assertion helpers

function show(value: unknown): string {
  if (value instanceof Error)
    return `${value.name}(${(value as { code?: unknown }).code ?? ''}): ${value.message}`;
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

/** Calls `call`, which must return a promise (not throw synchronously) that rejects; returns the reason. */
async function rejectsAtCall(call: () => unknown): Promise<unknown> {
  let returned: unknown;
  try {
    returned = call();
  } catch (error) {
    throw new Error(`threw synchronously instead of returning a rejected promise: ${show(error)}`);
  }
  expect(returned, 'an async method must return a promise').toBeInstanceOf(Promise);
  return (returned as Promise<unknown>).then(
    (value) => {
      throw new Error(`resolved (with ${show(value)}) instead of rejecting`);
    },
    (error: unknown) => error,
  );
}

/** Calls `call`, which must throw synchronously; returns what it threw. */
function throwsAtCall(call: () => unknown): unknown {
  let returned: unknown;
  try {
    returned = call();
  } catch (error) {
    return error;
  }
  if (returned instanceof Promise) returned.catch(() => {});
  throw new Error(`did not throw synchronously (returned ${show(returned)})`);
}

/** The error is a SpotflowError with `code`, a message matching `message`, short, and free of secrets. */
function expectSpotflowError(error: unknown, code: SpotflowErrorCode, message: RegExp): SpotflowError {
  if (!isSpotflowError(error, code)) throw new Error(`expected SpotflowError ${code}, got ${show(error)}`);
  expect(error).toBeInstanceOf(SpotflowError);
  expect(error.name).toBe('SpotflowError');
  expect(error.code).toBe(code);
  expect(error.message).toMatch(message);
  expect(error.message.length).toBeLessThan(300);
  for (const secret of secrets) {
    expect(error.message).not.toContain(secret);
    expect(String(error)).not.toContain(secret);
  }
  return error;
}

/** Fresh (not yet existing) database path for one start case. */
let dbCounter = 0;
function freshDb(): string {
  return dirs.file(`start-${++dbCounter}.db`);
}

/** The lock of `database` is free: another owner can take it (and gives it back). */
async function expectLockFree(database: string): Promise<void> {
  const handle = await createNodeLock().acquire(database);
  await handle.release();
}

/** `levels` nested objects: nest(1) = { v: 1 }, nest(2) = { n: { v: 1 } }, … */
function nest(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { v: 1 };
  for (let i = 1; i < levels; i++) value = { n: value };
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// DeviceClient.startOn: option validation (no network, nothing created on disk)

type OptionsOverride = Record<string, unknown> | 'omit-all' | null | string;

interface StartCase {
  name: string;
  /** Fields replacing (or, with value `undefined`, removing) those of valid options; or whole bad options. */
  options: OptionsOverride;
  message: RegExp;
  code?: SpotflowErrorCode;
}

const startCases: StartCase[] = [
  { name: 'no options at all', options: 'omit-all', message: /options are required/ },
  { name: 'null options', options: null, message: /options are required/ },
  { name: 'options that are a string', options: 'device.db', message: /options are required/ },
  {
    name: 'missing provisioningToken',
    options: { provisioningToken: undefined },
    message: /provisioningToken/,
  },
  { name: 'empty provisioningToken', options: { provisioningToken: '' }, message: /provisioningToken/ },
  { name: 'non-string provisioningToken', options: { provisioningToken: 42 }, message: /provisioningToken/ },
  {
    name: 'provisioningToken with a trailing line break (read from a file)',
    options: { provisioningToken: `${fakeToken}\n` },
    message: /provisioningToken/,
  },
  {
    name: 'provisioningToken with a NUL inside',
    options: { provisioningToken: `${fakeToken}\u0000x` },
    message: /provisioningToken/,
  },
  { name: 'missing database', options: { database: undefined }, message: /database is required/ },
  { name: 'empty database', options: { database: '' }, message: /database/ },
  { name: 'non-string database', options: { database: 7 }, message: /database/ },
  { name: "deviceId 'a/b'", options: { deviceId: 'a/b' }, message: /deviceId may contain only/ },
  { name: "deviceId 'a#b'", options: { deviceId: 'a#b' }, message: /deviceId may contain only/ },
  { name: "deviceId 'a+b' (an MQTT wildcard)", options: { deviceId: 'a+b' }, message: /deviceId/ },
  { name: 'deviceId with a space', options: { deviceId: 'pump 7' }, message: /deviceId/ },
  { name: 'deviceId with non-ASCII letters', options: { deviceId: 'čerpadlo' }, message: /deviceId/ },
  { name: 'empty deviceId', options: { deviceId: '' }, message: /deviceId/ },
  { name: 'deviceId of 129 characters', options: { deviceId: 'd'.repeat(129) }, message: /deviceId.*128/ },
  { name: 'non-string deviceId', options: { deviceId: 7 }, message: /deviceId/ },
  { name: 'instance that is not a URL', options: { instance: 'not a url' }, message: /instance/ },
  { name: 'instance https:// without a host', options: { instance: 'https://' }, message: /instance/ },
  { name: 'empty instance', options: { instance: '' }, message: /instance/ },
  { name: 'non-string instance', options: { instance: 443 }, message: /instance/ },
  {
    name: 'ftp:// instance',
    options: { instance: 'ftp://api.example.com' },
    message: /instance must be http/,
  },
  { name: 'ws:// instance', options: { instance: 'ws://localhost:1' }, message: /instance must be http/ },
  {
    name: 'plain http:// to a non-loopback host without allowInsecure',
    options: { instance: 'http://api.example.com' },
    message: /http:\/\/.*loopback.*allowInsecure/,
  },
  {
    name: 'plain http:// to a host that only looks like localhost',
    options: { instance: 'http://localhost.example.com' },
    message: /allowInsecure/,
  },
  {
    name: 'plain http:// with localhost as userinfo only',
    options: { instance: 'http://localhost@api.example.com' },
    message: /allowInsecure/,
  },
  {
    name: "allowInsecure 'yes'",
    options: { allowInsecure: 'yes' },
    message: /allowInsecure must be a boolean/,
  },
  {
    name: 'non-function onProvisioningOperation',
    options: { onProvisioningOperation: 'print' },
    message: /onProvisioningOperation must be a function/,
  },
  {
    name: 'non-function onDesiredProperties',
    options: { onDesiredProperties: {} },
    message: /onDesiredProperties must be a function/,
  },
  { name: 'logger without methods', options: { logger: {} }, message: /logger\.debug must be a function/ },
  {
    name: 'logger missing warn and error',
    options: { logger: { debug() {}, info() {} } },
    message: /logger\.warn must be a function/,
  },
  { name: 'null logger', options: { logger: null }, message: /logger/ },
  { name: "logger 'console' (a string)", options: { logger: 'console' }, message: /logger/ },
  {
    name: "transport 'udp'",
    options: { transport: 'udp' },
    message: /transport must be 'tcp' or 'websocket'/,
  },
  { name: 'keepAliveSeconds 0', options: { keepAliveSeconds: 0 }, message: /keepAliveSeconds.*1177/ },
  { name: 'keepAliveSeconds 2000', options: { keepAliveSeconds: 2000 }, message: /keepAliveSeconds.*1177/ },
  { name: 'keepAliveSeconds NaN', options: { keepAliveSeconds: Number.NaN }, message: /keepAliveSeconds/ },
  { name: 'keepAliveSeconds Infinity', options: { keepAliveSeconds: Infinity }, message: /keepAliveSeconds/ },
  {
    name: "keepAliveSeconds '60' (a string)",
    options: { keepAliveSeconds: '60' },
    message: /keepAliveSeconds/,
  },
  // MQTT's keep-alive is a whole number of seconds: 0.5 would go on the wire as 0, which turns keep-alive off.
  { name: 'keepAliveSeconds 0.5', options: { keepAliveSeconds: 0.5 }, message: /keepAliveSeconds.*whole/ },
  { name: 'maxInFlight 0', options: { maxInFlight: 0 }, message: /maxInFlight/ },
  { name: 'maxInFlight -1', options: { maxInFlight: -1 }, message: /maxInFlight/ },
  // Math.floor(0.5) is 0: a sender allowed zero publishes in flight.
  { name: 'maxInFlight 0.5', options: { maxInFlight: 0.5 }, message: /maxInFlight.*whole/ },
  {
    name: 'provisioningPollIntervalMs 0',
    options: { provisioningPollIntervalMs: 0 },
    message: /provisioningPoll/,
  },
  {
    name: "reconnectInitialDelayMs 'fast'",
    options: { reconnectInitialDelayMs: 'fast' },
    message: /reconnectInitialDelayMs/,
  },
  { name: 'reconnectMaxDelayMs -1', options: { reconnectMaxDelayMs: -1 }, message: /reconnectMaxDelayMs/ },
  {
    name: "outboxLimits.policy 'x'",
    options: { outboxLimits: { policy: 'x' } },
    message: /outboxLimits\.policy must be 'reject' or 'dropOldest'/,
  },
  { name: "outboxLimits 'x'", options: { outboxLimits: 'x' }, message: /outboxLimits must be an object/ },
  {
    name: 'outboxLimits that is an array',
    options: { outboxLimits: [] },
    message: /outboxLimits must be an object/,
  },
  {
    name: 'outboxLimits.maxMessages 0',
    options: { outboxLimits: { maxMessages: 0 } },
    message: /outboxLimits\.maxMessages/,
  },
  // "At most 2.5 messages" means nothing; fractional limits are a unit mix-up the caller wants to hear about.
  {
    name: 'outboxLimits.maxMessages 2.5',
    options: { outboxLimits: { maxMessages: 2.5 } },
    message: /outboxLimits\.maxMessages.*whole/,
  },
  {
    name: "outboxLimits with a misspelt key 'maxMesages'",
    options: { outboxLimits: { maxMesages: 10 } },
    message: /maxMesages/,
  },
  { name: 'signal that is not an AbortSignal', options: { signal: { aborted: false } }, message: /signal/ },
  { name: "signal 'x'", options: { signal: 'x' }, message: /signal must be an AbortSignal/ },
  // `ca` is Node's (the platform trusts it): the Node entry takes it off; the core, called directly, knows no `ca`.
  { name: 'ca given to the core', options: { ca: 'PEM' }, message: /Unknown start option "ca"/ },
  // A typo must not silently provision a device under a platform-chosen id.
  { name: "misspelt option 'deviceID'", options: { deviceID: 'pump-7' }, message: /deviceID/ },
];

describe('DeviceClient.startOn rejects bad options at the call, creating nothing', () => {
  const platform = () => createNodePlatform({ ca: emulator.ca });

  function buildOptions(override: OptionsOverride, database: string): unknown {
    if (override === 'omit-all') return undefined;
    if (override === null || typeof override === 'string') return override;
    const options: Record<string, unknown> = {
      provisioningToken: fakeToken,
      database,
      deviceId: 'start-case',
      instance: emulator.instance,
      logger: memoryLogger(),
      onProvisioningOperation: () => {},
      provisioningPollIntervalMs: 50,
    };
    for (const [key, value] of Object.entries(override)) {
      if (value === undefined) delete options[key];
      else options[key] = value;
    }
    return options;
  }

  // A short timeout: validation must not wait for anything (a bad token used to retry forever as a network error).
  it.each(startCases)(
    '$name',
    async ({ options, message, code = 'INVALID_ARGUMENT' }) => {
      const database = freshDb();
      const built = buildOptions(options, database);
      const error = await rejectsAtCall(() => DeviceClient.startOn(platform(), built as StartOptions));
      expectSpotflowError(error, code, message);
      // Validation happens before the database or its lock file is touched.
      expect(existsSync(database)).toBe(false);
      expect(existsSync(`${database}.lock`)).toBe(false);
    },
    3000,
  );

  it('the public Node entry rejects missing options with INVALID_ARGUMENT (not a TypeError)', async () => {
    const error = await rejectsAtCall(() => NodeDeviceClient.start(undefined as unknown as StartOptions));
    expectSpotflowError(error, 'INVALID_ARGUMENT', /options are required/);
  });

  // The Node entry checks its own option, `ca`, then hands the rest to the core (which refuses a misspelt one).
  it.each<{ name: string; options: Record<string, unknown>; message: RegExp }>([
    { name: 'non-string ca', options: { ca: 42 }, message: /ca must be/ },
    { name: 'empty ca', options: { ca: '' }, message: /ca must be/ },
    { name: 'ca over 1 MiB', options: { ca: 'x'.repeat(1024 * 1024 + 1) }, message: /ca must be/ },
    { name: "misspelt option 'CA'", options: { CA: 'PEM' }, message: /Unknown start option "CA"/ },
  ])(
    'the public Node entry: $name',
    async ({ options, message }) => {
      const database = freshDb();
      const built = buildOptions(options, database);
      const error = await rejectsAtCall(() => NodeDeviceClient.start(built as NodeStartOptions));
      expectSpotflowError(error, 'INVALID_ARGUMENT', message);
      expect(existsSync(database)).toBe(false);
      expect(existsSync(`${database}.lock`)).toBe(false);
    },
    3000,
  );

  it("the public Node entry trusts its ca and does not pass it to the core (the caller's object is left alone)", async () => {
    const database = freshDb();
    const options = Object.freeze({
      provisioningToken: emulator.provisioningToken,
      instance: emulator.instance,
      database,
      deviceId: 'node-entry-ca',
      ca: emulator.ca,
      logger: memoryLogger(),
      provisioningPollIntervalMs: 50,
      onProvisioningOperation: () => {},
    });
    const client = await NodeDeviceClient.start(options);
    try {
      expect(client.deviceId).toBe('node-entry-ca');
      expect(options.ca).toBe(emulator.ca);
    } finally {
      await client.close();
    }
  });

  it('an already-aborted signal rejects with ABORTED (reason as cause), creates nothing and leaves the lock free', async () => {
    const database = freshDb();
    const reason = new Error('user gave up');
    const error = await rejectsAtCall(() =>
      startClient(emulator, { database, deviceId: 'aborted', signal: AbortSignal.abort(reason) }),
    );
    expect(expectSpotflowError(error, 'ABORTED', /aborted/).cause).toBe(reason);
    expect(existsSync(database)).toBe(false);
    await expectLockFree(database);
  });

  it('an already-fired timeout signal rejects with TIMEOUT', async () => {
    const database = freshDb();
    const signal = AbortSignal.abort(new DOMException('too slow', 'TimeoutError'));
    const error = await rejectsAtCall(() => startClient(emulator, { database, deviceId: 'timeout', signal }));
    expectSpotflowError(error, 'TIMEOUT', /timed out/);
    await expectLockFree(database);
  });

  it('a signal aborted while waiting for approval rejects with ABORTED and releases the lock', async () => {
    const database = freshDb();
    await emulator.api.settings({ autoApprove: false });
    try {
      const controller = new AbortController();
      const error = await rejectsAtCall(() =>
        startClient(emulator, {
          database,
          deviceId: 'abort-mid-way',
          signal: controller.signal,
          onProvisioningOperation: () => controller.abort(),
        }),
      );
      expectSpotflowError(error, 'ABORTED', /aborted/);
      await expectLockFree(database);
    } finally {
      await emulator.api.settings({ autoApprove: true });
    }
  });

  it('a database in a directory that does not exist rejects with DATABASE_UNAVAILABLE', async () => {
    const database = dirs.file('no-such-dir/deeper/device.db');
    const error = await rejectsAtCall(() => startClient(emulator, { database, deviceId: 'no-dir' }));
    expectSpotflowError(error, 'DATABASE_UNAVAILABLE', /Cannot create/);
    expect(existsSync(dirs.file('no-such-dir'))).toBe(false);
  });

  it('a database path that is a directory rejects with DATABASE_UNAVAILABLE and releases the lock', async () => {
    const database = dirs.file('a-directory.db');
    mkdirSync(database);
    const error = await rejectsAtCall(() => startClient(emulator, { database, deviceId: 'is-dir' }));
    expectSpotflowError(error, 'DATABASE_UNAVAILABLE', /a-directory\.db/);
    await expectLockFree(database);
  });

  it('a file that is not a SQLite database rejects with DATABASE_CORRUPT, is left untouched, and the lock is released', async () => {
    const database = dirs.file('not-sqlite.db');
    const content = Buffer.from(`${'This is my shopping list, not a database.\n'.repeat(40)}`);
    writeFileSync(database, content);
    const error = await rejectsAtCall(() => startClient(emulator, { database, deviceId: 'not-sqlite' }));
    expectSpotflowError(error, 'DATABASE_CORRUPT', /not-sqlite\.db/);
    expect(readFileSync(database).equals(content)).toBe(true);
    await expectLockFree(database);
  });

  it('a database written by a newer SDK rejects with DATABASE_CORRUPT and releases the lock', async () => {
    const database = dirs.file('newer.db');
    const db = new BetterSqlite3(database);
    db.pragma('user_version = 99');
    db.close();
    const error = await rejectsAtCall(() => startClient(emulator, { database, deviceId: 'newer' }));
    expectSpotflowError(error, 'DATABASE_CORRUPT', /schema version 99/);
    await expectLockFree(database);
  });

  it('plain http:// to a non-loopback host is refused without allowInsecure and accepted with it', async () => {
    // 0.0.0.0 is not a loopback name, yet connecting to it reaches this machine: a real non-loopback http:// URL
    // that still hits the emulator.
    const instance = `http://0.0.0.0:${emulator.port}`;
    const refusedDb = freshDb();
    const refused = await rejectsAtCall(() =>
      startClient(emulator, { database: refusedDb, deviceId: 'insecure', instance }),
    );
    expectSpotflowError(refused, 'INVALID_ARGUMENT', /allowInsecure/);
    expect(existsSync(refusedDb)).toBe(false);

    const client = await startClient(emulator, {
      database: freshDb(),
      deviceId: 'insecure',
      instance,
      allowInsecure: true,
    });
    try {
      expect(client.deviceId).toBe('insecure');
    } finally {
      await client.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bad calls on an open (offline) client

interface CallCase {
  name: string;
  call: (client: DeviceClient) => unknown;
  message: RegExp;
  code?: SpotflowErrorCode;
  /** The method is synchronous and must throw (rather than return a rejected promise). */
  sync?: boolean;
  /** A known SDK bug (outside the files this test may fix): runs as `it.fails`; see the report. */
  knownBug?: string;
}

const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;
let deepArray: unknown[] = [];
for (let i = 0; i < 100_000; i++) deepArray = [deepArray];

class Reading {
  constructor(readonly celsius: number) {}
}

const P = 'enqueueMessage payload';
const O = 'enqueueMessage options';

const callCases: CallCase[] = [
  // --- enqueueMessage: payloads that have no faithful byte or JSON form
  {
    name: `${P}: undefined`,
    call: (c) => c.enqueueMessage(undefined as never),
    message: /payload cannot be undefined/,
  },
  {
    name: `${P}: a function`,
    call: (c) => c.enqueueMessage((() => 1) as never),
    message: /payload cannot be a function/,
  },
  {
    name: `${P}: a symbol`,
    call: (c) => c.enqueueMessage(Symbol('s') as never),
    message: /payload cannot be a symbol/,
  },
  {
    name: `${P}: a bigint`,
    call: (c) => c.enqueueMessage(10n as never),
    message: /payload cannot be a bigint/,
  },
  {
    name: `${P}: NaN`,
    call: (c) => c.enqueueMessage(Number.NaN as never),
    message: /non-finite number \(NaN\)/,
  },
  {
    name: `${P}: Infinity`,
    call: (c) => c.enqueueMessage(Infinity as never),
    message: /non-finite number \(Infinity\)/,
  },
  { name: `${P}: -Infinity`, call: (c) => c.enqueueMessage(-Infinity as never), message: /non-finite/ },
  {
    name: `${P}: nested NaN`,
    call: (c) => c.enqueueMessage({ t: Number.NaN } as never),
    message: /payload\.t cannot be a non-finite/,
  },
  {
    name: `${P}: nested bigint`,
    call: (c) => c.enqueueMessage({ n: 1n } as never),
    message: /payload\.n cannot be a bigint/,
  },
  {
    name: `${P}: nested function`,
    call: (c) => c.enqueueMessage({ f() {} } as never),
    message: /payload\.f cannot be a function/,
  },
  { name: `${P}: circular object`, call: (c) => c.enqueueMessage(circular as never), message: /circular/ },
  {
    name: `${P}: Map`,
    call: (c) => c.enqueueMessage(new Map([['a', 1]]) as never),
    message: /payload cannot be a Map/,
  },
  {
    name: `${P}: Set`,
    call: (c) => c.enqueueMessage(new Set([1]) as never),
    message: /payload cannot be a Set/,
  },
  {
    name: `${P}: nested Map`,
    call: (c) => c.enqueueMessage({ m: new Map() } as never),
    message: /payload\.m cannot be a Map/,
  },
  {
    name: `${P}: toJSON that throws`,
    call: (c) =>
      c.enqueueMessage({
        toJSON() {
          throw new Error('boom');
        },
      } as never),
    message: /payload\.toJSON cannot be a function/,
  },
  {
    name: `${P}: toJSON that returns undefined`,
    call: (c) => c.enqueueMessage({ toJSON: () => undefined } as never),
    message: /payload\.toJSON cannot be a function/,
  },
  {
    name: `${P}: arrays nested 100 000 deep`,
    call: (c) => c.enqueueMessage(deepArray as never),
    message: /deep/,
  },
  {
    name: `${P}: Uint8Array over maxPayloadBytes`,
    call: (c) => c.enqueueMessage(oversized),
    message: new RegExp(`at most ${maxPayloadBytes} bytes`),
  },
  {
    name: `${P}: ArrayBuffer over maxPayloadBytes`,
    call: (c) => c.enqueueMessage(oversized.buffer),
    message: /at most \d+ bytes/,
  },
  {
    name: `${P}: DataView over maxPayloadBytes`,
    call: (c) => c.enqueueMessage(new DataView(oversized.buffer)),
    message: /at most \d+ bytes/,
  },
  // --- enqueueMessage: options
  {
    name: `${O}: unknown key 'strem'`,
    call: (c) => c.enqueueMessage('x', { strem: 's' } as never),
    message: /"strem"/,
  },
  {
    name: `${O}: 'signal' (only sendMessage takes one)`,
    call: (c) => c.enqueueMessage('x', { signal: new AbortController().signal } as never),
    message: /"signal"/,
  },
  {
    name: `${O}: a string`,
    call: (c) => c.enqueueMessage('x', 'telemetry' as never),
    message: /options must be/,
  },
  { name: `${O}: an array`, call: (c) => c.enqueueMessage('x', ['s'] as never), message: /options must be/ },
  { name: `${O}: null`, call: (c) => c.enqueueMessage('x', null as never), message: /options must be/ },
  { name: `${O}: a number`, call: (c) => c.enqueueMessage('x', 5 as never), message: /options must be/ },
  {
    // Object.keys of a Map is empty: without a check its entries would be silently ignored.
    name: `${O}: a Map of options`,
    call: (c) => c.enqueueMessage('x', new Map([['stream', 's']]) as never),
    message: /options must be a plain object/,
  },
  {
    name: `${O}: empty stream`,
    call: (c) => c.enqueueMessage('x', { stream: '' }),
    message: /stream must not be empty/,
  },
  {
    name: `${O}: numeric batchId`,
    call: (c) => c.enqueueMessage('x', { batchId: 7 as never }),
    message: /batchId must be a string, got number/,
  },
  {
    name: `${O}: null siteId`,
    call: (c) => c.enqueueMessage('x', { siteId: null as never }),
    message: /siteId must be a string, got null/,
  },
  {
    name: `${O}: streamGroup of 257 characters`,
    call: (c) => c.enqueueMessage('x', { streamGroup: 'g'.repeat(257) }),
    message: /streamGroup must be at most 256 characters/,
  },
  {
    name: `${O}: messageId of 257 astral characters`,
    call: (c) => c.enqueueMessage('x', { messageId: '😀'.repeat(257) }),
    message: /messageId must be at most 256/,
  },
  {
    name: `${O}: stream with a line break`,
    call: (c) => c.enqueueMessage('x', { stream: 'a\nb' }),
    message: /stream must not contain control characters/,
  },
  {
    name: `${O}: chunkId with NUL`,
    call: (c) => c.enqueueMessage('x', { chunkId: 'c\u0000' }),
    message: /chunkId must not contain control/,
  },
  {
    name: `${O}: batchSliceId with DEL`,
    call: (c) => c.enqueueMessage('x', { batchSliceId: 's\u007f' }),
    message: /batchSliceId must not contain control/,
  },
  {
    name: `${O}: siteId with a C1 control (NEL)`,
    call: (c) => c.enqueueMessage('x', { siteId: 'a\u0085b' }),
    message: /siteId must not contain control/,
  },
  {
    name: `${O}: stream with an unpaired high surrogate`,
    call: (c) => c.enqueueMessage('x', { stream: 'ok\uD800' }),
    message: /unpaired surrogates/,
  },
  {
    name: `${O}: messageId with an unpaired low surrogate`,
    call: (c) => c.enqueueMessage('x', { messageId: '\uDC00ok' }),
    message: /unpaired surrogates/,
  },
  {
    name: `${O}: compression 'gzip'`,
    call: (c) => c.enqueueMessage('x', { compression: 'gzip' as never }),
    message: /compression must be 'none', 'fastest' or 'smallest'/,
  },
  {
    name: `${O}: compression null`,
    call: (c) => c.enqueueMessage('x', { compression: null as never }),
    message: /compression must be/,
  },
  // --- enqueueBatchCompletion / enqueueMessageCompletion
  {
    name: 'enqueueBatchCompletion without options',
    call: (c) => c.enqueueBatchCompletion(undefined as never),
    message: /batchId is required/,
  },
  {
    name: 'enqueueBatchCompletion without batchId',
    call: (c) => c.enqueueBatchCompletion({ stream: 's' } as never),
    message: /batchId is required/,
  },
  {
    name: 'enqueueBatchCompletion with an extra messageId',
    call: (c) => c.enqueueBatchCompletion({ batchId: 'b', messageId: 'm' } as never),
    message: /"messageId"/,
  },
  {
    name: 'enqueueBatchCompletion with compression',
    call: (c) => c.enqueueBatchCompletion({ batchId: 'b', compression: 'fastest' } as never),
    message: /"compression"/,
  },
  {
    name: 'enqueueBatchCompletion with an empty batchId',
    call: (c) => c.enqueueBatchCompletion({ batchId: '' }),
    message: /batchId must not be empty/,
  },
  {
    name: 'enqueueBatchCompletion with a string instead of options',
    call: (c) => c.enqueueBatchCompletion('b1' as never),
    message: /options must be/,
  },
  {
    name: 'enqueueMessageCompletion without messageId',
    call: (c) => c.enqueueMessageCompletion({ batchId: 'b' } as never),
    message: /messageId is required/,
  },
  {
    name: 'enqueueMessageCompletion without options',
    call: (c) => c.enqueueMessageCompletion(undefined as never),
    message: /messageId is required/,
  },
  {
    name: 'enqueueMessageCompletion with an extra chunkId',
    call: (c) => c.enqueueMessageCompletion({ messageId: 'm', chunkId: 'c' } as never),
    message: /"chunkId"/,
  },
  {
    name: 'enqueueMessageCompletion with a numeric messageId',
    call: (c) => c.enqueueMessageCompletion({ messageId: 1 as never }),
    message: /messageId must be a string/,
  },
  // --- sendMessage
  {
    name: 'sendMessage with a signal that is not an AbortSignal',
    call: (c) => c.sendMessage('x', { signal: { aborted: false } as never }),
    message: /signal must be an AbortSignal/,
  },
  {
    name: 'sendMessage with an already-aborted signal',
    call: (c) => c.sendMessage('x', { signal: AbortSignal.abort() }),
    code: 'ABORTED',
    message: /aborted/,
  },
  {
    name: 'sendMessage with an undefined payload',
    call: (c) => c.sendMessage(undefined as never),
    message: /undefined/,
  },
  {
    name: 'sendMessage with a payload over maxPayloadBytes',
    call: (c) => c.sendMessage(oversized),
    message: /at most \d+ bytes/,
  },
  {
    name: 'sendMessage with unknown option',
    call: (c) => c.sendMessage('x', { timeoutMs: 5 } as never),
    message: /"timeoutMs"/,
  },
  // --- waiting
  {
    name: 'waitEnqueuedMessagesSent with a signal that is not an AbortSignal',
    call: (c) => c.waitEnqueuedMessagesSent({ signal: 'soon' as never }),
    message: /signal must be an AbortSignal/,
  },
  {
    name: 'waitEnqueuedMessagesSent(null)',
    call: (c) => c.waitEnqueuedMessagesSent(null as never),
    message: /options must be/,
  },
  // --- desired properties
  {
    name: "desiredPropertiesIfNewer('1')",
    call: (c) => c.desiredPropertiesIfNewer('1' as never),
    message: /version must be a number/,
  },
  {
    name: 'desiredPropertiesIfNewer(NaN)',
    call: (c) => c.desiredPropertiesIfNewer(Number.NaN),
    message: /version/,
  },
  {
    name: 'desiredPropertiesIfNewer()',
    call: (c) => (c.desiredPropertiesIfNewer as () => unknown)(),
    message: /version/,
  },
  // --- reported properties
  {
    name: 'updateReportedProperties(null)',
    call: (c) => c.updateReportedProperties(null as never),
    message: /plain JSON object/,
  },
  {
    name: 'updateReportedProperties([])',
    call: (c) => c.updateReportedProperties([] as never),
    message: /plain JSON object/,
  },
  {
    name: "updateReportedProperties('x')",
    call: (c) => c.updateReportedProperties('x' as never),
    message: /plain JSON object/,
  },
  {
    name: 'updateReportedProperties()',
    call: (c) => c.updateReportedProperties(undefined as never),
    message: /plain JSON object/,
  },
  {
    name: 'updateReportedProperties({ a: () => 1 })',
    call: (c) => c.updateReportedProperties({ a: () => 1 }),
    message: /patch\.a cannot be a function/,
  },
  {
    name: 'updateReportedProperties({ a: NaN })',
    call: (c) => c.updateReportedProperties({ a: Number.NaN }),
    message: /patch\.a cannot be a non-finite/,
  },
  {
    name: 'updateReportedProperties({ $version: 1 })',
    call: (c) => c.updateReportedProperties({ $version: 1 }),
    message: /may not contain '\.', '\$'/,
  },
  {
    // nest(11): ten objects below the top level, IoT Hub's own example of the deepest valid twin; one more is refused.
    name: 'updateReportedProperties nested 12 levels',
    call: (c) => c.updateReportedProperties(nest(12)),
    message: /nest at most 10 levels/,
  },
  {
    name: 'updateReportedProperties nested 50 levels',
    call: (c) => c.updateReportedProperties(nest(50)),
    message: /nest at most 10 levels/,
  },
  {
    name: 'updateReportedProperties circular',
    call: (c) => c.updateReportedProperties(circular),
    message: /nest|circular/,
  },
  {
    name: 'updateReportedProperties over 32 KB',
    call: (c) => c.updateReportedProperties({ blob: 'x'.repeat(40_000) }),
    message: /at most 32768 bytes/,
  },
  {
    name: 'updateReportedProperties(new Date())',
    call: (c) => c.updateReportedProperties(new Date() as never),
    message: /plain JSON object/,
  },
  {
    name: 'updateReportedProperties(new Map())',
    call: (c) => c.updateReportedProperties(new Map([['a', 1]]) as never),
    message: /plain JSON object/,
  },
  {
    name: 'updateReportedProperties(a class instance)',
    call: (c) => c.updateReportedProperties(new Reading(21.5) as never),
    message: /plain JSON object/,
  },
  {
    name: 'updateReportedProperties({ a: { $b: 1 } })',
    call: (c) => c.updateReportedProperties({ a: { $b: 1 } }),
    message: /may not contain '\.', '\$'/,
  },
  // --- handlers (synchronous methods: they throw)
  {
    name: "onMethod('', fn)",
    call: (c) => c.onMethod('', () => undefined),
    message: /method name/,
    sync: true,
  },
  {
    name: "onMethod('a/b', fn)",
    call: (c) => c.onMethod('a/b', () => undefined),
    message: /method name/,
    sync: true,
  },
  {
    name: "onMethod('a b', fn)",
    call: (c) => c.onMethod('a b', () => undefined),
    message: /method name/,
    sync: true,
  },
  {
    name: "onMethod('#', fn)",
    call: (c) => c.onMethod('#', () => undefined),
    message: /method name/,
    sync: true,
  },
  {
    name: 'onMethod(129 characters, fn)',
    call: (c) => c.onMethod('m'.repeat(129), () => undefined),
    message: /1-128/,
    sync: true,
  },
  {
    name: 'onMethod(42, fn)',
    call: (c) => c.onMethod(42 as never, () => undefined),
    message: /method name/,
    sync: true,
  },
  {
    name: "onMethod('ok', 'not a function')",
    call: (c) => c.onMethod('ok', 'not a function' as never),
    message: /handler function/,
    sync: true,
  },
  { name: 'onCloudMessage(42)', call: (c) => c.onCloudMessage(42 as never), message: /function/, sync: true },
  {
    name: 'onCloudMessage()',
    call: (c) => (c.onCloudMessage as () => unknown)(),
    message: /function/,
    sync: true,
  },
  {
    name: "on('error', 'not a function')",
    call: (c) => c.on('error', 'not a function' as never),
    message: /listener/,
    sync: true,
  },
];

/**
 * Reported-property names IoT Hub refuses: '.', '$' or a space at any depth, and control characters. The SDK stores
 * such a patch (merged with the valid pending ones), the hub answers 400 and twin.ts then drops the whole merged
 * patch, valid updates included. Run on a client of their own: with the bug, the patch IS stored.
 */
const twinKeyCases: CallCase[] = [
  {
    name: "updateReportedProperties({ 'a.b': 1 })",
    call: (c) => c.updateReportedProperties({ 'a.b': 1 }),
    message: /a\.b|property name/,
  },
  {
    name: "updateReportedProperties({ 'a b': 1 })",
    call: (c) => c.updateReportedProperties({ 'a b': 1 }),
    message: /property name/,
  },
  {
    name: "updateReportedProperties({ a: { 'x\\ny': 1 } })",
    call: (c) => c.updateReportedProperties({ a: { 'x\ny': 1 } }),
    message: /property name/,
  },
];

/** One test per case: refused at the call with the expected error, and `snapshot()` unchanged. */
function runCallCases(
  cases: readonly CallCase[],
  client: () => DeviceClient,
  snapshot: () => Promise<unknown>,
): void {
  for (const { name, call, message, code = 'INVALID_ARGUMENT', sync = false, knownBug } of cases) {
    (knownBug ? it.fails : it)(name, async () => {
      const before = await snapshot();
      const error = sync ? throwsAtCall(() => call(client())) : await rejectsAtCall(() => call(client()));
      expectSpotflowError(error, code, message);
      expect(await snapshot()).toEqual(before);
    });
  }
}

describe('bad calls on an open client are refused at the call and store nothing', () => {
  let client: DeviceClient;
  let reader: BetterSqlite3.Database;
  let emulatorPort = 0;
  const database = dirs.file('main.db');
  const deviceId = 'bad-input';
  /** What the good calls sent, in order: mid and expected decoded fields. */
  const good: { id: string; payload: Buffer; fields: Record<string, unknown> }[] = [];

  async function snapshot() {
    return {
      pending: await client.pendingMessagesCount(),
      reported: client.reportedProperties(),
      outbox: reader.prepare('SELECT id, mid, properties, compression, size FROM outbox ORDER BY id').all(),
      patches: reader.prepare('SELECT id, patch FROM reported_patches ORDER BY id').all(),
    };
  }

  beforeAll(async () => {
    client = await startClient(emulator, { database, deviceId });
    reader = new BetterSqlite3(database, { readonly: true, fileMustExist: true });
    const stored = reader.prepare("SELECT value FROM state WHERE key = 'registration'").get() as {
      value: string;
    };
    const registration = JSON.parse(stored.value) as {
      registrationToken: string;
      hub: { sasToken: string };
    };
    secrets.push(registration.registrationToken, registration.hub.sasToken);
    const sig = /sig=([^&]+)/.exec(registration.hub.sasToken)?.[1];
    if (sig) secrets.push(sig, decodeURIComponent(sig));

    // Online good calls.
    const online = await client.enqueueMessage({ phase: 'online' }, { stream: 'good' });
    good.push({ id: online.id, payload: Buffer.from('{"phase":"online"}'), fields: { stream: 'good' } });
    await client.updateReportedProperties({ online: 1 });
    await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });
    await client.waitReportedPropertiesSent({ signal: AbortSignal.timeout(10_000) });

    // Offline from here: nothing that is stored can leave the device (and vanish from the counts) until restart.
    emulatorPort = emulator.port;
    await emulator.close();
    await waitFor(() => !client.connected, 5000);

    // Offline good calls, including values right at the limits (validation must not be over-eager).
    const tricky = {
      streamGroup: 'sg-1',
      stream: 'a b&c=d/e#f+g%h?i',
      siteId: '🌍'.repeat(256),
      batchId: 'b1',
      batchSliceId: 's1',
      messageId: 'm1',
      chunkId: 'c1',
    };
    const text = await client.enqueueMessage('plain text', { ...tricky, compression: 'fastest' });
    good.push({ id: text.id, payload: Buffer.from('plain text'), fields: tricky });
    const bytes = await client.enqueueMessage(new Uint8Array([0, 1, 2, 255]));
    good.push({ id: bytes.id, payload: Buffer.from([0, 1, 2, 255]), fields: {} });
    const json = await client.enqueueMessage({ when: new Date(0).toISOString(), list: [1, 'two'] });
    good.push({
      id: json.id,
      payload: Buffer.from('{"when":"1970-01-01T00:00:00.000Z","list":[1,"two"]}'),
      fields: {},
    });
    const batch = await client.enqueueBatchCompletion({ batchId: 'b1', stream: 'good' });
    good.push({ id: batch.id, payload: Buffer.alloc(0), fields: { batchId: 'b1', stream: 'good' } });
    const completion = await client.enqueueMessageCompletion({ messageId: 'm1', batchId: 'b1' });
    good.push({ id: completion.id, payload: Buffer.alloc(0), fields: { messageId: 'm1', batchId: 'b1' } });
    await client.updateReportedProperties({ offline: true, deep: nest(9) });
  });

  afterAll(async () => {
    reader?.close();
    await client?.close();
  });

  it('starts from a known offline state: 5 pending messages and one pending reported patch', async () => {
    const state = await snapshot();
    expect(state.pending).toBe(5);
    expect(state.outbox).toHaveLength(5);
    expect(state.patches).toHaveLength(1);
    expect(state.reported.values).toEqual({ online: 1, offline: true, deep: nest(9) });
  });

  runCallCases(callCases, () => client, snapshot);

  it('a second client on the same database is refused with DATABASE_LOCKED; the first keeps working', async () => {
    const before = await snapshot();
    const error = await rejectsAtCall(() => startClient(emulator, { database, deviceId }));
    expectSpotflowError(error, 'DATABASE_LOCKED', /Another client owns the database/);
    expect(await snapshot()).toEqual(before);
  });

  it('after the emulator returns, it holds exactly what the good calls sent', async () => {
    emulator = await startTestEmulator({ memory: false, dataDir: emulatorDir, port: emulatorPort });
    await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(15_000) });
    await client.waitReportedPropertiesSent({ signal: AbortSignal.timeout(15_000) });
    expect(await client.pendingMessagesCount()).toBe(0);

    const { items } = await emulator.api.messages(deviceId, '?limit=1000');
    expect(items.map((m: { mid: string }) => m.mid)).toEqual(good.map((g) => g.id));
    for (const [index, expected] of good.entries()) {
      const item = items[index];
      expect(Buffer.from(item.payloadBase64, 'base64').equals(expected.payload), `payload ${index}`).toBe(
        true,
      );
      expect(item).toMatchObject({ ...expected.fields, duplicate: false });
    }
    expect(items[4].properties).toMatchObject({ 'complete-batch': 'true', 'ignore-payload': 'true' });
    expect(items[5].properties).toMatchObject({ 'complete-message': 'true', 'ignore-payload': 'true' });

    const twin = await emulator.api.twin(deviceId);
    const { $version, ...reported } = twin.reported;
    expect(reported).toEqual({ online: 1, offline: true, deep: nest(9) });
    expect(client.reportedProperties()).toEqual({ version: $version, values: reported });
  });

  it('waitReportedPropertiesSent with a signal that is not an AbortSignal', async () => {
    expect(client.reportedProperties().values).toEqual({ online: 1, offline: true, deep: nest(9) });
    const error = await rejectsAtCall(() => client.waitReportedPropertiesSent({ signal: 'soon' as never }));
    expectSpotflowError(error, 'INVALID_ARGUMENT', /signal must be an AbortSignal/);
  });
});

describe('reported-property names IoT Hub refuses', () => {
  let client: DeviceClient;
  const database = dirs.file('twin-keys.db');

  beforeAll(async () => {
    client = await startClient(emulator, { database, deviceId: 'twin-keys' });
  });
  afterAll(async () => {
    await client?.close();
  });

  runCallCases(
    twinKeyCases,
    () => client,
    async () => ({ pending: await client.pendingMessagesCount(), reported: client.reportedProperties() }),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// A closed client refuses everything with CLIENT_CLOSED

describe('every method of a closed client is refused with CLIENT_CLOSED', () => {
  let client: DeviceClient;
  const database = dirs.file('closed.db');
  const deviceId = 'closer';
  let sentId = '';

  const closedCases: CallCase[] = [
    { name: 'enqueueMessage', call: (c) => c.enqueueMessage({ ok: true }), message: /closed/ },
    {
      name: 'enqueueMessage with a bad payload',
      call: (c) => c.enqueueMessage(undefined as never),
      message: /closed/,
    },
    { name: 'sendMessage', call: (c) => c.sendMessage('x'), message: /closed/ },
    {
      name: 'enqueueBatchCompletion',
      call: (c) => c.enqueueBatchCompletion({ batchId: 'b' }),
      message: /closed/,
    },
    {
      name: 'enqueueMessageCompletion',
      call: (c) => c.enqueueMessageCompletion({ messageId: 'm' }),
      message: /closed/,
    },
    { name: 'pendingMessagesCount', call: (c) => c.pendingMessagesCount(), message: /closed/ },
    { name: 'waitEnqueuedMessagesSent', call: (c) => c.waitEnqueuedMessagesSent(), message: /closed/ },
    {
      name: 'updateReportedProperties',
      call: (c) => c.updateReportedProperties({ a: 1 }),
      message: /closed/,
    },
    { name: 'waitReportedPropertiesSent', call: (c) => c.waitReportedPropertiesSent(), message: /closed/ },
    { name: 'onCloudMessage', call: (c) => c.onCloudMessage(() => {}), message: /closed/, sync: true },
    { name: 'onMethod', call: (c) => c.onMethod('reboot', () => undefined), message: /closed/, sync: true },
  ];

  beforeAll(async () => {
    client = await startClient(emulator, { database, deviceId });
    sentId = (await client.sendMessage({ last: true })).id;
    await client.close();
  });

  for (const { name, call, message, sync = false } of closedCases) {
    it(name, async () => {
      const error = sync ? throwsAtCall(() => call(client)) : await rejectsAtCall(() => call(client));
      expectSpotflowError(error, 'CLIENT_CLOSED', message);
    });
  }

  it('close() twice (and concurrently) is fine, and nothing was stored or sent after close', async () => {
    await expect(client.close()).resolves.toBeUndefined();
    await expect(Promise.all([client.close(), client.close()])).resolves.toEqual([undefined, undefined]);
    const db = new BetterSqlite3(database, { readonly: true, fileMustExist: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM outbox').get()).toEqual({ n: 0 });
      expect(db.prepare('SELECT COUNT(*) AS n FROM reported_patches').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const { items } = await emulator.api.messages(deviceId, '?limit=1000');
    expect(items.map((m: { mid: string }) => m.mid)).toEqual([sentId]);
    const { $version: _version, ...reported } = (await emulator.api.twin(deviceId)).reported;
    expect(reported).toEqual({});
    // The database is released: another owner can take it.
    await expectLockFree(database);
  });
});
