/**
 * Provisioning against a real emulator (SPEC §2): approval through the management API, reuse of a stored
 * registration, offline start, the fatal outcomes with their codes, the database lock, and background
 * provisioning when the stored registration token expired while the device was off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodePlatform } from '../../platform/node/index.js';
import type { DeviceClient } from '../../src/client.js';
import type { SpotflowErrorCode } from '../../src/errors.js';
import { ProvisioningApi } from '../../src/provisioning/api.js';
import { within } from '../contract/assert.js';
import { eventOnce, startClient, tempDir } from '../helpers/client.js';
import { StillClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import {
  approving,
  assertCode,
  connected,
  decodedPayload,
  display,
  operations,
  recordingLogger,
  rejectionOf,
  sleepMs,
} from '../helpers/provisioning.js';

let emulator: TestEmulator;
const dirs = tempDir();

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator?.close();
  dirs.cleanup();
});

function expectCode(error: unknown, code: SpotflowErrorCode): void {
  expect(() => assertCode(error, code)).not.toThrow();
}

describe('provisioning', () => {
  it('shows the operation, waits for approval through the management API, then connects and sends', async () => {
    const shown = display();
    const starting = startClient(emulator, {
      database: dirs.file('approve.db'),
      deviceId: 'approve-me',
      onProvisioningOperation: shown.onProvisioningOperation,
    });
    const op = await shown.nth(0);
    const pending = await operations(emulator, 'pending');
    const match = pending.find((candidate) => candidate.provisioningOperationId === op.id);
    expect(match).toBeDefined();
    expect(match).toMatchObject({ deviceId: 'approve-me', verificationCode: op.verificationCode });
    expect(op.expirationTime).toBeInstanceOf(Date);
    expect(op.expirationTime.toISOString()).toBe(match!.expirationTime);

    expect((await emulator.api.approve(op.id)).status).toBe(200);
    const client = await starting;
    try {
      expect(client.deviceId).toBe('approve-me');
      expect(client.workspaceId).toBe(emulator.workspaceId);
      expect(shown.seen).toHaveLength(1);
      await connected(client);
      const { id } = await client.sendMessage({ hello: 'world' }, { stream: 'greetings' });
      const { items } = await emulator.api.messages('approve-me');
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ mid: id, stream: 'greetings', duplicate: false });
      expect(decodedPayload(items[0])).toEqual({ hello: 'world' });
      const devices = (await emulator.api.request('GET', '/devices')).body as {
        deviceId: string;
        connected: boolean;
      }[];
      expect(devices.find((device) => device.deviceId === 'approve-me')?.connected).toBe(true);
    } finally {
      await client.close();
    }
    const after = await operations(emulator);
    expect(after.find((candidate) => candidate.provisioningOperationId === op.id)?.status).toBe('approved');
  });

  it('reuses a stored registration: no new operation, the display callback is not called', async () => {
    const database = dirs.file('reuse.db');
    const first = approving(emulator);
    const client = await startClient(emulator, {
      database,
      deviceId: 'reuse-1',
      onProvisioningOperation: first.onProvisioningOperation,
    });
    await client.close();
    expect(first.seen).toHaveLength(1);
    const before = await operations(emulator);

    const again = display();
    const startedAt = Date.now();
    const reused = await startClient(emulator, {
      database,
      deviceId: 'reuse-1',
      onProvisioningOperation: again.onProvisioningOperation,
    });
    try {
      expect(Date.now() - startedAt).toBeLessThan(1000);
      expect(again.seen).toHaveLength(0);
      expect(await operations(emulator)).toEqual(before);
      expect(reused.deviceId).toBe('reuse-1');
      await connected(reused);
      const { id } = await reused.sendMessage('reused');
      const { items } = await emulator.api.messages('reuse-1');
      expect(items.map((item: { mid: string }) => item.mid)).toEqual([id]);
    } finally {
      await reused.close();
    }
  });

  it('provisions again when the device id or the provisioning token differs from the stored registration', async () => {
    const data = tempDir('spotflow-emulator-');
    let persistent = await startTestEmulator({ memory: false, dataDir: data.dir });
    const database = dirs.file('changed.db');
    try {
      const firstDisplay = approving(persistent);
      await (
        await startClient(persistent, {
          database,
          deviceId: 'changed-1',
          onProvisioningOperation: firstDisplay.onProvisioningOperation,
        })
      ).close();
      expect(firstDisplay.seen).toHaveLength(1);

      // Same database, another device id: a new operation for the new id.
      const otherId = approving(persistent);
      const second = await startClient(persistent, {
        database,
        deviceId: 'changed-2',
        onProvisioningOperation: otherId.onProvisioningOperation,
      });
      try {
        expect(otherId.seen).toHaveLength(1);
        expect(second.deviceId).toBe('changed-2');
        const ops = await operations(persistent);
        expect(ops.map((op) => op.deviceId)).toEqual(['changed-1', 'changed-2']);
        await connected(second);
      } finally {
        await second.close();
      }

      // Same database and device id, another provisioning token (the workspace's token was rotated): the stored
      // registration, though still valid on the platform, belongs to the old token and is not reused.
      const port = persistent.port;
      await persistent.close();
      const rotatedToken = 'pt-rotated-for-the-test';
      persistent = await startTestEmulator({
        memory: false,
        dataDir: data.dir,
        port,
        provisioningToken: rotatedToken,
      });
      expect(persistent.provisioningToken).toBe(rotatedToken);
      const otherToken = approving(persistent);
      const third = await startClient(persistent, {
        database,
        deviceId: 'changed-2',
        provisioningToken: rotatedToken,
        onProvisioningOperation: otherToken.onProvisioningOperation,
      });
      try {
        expect(otherToken.seen).toHaveLength(1);
        expect((await operations(persistent)).length).toBe(3);
        await connected(third);
        const { id } = await third.sendMessage('after rotation');
        const { items } = await persistent.api.messages('changed-2');
        expect(items.map((item: { mid: string }) => item.mid)).toContain(id);
      } finally {
        await third.close();
      }
    } finally {
      await persistent.close();
      data.cleanup();
    }
  });

  it('starts offline at once with a stored registration, queues messages, and delivers them when the platform is back', async () => {
    const data = tempDir('spotflow-emulator-');
    let persistent: TestEmulator | undefined = await startTestEmulator({ memory: false, dataDir: data.dir });
    const port = persistent.port;
    const database = dirs.file('offline.db');
    let client: DeviceClient | undefined;
    try {
      const shown = approving(persistent);
      const online = await startClient(persistent, {
        database,
        deviceId: 'offline-1',
        onProvisioningOperation: shown.onProvisioningOperation,
      });
      await connected(online);
      const { id: firstId } = await online.sendMessage({ n: 0 });
      await online.close();
      const options = {
        instance: persistent.instance,
        ca: persistent.ca,
        provisioningToken: persistent.provisioningToken,
      };
      await persistent.close();
      const stopped = persistent;
      persistent = undefined;

      const again = display();
      const startedAt = Date.now();
      client = await startClient(stopped, {
        ...options,
        database,
        deviceId: 'offline-1',
        onProvisioningOperation: again.onProvisioningOperation,
      });
      expect(Date.now() - startedAt).toBeLessThan(1000);
      expect(again.seen).toHaveLength(0);
      expect(client.deviceId).toBe('offline-1');
      const ids: string[] = [];
      for (let n = 1; n <= 5; n++) ids.push((await client.enqueueMessage({ n })).id);
      expect(await client.pendingMessagesCount()).toBe(5);
      expect(client.connected).toBe(false);

      persistent = await startTestEmulator({ memory: false, dataDir: data.dir, port });
      await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });
      expect(await client.pendingMessagesCount()).toBe(0);
      const { items } = await persistent.api.messages('offline-1');
      expect(items.map((item: { mid: string }) => item.mid)).toEqual([firstId, ...ids]);
      expect(items.map(decodedPayload)).toEqual([0, 1, 2, 3, 4, 5].map((n) => ({ n })));
    } finally {
      await client?.close();
      await persistent?.close();
      data.cleanup();
    }
  });
});

describe('fatal provisioning outcomes reject start with their own codes', () => {
  it('a wrong provisioning token: PROVISIONING_REJECTED, nothing shown, the database is released', async () => {
    const shown = display();
    const database = dirs.file('wrong-token.db');
    const error = await rejectionOf(
      startClient(emulator, {
        database,
        deviceId: 'wrong-token',
        provisioningToken: 'pt-not-the-workspace-token',
        onProvisioningOperation: shown.onProvisioningOperation,
      }),
    );
    expectCode(error, 'PROVISIONING_REJECTED');
    expect((error as Error).message).not.toContain('pt-not-the-workspace-token');
    expect(shown.seen).toHaveLength(0);
    expect((await operations(emulator)).some((op) => op.deviceId === 'wrong-token')).toBe(false);
    // The lock is free again: a start with the right token works on the same database.
    const client = await startClient(emulator, {
      database,
      deviceId: 'wrong-token',
      onProvisioningOperation: approving(emulator).onProvisioningOperation,
    });
    await client.close();
  });

  it('an invalid device id: the client refuses it itself (INVALID_ARGUMENT); the platform 400 is PROVISIONING_REJECTED', async () => {
    // The client checks device ids with the same rule as the platform, so no id the client lets through gets a
    // 400 from the emulator: start() fails with INVALID_ARGUMENT before any request.
    const before = (await operations(emulator)).length;
    for (const deviceId of ['has/slash', 'x'.repeat(129), 'space in it']) {
      expectCode(
        await rejectionOf(startClient(emulator, { database: dirs.file('bad-id.db'), deviceId })),
        'INVALID_ARGUMENT',
      );
    }
    expect((await operations(emulator)).length).toBe(before);
    // The platform's own 400 (with its problem title) is reached through the provisioning API module directly.
    const platform = createNodePlatform({ ca: emulator.ca });
    const api = new ProvisioningApi(emulator.instance, platform.fetch, platform.clock);
    const error = await rejectionOf(api.init(emulator.provisioningToken, 'has/slash'));
    expectCode(error, 'PROVISIONING_REJECTED');
    expect((error as Error).message).toContain('Invalid device ID');
    expect((await operations(emulator)).length).toBe(before);
  });

  it('a technician cancels the operation: PROVISIONING_CANCELLED', async () => {
    const shown = display();
    const starting = rejectionOf(
      startClient(emulator, {
        database: dirs.file('cancel.db'),
        deviceId: 'cancel-me',
        onProvisioningOperation: shown.onProvisioningOperation,
      }),
    );
    const op = await shown.nth(0);
    const cancelled = await emulator.api.request('PUT', '/provisioning-operations/cancel', {
      provisioningOperationId: op.id,
    });
    expect(cancelled.status).toBe(200);
    expectCode(await starting, 'PROVISIONING_CANCELLED');
    expect((await operations(emulator)).find((o) => o.provisioningOperationId === op.id)?.status).toBe(
      'cancelled',
    );
  });

  it('the operation expires before approval: PROVISIONING_EXPIRED', async () => {
    // Client and emulator read one clock that moves only when the test says (the client's 50 ms polls still run
    // on real time): the operation expires when the test moves the clock to its expiration time, not after a sleep.
    const clock = new StillClock();
    const own = await startTestEmulator({ clock, settings: { provisioningOperationLifetimeSeconds: 1 } });
    try {
      const shown = display();
      let settled = false;
      const starting = rejectionOf(
        startClient(own, {
          database: dirs.file('expire.db'),
          deviceId: 'expire-me',
          onProvisioningOperation: shown.onProvisioningOperation,
          clock,
        }),
      ).finally(() => (settled = true));
      const shownOp = await shown.nth(0);
      const status = async () =>
        (await operations(own)).find((o) => o.provisioningOperationId === shownOp.id)?.status;
      // Up to the last millisecond before its expiration time, the client keeps polling a pending operation...
      await clock.advance(shownOp.expirationTime.getTime() - clock.now() - 1);
      await clock.quiet(200);
      expect(settled).toBe(false);
      expect(await status()).toBe('pending');
      // ...and at its expiration time, start rejects.
      await clock.advance(1);
      const error = await within(starting, 2000, 'the PROVISIONING_EXPIRED rejection');
      expectCode(error, 'PROVISIONING_EXPIRED');
      expect(shown.seen).toHaveLength(1);
      expect(await status()).toBe('expired');
    } finally {
      await own.close();
    }
  });

  it('the workspace is disabled: WORKSPACE_DISABLED', async () => {
    expect((await emulator.api.settings({ disabled: true })).status).toBe(200);
    try {
      const shown = display();
      const error = await rejectionOf(
        startClient(emulator, {
          database: dirs.file('disabled.db'),
          deviceId: 'disabled-ws',
          onProvisioningOperation: shown.onProvisioningOperation,
        }),
      );
      expectCode(error, 'WORKSPACE_DISABLED');
      expect(shown.seen).toHaveLength(0);
    } finally {
      await emulator.api.settings({ disabled: false });
    }
  });

  it('the AbortSignal fires while waiting for approval: ABORTED, and the database is released', async () => {
    const database = dirs.file('abort.db');
    const shown = display();
    const controller = new AbortController();
    // The client's clock moves only when the test says, and only waits up to 1 s run on real time: an abort that
    // had to wait for anything longer (a request timeout, a backoff) would never end.
    const clock = new StillClock();
    const starting = rejectionOf(
      startClient(emulator, {
        database,
        deviceId: 'abort-me',
        signal: controller.signal,
        onProvisioningOperation: shown.onProvisioningOperation,
        clock,
      }),
    );
    await shown.nth(0);
    // Let it poll a few times (the poll interval is 50 ms) before giving up.
    await sleepMs(200);
    controller.abort();
    expectCode(await within(starting, 10_000, 'the ABORTED rejection'), 'ABORTED');

    const retry = approving(emulator);
    const client = await startClient(emulator, {
      database,
      deviceId: 'abort-me',
      onProvisioningOperation: retry.onProvisioningOperation,
    });
    try {
      expect(retry.seen).toHaveLength(1);
      expect(client.deviceId).toBe('abort-me');
    } finally {
      await client.close();
    }
  });
});

describe('one owner per database', () => {
  it('a second client on the same database while the first is open: DATABASE_LOCKED with a clear message', async () => {
    const database = dirs.file('locked.db');
    const first = await startClient(emulator, {
      database,
      deviceId: 'lock-owner',
      onProvisioningOperation: approving(emulator).onProvisioningOperation,
    });
    try {
      const operationsBefore = (await operations(emulator)).length;
      const shown = display();
      const error = await rejectionOf(
        startClient(emulator, {
          database,
          deviceId: 'lock-owner',
          onProvisioningOperation: shown.onProvisioningOperation,
        }),
      );
      expectCode(error, 'DATABASE_LOCKED');
      expect((error as Error).message).toMatch(/another client owns the database/i);
      expect((error as Error).message).toContain(database);
      expect(shown.seen).toHaveLength(0);
      expect((await operations(emulator)).length).toBe(operationsBefore);
      // The owner is unaffected.
      await connected(first);
      const { id } = await first.sendMessage('still mine');
      const { items } = await emulator.api.messages('lock-owner');
      expect(items.map((item: { mid: string }) => item.mid)).toContain(id);
    } finally {
      await first.close();
    }
    const next = await startClient(emulator, { database, deviceId: 'lock-owner' });
    await next.close();
  });
});

describe('background provisioning', () => {
  it('a stored registration token that expired while the device was off: start resolves at once, provisioning runs in the background', async () => {
    // Client and emulator read one clock that moves only when the test says: the token expires while no client
    // runs, without a sleep.
    const clock = new StillClock();
    const log = recordingLogger(() => clock.now());
    const own = await startTestEmulator({
      settings: { registrationTokenLifetimeSeconds: 1 },
      logger: log,
      now: () => clock.now(),
    });
    const database = dirs.file('expired-token.db');
    let client: DeviceClient | undefined;
    try {
      await (
        await startClient(own, {
          database,
          deviceId: 'sleeper',
          onProvisioningOperation: approving(own).onProvisioningOperation,
          clock,
        })
      ).close();
      await clock.advance(1100); // the registration token expires
      await own.api.settings({ registrationTokenLifetimeSeconds: 0 });

      // Start resolves without the approval, which comes only further down.
      const shown = display();
      client = await startClient(own, {
        database,
        deviceId: 'sleeper',
        onProvisioningOperation: shown.onProvisioningOperation,
        clock,
      });
      const required: { reason: string }[] = [];
      client.on('provisioningRequired', (event) => required.push(event));
      const { id } = await client.enqueueMessage({ queued: 'while provisioning' });

      const op = await shown.nth(0);
      const pending = await operations(own, 'pending');
      expect(pending.map((o) => [o.provisioningOperationId, o.deviceId])).toEqual([[op.id, 'sleeper']]);
      expect(required).toHaveLength(1);
      const registered = () => log.entries.filter((entry) => entry.message === 'device registered').length;
      expect(registered()).toBe(1);
      await connected(client); // with the stored SAS, still valid
      const reconnected = eventOnce(client, 'connected');
      expect((await own.api.approve(op.id)).status).toBe(200);
      // The new registration token is used to register (a new SAS), and the session reconnects with it.
      await waitFor(() => registered() === 2);
      await reconnected;
      await client.waitEnqueuedMessagesSent({ signal: AbortSignal.timeout(10_000) });
      const { items } = await own.api.messages('sleeper');
      expect(items.map((item: { mid: string }) => item.mid)).toContain(id);
      expect(shown.seen).toHaveLength(1);
      expect(required).toHaveLength(1);
    } finally {
      await client?.close();
      await own.close();
    }
  });
});
