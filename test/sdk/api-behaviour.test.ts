/**
 * What a user meets on the public API, against the real emulator: a background failure with no `error` listener
 * reaches the logger; a payload JSON would change is refused naming its path; after `close()` the twin getters
 * refuse like every other call. (A certificate the device cannot verify: messaging.test.ts, "transports".)
 */
import { describe, expect, it } from 'vitest';
import { eventOnce, memoryLogger, startClient } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

const bed = emulatorPerFile('spotflow-api-');
const { dirs } = bed;

describe('background failures', () => {
  it("with no 'error' listener, a background failure is logged at warn with its code", async () => {
    const logger = memoryLogger();
    const client = await startClient(bed.emulator, {
      database: dirs.file('unheard.db'),
      deviceId: 'unheard',
      logger,
    });
    try {
      await eventOnce(client, 'connected');
      // Disabling the workspace drops the connection and refuses every renewal: WORKSPACE_DISABLED in the
      // background, which nobody listens to.
      await bed.emulator.api.settings({ disabled: true });
      const line = await waitFor(
        () => logger.lines.find((entry) => entry.includes('WORKSPACE_DISABLED')),
        10_000,
      );
      expect(line).toMatch(/^warn WORKSPACE_DISABLED: .*no 'error' listener/);
    } finally {
      await bed.emulator.api.settings({ disabled: false });
      await client.close();
    }
  });

  it("with an 'error' listener, the failure goes to it and not to the log", async () => {
    const logger = memoryLogger();
    const client = await startClient(bed.emulator, {
      database: dirs.file('heard.db'),
      deviceId: 'heard',
      logger,
    });
    const codes: string[] = [];
    client.on('error', (error) => codes.push(error.code));
    try {
      await eventOnce(client, 'connected');
      await bed.emulator.api.settings({ disabled: true });
      await waitFor(() => codes.includes('WORKSPACE_DISABLED'), 10_000);
      expect(logger.lines.filter((entry) => entry.includes("no 'error' listener"))).toEqual([]);
    } finally {
      await bed.emulator.api.settings({ disabled: false });
      await client.close();
    }
  });
});

describe('payloads', () => {
  it('a payload JSON would change is refused at the call, naming its path, and nothing is stored', async () => {
    const client = await startClient(bed.emulator, {
      database: dirs.file('payload.db'),
      deviceId: 'payload',
    });
    try {
      const reading = { sensors: [{ id: 'a', at: new Date(0) }] };
      await expect(client.enqueueMessage(reading as never)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/^payload\.sensors\[0\]\.at cannot be a Date/),
      });
      await expect(client.enqueueMessage({ value: 1, note: undefined } as never)).rejects.toMatchObject({
        message: expect.stringMatching(/^payload\.note cannot be undefined/),
      });
      expect(await client.pendingMessagesCount()).toBe(0);
      // What JSON carries faithfully is taken as it is.
      await client.enqueueMessage({ sensors: [{ id: 'a', at: new Date(0).toISOString() }] });
      expect(await client.pendingMessagesCount()).toBe(1);
    } finally {
      await client.close();
    }
  });
});

describe('after close()', () => {
  it('desiredProperties and reportedProperties refuse with CLIENT_CLOSED, as desiredPropertiesIfNewer does', async () => {
    const client = await startClient(bed.emulator, { database: dirs.file('closed.db'), deviceId: 'closed' });
    expect(client.desiredProperties().version).toBeGreaterThanOrEqual(0);
    await client.close();
    expect(() => client.desiredProperties()).toThrow(expect.objectContaining({ code: 'CLIENT_CLOSED' }));
    expect(() => client.reportedProperties()).toThrow(expect.objectContaining({ code: 'CLIENT_CLOSED' }));
    await expect(client.desiredPropertiesIfNewer(0)).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });
});
