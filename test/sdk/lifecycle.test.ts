import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSpotflowError } from '../../src/errors.js';
import { startClient, tempDir } from '../helpers/client.js';
import { StillClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;
const dirs = tempDir('spotflow-lifecycle-');

beforeAll(async () => {
  emulator = await startTestEmulator({ settings: { autoApprove: true } });
});
afterAll(async () => {
  await emulator.close();
  dirs.cleanup();
});

/** A started client whose hub connection is dropped at once and kept away by a disabled workspace. */
async function offlineClient(deviceId: string, options: Parameters<typeof startClient>[1] | object = {}) {
  const client = await startClient(emulator, { database: dirs.file(`${deviceId}.db`), deviceId, ...options });
  await waitFor(() => client.connected);
  await emulator.api.settings({ disabled: true });
  await emulator.api.request('DELETE', `/devices/${deviceId}/connection`);
  await waitFor(() => !client.connected);
  return client;
}

describe('client lifecycle', () => {
  it('close() settles every call still waiting, with CLIENT_CLOSED', async () => {
    const client = await offlineClient('closing');
    try {
      const sending = client.sendMessage('never acknowledged').catch((error: unknown) => error);
      const waitingMessages = client.waitEnqueuedMessagesSent().catch((error: unknown) => error);
      await client.updateReportedProperties({ pending: true });
      const waitingReported = client.waitReportedPropertiesSent().catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await client.close();
      for (const outcome of await Promise.all([sending, waitingMessages, waitingReported])) {
        expect(isSpotflowError(outcome, 'CLIENT_CLOSED'), String(outcome)).toBe(true);
      }
    } finally {
      await emulator.api.settings({ disabled: false });
      await client.close();
    }
  });

  it('a sendMessage whose message a dropOldest limit removed fails with OUTBOX_FULL', async () => {
    const client = await offlineClient('dropping', {
      outboxLimits: { maxMessages: 2, policy: 'dropOldest' },
    });
    try {
      const first = client.sendMessage('dropped first').catch((error: unknown) => error);
      await waitFor(async () => (await client.pendingMessagesCount()) === 1);
      await client.enqueueMessage('second');
      await client.enqueueMessage('third'); // drops the first
      const outcome = await first;
      expect(isSpotflowError(outcome, 'OUTBOX_FULL'), String(outcome)).toBe(true);
      expect(await client.pendingMessagesCount()).toBe(2);
    } finally {
      await emulator.api.settings({ disabled: false });
      await client.close();
    }
  });

  it('dropOldest with maxAgeMs drops every message past the age, not just one', async () => {
    // The client's clock moves only when the test says: the ten are 400 ms old when `fresh` comes, and 0 ms old
    // between themselves, however slowly the machine writes them.
    const clock = new StillClock();
    const client = await offlineClient('ageing', {
      outboxLimits: { maxAgeMs: 300, policy: 'dropOldest' },
      clock,
    });
    const dropped: number[] = [];
    client.on('outboxFull', (event) => dropped.push(event.messages));
    try {
      for (let i = 0; i < 10; i++) await client.enqueueMessage(`old ${i}`);
      await clock.advance(400);
      await client.enqueueMessage('fresh');
      expect(dropped).toEqual([10]);
      expect(await client.pendingMessagesCount()).toBe(1);
    } finally {
      await emulator.api.settings({ disabled: false });
      await client.close();
    }
  });

  it('async listeners and callbacks that reject are reported, never unhandled', async () => {
    const errors: unknown[] = [];
    const client = await startClient(emulator, {
      database: dirs.file('async.db'),
      deviceId: 'async-callbacks',
      onDesiredProperties: async () => {
        throw new Error('callback failed');
      },
      logger: {
        debug() {},
        info() {},
        warn() {},
        error: (message: string) => errors.push(message),
      },
    });
    try {
      client.on('messageSent', async () => {
        throw new Error('listener failed');
      });
      await client.sendMessage('hello');
      await emulator.api.request('PATCH', '/devices/async-callbacks/twin/desired', { mode: 'x' });
      await waitFor(() => errors.length >= 2);
      expect(errors.join('\n')).toMatch(/listener/);
      expect(errors.join('\n')).toMatch(/onDesiredProperties/);
    } finally {
      await client.close();
    }
  });
});
