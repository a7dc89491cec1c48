// spotflow-device/testing against a real device: the typed management client's calls and bounded waits, on an
// emulator started by startTestEmulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodePlatform } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import {
  EmulatorApiError,
  ManagementClient,
  messageJson,
  messageText,
  startTestEmulator,
  type TestEmulator,
  WaitTimeoutError,
} from '../../testing/index.js';
import { eventOnce, memoryLogger, tempDir } from '../helpers/client.js';

let emulator: TestEmulator;
let client: DeviceClient;
const databases = tempDir('spotflow-testing-');
const deviceId = 'testing-1';
const codes: string[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator({ timeoutMs: 15_000 });
  const started = DeviceClient.startOn(createNodePlatform({ ca: emulator.ca }), {
    provisioningToken: emulator.provisioningToken,
    instance: emulator.instance,
    deviceId,
    database: databases.file('device.db'),
    logger: memoryLogger(),
    provisioningPollIntervalMs: 50,
    reconnectInitialDelayMs: 50,
    reconnectMaxDelayMs: 500,
    onProvisioningOperation: (operation) => {
      codes.push(operation.verificationCode);
    },
  });
  // The code the device shows; `approve` waits for the operation, so it may come before the emulator lists it.
  await emulator.api.waitForOperation(deviceId);
  await emulator.api.approve(codes[0] ?? (await emulator.api.waitForOperation(deviceId)).verificationCode);
  client = await started;
  await emulator.api.waitForConnected(deviceId);
});

afterAll(async () => {
  await client?.close();
  await emulator?.close();
  databases.cleanup();
});

describe('ManagementClient', () => {
  it('waits for N messages of a device, of one stream, and decodes them', async () => {
    await client.enqueueMessage({ n: 1 }, { stream: 'a' });
    await client.enqueueMessage('two', { stream: 'b' });
    await client.enqueueMessage({ n: 3 }, { stream: 'a' });
    const a = await emulator.api.waitForMessages(deviceId, 2, { stream: 'a' });
    expect(a.map((m) => messageJson(m))).toEqual([{ n: 1 }, { n: 3 }]);
    const [b] = await emulator.api.waitForMessages(deviceId, 1, { where: (m) => m.stream === 'b' });
    expect(messageText(b!)).toBe('two');
    expect((await emulator.api.allMessages(deviceId)).length).toBeGreaterThanOrEqual(3);
  });

  it('ends a wait at its bound with an error naming what it waited for and what it saw', async () => {
    const wait = emulator.api.waitForMessages(deviceId, 1, { stream: 'never', timeoutMs: 300 });
    await expect(wait).rejects.toThrow(WaitTimeoutError);
    await expect(wait).rejects.toThrow(
      'timed out after 300 ms waiting for 1 message of device "testing-1" in stream "never"; last seen: 0 arrived',
    );
    await expect(emulator.api.waitForMessages('nobody', 1, { timeoutMs: 200 })).rejects.toThrow(
      'last seen: the device has not registered',
    );
    const aborted = AbortSignal.abort(new Error('stopped by the test'));
    await expect(emulator.api.waitForConnected('nobody', { signal: aborted })).rejects.toThrow(
      'stopped by the test',
    );
  });

  it('patches desired properties and reads the twin the device reported back', async () => {
    const pushed = eventOnce<{ values: Record<string, unknown> }>(client, 'desiredProperties');
    const section = await emulator.api.patchDesired(deviceId, { mode: 'eco' });
    expect(section).toMatchObject({ mode: 'eco', $version: expect.any(Number) });
    expect((await pushed).values).toMatchObject({ mode: 'eco' });
    await client.updateReportedProperties({ mode: 'eco' });
    const twin = await emulator.api.waitForTwin(deviceId, (t) => t.reported.mode === 'eco');
    expect(twin.desired.mode).toBe('eco');
  });

  it('sends a cloud-to-device message with properties', async () => {
    const received = new Promise<{ payload: Uint8Array; properties: Record<string, string> }>((resolve) =>
      client.onCloudMessage((message) => resolve(message)),
    );
    const { mid } = await emulator.api.sendCloudMessage(deviceId, 'hello', {
      properties: { kind: 'greeting' },
    });
    expect(mid).toEqual(expect.any(String));
    const message = await received;
    expect(new TextDecoder().decode(message.payload)).toBe('hello');
    expect(message.properties.kind).toBe('greeting');
  });

  it('calls a method, and names a refused call in its error', async () => {
    client.onMethod('double', (payload) => ({
      status: 200,
      payload: { value: (payload as { value: number }).value * 2 },
    }));
    expect(await emulator.api.callMethod(deviceId, 'double', { value: 21 })).toEqual({
      status: 200,
      payload: { value: 42 },
    });
    const unknown = emulator.api.callMethod('nobody', 'double');
    await expect(unknown).rejects.toBeInstanceOf(EmulatorApiError);
    await expect(unknown).rejects.toMatchObject({
      status: 404,
      call: 'POST /devices/nobody/methods/double?timeoutSeconds=30',
      message: expect.stringContaining('Device not found'),
    });
  });

  it('drops a connection (the device comes back) and keeps the connection history', async () => {
    await emulator.api.dropConnection(deviceId);
    await emulator.api.waitForDisconnected(deviceId).catch(() => {}); // it may be back before a look sees it gone
    await emulator.api.waitForConnected(deviceId);
    const history = await emulator.api.connections(deviceId);
    expect(history.map((entry) => entry.event)).toEqual(['connected', 'disconnected', 'connected']);
  });

  it('revokes the registration token', async () => {
    expect(await emulator.api.revokeRegistrationToken(deviceId)).toEqual({ revoked: expect.any(Number) });
  });

  it('reads and changes workspace settings; a second client reaches the same workspace by its URL', async () => {
    const other = new ManagementClient({
      instance: emulator.instance,
      workspaceId: emulator.workspaceId,
      apiToken: emulator.apiToken,
    });
    const before = await other.settings();
    expect(await other.updateSettings({ autoApprove: !before.autoApprove })).toMatchObject({
      autoApprove: !before.autoApprove,
    });
    await other.updateSettings({ autoApprove: before.autoApprove });
    await expect(other.approve('000000', { timeoutMs: 200 })).rejects.toThrow(
      'waiting for the provisioning operation with code "000000"; last seen: no such operation',
    );
  });
});
