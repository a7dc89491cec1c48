import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMergePatch, type JsonObject } from '../../emulator/state/merge-patch.js';
import { createNodeClock, createNodePlatform } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import { isSpotflowError, type SpotflowError } from '../../src/errors.js';
import type { DesiredProperties, StartOptions } from '../../src/options.js';
import type { Clock, Database, MqttConnection, MqttMessage, Platform } from '../../src/ports.js';
import { migrate } from '../../src/store/schema.js';
import { TwinManager } from '../../src/twin/twin.js';
import { eventOnce, memoryLogger, startClient, tempDir } from '../helpers/client.js';
import { StillClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/device-mqtt.js';
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';

let emulator: TestEmulator;
const dirs = tempDir('spotflow-twin-');

beforeAll(async () => {
  emulator = await startTestEmulator({ settings: { autoApprove: true } });
});
afterAll(async () => {
  await emulator.close();
  dirs.cleanup();
});

/** Applies a desired-properties merge patch through the management API; returns the new `$version`. */
async function patchDesired(on: TestEmulator, deviceId: string, patch: Record<string, unknown>) {
  const result = await on.api.request('PATCH', `/devices/${deviceId}/twin/desired`, patch);
  expect(result.status).toBe(200);
  return result.body.$version as number;
}

/**
 * Patches the desired properties once more and waits until the client has them: notifications come in order, so
 * one of an earlier version (a duplicate) that was still on its way has arrived by then. Returns the new version.
 */
async function fence(on: TestEmulator, client: DeviceClient, deviceId: string): Promise<number> {
  const version = await patchDesired(on, deviceId, { fence: true });
  await waitFor(() => client.desiredProperties().version === version);
  return version;
}

/** The emulator's twin of the device, each section split into `version` and `values`. */
async function hubTwin(on: TestEmulator, deviceId: string) {
  const twin = await on.api.twin(deviceId);
  const split = ({ $version, ...values }: Record<string, unknown>) => ({
    version: $version as number,
    values,
  });
  return { desired: split(twin.desired), reported: split(twin.reported) };
}

/** Reported patches stored in the device database and not yet acknowledged (read beside the running client). */
function storedPatches(database: string): unknown[] {
  const db = new BetterSqlite3(database, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT patch FROM reported_patches ORDER BY id').all() as { patch: string }[];
    return rows.map((row) => JSON.parse(row.patch));
  } finally {
    db.close();
  }
}

/** Records every desired-properties notification, from both the event and the start option. */
function desiredRecorder() {
  const option: DesiredProperties[] = [];
  const event: DesiredProperties[] = [];
  return {
    option,
    event,
    onDesiredProperties: (desired: DesiredProperties) => option.push(desired),
    listen: (client: DeviceClient) => client.on('desiredProperties', (desired) => event.push(desired)),
  };
}

/** Versions only go up, each is reported once. */
function expectStrictlyIncreasing(seen: DesiredProperties[]) {
  const versions = seen.map((desired) => desired.version);
  expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
}

/** Resolves once the client's twin middleware has run after a connect (full twin fetch, then pending patches). */
async function twinSynced(client: DeviceClient, marker: string) {
  await client.updateReportedProperties({ [marker]: Date.now() });
  await client.waitReportedPropertiesSent();
}

function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < levels; i++) value = { [`l${i}`]: value };
  return value;
}

describe('desired properties', () => {
  it('reach a connected client once per version: event, start option, desiredProperties(), IfNewer', async () => {
    const recorder = desiredRecorder();
    const client = await startClient(emulator, {
      database: dirs.file('d1.db'),
      deviceId: 'desired-live',
      onDesiredProperties: recorder.onDesiredProperties,
    });
    recorder.listen(client);
    try {
      // The first connect fetches the twin: the emulator's empty twin is version 1, newer than nothing (0).
      await waitFor(() => client.desiredProperties().version === 1);
      const v2 = await patchDesired(emulator, 'desired-live', {
        interval: 10,
        nested: { x: 1 },
        gone: 'soon',
      });
      await waitFor(() => client.desiredProperties().version === v2);
      const v3 = await patchDesired(emulator, 'desired-live', { nested: { y: 2 }, gone: null, list: [1, 2] });
      await waitFor(() => client.desiredProperties().version === v3);
      expect(v3).toBe(3);
      // Nothing more may come (no duplicate notification of the same version): by the time the next version has
      // come, a duplicate of version 3 would have too.
      expect(await fence(emulator, client, 'desired-live')).toBe(4);

      const expected = [
        { version: 1, values: {} },
        { version: 2, values: { interval: 10, nested: { x: 1 }, gone: 'soon' } },
        { version: 3, values: { interval: 10, nested: { x: 1, y: 2 }, list: [1, 2] } },
        { version: 4, values: { interval: 10, nested: { x: 1, y: 2 }, list: [1, 2], fence: true } },
      ];
      expect(recorder.option).toEqual(expected);
      expect(recorder.event).toEqual(expected);
      expect(client.desiredProperties()).toEqual(expected[3]);
      expect(client.desiredProperties().values).toEqual(
        (await hubTwin(emulator, 'desired-live')).desired.values,
      );

      // A copy: changing what was returned does not change the client's state.
      const copy = client.desiredProperties();
      (copy.values.nested as Record<string, unknown>).x = 99;
      expect(client.desiredProperties().values.nested).toEqual({ x: 1, y: 2 });

      expect(await client.desiredPropertiesIfNewer(0)).toEqual(expected[3]);
      expect(await client.desiredPropertiesIfNewer(3)).toEqual(expected[3]);
      expect(await client.desiredPropertiesIfNewer(4)).toBeUndefined();
      expect(await client.desiredPropertiesIfNewer(5)).toBeUndefined();
      await expect(client.desiredPropertiesIfNewer(Number.NaN)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(client.desiredPropertiesIfNewer('1' as unknown as number)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    } finally {
      await client.close();
    }
  });

  it('changes made while the client was closed arrive on the next start, once, at the newest version', async () => {
    const database = dirs.file('d2.db');
    const deviceId = 'desired-offline';
    const first = await startClient(emulator, { database, deviceId });
    try {
      await waitFor(() => first.desiredProperties().version === 1);
    } finally {
      await first.close();
    }
    await patchDesired(emulator, deviceId, { mode: 'eco', limits: { max: 5 } });
    const newest = await patchDesired(emulator, deviceId, { limits: { min: 1 }, mode: 'turbo' });

    const recorder = desiredRecorder();
    const second = await startClient(emulator, {
      database,
      deviceId,
      onDesiredProperties: recorder.onDesiredProperties,
    });
    recorder.listen(second);
    try {
      // Before connecting, it knows only what it had.
      expect(second.desiredProperties()).toEqual({ version: 1, values: {} });
      await twinSynced(second, 'sync1');
      const expected = { version: newest, values: { mode: 'turbo', limits: { max: 5, min: 1 } } };
      expect(recorder.option).toEqual([expected]);
      expect(recorder.event).toEqual([expected]);
      expect(second.desiredProperties()).toEqual(expected);
    } finally {
      await second.close();
    }

    // Nothing changed between these two runs: no notification at all.
    const quiet = desiredRecorder();
    const third = await startClient(emulator, {
      database,
      deviceId,
      onDesiredProperties: quiet.onDesiredProperties,
    });
    quiet.listen(third);
    try {
      await twinSynced(third, 'sync2');
      expect(quiet.option).toEqual([]);
      expect(quiet.event).toEqual([]);
      expect(third.desiredProperties().version).toBe(newest);
    } finally {
      await third.close();
    }
  });

  it('missed patches (connection dropped, twin patched meanwhile) end at the latest version and values', async () => {
    const recorder = desiredRecorder();
    const deviceId = 'desired-gap';
    const client = await startClient(emulator, {
      database: dirs.file('d3.db'),
      deviceId,
      onDesiredProperties: recorder.onDesiredProperties,
    });
    recorder.listen(client);
    try {
      await waitFor(() => client.desiredProperties().version === 1);
      await patchDesired(emulator, deviceId, { a: 1 });
      await waitFor(() => client.desiredProperties().version === 2);

      // Drop the connection and patch twice at once, before the client is back.
      const disconnected = eventOnce(client, 'disconnected');
      const reconnected = eventOnce(client, 'connected');
      let connectedSeen = false;
      void reconnected.then(() => {
        connectedSeen = true;
      });
      const dropped = await emulator.api.request('DELETE', `/devices/${deviceId}/connection`);
      expect(dropped.status).toBe(204);
      await patchDesired(emulator, deviceId, { a: 2, b: { c: 1 } });
      await patchDesired(emulator, deviceId, { a: null, b: { d: 2 } });
      await disconnected;

      // Keep patching while it reconnects, so that some patches land between its subscribe and its twin fetch
      // (each one then is not current + 1 for the client: a gap it must close with a full fetch).
      let counter = 0;
      while ((!connectedSeen || counter < 40) && counter < 1000) {
        counter++;
        await patchDesired(emulator, deviceId, { counter });
      }
      await reconnected;
      const hub = await hubTwin(emulator, deviceId);
      await waitFor(() => client.desiredProperties().version === hub.desired.version);
      expect(client.desiredProperties()).toEqual({
        version: hub.desired.version,
        values: hub.desired.values,
      });
      expect(hub.desired.values).toMatchObject({ b: { c: 1, d: 2 }, counter });
      expect(hub.desired.values).not.toHaveProperty('a');
      // A late duplicate or an older version would have come before the next one.
      await fence(emulator, client, deviceId);
      expectStrictlyIncreasing(recorder.option);
      expect(recorder.event).toEqual(recorder.option);
      expect(recorder.option.at(-1)).toEqual(client.desiredProperties());
    } finally {
      await client.close();
    }
  });

  it('notifications of a burst of patches are in order, one per version, ending at the hub state', async () => {
    const recorder = desiredRecorder();
    const deviceId = 'desired-burst';
    const client = await startClient(emulator, {
      database: dirs.file('d4.db'),
      deviceId,
      onDesiredProperties: recorder.onDesiredProperties,
    });
    recorder.listen(client);
    try {
      await waitFor(() => client.desiredProperties().version === 1);
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => patchDesired(emulator, deviceId, { [`k${i}`]: i })),
      );
      const hub = await hubTwin(emulator, deviceId);
      expect(hub.desired.version).toBe(31);
      await waitFor(() => client.desiredProperties().version === 31);
      expect(client.desiredProperties().values).toEqual(hub.desired.values);
      // A late duplicate or an older version would have come before the next one.
      expect(await fence(emulator, client, deviceId)).toBe(32);
      expectStrictlyIncreasing(recorder.option);
      expect(recorder.event).toEqual(recorder.option);
    } finally {
      await client.close();
    }
  });
});

describe('reported properties', () => {
  it('merge in order (null deletes), show at once, are sent and equal the emulator twin', async () => {
    const database = dirs.file('r1.db');
    const deviceId = 'reported-live';
    const client = await startClient(emulator, { database, deviceId });
    const sentEvents: { version: number }[] = [];
    client.on('reportedPropertiesSent', (sent) => sentEvents.push(sent));
    try {
      // Connected and synced with nothing to send: no event (checked below: every event carries a version the
      // patches of this test made, none the version the twin had before them).
      await waitFor(() => client.desiredProperties().version === 1);
      const synced = (await hubTwin(emulator, deviceId)).reported.version;
      expect(sentEvents).toEqual([]);

      await client.updateReportedProperties({ fw: '1.0', sensors: { t: 20, h: 50 }, tmp: 'x' });
      // Durable at once: the patch is in the database now (it may also have gone out already).
      expect(client.reportedProperties().values).toEqual({ fw: '1.0', sensors: { t: 20, h: 50 }, tmp: 'x' });
      await client.updateReportedProperties({ sensors: { h: null, p: 1013 }, tmp: null });
      await client.updateReportedProperties({ fw: '1.1', tags: ['a', 'b'] });
      const merged = { fw: '1.1', sensors: { t: 20, p: 1013 }, tags: ['a', 'b'] };
      expect(client.reportedProperties().values).toEqual(merged);

      await client.waitReportedPropertiesSent();
      expect(storedPatches(database)).toEqual([]);
      const hub = await hubTwin(emulator, deviceId);
      expect(hub.reported.values).toEqual(merged);
      expect(client.reportedProperties()).toEqual({ version: hub.reported.version, values: merged });
      await waitFor(() => sentEvents.length > 0);
      expect(sentEvents.at(-1)).toEqual({ version: hub.reported.version });

      // A later patch: the event carries the emulator's new version.
      const sent = eventOnce<{ version: number }>(client, 'reportedPropertiesSent');
      await client.updateReportedProperties({ fw: '1.2' });
      expect(await sent).toEqual({ version: hub.reported.version + 1 });
      expect((await hubTwin(emulator, deviceId)).reported).toEqual({
        version: hub.reported.version + 1,
        values: { ...merged, fw: '1.2' },
      });
      // Nothing pending: resolves at once.
      await client.waitReportedPropertiesSent();
      expect(sentEvents.filter((event) => event.version <= synced)).toEqual([]);
    } finally {
      await client.close();
    }
    await expect(client.updateReportedProperties({ late: 1 })).rejects.toMatchObject({
      code: 'CLIENT_CLOSED',
    });
    await expect(client.waitReportedPropertiesSent()).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(storedPatches(database)).toEqual([]);
  });

  it('a patch in flight when the connection drops is sent again promptly after the reconnect', async () => {
    const database = dirs.file('r3.db');
    const deviceId = 'reported-drop';
    const client = await startClient(emulator, { database, deviceId });
    try {
      await client.updateReportedProperties({ round: 0 });
      await client.waitReportedPropertiesSent();
      // Drop the connection a moment after each update, so that some drops catch the patch on the wire (published,
      // not yet answered). Each must still be sent within seconds, not after a response timeout.
      for (let round = 1; round <= 8; round++) {
        await waitFor(() => client.connected);
        const stored = client.updateReportedProperties({ round, [`r${round}`]: true });
        await new Promise((resolve) => setTimeout(resolve, round % 3));
        await emulator.api.request('DELETE', `/devices/${deviceId}/connection`);
        await stored;
        await client.waitReportedPropertiesSent({ signal: AbortSignal.timeout(5000) });
      }
      expect(storedPatches(database)).toEqual([]);
      const hub = await hubTwin(emulator, deviceId);
      expect(hub.reported.values).toEqual({
        round: 8,
        ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`r${i + 1}`, true])),
      });
      expect(client.reportedProperties()).toEqual({
        version: hub.reported.version,
        values: hub.reported.values,
      });
    } finally {
      await client.close();
    }
  });

  it('refuses bad patches with INVALID_ARGUMENT and stores nothing', async () => {
    const database = dirs.file('r2.db');
    const deviceId = 'reported-bad';
    const client = await startClient(emulator, { database, deviceId });
    try {
      await client.updateReportedProperties({ ok: 1 });
      await client.waitReportedPropertiesSent();
      const before = await hubTwin(emulator, deviceId);

      const circular: Record<string, unknown> = { a: 1 };
      circular.self = circular;
      const bad: [string, unknown][] = [
        ['null', null],
        ['undefined', undefined],
        ['a number', 42],
        ['a string', '{"a":1}'],
        ['an array', [{ a: 1 }]],
        ['an empty array', []],
        ['a function', () => ({ a: 1 })],
        ['a function inside', { a: 1, f: () => 1 }],
        ['a function deep inside', { a: { b: { run() {} } } }],
        ['a symbol inside', { a: Symbol('s') }],
        ['a bigint inside', { a: 1n }],
        ['NaN inside', { a: Number.NaN }],
        ['a Map', new Map([['a', 1]])],
        ['a Date', new Date()],
        [
          'a class instance',
          new (class Patch {
            a = 1;
          })(),
        ],
        ['a circular object', circular],
        // nested(n) is n objects, the patch itself included: IoT Hub allows ten below the top level.
        ['12 levels', nested(12)],
        ['12 levels below a key', { deep: nested(11) }],
        ['more than 32 KB', { big: 'x'.repeat(33 * 1024) }],
        ['a $ key', { $version: 7 }],
        ['a $ key among others', { fine: 1, $meta: { a: 1 } }],
        ['a nested $ key', { outer: { $inner: 1 } }],
      ];
      for (const [what, patch] of bad) {
        const outcome = await client.updateReportedProperties(patch as Record<string, unknown>).then(
          () => 'stored',
          (error: unknown) => error,
        );
        expect(isSpotflowError(outcome) ? (outcome as SpotflowError).code : outcome, what).toBe(
          'INVALID_ARGUMENT',
        );
      }
      expect(storedPatches(database)).toEqual([]);
      expect(client.reportedProperties()).toEqual({ version: before.reported.version, values: { ok: 1 } });
      // Nothing was stored, so nothing can go out: the hub's twin after the good patches below shows it.

      // The limits themselves are fine: ten objects below the top level (IoT Hub's own example), and a patch just
      // under 32 KB.
      await client.updateReportedProperties(nested(11));
      await client.updateReportedProperties({ big: 'y'.repeat(30 * 1024) });
      await client.waitReportedPropertiesSent();
      const after = await hubTwin(emulator, deviceId);
      expect(after.reported.values).toEqual({ ok: 1, ...nested(11), big: 'y'.repeat(30 * 1024) });
      // At most the two good patches went out (merged or not): none of the bad ones reached the hub.
      expect(after.reported.version - before.reported.version).toBeLessThanOrEqual(2);
    } finally {
      await client.close();
    }
  });
});

describe('with the emulator down', () => {
  const dataDir = tempDir('spotflow-twin-emulator-');
  let port = 0;
  let persistent: TestEmulator | undefined;

  const up = async () => {
    persistent = await startTestEmulator({
      memory: false,
      dataDir: dataDir.dir,
      port,
      settings: { autoApprove: true },
    });
    port = persistent.port;
    return persistent;
  };
  const down = async () => {
    await persistent?.close();
    persistent = undefined;
  };

  beforeAll(up);
  afterAll(async () => {
    await down();
    dataDir.cleanup();
  });

  it('desired properties stay available offline, from the database, after a restart', async () => {
    const database = dirs.file('o1.db');
    const deviceId = 'offline-desired';
    const online = persistent ?? (await up());
    const first = await startClient(online, { database, deviceId });
    try {
      await waitFor(() => first.desiredProperties().version === 1);
      const version = await patchDesired(online, deviceId, { setpoint: 21.5, schedule: { on: '07:00' } });
      await waitFor(() => first.desiredProperties().version === version);
    } finally {
      await first.close();
    }
    await down();
    try {
      const recorder = desiredRecorder();
      const offline = await startClient(online, {
        database,
        deviceId,
        onDesiredProperties: recorder.onDesiredProperties,
      });
      try {
        const desired = { version: 2, values: { setpoint: 21.5, schedule: { on: '07:00' } } };
        expect(offline.desiredProperties()).toEqual(desired);
        expect(await offline.desiredPropertiesIfNewer(1)).toEqual(desired);
        expect(await offline.desiredPropertiesIfNewer(2)).toBeUndefined();
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect(offline.connected).toBe(false);
        expect(recorder.option).toEqual([]);
      } finally {
        await offline.close();
      }
    } finally {
      await up();
    }
  });

  it('reported updates made offline are durable, merged, and sent when the emulator is back', async () => {
    const database = dirs.file('o2.db');
    const deviceId = 'offline-reported';
    const online = persistent ?? (await up());
    const client = await startClient(online, { database, deviceId });
    try {
      await client.updateReportedProperties({ config: { c: 2 }, keep: 1, drop: true });
      await client.waitReportedPropertiesSent();
      const disconnected = eventOnce(client, 'disconnected');
      await down();
      await disconnected;

      // Each resolves with the emulator down (durable in the database, not sent).
      await client.updateReportedProperties({ config: 5 });
      // An object where a scalar was: cannot be folded into the previous patch (it must replace {c: 2} wholly).
      await client.updateReportedProperties({ config: { b: 1 } });
      await client.updateReportedProperties({ drop: null, extra: 'x' });
      const merged = { config: { b: 1 }, keep: 1, extra: 'x' };
      expect(client.reportedProperties().values).toEqual(merged);
      // Durable: what the database holds, applied in order (by the emulator's own merge-patch code) to what the
      // hub acknowledged, gives the merged view.
      const stored = storedPatches(database) as JsonObject[];
      expect(stored.length).toBeGreaterThan(0);
      const acknowledged = { config: { c: 2 }, keep: 1, drop: true };
      expect(
        stored.reduce<JsonObject>((document, patch) => applyMergePatch(document, patch), acknowledged),
      ).toEqual(merged);
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 50);
      await expect(client.waitReportedPropertiesSent({ signal: abort.signal })).rejects.toMatchObject({
        code: 'ABORTED',
      });
      const waiting = client.waitReportedPropertiesSent();
      const early = await Promise.race([
        waiting.then(() => 'sent'),
        new Promise((r) => setTimeout(r, 100, 'waiting')),
      ]);
      expect(early).toBe('waiting');

      const back = await up();
      await waiting;
      expect(storedPatches(database)).toEqual([]);
      const hub = await hubTwin(back, deviceId);
      expect(hub.reported.values).toEqual(merged);
      expect(client.reportedProperties()).toEqual({ version: hub.reported.version, values: merged });
    } finally {
      await client.close();
      if (!persistent) await up();
    }
  });

  it('pending reported patches survive a client restart and are sent by the next run', async () => {
    const database = dirs.file('o3.db');
    const deviceId = 'offline-restart';
    const online = persistent ?? (await up());
    const first = await startClient(online, { database, deviceId });
    try {
      await first.updateReportedProperties({ boot: 1, status: { state: 'idle', load: 0 } });
      await first.waitReportedPropertiesSent();
      const disconnected = eventOnce(first, 'disconnected');
      await down();
      await disconnected;
      await first.updateReportedProperties({ boot: 2, status: { load: 3 } });
      await first.updateReportedProperties({ status: { state: null } });
    } finally {
      await first.close();
    }
    const pending = storedPatches(database);
    expect(pending.length).toBeGreaterThan(0);

    const merged = { boot: 2, status: { load: 3 } };
    // Still offline: the restarted client shows the pending patches applied.
    const offline = await startClient(online, { database, deviceId });
    try {
      expect(offline.reportedProperties().values).toEqual(merged);
      await offline.updateReportedProperties({ note: 'restarted' });
    } finally {
      await offline.close();
    }

    const back = await up();
    const second = await startClient(back, { database, deviceId });
    try {
      await second.waitReportedPropertiesSent();
      expect(storedPatches(database)).toEqual([]);
      const hub = await hubTwin(back, deviceId);
      expect(hub.reported.values).toEqual({ ...merged, note: 'restarted' });
      expect(second.reportedProperties()).toEqual({
        version: hub.reported.version,
        values: hub.reported.values,
      });
    } finally {
      await second.close();
    }
  });
});

const reportedPatchTopic = '$iothub/twin/PATCH/properties/reported/';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Faults a {@link faultyPlatform} adds to the real Node platform, and what it saw. */
interface Faults {
  /** Answer reported patches with this status instead of passing them on to the emulator (unset: pass them). */
  patchStatus?: number;
  /** Connecting waits for this. */
  connectGate?: Promise<void>;
  /** Runs before each database write; may hold it back. */
  beforeWrite?: (sql: string) => Promise<void>;
  /** Sees every message the client receives. */
  onMessage?: (message: MqttMessage) => void;
  /** The clock the client reads instead of the platform's. */
  clock?: Clock;
  /** The reported patches the client published, answered by the emulator or by the wrapper. */
  readonly reportedPatches: string[];
}

/** The Node platform, trusting the emulator CA, with `faults` wrapped around its MQTT connections and database. */
function faultyPlatform(on: TestEmulator, faults: Faults): Platform {
  const node = createNodePlatform({ ca: on.ca });
  const wrapConnection = (connection: MqttConnection): MqttConnection => {
    let handler: ((message: MqttMessage) => Promise<void> | void) | undefined;
    return {
      publish: async (topic, payload, qos) => {
        if (topic.startsWith(reportedPatchTopic)) {
          faults.reportedPatches.push(new TextDecoder().decode(payload));
          const status = faults.patchStatus;
          if (status !== undefined) {
            const rid = new URLSearchParams(topic.split('?')[1]).get('$rid');
            const answer = { topic: `$iothub/twin/res/${status}/?$rid=${rid}`, payload: new Uint8Array() };
            setTimeout(() => void handler?.(answer), 2);
            return;
          }
        }
        return connection.publish(topic, payload, qos);
      },
      subscribe: (topics) => connection.subscribe(topics),
      setMessageHandler: (next) => {
        handler = next;
        connection.setMessageHandler((message) => {
          faults.onMessage?.(message);
          return next(message);
        });
      },
      onPacket: (listener) => connection.onPacket(listener),
      onClose: (listener) => connection.onClose(listener),
      end: (force) => connection.end(force),
    };
  };
  const wrapDatabase = (db: Database): Database => ({
    write: async (statements, options) => {
      await faults.beforeWrite?.(statements[0]?.sql ?? '');
      return db.write(statements, options);
    },
    query: <Row>(sql: string, params?: Parameters<Database['query']>[1]) => db.query<Row>(sql, params),
    close: () => db.close(),
  });
  return {
    ...node,
    clock: faults.clock ?? node.clock,
    mqtt: {
      connect: async (options, signal) => {
        await faults.connectGate;
        return wrapConnection(await node.mqtt.connect(options, signal));
      },
    },
    database: { open: async (name) => wrapDatabase(await node.database.open(name)) },
  };
}

function startFaultyClient(
  on: TestEmulator,
  faults: Faults,
  options: Partial<StartOptions> & { database: string },
): Promise<DeviceClient> {
  return DeviceClient.startOn(faultyPlatform(on, faults), {
    provisioningToken: on.provisioningToken,
    instance: on.instance,
    logger: memoryLogger(),
    provisioningPollIntervalMs: 50,
    reconnectInitialDelayMs: 50,
    reconnectMaxDelayMs: 500,
    onProvisioningOperation: () => {},
    ...options,
  });
}

/** Connects to the emulator as `device`, as the SDK's session does, and hands the connection to `twin`. */
async function connectTwin(twin: TwinManager, device: ProvisionedDevice, identity?: string) {
  const connection = await createNodePlatform({ ca: emulator.ca }).mqtt.connect({
    url: `mqtts://localhost:${emulator.port}`,
    clientId: device.hubDeviceId,
    username: `${device.iotHubHostName}/${device.hubDeviceId}/?api-version=2021-04-12`,
    password: device.sasToken,
    keepAliveSeconds: 60,
    connectTimeoutMs: 5000,
  });
  connection.setMessageHandler((message) => twin.handle(message));
  connection.onClose(() => twin.disconnected());
  await connection.subscribe(TwinManager.topics);
  await twin.connected(connection, identity);
  return connection;
}

/** A TwinManager on its own database, with what it told. */
async function openTwin(path: string) {
  const db = await createNodePlatform().database.open(path);
  await migrate(db);
  const seen: DesiredProperties[] = [];
  const errors: SpotflowError[] = [];
  const events = {
    desiredProperties: (desired: DesiredProperties) => seen.push(desired),
    reportedPropertiesSent: () => {},
    error: (error: SpotflowError) => errors.push(error),
  };
  const open = () => TwinManager.open(db, '', createNodeClock(), events, memoryLogger());
  return { db, seen, errors, open, twin: await open() };
}

/**
 * Two devices of the emulator whose desired properties have the same version, 2, and different values: versions
 * alone cannot tell that the new identity's twin is another one.
 */
async function twoIdentities(prefix: string) {
  const oldDevice = await provisionDevice(emulator, `${prefix}-old`);
  const newDevice = await provisionDevice(emulator, `${prefix}-new`);
  expect(await patchDesired(emulator, oldDevice.deviceId, { old: 'config' })).toBe(2);
  expect(await patchDesired(emulator, newDevice.deviceId, { fresh: true })).toBe(2);
  return { oldDevice, newDevice };
}

describe('hub faults, slow storage, identity changes', () => {
  it('429 and 5xx answers to a reported patch: retried with backoff, one error per streak, then sent', async () => {
    // The emulator never throttles nor fails a twin request: the connection wrapper answers reported patches
    // itself while `patchStatus` is set (a fault the emulator cannot produce). The client's time moves only when
    // the test says (waits up to 100 ms, its reconnect delays here, run on real time), so the retry backoff
    // (0.5–1 s, then 1–2 s) is counted on the test's clock, not the machine's.
    const clock = new StillClock({ realTimersUpToMs: 100 });
    const faults: Faults = { reportedPatches: [], clock };
    const deviceId = 'faults-throttled';
    const client = await startFaultyClient(emulator, faults, {
      database: dirs.file('f1.db'),
      deviceId,
      reconnectInitialDelayMs: 20,
      reconnectMaxDelayMs: 100,
    });
    const errors: SpotflowError[] = [];
    client.on('error', (error) => errors.push(error));
    const attempts = () => faults.reportedPatches.length - first;
    let first = 0;
    try {
      await client.updateReportedProperties({ before: 1 });
      await client.waitReportedPropertiesSent();
      first = faults.reportedPatches.length;

      faults.patchStatus = 429;
      await client.updateReportedProperties({ temp: 1 });
      await waitFor(() => attempts() === 1 && errors.length === 1);
      // The first retry comes 0.5–1 s later.
      await clock.advance(1000);
      await waitFor(() => attempts() === 2);
      faults.patchStatus = 503;
      // Waits with the patch being retried (merged into it or queued behind it): the next retry is 1–2 s after the
      // last, so none by 1.4 s.
      await client.updateReportedProperties({ temp: 2 });
      await clock.advance(400);
      await clock.quiet();
      expect(attempts()).toBe(2);
      // One error for the whole streak of failures.
      expect(errors.map((error) => error.code)).toEqual(['NETWORK']);
      expect(errors[0]!.message).toContain('429');

      // The hub takes patches again. A new connection does not wait out the backoff: the test's clock does not
      // move, so a client that waited for its next retry would never send.
      faults.patchStatus = undefined;
      const reconnected = eventOnce(client, 'connected');
      await emulator.api.request('DELETE', `/devices/${deviceId}/connection`);
      await reconnected;
      await client.waitReportedPropertiesSent({ signal: AbortSignal.timeout(4000) });
      const hub = await hubTwin(emulator, deviceId);
      expect(hub.reported.values).toEqual({ before: 1, temp: 2 });
      expect(client.reportedProperties()).toEqual({
        version: hub.reported.version,
        values: hub.reported.values,
      });
      expect(errors).toHaveLength(1);

      // A later failure is a new streak: reported again, once, and not again when its first retry fails too.
      faults.patchStatus = 500;
      const sentBefore = attempts();
      await client.updateReportedProperties({ temp: 3 });
      await waitFor(() => errors.length === 2);
      await clock.advance(1000);
      await waitFor(() => attempts() === sentBefore + 2);
      await clock.quiet();
      expect(errors).toHaveLength(2);
      expect(errors[1]!.message).toContain('500');
    } finally {
      await client.close();
    }
  });

  it('a patch merged into the stored one while its sending starts is not lost', async () => {
    // The race needs a database write slower than a twin round trip. SQLite on a local disk is faster, so the
    // wrapper holds the merging UPDATE back until just after the full twin came (when sending starts). The
    // Database port is async for IndexedDB and worker stores, where writes can be that slow: a fake only for
    // that timing.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let twinFetched!: () => void;
    const fetched = new Promise<void>((resolve) => {
      twinFetched = resolve;
    });
    const faults: Faults = {
      reportedPatches: [],
      connectGate: gate,
      onMessage: (message) => {
        if (message.topic.startsWith('$iothub/twin/res/200/')) twinFetched();
      },
      beforeWrite: async (sql) => {
        if (!sql.startsWith('UPDATE reported_patches')) return;
        await fetched;
        await sleep(150);
      },
    };
    const database = dirs.file('f2.db');
    const deviceId = 'faults-slow-merge';
    const client = await startFaultyClient(emulator, faults, { database, deviceId });
    try {
      await client.updateReportedProperties({ a: 1 }); // offline (connecting waits): stored
      const merged = client.updateReportedProperties({ b: 2 }); // merged into that row, slowly
      release();
      await merged;
      await client.waitReportedPropertiesSent({ signal: AbortSignal.timeout(5000) });
      expect(storedPatches(database)).toEqual([]);
      const hub = await hubTwin(emulator, deviceId);
      expect(hub.reported.values).toEqual({ a: 1, b: 2 });
      expect(client.reportedProperties()).toEqual({ version: hub.reported.version, values: { a: 1, b: 2 } });
    } finally {
      await client.close();
    }
  });

  it('waitReportedPropertiesSent also waits for updates called but not awaited yet', async () => {
    const database = dirs.file('f3.db');
    const deviceId = 'faults-not-awaited';
    const client = await startClient(emulator, { database, deviceId });
    try {
      await client.updateReportedProperties({ first: 1 });
      await client.waitReportedPropertiesSent();
      const before = client.reportedProperties().version;
      const stored = client.updateReportedProperties({ second: 2 });
      await client.waitReportedPropertiesSent();
      // Acknowledged by now, not merely stored.
      expect(client.reportedProperties().version).toBeGreaterThan(before);
      expect(storedPatches(database)).toEqual([]);
      expect((await hubTwin(emulator, deviceId)).reported.values).toEqual({ first: 1, second: 2 });
      await stored;
    } finally {
      await client.close();
    }
  });

  it('identityChanged: the new identity’s twin replaces the old one; pending reported patches go to it', async () => {
    // The TwinManager alone, over real connections to the emulator as two devices (DeviceClient tells it of
    // the identity when it connects; this is the explicit call).
    const { oldDevice, newDevice } = await twoIdentities('identity');
    const harness = await openTwin(dirs.file('i1.db'));
    let { twin } = harness;
    try {
      const first = await connectTwin(twin, oldDevice);
      expect(twin.desired()).toEqual({ version: 2, values: { old: 'config' } });
      await twin.update({ old: 'acknowledged' });
      await twin.waitSent();
      await first.end();
      twin.disconnected();

      await twin.update({ pending: 1 }); // offline: this device's state, for whichever identity comes next
      await twin.identityChanged();
      const reset = { desired: { version: 0, values: {} }, reported: { version: 0, values: { pending: 1 } } };
      expect({ desired: twin.desired(), reported: twin.reported }).toEqual(reset);
      expect(harness.seen).toHaveLength(1); // a reset is not a desired change
      // Durable.
      twin = await harness.open();
      expect({ desired: twin.desired(), reported: twin.reported }).toEqual(reset);

      const second = await connectTwin(twin, newDevice);
      try {
        // The same version as the old identity's: taken all the same.
        expect(twin.desired()).toEqual({ version: 2, values: { fresh: true } });
        expect(harness.seen.at(-1)).toEqual({ version: 2, values: { fresh: true } });
        await twin.waitSent();
        const hubNew = await hubTwin(emulator, newDevice.deviceId);
        expect(hubNew.reported.values).toEqual({ pending: 1 });
        expect(twin.reported).toEqual({ version: hubNew.reported.version, values: { pending: 1 } });
        expect((await hubTwin(emulator, oldDevice.deviceId)).reported.values).toEqual({
          old: 'acknowledged',
        });
      } finally {
        await second.end();
      }
      expect(harness.errors).toEqual([]);
    } finally {
      await harness.db.close();
    }
  });

  it('connected(connection, hubDeviceId) resets state of another identity, also across a restart', async () => {
    const { oldDevice, newDevice } = await twoIdentities('connect-identity');
    const harness = await openTwin(dirs.file('i3.db'));
    let { twin } = harness;
    try {
      // The first connect records whose state this is; reconnecting as the same identity keeps it.
      for (let round = 0; round < 2; round++) {
        const connection = await connectTwin(twin, oldDevice, oldDevice.hubDeviceId);
        expect(twin.desired()).toEqual({ version: 2, values: { old: 'config' } });
        await twin.update({ round });
        await twin.waitSent();
        await connection.end();
        twin.disconnected();
      }
      const oldReported = (await hubTwin(emulator, oldDevice.deviceId)).reported;
      expect(twin.reported).toEqual(oldReported);

      // The process ends after being provisioned again (nothing told the twin), a patch waits meanwhile.
      await twin.update({ pending: 1 });
      twin = await harness.open();
      const second = await connectTwin(twin, newDevice, newDevice.hubDeviceId);
      try {
        expect(twin.desired()).toEqual({ version: 2, values: { fresh: true } });
        expect(harness.seen).toEqual([
          { version: 2, values: { old: 'config' } },
          { version: 2, values: { fresh: true } },
        ]);
        await twin.waitSent();
        const hubNew = await hubTwin(emulator, newDevice.deviceId);
        // Only the pending patch went to the new identity, not what the old one had acknowledged.
        expect(hubNew.reported.values).toEqual({ pending: 1 });
        expect(twin.reported).toEqual({ version: hubNew.reported.version, values: { pending: 1 } });
      } finally {
        await second.end();
      }
      expect((await hubTwin(emulator, oldDevice.deviceId)).reported).toEqual(oldReported);
      expect(harness.errors).toEqual([]);
    } finally {
      await harness.db.close();
    }
  });

  it('a twin recreated on the hub with lower versions (the platform lost it) is taken as the truth', async () => {
    const database = dirs.file('i2.db');
    const deviceId = 'identity-recreated';
    const lost = await startTestEmulator({ settings: { autoApprove: true } });
    const { port, workspaceId, provisioningToken, apiToken } = lost;
    try {
      const client = await startClient(lost, { database, deviceId });
      try {
        for (let i = 0; i < 4; i++) await patchDesired(lost, deviceId, { old: i });
        await waitFor(() => client.desiredProperties().version === 5);
        await client.updateReportedProperties({ old: true });
        await client.waitReportedPropertiesSent();
      } finally {
        await client.close();
      }
    } finally {
      await lost.close();
    }

    // A fresh emulator on the same address and workspace: the stored SAS and registration token are unknown
    // to it, so the client provisions again, and finds the device's twin back at version 1.
    const fresh = await startTestEmulator({
      port,
      workspaceId,
      provisioningToken,
      apiToken,
      settings: { autoApprove: true },
    });
    const recorder = desiredRecorder();
    try {
      const client = await startClient(fresh, {
        database,
        deviceId,
        onDesiredProperties: recorder.onDesiredProperties,
      });
      try {
        await waitFor(() => client.desiredProperties().version === 1, 10_000);
        const version = await patchDesired(fresh, deviceId, { fresh: true });
        expect(version).toBe(2);
        await waitFor(() => client.desiredProperties().version === 2);
        expect(recorder.option).toEqual([
          { version: 1, values: {} },
          { version: 2, values: { fresh: true } },
        ]);
        const hub = await hubTwin(fresh, deviceId);
        expect(client.reportedProperties()).toEqual(hub.reported);
        expect(hub.reported.values).toEqual({});
      } finally {
        await client.close();
      }
    } finally {
      await fresh.close();
    }
  });
});
